"""Submissions in the course directory: which ones a batch grades, the ones nbgrader cannot
grade at all, the files beside each notebook, and the report read back from the gradebook."""
from __future__ import annotations

import glob
import os
import re
import shutil
from pathlib import Path

from sqlalchemy.orm import joinedload, selectinload, undefer

from . import verdicts
from .gradebook import chunks, gradebook_session, open_gradebook
from .report import BatchReport, CellReport, NotebookReport, StudentReport


def pending_submissions(converter, assignment: str) -> list[tuple[str, str]]:
    """(student, folder) for every submission the batch grades, in nbgrader's order: every
    folder in submitted/ that nbgrader's own ``init_destination`` (``TrustedAutograde``'s) would
    process. Folders without a notebook are kept too: they are recorded, not skipped silently."""
    coursedir = converter.coursedir
    out = []
    for student in submitted_students(coursedir, assignment, coursedir.student_id or "*"):
        if converter.init_destination(assignment, student):
            out.append((student, coursedir.format_path(coursedir.submitted_directory, student, assignment)))
    return out


def submitted_students(coursedir, assignment: str, student_glob: str) -> list[str]:
    pattern = coursedir.format_path(coursedir.submitted_directory, student_glob, assignment)
    regexp = coursedir.format_path(coursedir.submitted_directory, "(?P<student_id>.*)", assignment, escape=True)
    found = []
    for path in sorted(glob.glob(pattern)):
        m = re.match(regexp, path)
        if m and os.path.isdir(path):
            found.append(m.group("student_id"))
    return found


def working_files(folder: str, ignore: list[str], exclude: list[str]) -> list[tuple[str, str]]:
    """(path, relative name) of the non-notebook files nbgrader puts beside a notebook it grades."""
    from nbgrader.utils import find_all_files
    if not os.path.isdir(folder):
        return []
    out = []
    for path in find_all_files(folder, list(ignore) + ["*.ipynb"]):
        rel = os.path.relpath(path, folder)
        if rel not in exclude:
            out.append((path, rel))
    return out


def record_ungradable(coursedir, assignment: str, student: str, folder: str, reasons: list[str]) -> None:
    """A submission that cannot be run at all: every cell scored 0 in the gradebook, with the reason
    as the automatic comment formgrader shows (nbgrader's own rule for a missing notebook)."""
    from nbgrader.api import SubmittedNotebook
    from sqlalchemy import select
    dest = coursedir.format_path(coursedir.autograded_directory, student, assignment)
    if os.path.isdir(dest):
        shutil.rmtree(dest)           # as nbgrader does for a submission it failed to grade
    text = "Not graded: " + "; ".join(reasons)
    with open_gradebook(coursedir.db_url, coursedir.course_id) as gb:
        gb.update_or_create_student(student)
        timestamp = coursedir.get_existing_timestamp(folder)
        sub = (gb.update_or_create_submission(assignment, student, timestamp=timestamp) if timestamp
               else gb.update_or_create_submission(assignment, student))
        notebooks = gb.db.scalars(select(SubmittedNotebook).where(SubmittedNotebook.assignment_id == sub.id)
                                  .options(*_notebook_rows(), selectinload(SubmittedNotebook.comments))).all()
        # the verdicts first: once the grades below are flushed, SQLAlchemy expires their computed
        # columns (cell type, maximum score), and reading them again is a query per grade
        verdicts.replace_ungradable(gb.db, sub.assignment.course_id, assignment, student, notebooks, "; ".join(reasons))
        for nb in notebooks:
            for grade in nb.grades:
                grade.auto_score = 0
                grade.needs_manual_grade = False
            for comment in nb.comments:
                comment.auto_comment = text
        gb.db.commit()


