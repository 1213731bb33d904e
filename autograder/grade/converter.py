"""TrustedAutograde: nbgrader's ``Autograde`` converter with the steps of ``steps/``.

Everything else is nbgrader's own: finding the submissions, copying ``submitted/`` to
``autograded/``, restoring test cells from the gradebook, late penalties, recording grades. Its two
passes per notebook (sanitize, then autograde) run as one, and what its set-up per submission
looks up that is the same for the whole batch is looked up once.
"""
from __future__ import annotations

import os
import shutil

from nbconvert.exporters import Exporter, NotebookExporter
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode, from_dict
from nbgrader import utils
from nbgrader.api import MissingEntry
from nbgrader.converters import Autograde
from nbgrader.converters.base import BaseConverter, NbGraderException
from nbgrader.nbgraderformat.common import SchemaMismatchError
from nbgrader.utils import find_all_files
from traitlets import Any, Bool, Dict, Type

from . import steps
from .gradebook import open_gradebook


class OnceValidatedNotebookExporter(NotebookExporter):
    """nbconvert's NotebookExporter without its re-validation of the whole notebook after every
    preprocessor (a millisecond each, two dozen times per notebook). The notebook is still
    validated when it is read (by the intake, or here) and when it is written.

    ``node``: the notebook the next ``from_filename`` would read, already parsed and validated
    by the intake, which wrote that file from it; the file is then opened but not read again."""

    node = Any(None, allow_none=True)

    def _validate_preprocessor(self, nbc, preprocessor):
        return None

    def _preprocess(self, nb, resources):
        """nbconvert's loop over the preprocessors, without the two deep copies and the
        normalisation it starts with: ``from_notebook_node`` has already copied the notebook, and
        every notebook here was validated, its duplicate cell ids repaired, when it was read."""
        for preprocessor in self._preprocessors:
            nb, resources = preprocessor(nb, resources)
        return nb, resources

    def from_file(self, file_stream, resources=None, **kw):
        nb, self.node = self.node, None
        if nb is None:
            return super().from_file(file_stream, resources=resources, **kw)
        return self.from_notebook_node(nb, resources=resources, **kw)


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
    students_made = Any(frozenset(), help="students whose rows the batch made up front (ensure_students)")
    looked_up = Dict(help="assignment id -> (its notebooks' names, its source folder, the source files "
                          "copied into each submission), looked up on the batch's first submission")

    def init_assignment(self, assignment_id: str, student_id: str) -> None:
        """nbgrader's ``Autograde.init_assignment``, same rows, copies and messages, with a third
        of its queries: the assignment, its notebooks and its source files are looked up once per
        batch, and a student row the batch made up front is not updated again (nbgrader's update
        with nothing to change)."""
        BaseConverter.init_assignment(self, assignment_id, student_id)
        with open_gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            self._check_student(gb, student_id)
            names, source_path, files = self._looked_up(gb, assignment_id)
            self._record_submission(gb, assignment_id, student_id)
        self.log.info("Overwriting files with master versions from the source directory")
        dest_path = self._format_dest(assignment_id, student_id)
        for filename in files:
            dest = os.path.join(dest_path, os.path.relpath(filename, source_path))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if os.path.exists(dest):
                os.remove(dest)
            self.log.info("Copying %s -> %s", filename, dest)
            shutil.copy(filename, dest)
        notebooks = []
        for notebook in self.notebooks:
            if os.path.splitext(os.path.basename(notebook))[0] in names:
                notebooks.append(notebook)
            else:
                self.log.warning("Skipping unknown notebook: %s", notebook)
        self.notebooks = notebooks
        if not notebooks:
            msg = "No notebooks found, did you forget to run 'nbgrader generate_assignment'?"
            self.log.error(msg)
            raise NbGraderException(msg)
        self._zero_missing(names, assignment_id, student_id)

    def _check_student(self, gb, student_id: str) -> None:
        if self.create_student:
            self.log.info("Creating/updating student with ID '%s': %s", student_id, {})
            if student_id not in self.students_made:
                gb.update_or_create_student(student_id)
            return
        try:
            gb.find_student(student_id)
        except MissingEntry:
            msg = "No student with ID '%s' exists in the database" % student_id
            self.log.error(msg)
            raise NbGraderException(msg)

    def _looked_up(self, gb, assignment_id: str) -> tuple:
        """(the assignment's notebook names, its source folder, the source files nbgrader copies
        into each submission), on the batch's first submission."""
        if assignment_id not in self.looked_up:
            try:
                names = [nb.name for nb in gb.find_assignment(assignment_id).notebooks]
            except MissingEntry:
                msg = "No assignment with ID '%s' exists in the database" % assignment_id
                self.log.error(msg)
                raise NbGraderException(msg)
            coursedir = self.coursedir
            source_path = coursedir.format_path(coursedir.source_directory, ".", assignment_id)
            excluded = {os.path.join(source_path, x) for x in self.exclude_overwriting.get(assignment_id, [])}
            files = sorted(set(find_all_files(source_path, coursedir.ignore + ["*.ipynb"])) - excluded)
            self.looked_up[assignment_id] = names, source_path, files
        return self.looked_up[assignment_id]

    def _record_submission(self, gb, assignment_id: str, student_id: str) -> None:
        """nbgrader's submission row, with the timestamp the submission carries; its lateness is
        kept for the late-penalty step."""
        timestamp = self.coursedir.get_existing_timestamp(self._format_source(assignment_id, student_id))
        if timestamp:
            submission = gb.update_or_create_submission(assignment_id, student_id, timestamp=timestamp)
            self.log.info("%s submitted at %s", submission, timestamp)
            if submission.total_seconds_late > 0:
                self.log.warning("%s is %s seconds late", submission, submission.total_seconds_late)
        else:
            submission = gb.update_or_create_submission(assignment_id, student_id)
        self.session.seconds_late[student_id] = submission.total_seconds_late

    def _zero_missing(self, names: list[str], assignment_id: str, student_id: str) -> None:
        """A notebook not submitted scores zero, as in nbgrader."""
        submitted = self.coursedir.format_path(self.coursedir.submitted_directory, student_id, assignment_id)
        missing = [n for n in names if not os.path.exists(os.path.join(submitted, f"{n}.ipynb"))]
        if not missing:
            return
        with open_gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            for name in missing:
                self.log.warning("No submitted file: {}".format(os.path.join(submitted, f"{name}.ipynb")))
                for grade in gb.find_submission_notebook(name, assignment_id, student_id).grades:
                    grade.auto_score = 0
                    grade.needs_manual_grade = False
                gb.db.commit()

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
        self.log.info("Sanitizing and autograding %s", notebook_filename)
        self._init_preprocessors()
        self.exporter.node = self.session.nodes.pop(os.path.abspath(notebook_filename), None)
        try:
            with utils.setenv(NBGRADER_EXECUTION="autograde"):
                BaseConverter.convert_single_notebook(self, notebook_filename)
        except SchemaMismatchError as e:
            raise RuntimeError(f"invalid nbgrader metadata in {os.path.basename(notebook_filename)}: {e}") from None
        finally:
            self.exporter.node = None           # never another file's notebook

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
