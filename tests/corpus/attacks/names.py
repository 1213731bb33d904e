"""Class 2: names are trusted.

Student folders whose names would split nbgrader's comma-joined exclusion list, defeat its path
regular expressions (a newline), forge exported rows, look like paths or options, or are not
text at all; files with control characters in their names. A folder name that is not a safe id
is graded under a fixed mapped id (``student_id_for``), with the original in the report.
"""
from __future__ import annotations

import os
from pathlib import Path

from autograder.grade.intake import student_id_for
from corpus.attacks import Attack
from corpus.building import full, honest, honest_in, write

A1, A2, A3, A4, A5, A6, A7 = ("ps1_rnn_forward", "ps2_bptt", "ps3_birnn", "ps4_attention", "ps5_pointer",
                              "ps6_dynamics", "ps7_memory")
MAPPED = "not a safe student id"


def _named(folder_name: str, a: str, work=honest):
    """A submission of ``work`` in the student folder ``folder_name`` (str, or bytes for names
    that are not text)."""
    def build(course: Path, student: str):
        top = os.fsencode(course / "submitted") + b"/" + (folder_name if isinstance(folder_name, bytes)
                                                           else folder_name.encode())
        os.makedirs(top + b"/" + a.encode(), exist_ok=True)
        write(work(a), Path(os.fsdecode(top + b"/" + a.encode() + b"/" + f"{a}.ipynb".encode())))
    return build


def _broken(a):
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": "not a list"}


def _entry(name, a, what, folder_name, deserved=None, work=honest, reason=MAPPED):
    shown = os.fsdecode(folder_name) if isinstance(folder_name, bytes) else folder_name
    return Attack(name, 2, a, what, _named(folder_name, a, work), full(a) if deserved is None else deserved,
                  reason=reason, student=student_id_for(shown))


def _odd_file(path_name: str, a: str):
    def build(course: Path, student: str):
        (honest_in(course, student, a) / path_name).write_text("scratch")
    return build


WITNESS = "sample_correct"
ATTACKS = [
    # a broken submission is excluded from nbgrader by name: with a comma it would exclude the witness
    _entry("comma_excludes_witness", A1, "a broken submission in a folder named 'sample_correct,x'",
           f"{WITNESS},x", 0, work=_broken),
    _entry("comma_name", A2, "honest work in a folder named 'alice,bob'", "alice,bob"),
    _entry("newline_name", A3, "a newline in the folder name (nbgrader's path regex stops the run)",
           "line\nbreak"),
    _entry("forged_csv_row", A4, "a name that would forge an exported CSV row",
           'mallory\r\nforged,ps4_attention,100,100\r\n"x'),
    _entry("dot_name", A7, "a folder name starting with '..'", "..parent"),
    _entry("quote_name", A6, "quotes and a backslash in the folder name", "o'brien\"\\x"),
    _entry("slash_like_unicode", A7, "Unicode slashes in the folder name", "a\u2215b\uff0fc"),
    _entry("leading_dash", A1, "a folder named like an option", "--force"),
    _entry("very_long_name", A2, "a 200-character folder name", "x" * 200),
    _entry("glob_name", A3, "glob characters in the folder name", "[a-z]*?"),
    _entry("undecodable_name", A4, "a folder name that is not UTF-8", b"caf\xe9\xff"),
    _entry("html_name", A6, "markup in the folder name", "<img src=x onerror=alert(1)>"),
    Attack("control_char_file", 2, A6, "a file with a newline and an escape in its name beside honest work",
           _odd_file("notes\n\x1b[2J.txt", A6), full(A6), reason="control characters"),
]
