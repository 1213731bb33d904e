"""Class 3: notebook metadata is trusted to have the right types and versions.

Honest work with one cell's nbgrader metadata broken: other schema versions (stock nbgrader
stops the whole batch), wrong types, points as strings, NaN, negative or huge, missing, odd or
duplicated grade_ids, keys nbgrader does not know, cell types that disagree; and notebooks
nbformat's own schema rejects. An invalid test cell scores 0 with the reason (the rest of the
notebook keeps its points); an invalid notebook is recorded as not gradable.
"""
from __future__ import annotations

import copy
from pathlib import Path

from corpus.attacks import Attack
from corpus.building import folder, full, honest, points, test_cells, write

A1, A2, A3, A4, A5, A6, A7 = ("ps1_rnn_forward", "ps2_bptt", "ps3_birnn", "ps4_attention", "ps5_pointer",
                              "ps6_dynamics", "ps7_memory")
INVALID = "metadata of cell"


def _first_test(nb):
    return test_cells(nb)[0]


def _tampered(a, change):
    """Honest work with ``change(nb)`` applied, written as plain JSON (nbformat would refuse some)."""
    def build(course: Path, student: str):
        nb = honest(a)
        change(nb)
        write(nb, folder(course, student, a) / f"{a}.ipynb")
    return build


def _set(key, value, which=_first_test):
    def change(nb):
        which(nb).metadata.nbgrader[key] = value
    return change


def _del(key):
    def change(nb):
        del _first_test(nb).metadata.nbgrader[key]
    return change


def _first_gid(a) -> str:
    return next(iter(points(a)))


def _void(a) -> float:
    """Honest work minus the points of the cell made invalid (the first test cell)."""
    return full(a) - points(a)[_first_gid(a)]


def _solution(nb):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code")


def _nbgrader_is_text(nb):
    _first_test(nb).metadata["nbgrader"] = "grade me"


def _markdown_twin(nb):
    """A markdown cell carrying a test cell's metadata (a duplicate grade_id, the wrong cell type)."""
    twin = copy.deepcopy(_first_test(nb))
    twin.cell_type = "markdown"
    twin.pop("outputs", None)
    twin.pop("execution_count", None)
    twin.id = "markdown-twin"
    nb.cells.insert(1, twin)


def _no_source(nb):
    del nb.cells[0]["source"]


def _kernelspec_number(nb):
    nb.metadata["kernelspec"] = 5


def _entry(name, a, what, change, deserved, reason=INVALID, exact=True):
    return Attack(name, 3, a, what, _tampered(a, change), deserved, exact=exact, reason=reason)


ATTACKS = [
    _entry("schema_version_old", A1, "a test cell with schema_version 1 (stock stops the batch)",
           _set("schema_version", 1), _void(A1)),
    _entry("schema_version_new", A2, "a test cell with schema_version 99 (stock stops the batch)",
           _set("schema_version", 99), _void(A2)),
    _entry("schema_version_text", A3, "schema_version as the string '3'", _set("schema_version", "3"), _void(A3)),
    _entry("points_text", A4, "points as the string '100'", _set("points", "100"), _void(A4)),
    _entry("points_nan", A6, "points NaN", _set("points", float("nan")), _void(A6)),
    _entry("points_negative", A6, "points -50", _set("points", -50), _void(A6)),
    _entry("points_huge", A7, "points 1e300 (valid by the schema: the gradebook's points count)",
           _set("points", 1e300), full(A7), reason=None),
    _entry("grade_text", A1, "grade as the string 'yes'", _set("grade", "yes"), _void(A1)),
    _entry("extra_key", A2, "a key nbgrader's schema does not allow", _set("bonus", 100), _void(A2)),
    _entry("checksum_number", A3, "checksum as a number", _set("checksum", 12345), _void(A3)),
    _entry("grade_id_missing", A4, "a graded cell without its grade_id (an ordinary cell; the test is restored)",
           _del("grade_id"), full(A4)),
    _entry("grade_id_odd", A5, "a grade_id with spaces and slashes (an ordinary cell; the test is restored)",
           _set("grade_id", "test ../../x"), full(A5)),
    _entry("grade_id_number", A6, "a grade_id that is a number", _set("grade_id", 7), full(A6)),
    _entry("nbgrader_not_mapping", A7, "the nbgrader metadata is a string", _nbgrader_is_text, full(A7)),
    _entry("solution_text", A1, "solution as the string 'true' on a solution cell (restored)",
           _set("solution", "true", which=_solution), full(A1)),
    _entry("cell_type_mismatch", A2, "metadata cell_type 'markdown' on a code solution cell (nbgrader warns)",
           _set("cell_type", "markdown", which=_solution), full(A2), reason=None),
    _entry("duplicate_in_markdown", A3, "a markdown cell that repeats a test cell's grade_id",
           _markdown_twin, full(A3), reason=None, exact=False),
    _entry("cell_without_source", A4, "a cell without its source (nbformat rejects the notebook)",
           _no_source, 0, reason="not a valid notebook"),
    _entry("kernelspec_number", A5, "notebook metadata of the wrong type", _kernelspec_number, 0,
           reason="not a valid notebook"),
]
