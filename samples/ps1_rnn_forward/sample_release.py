# An untouched release copy: nothing filled in.
