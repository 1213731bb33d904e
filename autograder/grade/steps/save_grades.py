"""BatchedSaveAutoGrades: nbgrader's ``SaveAutoGrades`` with one query and one commit per notebook,
which also records the trusted verdicts (``grade/verdicts.py``) in that commit."""
from __future__ import annotations

import nbgrader.preprocessors.saveautogrades as m_save
from nbgrader import utils
from nbgrader.api import BaseCell, Comment, Grade
from nbgrader.preprocessors import SaveAutoGrades

from .. import verdicts


class BatchedSaveAutoGrades(SaveAutoGrades):
    """nbgrader's SaveAutoGrades, with the notebook's grade and comment rows loaded in one go
    and committed once, instead of a query and a commit per cell. Same scores, same comments.
    The verdicts TrustedExecute left in the resources go into the same commit."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        self.notebook_id, self.assignment_id = info["notebook"], info["assignment"]
        self.student_id, self.db_url = info["student"], info["db_url"]
        self.gradebook = m_save.Gradebook(self.db_url)
        with self.gradebook:
            sub = self.gradebook.find_submission_notebook(self.notebook_id, self.assignment_id, self.student_id)
            self._grades = _by_cell_name(self.gradebook.db, Grade, sub.id)
            self._comments = _by_cell_name(self.gradebook.db, Comment, sub.id)
            self._scores: dict = {}
            nb, resources = super(SaveAutoGrades, self).preprocess(nb, resources)
            outcome = resources.get("autograder_outcome")
            if outcome is not None:
                verdicts.replace_notebook(self.gradebook.db, sub.assignment.assignment.course_id,
                                          self.assignment_id, self.student_id, self.notebook_id, outcome,
                                          self._scores)
            self.gradebook.db.commit()
        return nb, resources

    def _add_score(self, cell, resources):
        gid = cell.metadata["nbgrader"]["grade_id"]
        grade = self._grades.get(gid) or self.gradebook.find_grade(
            gid, self.notebook_id, self.assignment_id, self.student_id)
        auto_score, _ = utils.determine_grade(cell, self.log)
        grade.auto_score = auto_score
        self._scores[gid] = auto_score
        grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None

    def _add_comment(self, cell, resources):
        gid = cell.metadata["nbgrader"]["grade_id"]
        comment = self._comments.get(gid) or self.gradebook.find_comment(
            gid, self.notebook_id, self.assignment_id, self.student_id)
        if cell.metadata.nbgrader.get("checksum", None) == utils.compute_checksum(cell) and not utils.is_task(cell):
            comment.auto_comment = "No response."
        else:
            comment.auto_comment = None


def _by_cell_name(db, model, notebook_id: str) -> dict:
    """The notebook's grade (or comment) rows by cell name, in one query: reading ``row.cell.name``
    row by row lazy-loads each cell with a query of its own (issue 16)."""
    rows = db.query(model, BaseCell.name).join(BaseCell, model.cell_id == BaseCell.id) \
        .filter(model.notebook_id == notebook_id)
    return {name: row for row, name in rows}
