"""What each cell of a course notebook is, by its nbgrader metadata and tags."""
from __future__ import annotations

import nbformat

DEMO_TAG = "demo"     # training runs and figures: never run while grading


def nbgrader_meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}        # not a mapping: an ordinary cell, never a crash


def grade_id(cell) -> str | None:
    return nbgrader_meta(cell).get("grade_id")


def is_test_cell(cell_type: str, grade: bool, solution: bool) -> bool:
    """nbgrader's autograded test cell: graded code that is not a solution."""
    return cell_type == "code" and bool(grade) and not solution


def is_test(cell) -> bool:
    m = nbgrader_meta(cell)
    return is_test_cell(cell.get("cell_type"), m.get("grade"), m.get("solution"))


def is_solution(cell) -> bool:
    return bool(nbgrader_meta(cell).get("solution"))


def is_demo(cell) -> bool:
    return DEMO_TAG in cell.get("metadata", {}).get("tags", [])


def learner_code(nb: nbformat.NotebookNode) -> list[str]:
    """The code a grader runs before the checks: every code cell but tests and demos, in order."""
    return [c.source for c in nb.cells if c.cell_type == "code" and not is_test(c) and not is_demo(c)]


def load_functions(notebook) -> dict:
    """Execute a notebook's learner code (not its tests or demos) here and return its namespace.

    ``notebook`` is a path or a NotebookNode. Only for trusted notebooks (ours, our samples).
    """
    nb = notebook if isinstance(notebook, nbformat.NotebookNode) else nbformat.read(notebook, as_version=4)
    namespace: dict = {"__name__": "__notebook__"}
    for source in learner_code(nb):
        exec(compile(source, "<notebook>", "exec"), namespace)
    return namespace
