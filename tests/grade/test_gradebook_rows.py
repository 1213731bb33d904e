"""The gradebook side of `autograder grade` writes and reads exactly nbgrader's rows (issue 16):
BatchedSaveAutoGrades against nbgrader's own SaveAutoGrades, and the batch report's bulk read
against nbgrader's Gradebook API, on real SQLite gradebooks made with nbgrader's API."""
from __future__ import annotations

import copy
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_output
from nbgrader.api import Gradebook
from nbgrader.preprocessors import SaveAutoGrades
from nbgrader.utils import is_grade, is_solution

from autograder.course import ROOT, notebooks, tool_env
from autograder.grade.gradebook import ensure_students, gradebook_session
from autograder.grade.steps.save_grades import BatchedSaveAutoGrades
from autograder.grade.submissions import recorded_submissions

A = NB = "ps1_rnn_forward"
STUDENTS = ("ada", "bob")


def _release():
    return nbformat.read(next(iter(notebooks(ROOT / "release" / A))), as_version=4)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A gradebook with ps1's graded and solution cells and a submission per student, made as
    `nbgrader generate_assignment` and `autograde` make them (nbgrader's API); made once (a new
    gradebook runs `alembic`, seconds), copied by each test."""
    path = tmp_path_factory.mktemp("gradebook") / "template.db"
    url = f"sqlite:///{path}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", tool_env()["PATH"])           # nbgrader runs `alembic` from PATH
        _fill(url)
    return path


def _gradebook(template: Path, path: Path) -> str:
    shutil.copy(template, path)
    return f"sqlite:///{path}"


def _fill(url: str) -> None:
    with Gradebook(url, "rnn-course") as gb:
        gb.update_or_create_assignment(A)
        gb.update_or_create_notebook(NB, A)
        for cell in _release().cells:
            meta = cell.metadata.get("nbgrader", {})
            if is_grade(cell):
                gb.update_or_create_grade_cell(meta["grade_id"], NB, A, max_score=float(meta["points"]),
                                               cell_type=cell.cell_type)
            if is_solution(cell):
                gb.update_or_create_solution_cell(meta["grade_id"], NB, A)
        for student in STUDENTS:
            gb.update_or_create_student(student)
            gb.update_or_create_submission(A, student)


def _graded(failing: set) -> nbformat.NotebookNode:
    """The release notebook as the autograde step leaves it: ``failing`` test cells with an error."""
    nb = _release()
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") in failing:
            cell.outputs = [new_output("error", ename="AssertionError", evalue="wrong", traceback=[])]
    return nb


def _rows(url: str) -> dict:
    """Every grade and comment by (student, cell name): the columns formgrader and export read."""
    with Gradebook(url, "rnn-course") as gb:
        out = {}
        for student in STUDENTS:
            nb = gb.find_submission_notebook(NB, A, student)
            out.update({(student, "grade", g.name): (g.auto_score, g.manual_score, g.needs_manual_grade, g.score)
                        for g in nb.grades})
            out.update({(student, "comment", c.name): (c.auto_comment, c.manual_comment) for c in nb.comments})
        return out


def _save(step, url: str, student: str, nb) -> None:
    step.preprocess(copy.deepcopy(nb), {"nbgrader": {"notebook": NB, "assignment": A, "student": student,
                                                     "db_url": url}})


def test_batched_save_writes_nbgraders_rows(template, tmp_path):
    theirs, ours = _gradebook(template, tmp_path / "theirs.db"), _gradebook(template, tmp_path / "ours.db")
    tests = [c.metadata["nbgrader"]["grade_id"] for c in _release().cells
             if is_grade(c) and c.cell_type == "code" and not is_solution(c)]
    first, second = _graded(set(tests[::2])), _graded(set(tests[1::3]))
    for url in (theirs, ours):          # a teaching assistant's manual score before the regrade
        with Gradebook(url, "rnn-course") as gb:
            grade = gb.find_grade(tests[1], NB, A, "bob")
            grade.manual_score = 0.5
            gb.db.commit()
    for step, url in ((SaveAutoGrades(), theirs), (BatchedSaveAutoGrades(), ours)):
        _save(step, url, "ada", first)          # first grading
        _save(step, url, "bob", first)
        _save(step, url, "bob", first)          # a forced regrade, nothing changed
        _save(step, url, "ada", second)         # a regrade with other results
    assert _rows(ours) == _rows(theirs)
    assert any(v[2] for k, v in _rows(ours).items() if k[:2] == ("bob", "grade"))     # the manual score kept


def test_the_reports_bulk_read_equals_nbgraders_api(template, tmp_path):
    url = _gradebook(template, tmp_path / "gb.db")
    _save(BatchedSaveAutoGrades(), url, "ada", _graded(set()))
    many = [f"absent_{i:04d}" for i in range(1200)] + list(STUDENTS)      # three IN (...) chunks
    ensure_students(url, "rnn-course", many[:3] + list(STUDENTS))
    with gradebook_session(url) as db:
        found = recorded_submissions(db, A, many)
        assert sorted(found) == sorted(STUDENTS)
        with Gradebook(url, "rnn-course") as gb:
            assert sorted(s.id for s in gb.students) == sorted(["absent_0000", "absent_0001", "absent_0002", *STUDENTS])
            for student in STUDENTS:
                sub = gb.find_submission(A, student)
                ours = found[student]
                assert (ours.score, ours.max_score, ours.late_submission_penalty, ours.needs_manual_grade) == \
                    (sub.score, sub.max_score, sub.late_submission_penalty, sub.needs_manual_grade)
                assert [(n.name, n.score, n.max_score, sorted((g.name, g.score, g.max_score, g.auto_score)
                                                               for g in n.grades)) for n in ours.notebooks] == \
                    [(n.name, n.score, n.max_score, sorted((g.name, g.score, g.max_score, g.auto_score)
                                                           for g in n.grades)) for n in sub.notebooks]
