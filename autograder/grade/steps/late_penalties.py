"""OnTimeAssignLatePenalties: nbgrader's ``AssignLatePenalties``, skipped where it would change
nothing."""
from __future__ import annotations

import nbgrader.preprocessors.latesubmissions as m_late
from nbgrader.api import Assignment, Notebook, SubmittedAssignment, SubmittedNotebook
from nbgrader.preprocessors import AssignLatePenalties
from sqlalchemy import select
from traitlets import Any


class OnTimeAssignLatePenalties(AssignLatePenalties):
    """nbgrader's step sets a notebook's penalty to None, then asks the plugin for one if the
    submission is late. For a submission on time (the converter's set-up saw its lateness) whose
    notebook holds no penalty from an earlier grading, that writes None over None, at the cost of
    two queries and a commit per notebook: skipped. Every other notebook gets nbgrader's step."""

    session = Any(allow_none=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        late = self.session.seconds_late.get(info["student"]) if self.session is not None else None
        if late is not None and late <= 0 and (info["student"], info["notebook"]) not in self._penalised(info):
            return nb, resources
        return super().preprocess(nb, resources)

    def _penalised(self, info) -> set:
        """(student, notebook) of the assignment's notebooks that hold a penalty, read once per
        batch: during it only late submissions, which take nbgrader's step, can gain one."""
        key = ("penalised", info["db_url"], info["assignment"])
        if key not in self.session.cache:
            with m_late.Gradebook(info["db_url"]) as gb:        # the batch's shared engine
                rows = gb.db.execute(
                    select(SubmittedAssignment.student_id, Notebook.name).select_from(SubmittedNotebook)
                    .join(Notebook, Notebook.id == SubmittedNotebook.notebook_id)
                    .join(SubmittedAssignment, SubmittedAssignment.id == SubmittedNotebook.assignment_id)
                    .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id)
                    .where(Assignment.name == info["assignment"],
                           SubmittedNotebook.late_submission_penalty.is_not(None))).all()
            self.session.cache[key] = {(student, notebook) for student, notebook in rows}
        return self.session.cache[key]