def read_batch_report(course_dir, assignment, coursedir, trusted, session, submissions, errors,
                      ungradable) -> BatchReport:
    """The scores nbgrader recorded for every submission, with the verdicts' messages beside them."""
    order = {c.grade_id: i for nb in trusted.notebooks.values() for i, c in enumerate(nb.cells)}
    students = []
    with gradebook_session(coursedir.db_url) as db:
        found = recorded_submissions(db, assignment, [student for student, _ in submissions])
        for student, folder in submissions:
            entry = StudentReport(student, "graded", problems=list(ungradable.get(student, [])))
            entry.problems += [n for n in session.notes.get(student, []) if n not in entry.problems]
            recorded = student in ungradable or os.path.isdir(
                coursedir.format_path(coursedir.autograded_directory, student, assignment))
            sub = found.get(student)
            if sub is None or not recorded:
                entry.status = "error"
                entry.problems += [e for e in errors if student in e] or ["nbgrader did not record this submission"]
            else:
                _fill_student(entry, sub, folder, trusted, session, order, student in ungradable)
            students.append(entry)
    return BatchReport(assignment, str(course_dir), trusted.origin, students, errors)


def recorded_submissions(db, assignment: str, students: list[str]) -> dict:
    """student -> nbgrader's SubmittedAssignment of ``assignment``, with every score the report
    reads (the submission's, its notebooks', their grades') loaded up front: three queries per
    500 students. Read row by row, each of those is a lazy load of its own (issue 16)."""
    from nbgrader.api import Assignment, SubmittedAssignment
    from sqlalchemy import select
    loaded = (undefer(SubmittedAssignment.score), undefer(SubmittedAssignment.max_score),
              undefer(SubmittedAssignment.late_submission_penalty), undefer(SubmittedAssignment.needs_manual_grade),
              selectinload(SubmittedAssignment.notebooks).options(*_notebook_rows()))
    found = {}
    for chunk in chunks(students):
        query = select(SubmittedAssignment).join(Assignment, Assignment.id == SubmittedAssignment.assignment_id) \
            .where(Assignment.name == assignment, SubmittedAssignment.student_id.in_(chunk)).options(*loaded)
        found.update((sub.student_id, sub) for sub in db.scalars(query))
    return found


def _notebook_rows() -> tuple:
    """Eager-load options for SubmittedNotebook rows: the notebook's name and scores, and its
    grades with their cells' names and their maximum scores."""
    from nbgrader.api import Grade, SubmittedNotebook
    return (joinedload(SubmittedNotebook.notebook), undefer(SubmittedNotebook.score),
            undefer(SubmittedNotebook.max_score),
            selectinload(SubmittedNotebook.grades).options(joinedload(Grade.cell), undefer(Grade.max_score)))


def _fill_student(entry: StudentReport, sub, folder: str, trusted, session, order: dict, ungradable: bool) -> None:
    entry.status = "not gradable" if ungradable else "graded"
    entry.score, entry.max_score = float(sub.score), float(sub.max_score)
    entry.late_penalty = float(sub.late_submission_penalty or 0)
    entry.needs_manual_grade = bool(sub.needs_manual_grade)
    others = sorted(p.name for p in Path(folder).glob("*.ipynb") if p.stem not in trusted.notebooks)
    for nb in sorted(sub.notebooks, key=lambda n: n.name):
        outcome = session.outcomes.get((entry.student, nb.name))
        tests = trusted.notebooks[nb.name].tests
        info = NotebookReport(nb.name, float(nb.score), float(nb.max_score),
                              [_cell(grade, outcome, tests) for grade in sorted(nb.grades,
                                                                              key=lambda g: order.get(g.name, 0))])
        if outcome is None and not ungradable:
            info.problem = f"{nb.name}.ipynb is missing (scored 0)" + (
                f"; found {', '.join(others)} instead: notebooks must keep their names" if others else "")
            entry.problems.append(info.problem)
        elif outcome is not None and outcome.problem:
            info.problem = outcome.problem
            entry.problems.append(f"{nb.name}: {outcome.problem}")
        if outcome is not None and outcome.sandbox:
            info.sandbox = {k: outcome.sandbox.get(k) for k in ("wall", "cpu", "reason", "runs", "maxrss_kb")}
        entry.notebooks.append(info)


def _cell(grade, outcome, tests: dict) -> CellReport:
    verdict = outcome.tests.get(grade.name) if outcome else None
    pending = grade.auto_score is None and grade.manual_score is None
    kind = "test" if grade.name in tests else "written"
    return CellReport(grade.name, kind, float(grade.max_score), None if pending else float(grade.score),
                      "manual" if pending else (verdict.status if verdict else kind),
                      verdict.message if verdict else None)
