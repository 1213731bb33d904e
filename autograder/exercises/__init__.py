"""One module per assignment; each registers its exercises on import."""
