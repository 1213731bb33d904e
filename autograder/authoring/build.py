"""Build the generated parts of the course from source/: the notebooks paired with their text
forms (jupytext), then release/ and solutions/ (nbgrader generate_assignment/generate_solution)."""
from __future__ import annotations

from pathlib import Path

import jupytext

from ..course import ROOT, assignments, nbgrader


def sync_text_forms(root: Path = ROOT) -> list[Path]:
    """Write each source notebook from its NAME.pct.py text form when the two differ.

    The text form is what authors edit and review; the .ipynb is what nbgrader reads.
    """
    written = []
    for text in sorted((root / "source").glob("*/*.pct.py")):
        nb_path = text.with_name(text.name[: -len(".pct.py")] + ".ipynb")
        new = jupytext.read(text)
        if nb_path.exists() and _same_cells(jupytext.read(nb_path), new):
            continue
        jupytext.write(new, nb_path, fmt="ipynb")
        written.append(nb_path)
    return written


def _same_cells(a, b) -> bool:
    key = lambda nb: [(c.cell_type, c.source, dict(c.metadata)) for c in nb.cells]
    return key(a) == key(b)


def build(assignment_ids: list[str] | None = None, course_dir: Path = ROOT, quiet: bool = False) -> None:
    sync_text_forms(course_dir)
    for a in assignment_ids or assignments(course_dir):
        extra = ["--log-level=WARN"] if quiet else []
        nbgrader("generate_assignment", a, "--force", *extra, course_dir=course_dir)
        nbgrader("generate_solution", a, "--force", *extra, course_dir=course_dir)
