"""TrustedAutograde: nbgrader's ``Autograde`` converter with the steps of ``steps/``.

Everything else is nbgrader's own: finding the submissions, copying ``submitted/`` to
``autograded/``, restoring test cells from the gradebook, late penalties, recording grades. Its two
passes per notebook (sanitize, then autograde) run as one.
"""
from __future__ import annotations

import os
import shutil

from nbconvert.exporters import Exporter, NotebookExporter
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode, from_dict
from nbgrader.converters import Autograde
from traitlets import Any, Bool, Type

from . import steps


class OnceValidatedNotebookExporter(NotebookExporter):
    """nbconvert's NotebookExporter without its re-validation of the whole notebook after every
    preprocessor (a millisecond each, two dozen times per notebook). The notebook is still
    validated when nbgrader reads it and when it is written."""

    def _validate_preprocessor(self, nbc, preprocessor):
        return None


class BetweenPasses(Preprocessor):
    """What nbgrader's write and read between its two passes did for the steps after it: every
    cell a NotebookNode, metadata and all (a sanitize step may have put in a plain dict, such as
    a test cell restored into an empty notebook)."""

    enabled = Bool(True)

    def preprocess(self, nb, resources):
        for i, cell in enumerate(nb.cells):
            if not isinstance(cell, NotebookNode) or not isinstance(cell.get("metadata"), NotebookNode):
                nb.cells[i] = from_dict(cell)
        return nb, resources


class TrustedAutograde(Autograde):
    """nbgrader's Autograde, with our steps (``steps.compose``) constructed with the session."""

    exporter_class = Type(OnceValidatedNotebookExporter, klass=Exporter,
                          help="nbconvert exporter (default: NotebookExporter validating once)").tag(config=True)
    session = Any(help="the GradingSession: sandbox runs and verdicts")

    def _init_preprocessors(self) -> None:
        """nbgrader's sanitize steps, then its autograde steps, ours swapped in, in one list: one
        pass per notebook (nbgrader runs two, writing the notebook to autograded/ and reading it
        back in between, a quarter of its bookkeeping per notebook)."""
        self.exporter._preprocessors = []
        for chosen, autograde in ((self.sanitize_preprocessors, False), (self.autograde_preprocessors, True)):
            if autograde:
                self.exporter.register_preprocessor(BetweenPasses(parent=self.exporter))
            for step in steps.compose(chosen, autograde=autograde):
                self.exporter.register_preprocessor(steps.construct(step, self.exporter, self.session))

    def convert_single_notebook(self, notebook_filename: str) -> None:
        """Both of nbgrader's passes at once (``_init_preprocessors``), with its errors that stop a
        whole batch in stock nbgrader (a cell's metadata schema too old or too new) made this
        submission's error, as its other errors are."""
        from nbgrader import utils
        from nbgrader.converters.base import BaseConverter
        from nbgrader.nbgraderformat.common import SchemaMismatchError
        self.log.info("Sanitizing and autograding %s", notebook_filename)
        self._init_preprocessors()
        try:
            with utils.setenv(NBGRADER_EXECUTION="autograde"):
                BaseConverter.convert_single_notebook(self, notebook_filename)
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
