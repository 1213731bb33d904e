"""Stock nbgrader on a freshly built course: the solutions get full marks, the untouched release 0
on every autograded cell, the correct sample full marks, the buggy sample partial credit with its
mistakes named in nbgrader's feedback."""
from __future__ import annotations

import shutil

import pytest

from autograder.course import nbgrader, notebooks
from autograder.authoring.samples import samples
from autograder.authoring.scores import graded_cells, score_rows

from conftest import ASSIGNMENTS


# Each assignment's tests stay on one worker, with tests/grade/test_grader.py's for the same
# assignment, which reads the same stock grading (conftest's stock_graded).
@pytest.fixture(scope="module", params=[pytest.param(a, marks=pytest.mark.xdist_group(f"stock-{a}"))
                                        for a in ASSIGNMENTS])
def graded(request, stock_graded):
    """(assignment, course dir, scores) after `nbgrader autograde` of every kind of submission."""
    a = request.param
    course = stock_graded(a)
    return a, course, score_rows(a, course)


def _auto_cells(a, course):
    return {gid: pts for gid, pts in graded_cells(a, course) if gid.startswith("test_")}


def test_solutions_get_full_marks(graded):
    a, course, rows = graded
    auto = _auto_cells(a, course)
    assert {g: rows["solution"][g] for g in auto} == auto


def test_release_gets_zero_everywhere(graded):
    a, course, rows = graded
    assert set(rows["release"].values()) == {0}, rows["release"]


def test_correct_sample_gets_full_marks(graded):
    a, course, rows = graded
    if "sample_correct" not in rows:
        pytest.skip("no correct sample")
    auto = _auto_cells(a, course)
    assert {g: rows["sample_correct"][g] for g in auto} == auto


def test_buggy_sample_gets_partial_credit_and_named_mistakes(graded, tmp_path):
    a, course, rows = graded
    assert {p.stem for p in samples(a)} >= {"sample_correct", "sample_buggy", "sample_release"}
    auto = _auto_cells(a, course)
    got = sum(rows["sample_buggy"][g] for g in auto)
    assert 0 < got < sum(auto.values()), rows["sample_buggy"]
    course = shutil.copytree(course, tmp_path / "course")        # the shared grading stays read-only
    result = nbgrader("generate_feedback", a, "--force", "--student=sample_buggy", "--log-level=ERROR",
                      course_dir=course, capture=True)
    assert result.returncode == 0, result.stderr
    html = "".join(p.read_text() for p in (course / "feedback" / "sample_buggy" / a).glob("*.html"))
    assert "Likely mistake" in html
    assert "HIDDEN TESTS" not in html, "nbgrader's feedback must not show the hidden tests"
    assert "check.py" not in html and "skipping hidden" not in html, "the check's own frames are hidden"
