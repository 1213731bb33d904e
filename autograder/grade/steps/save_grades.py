"""BatchedSaveAutoGrades: nbgrader's ``SaveAutoGrades`` with one query and one commit per
notebook, which also records the trusted verdicts (``grade/verdicts.py``) in that commit."""
from __future__ import annotations

import functools

import nbgrader.preprocessors.saveautogrades as m_save
from nbgrader import utils
from nbgrader.api import Assignment, BaseCell, Comment, Grade, Notebook, SubmittedAssignment, SubmittedNotebook
from nbgrader.preprocessors import SaveAutoGrades
from sqlalchemy import and_, bindparam, select

from .. import verdicts


class BatchedSaveAutoGrades(SaveAutoGrades):
    """nbgrader's SaveAutoGrades, with the notebook's grade and comment rows loaded in one
    query and committed once, instead of a query and a commit per cell. Same scores, same
    comments. The verdicts TrustedExecute left in the resources go into the same commit."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        self.notebook_id, self.assignment_id = info["notebook"], info["assignment"]
        self.student_id, self.db_url = info["student"], info["db_url"]
        self.gradebook = m_save.Gradebook(self.db_url)
        with self.gradebook:
            db = self.gradebook.db
            names = {"notebook": self.notebook_id, "assignment": self.assignment_id, "student": self.student_id}
            cells = db.execute(_cells_of_notebook(), names).all()
            self._grades = {name: grade for name, grade, _, _ in cells if grade is not None}
            self._comments = {name: comment for name, _, comment, _ in cells if comment is not None}
            if cells:
                course_id = cells[0][3]
            else:           # no graded cells (or no such notebook: nbgrader's MissingEntry, as before)
                sub = self.gradebook.find_submission_notebook(self.notebook_id, self.assignment_id, self.student_id)
                course_id = sub.assignment.assignment.course_id
            self._scores: dict = {}
            nb, resources = super(SaveAutoGrades, self).preprocess(nb, resources)
            outcome = resources.get("autograder_outcome")
            if outcome is not None:
                verdicts.replace_notebook(db, course_id, self.assignment_id, self.student_id, self.notebook_id,
                                          outcome, self._scores)
            db.commit()
        return nb, resources

    def _add_score(self, cell, resources):
        gid = cell.metadata["nbgrader"]["grade_id"]
        grade = self._grades.get(gid) or self.gradebook.find_grade(
            gid, self.notebook_id, self.assignment_id, self.student_id)
        auto_score, _ = utils.determine_grade(cell, self.log)
        self._scores[gid] = auto_score
        _set(grade, auto_score=auto_score, needs_manual_grade=grade.manual_score is not None or auto_score is None)

    def _add_comment(self, cell, resources):
        gid = cell.metadata["nbgrader"]["grade_id"]
        comment = self._comments.get(gid) or self.gradebook.find_comment(
            gid, self.notebook_id, self.assignment_id, self.student_id)
        if cell.metadata.nbgrader.get("checksum", None) == utils.compute_checksum(cell) and not utils.is_task(cell):
            _set(comment, auto_comment="No response.")
        else:
            _set(comment, auto_comment=None)


def _set(row, **values) -> None:
    """Set the row's attributes that change: an unchanged row (a regrade) is then not even
    looked at when the session flushes. Same row either way."""
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)


@functools.cache
def _cells_of_notebook():
    """(cell name, its grade row or None, its comment row or None, course id) for every graded,
    solution or task cell of one submitted notebook, in one query: the notebook found by names
    as nbgrader's ``find_submission_notebook`` finds it. Reading ``row.cell.name`` row by row
    lazy-loads each cell with a query of its own (issue 16). Built once: building its joins
    costs what running it does."""
    return select(BaseCell.name, Grade, Comment, Assignment.course_id).select_from(SubmittedNotebook) \
        .join(Notebook, Notebook.id == SubmittedNotebook.notebook_id) \
        .join(SubmittedAssignment, SubmittedAssignment.id == SubmittedNotebook.assignment_id) \
        .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id) \
        .join(BaseCell, BaseCell.notebook_id == Notebook.id) \
        .outerjoin(Grade, and_(Grade.cell_id == BaseCell.id, Grade.notebook_id == SubmittedNotebook.id)) \
        .outerjoin(Comment, and_(Comment.cell_id == BaseCell.id, Comment.notebook_id == SubmittedNotebook.id)) \
        .where(Notebook.name == bindparam("notebook"), Assignment.name == bindparam("assignment"),
               SubmittedAssignment.student_id == bindparam("student"))
