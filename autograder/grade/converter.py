"""TrustedAutograde: nbgrader's ``Autograde`` converter with the steps of ``steps/``.

Everything else is nbgrader's own: finding the submissions, copying ``submitted/`` to
``autograded/``, restoring test cells from the gradebook, late penalties, recording grades.
"""
from __future__ import annotations

import os
import shutil

from nbconvert.exporters import Exporter, NotebookExporter
from nbgrader.converters import Autograde
from traitlets import Any, Type

from . import steps


class OnceValidatedNotebookExporter(NotebookExporter):
    """nbconvert's NotebookExporter without its re-validation of the whole notebook after every
    preprocessor (a millisecond each, two dozen times per notebook). The notebook is still
    validated when nbgrader reads it and when it is written."""

    def _validate_preprocessor(self, nbc, preprocessor):
        return None


class TrustedAutograde(Autograde):
    """nbgrader's Autograde, with our steps (``steps.compose``) constructed with the session."""

    exporter_class = Type(OnceValidatedNotebookExporter, klass=Exporter,
                          help="nbconvert exporter (default: NotebookExporter validating once)").tag(config=True)
    session = Any(help="the GradingSession: sandbox runs and verdicts")

    def _init_preprocessors(self) -> None:
        self.exporter._preprocessors = []
        chosen = self.sanitize_preprocessors if self._sanitizing else self.autograde_preprocessors
        for step in steps.compose(chosen, autograde=not self._sanitizing):
            self.exporter.register_preprocessor(steps.construct(step, self.exporter, self.session))

    def convert_single_notebook(self, notebook_filename: str) -> None:
        """nbgrader's, with its errors that stop a whole batch in stock nbgrader (a cell's metadata
        schema too old or too new) made this submission's error, as its other errors are."""
        from nbgrader.nbgraderformat.common import SchemaMismatchError
        try:
            super().convert_single_notebook(notebook_filename)
        except SchemaMismatchError as e:
            raise RuntimeError(f"invalid nbgrader metadata in {os.path.basename(notebook_filename)}: {e}") from None

    def init_destination(self, assignment_id: str, student_id: str) -> bool:
        """nbgrader's rule (skip what is in autograded/ unless --force or submitted again since),
        and one more: a submission whose grading a killed run left unfinished is graded afresh."""
        if super().init_destination(assignment_id, student_id):
            return True
        if student_id in (self.coursedir.student_id_exclude or "").split(","):
            return False
        dest = self._format_dest(assignment_id, student_id)
        src = self._format_source(assignment_id, student_id)
        if os.path.isdir(dest) and not self.session.finished(student_id, src, dest):
            shutil.rmtree(dest)
            return True
        return False
