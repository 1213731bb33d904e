"""``autograder grade``: nbgrader's autograde, with verdicts the learner's code cannot touch.

Batch mode (``grade_assignment``) is nbgrader's own ``Autograde`` converter (copying
``submitted/`` to ``autograded/``, restoring test cells from the gradebook, late penalties,
recording grades), with one step swapped: nbgrader's ``Execute`` (run the notebook in a kernel,
tests included) becomes ``TrustedExecute`` (read the verdicts computed in this process from
what the sandboxed learner code returned). The pipeline, in order:

    1. TrustedAssignment.from_gradebook   the test cells nbgrader itself restores
    2. SandboxPool                         warm sandboxes start (in parallel with 3)
    3. TrustedAssignment.prepare           case inputs and PyTorch references, once
    4. GradingSession.submit               every submission's learner code goes to the pool
    5. nbgrader Autograde converter        sanitize, TrustedExecute (waits for 4, judges),
                                           IgnorePattern, LimitOutput, SaveAutoGrades,
                                           AssignLatePenalties, ... as configured
    6. report                              scores read back from the gradebook

Steps 4 and 5 overlap: sandboxes run submissions ahead while nbgrader records earlier ones.
Because nbgrader scores the outputs ``TrustedExecute`` writes with its own
``determine_grade``, honest work gets the points stock ``nbgrader autograde`` gives it, and
formgrader, ``generate_feedback`` and ``export`` read the result as usual.

Besides Execute, the converter gets drop-ins that record the same things, faster or without
nbgrader 0.9.6's crashes (see ``_nbgrader_steps``), one shared database engine
(``shared_gradebook_engine``) and an exporter that validates a notebook once, not after every
step. Submissions nbgrader would fail on or skip silently (no notebook, a renamed notebook, a
file that is not JSON) are recorded here instead: 0 on every cell, with the reason as the
automatic comment. A submission whose grading a killed run left unfinished is graded afresh.

Single-notebook mode (``grade_notebook``) runs the same verdicts on one notebook against the
assignment's source notebook, with no gradebook, and prints a report with the hints.
"""
from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


def _quiet_imports() -> None:
    """jsonschema compiles a large lark grammar at import when ``rfc3987_syntax`` is installed
    (a second or more); nbformat and nbgrader never validate that format, so skip it here."""
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)


_quiet_imports()

import nbformat  # noqa: E402

from .sandbox import Limits, SandboxPool, sandbox_command  # noqa: E402
from .trusted import NotebookOutcome, TrustedAssignment, judge_notebook, plan_job


class GraderError(RuntimeError):
    """Grading cannot start (no such assignment, no sandbox under --require-sandbox, ...)."""


# ----------------------------------------------------------------------------- the session

@dataclass
class Timings:
    started: float = field(default_factory=time.perf_counter)
    parts: dict = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.parts[name] = self.parts.get(name, 0.0) + seconds

    @contextlib.contextmanager
    def measure(self, name: str):
        t = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - t)


class GradingSession:
    """Submissions sent to the sandbox pool, and their judged outcomes."""

    def __init__(self, trusted: TrustedAssignment, pool: SandboxPool, limits: Limits, timings: Timings,
                 on_outcome=None):
        self.trusted, self.pool, self.limits, self.timings = trusted, pool, limits, timings
        self.futures: dict = {}
        self.steps: dict = {}
        self._source_cells: dict = {}
        self.outcomes: dict[tuple[str, str], NotebookOutcome] = {}
        self.problems: dict[tuple[str, str], str] = {}
        self.on_outcome = on_outcome
        self.locate = None          # (student, notebook) -> submitted path, for notebooks not submitted ahead
        self.sandbox_seconds = self.sandbox_cpu = 0.0

    def source_cells(self, db_url: str, assignment: str, notebook: str):
        """A read-only stand-in for the gradebook that answers OverwriteCells' questions about the
        source cells (find_source_cell, find_graded_cell, find_notebook) from one read."""
        key = (db_url, assignment, notebook)
        if key not in self._source_cells:
            self._source_cells[key] = _SourceCells.load(db_url, assignment, notebook)
        return self._source_cells[key]

    def submit(self, student: str, notebook: str, path: Path, files: list[tuple[str, str]] | None = None) -> None:
        key = (student, notebook)
        if key in self.futures or key in self.problems:
            return
        nb, problem = read_submission(path)
        if problem:
            self.problems[key] = problem
            return
        steps = plan_job(self.trusted.notebooks[notebook], nb)
        names, payload = _pack_files(files or [])
        job = {"type": "job", "id": f"{student}/{notebook}", "steps": steps, "limits": self.limits.as_dict(),
               "files": names}
        self.steps[key] = steps
        self.futures[key] = self.pool.submit(job, payload)

    def outcome(self, student: str, notebook: str, path: Path | None = None) -> NotebookOutcome:
        key = (student, notebook)
        if key in self.outcomes:
            return self.outcomes[key]
        if key not in self.futures and key not in self.problems and path is not None:
            self.submit(student, notebook, path)
        limits = self.limits.as_dict()
        if key in self.problems:
            outcome = judge_notebook(self.trusted, notebook, None, limits, problem=self.problems[key])
        else:
            with self.timings.measure("waiting for sandboxes"):
                future = self.futures[key]
                if not future.done() and self.pool.backlog():
                    self.pool.hurry()            # the sandboxes are behind: use every one allowed
                try:
                    result, problem = future.result(), None
                except Exception as e:
                    result, problem = None, f"the grading sandbox could not run this notebook ({e})"
            with self.timings.measure("judging"):
                outcome = judge_notebook(self.trusted, notebook, result, limits, self.steps.get(key), problem)
            if result is not None:
                self.sandbox_seconds += result.seconds
                self.sandbox_cpu += result.cpu
        self.futures.pop(key, None)
        self.outcomes[key] = outcome
        if self.on_outcome:
            self.on_outcome(student, notebook, outcome)
        return outcome


class _SourceCells:
    """Snapshots of one notebook's source, grade, solution and task cells from the gradebook."""

    def __init__(self, notebook_id: str, cells: dict, graded: dict, nb):
        self.notebook_id, self.cells, self.graded, self.nb = notebook_id, cells, graded, nb

    @classmethod
    def load(cls, db_url: str, assignment: str, notebook: str) -> "_SourceCells":
        from types import SimpleNamespace

        import nbgrader.preprocessors.overwritecells as m_overwrite
        with m_overwrite.Gradebook(db_url) as gb:
            nb = gb.find_notebook(notebook, assignment)
            snap = lambda c, **kw: SimpleNamespace(name=c.name, cell_type=c.cell_type, locked=c.locked,
                                                   checksum=c.checksum, source=c.source, **kw)
            cells = {c.name: snap(c) for c in nb.source_cells}
            graded = {c.name: SimpleNamespace(name=c.name, max_score=c.max_score) for c in nb.grade_cells}
            view = SimpleNamespace(source_cells=[cells[c.name] for c in nb.source_cells],
                                   grade_cells=[graded[c.name] for c in nb.grade_cells],
                                   solution_cells=[SimpleNamespace(name=c.name) for c in nb.solution_cells],
                                   task_cells=[SimpleNamespace(name=c.name, max_score=c.max_score)
                                               for c in nb.task_cells])
        return cls(notebook, cells, graded, view)

    def find_source_cell(self, name, notebook, assignment):
        from nbgrader.api import MissingEntry
        if notebook != self.notebook_id or name not in self.cells:
            raise MissingEntry()
        return self.cells[name]

    def find_graded_cell(self, name, notebook, assignment):
        from nbgrader.api import MissingEntry
        if notebook != self.notebook_id or name not in self.graded:
            raise MissingEntry()
        return self.graded[name]

    def find_notebook(self, name, assignment):
        return self.nb

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


MAX_FILES_BYTES = 64 << 20


def _pack_files(files: list[tuple[str, str]]) -> tuple[list, bytes]:
    """Extra files for the notebook's working directory (relative name, offset, length) + bytes."""
    names, parts, size = [], [], 0
    for path, name in files:
        try:
            data = Path(path).read_bytes()
        except OSError:
            continue
        if size + len(data) > MAX_FILES_BYTES:
            continue
        names.append([name, size, len(data)])
        parts.append(data)
        size += len(data)
    return names, b"".join(parts)


def read_submission(path: Path):
    """(notebook, None), or (None, why it cannot be graded at all)."""
    name = Path(path).name
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        return None, f"{name} could not be read ({e.strerror})"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, f"{name} is not valid JSON (invalid UTF-8 at byte {e.start}): re-save the notebook in Jupyter"
    try:
        return nbformat.reads(text, as_version=4), None
    except nbformat.reader.NotJSONError:
        return None, f"{name} is not valid JSON (a damaged or unsaved file): re-save the notebook in Jupyter"
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        return None, f"{name} is valid JSON but not a notebook nbgrader can read ({first})"


_ACTIVE: GradingSession | None = None


# ----------------------------------------------------------------------------- nbgrader steps

def _nbgrader_steps():
    """The steps `autograder grade` puts into nbgrader's converter (defined once nbgrader is
    imported): TrustedExecute instead of Execute, and faster or fixed drop-ins for
    CheckCellMetadata, OverwriteCells and SaveAutoGrades that record the same things."""
    _quiet_imports()
    import jsonschema
    from nbgrader.nbgraderformat import MetadataValidator
    from nbgrader import utils
    from nbgrader.preprocessors import CheckCellMetadata, NbGraderPreprocessor, OverwriteCells

    class TrustedExecute(NbGraderPreprocessor):
        """Replaces nbgrader's ``Execute``: writes each test cell's outputs from the trusted
        verdicts (learner code already ran in the sandbox; test cells never run anywhere)."""

        def preprocess(self, nb, resources):
            session = _ACTIVE
            if session is None:
                raise RuntimeError("TrustedExecute runs only inside `autograder grade`")
            info = resources["nbgrader"]
            student, notebook = info["student"], info["notebook"]
            path = session.locate(student, notebook) if session.locate else None
            outcome = session.outcome(student, notebook, path)
            done = set()
            count = 0
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                count += 1
                gid = cell.metadata.get("nbgrader", {}).get("grade_id")
                if gid in outcome.tests and gid not in done and cell.metadata["nbgrader"].get("grade"):
                    cell.outputs = outcome.tests[gid].outputs
                    done.add(gid)
                else:
                    cell.outputs = _outputs_for(outcome, cell, index)
                cell.execution_count = count
            return nb, resources

    _schemas: dict = {}

    class FastCheckCellMetadata(CheckCellMetadata):
        """nbgrader's CheckCellMetadata with the JSON schema compiled once, not once per cell."""

        def preprocess(self, nb, resources):
            validator = MetadataValidator()
            key = validator.schema_version
            if key not in _schemas:
                cls = jsonschema.validators.validator_for(validator.schema)
                cls.check_schema(validator.schema)
                _schemas[key] = cls(validator.schema)
            compiled = _schemas[key]
            try:
                for cell in nb.cells:
                    if "nbgrader" not in cell.metadata:
                        continue
                    if cell.metadata["nbgrader"].get("schema_version", 0) != validator.schema_version:
                        validator.validate_cell(cell)       # raises nbgrader's schema errors
                    error = jsonschema.exceptions.best_match(compiled.iter_errors(cell.metadata["nbgrader"]))
                    if error is not None:
                        raise error
            except jsonschema.ValidationError:
                return super().preprocess(nb, resources)     # nbgrader's own message and exception
            return nb, resources

    class FixedOverwriteCells(OverwriteCells):
        """nbgrader 0.9.6's OverwriteCells, minus three KeyErrors that make it give up on a whole
        submission: a test cell whose predecessor was deleted too (an emptied notebook), a cell
        whose grade_id nbgrader itself removed (renamed ids), and a duplicate whose metadata
        DeduplicateIds emptied. Where nbgrader's own code succeeds, it does the same thing."""

        def add_missing_grade_cells(self, nb, resources):
            source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
            source_cells = source_nb.source_cells
            source_ids = [cell.name for cell in source_cells]
            grade_cells = {cell.name: cell for cell in source_nb.grade_cells}
            solution_ids = [cell.name for cell in source_nb.solution_cells]
            present = {}
            for idx, cell in enumerate(nb.cells):
                gid = cell.metadata.get("nbgrader", {}).get("grade_id")
                if gid and (utils.is_grade(cell) or utils.is_solution(cell)):
                    present[gid] = idx
            added = 0
            for gid, grade_cell in grade_cells.items():
                if gid in present:
                    continue
                self.log.warning(f"Missing grade cell {gid} encountered, adding to notebook")
                k = source_ids.index(gid)
                cell = self.missing_cell_transform(source_cells[k], grade_cell.max_score,
                                                   is_solution=gid in solution_ids)
                earlier = [source_ids[j] for j in range(k - 1, -1, -1) if source_ids[j] in present]
                if k == 0:
                    nb.cells.insert(0, cell)
                    present[gid] = 0
                elif earlier:
                    prev = earlier[0]
                    nb.cells.insert(present[prev] + added + 1, cell)
                    present[gid] = present[prev]
                else:                                    # nothing before it survived: append
                    nb.cells.append(cell)
                    present[gid] = len(nb.cells) - 1 - added
                added += 1
            return nb, resources

        def add_missing_task_cells(self, nb, resources):
            source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
            source_cells = source_nb.source_cells
            source_ids = [cell.name for cell in source_cells]
            submitted = [c["metadata"]["nbgrader"].get("grade_id") for c in nb.cells if "nbgrader" in c["metadata"]]
            for task in source_nb.task_cells:
                if task.name not in submitted:
                    cell = self.missing_cell_transform(source_cells[source_ids.index(task.name)], task.max_score,
                                                       is_task=True)
                    nb.cells.append(cell)
            return nb, resources

        def preprocess(self, nb, resources):
            for cell in nb.cells:                  # emptied by DeduplicateIds: an ordinary cell
                if cell.metadata.get("nbgrader") == {}:
                    del cell.metadata["nbgrader"]
            session = _ACTIVE
            if session is None:
                return super().preprocess(nb, resources)
            # nbgrader's OverwriteCells.preprocess, with the source cells read once per assignment
            info = resources["nbgrader"]
            self.notebook_id, self.assignment_id, self.db_url = info["notebook"], info["assignment"], info["db_url"]
            self.gradebook = session.source_cells(self.db_url, self.assignment_id, self.notebook_id)
            nb, resources = super(OverwriteCells, self).preprocess(nb, resources)
            if self.add_missing_cells:
                nb, resources = self.add_missing_grade_cells(nb, resources)
                nb, resources = self.add_missing_task_cells(nb, resources)
            return nb, resources

        def preprocess_cell(self, cell, resources, cell_index):
            cell, resources = super().preprocess_cell(cell, resources, cell_index)
            meta = cell.metadata.get("nbgrader")
            if meta is not None and not meta.get("grade_id"):
                del cell.metadata["nbgrader"]      # an id the gradebook does not know: an ordinary cell
            return cell, resources

    import nbgrader.preprocessors.saveautogrades as m_save
    from nbgrader.preprocessors import SaveAutoGrades

    class BatchedSaveAutoGrades(SaveAutoGrades):
        """nbgrader's SaveAutoGrades, with the notebook's grade and comment rows loaded in one go
        and committed once, instead of a query and a commit per cell. Same scores, same comments."""

        def preprocess(self, nb, resources):
            info = resources["nbgrader"]
            self.notebook_id, self.assignment_id = info["notebook"], info["assignment"]
            self.student_id, self.db_url = info["student"], info["db_url"]
            self.gradebook = m_save.Gradebook(self.db_url)
            with self.gradebook:
                sub = self.gradebook.find_submission_notebook(self.notebook_id, self.assignment_id, self.student_id)
                self._grades = {g.cell.name: g for g in sub.grades}
                self._comments = {c.cell.name: c for c in sub.comments}
                nb, resources = super(SaveAutoGrades, self).preprocess(nb, resources)
                self.gradebook.db.commit()
            return nb, resources

        def _add_score(self, cell, resources):
            gid = cell.metadata["nbgrader"]["grade_id"]
            grade = self._grades.get(gid) or self.gradebook.find_grade(
                gid, self.notebook_id, self.assignment_id, self.student_id)
            auto_score, _ = utils.determine_grade(cell, self.log)
            grade.auto_score = auto_score
            grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None

        def _add_comment(self, cell, resources):
            gid = cell.metadata["nbgrader"]["grade_id"]
            comment = self._comments.get(gid) or self.gradebook.find_comment(
                gid, self.notebook_id, self.assignment_id, self.student_id)
            if cell.metadata.nbgrader.get("checksum", None) == utils.compute_checksum(cell) and not utils.is_task(cell):
                comment.auto_comment = "No response."
            else:
                comment.auto_comment = None

    return TrustedExecute, FastCheckCellMetadata, FixedOverwriteCells, BatchedSaveAutoGrades


def _exporter_class():
    from nbconvert.exporters import NotebookExporter

    class OnceValidatedNotebookExporter(NotebookExporter):
        """nbconvert's NotebookExporter without its re-validation of the whole notebook after every
        preprocessor (a millisecond each, two dozen times per notebook). The notebook is still
        validated when nbgrader reads it and when it is written."""

        def _validate_preprocessor(self, nbc, preprocessor):
            return None

    return OnceValidatedNotebookExporter


def _outputs_for(outcome: NotebookOutcome, cell, index: int) -> list:
    key = f"{index}:{cell.get('id', '')}"
    if key in outcome.cell_outputs:
        return outcome.cell_outputs[key]
    cid = cell.get("id")
    if cid:
        for k, v in outcome.cell_outputs.items():
            if k.split(":", 1)[1] == cid:
                return v
    return []


@contextlib.contextmanager
def shared_gradebook_engine():
    """Let nbgrader's steps share one database engine during a batch.

    nbgrader opens ``Gradebook(db_url)`` about nine times per notebook, and each one creates an
    SQLAlchemy engine, inspects the tables and runs ``create_all``: a third of its time for a
    notebook. Here every such call in the converter and its preprocessors gets a real
    ``Gradebook`` with its own session on one engine (created by the real constructor, once
    per course id so that the same ``Course`` rows exist). Restored on exit.
    """
    _quiet_imports()
    import nbgrader.api as api
    import nbgrader.converters.autograde as m_autograde
    import nbgrader.preprocessors.latesubmissions as m_late
    import nbgrader.preprocessors.overwritecells as m_overwrite
    import nbgrader.preprocessors.overwritekernelspec as m_kernelspec
    import nbgrader.preprocessors.saveautogrades as m_save
    from sqlalchemy.orm import scoped_session, sessionmaker

    real = api.Gradebook
    engines: dict = {}
    courses: set = set()

    def gradebook(db_url, course_id="default_course", authenticator=None):
        if db_url not in engines or (db_url, course_id) not in courses:
            gb = real(db_url, course_id, authenticator)
            gb.db.remove()
            engines.setdefault(db_url, gb.engine)
            courses.add((db_url, course_id))
        gb = object.__new__(real)
        gb.engine = engines[db_url]
        gb.db = scoped_session(sessionmaker(autoflush=True, bind=gb.engine, future=True))
        gb.course_id, gb.authenticator = course_id, authenticator
        gb.close = gb.db.remove                     # keep the shared engine open
        return gb

    modules = (m_autograde, m_late, m_overwrite, m_kernelspec, m_save)
    saved = [m.Gradebook for m in modules]
    for m in modules:
        m.Gradebook = gradebook
    try:
        yield
    finally:
        for m, g in zip(modules, saved):
            m.Gradebook = g
        for engine in engines.values():
            engine.dispose()


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record):
        try:
            self.records.append(record.getMessage())
        except Exception:
            pass


# ----------------------------------------------------------------------------- batch mode

@dataclass
class BatchOptions:
    students: list[str] | None = None
    jobs: int | None = None
    force: bool = False
    require_sandbox: bool = False
    cell_timeout: float | None = None       # default: nbgrader's Execute.timeout
    notebook_timeout: float = 300.0
    memory_mb: int = 2048
    log_level: str = "ERROR"
    progress: bool = True


def _chdir(path: Path):
    @contextlib.contextmanager
    def cm():
        old = os.getcwd()
        os.chdir(path)
        try:
            yield
        finally:
            os.chdir(old)
    return cm()


def grade_assignment(course_dir: Path, assignment: str, options: BatchOptions | None = None,
                     console=None) -> dict:
    """Grade every submission of ``assignment`` into ``autograded/`` and the gradebook."""
    options = options or BatchOptions()
    timings = Timings()
    course_dir = Path(course_dir).resolve()
    jobs = options.jobs or os.cpu_count() or 1
    command, warning = sandbox_command(options.require_sandbox)
    pool = SandboxPool(command, jobs)           # zygotes start now, in parallel with what follows
    try:
        with _chdir(course_dir):
            return _grade_batch(course_dir, assignment, options, timings, pool, command, warning, jobs, console)
    finally:
        pool.close()


def _grade_batch(course_dir, assignment, options, timings, pool, command, warning, jobs, console) -> dict:
    global _ACTIVE
    with timings.measure("start-up (imports, nbgrader configuration)"):
        _quiet_imports()
        from nbgrader.apps.autogradeapp import AutogradeApp
        from nbgrader.converters import Autograde
        from nbgrader.preprocessors import CheckCellMetadata, Execute
        from traitlets.config import Config
        TrustedExecute, FastCheckCellMetadata, FixedOverwriteCells, BatchedSaveAutoGrades = _nbgrader_steps()
        from nbgrader.preprocessors import OverwriteCells, SaveAutoGrades
        app = AutogradeApp()
        argv = [assignment, f"--log-level={options.log_level}"] + (["--force"] if options.force else [])
        chosen = options.students or []
        if len(chosen) == 1:
            argv.append(f"--student={chosen[0]}")
        app.initialize(argv)
        coursedir = app.coursedir
        if len(chosen) > 1:
            everyone = _submitted_students(coursedir, assignment, "*")
            excluded = [s for s in everyone if s not in chosen]
            if coursedir.student_id_exclude:
                excluded += coursedir.student_id_exclude.split(",")
            coursedir.student_id_exclude = ",".join(excluded)
        timeout = options.cell_timeout or float(app.config.Execute.get("timeout", Execute.timeout.default_value)
                                                or 30)
        limits = Limits(cell_timeout=timeout, notebook_timeout=options.notebook_timeout,
                        memory_mb=options.memory_mb, require_seccomp=options.require_sandbox)

        def swap(items, is_autograde):
            out = []
            for pp in items:
                if isinstance(pp, str):
                    from traitlets.utils.importstring import import_item
                    pp = import_item(pp)
                if isinstance(pp, type) and issubclass(pp, Execute):
                    pp = TrustedExecute
                elif pp is CheckCellMetadata:
                    pp = FastCheckCellMetadata
                elif pp is OverwriteCells:
                    pp = FixedOverwriteCells
                elif pp is SaveAutoGrades:
                    pp = BatchedSaveAutoGrades
                out.append(pp)
            if is_autograde and TrustedExecute not in out:
                out.insert(0, TrustedExecute)
            return out

        cfg = app.config.Autograde
        auto = cfg.get("autograde_preprocessors", Autograde.class_traits()["autograde_preprocessors"].default())
        sanitize = cfg.get("sanitize_preprocessors", Autograde.class_traits()["sanitize_preprocessors"].default())
        overrides = {"autograde_preprocessors": swap(auto, True), "sanitize_preprocessors": swap(sanitize, False)}
        if "exporter_class" not in cfg and "exporter_class" not in app.config.BaseConverter:
            overrides["exporter_class"] = _exporter_class()
        app.update_config(Config({"Autograde": overrides}))

    with timings.measure("trusted test cells and references (once)"):
        try:
            trusted = TrustedAssignment.from_gradebook(coursedir.db_url, coursedir.course_id, assignment)
        except Exception:
            raise GraderError(f"assignment {assignment!r} is not in the gradebook {coursedir.db_url}: "
                              f"run `nbgrader generate_assignment {assignment}` first") from None
        trusted.prepare()
        calls, arrays = trusted.sandbox_inputs()
        pool.set_inputs(calls, arrays)
        pool.wait_ready()

    submissions = _pending_submissions(coursedir, assignment, options.force, trusted)
    progress = _progress(console, len(submissions), assignment) if options.progress else None
    seen: set = set()

    def advance(student, *_):
        if progress is not None and student not in seen:
            seen.add(student)
            progress[0].advance(progress[1])

    session = GradingSession(trusted, pool, limits, timings, advance)
    session.locate = lambda student, notebook: Path(coursedir.format_path(
        coursedir.submitted_directory, student, assignment)) / f"{notebook}.ipynb"
    exclude_overwriting = app.config.Autograde.get("exclude_overwriting", {}).get(assignment, [])
    source_files = _working_files(coursedir.format_path(coursedir.source_directory, ".", assignment),
                                  coursedir.ignore, exclude_overwriting)
    ungradable: dict[str, list[str]] = {}
    with timings.measure("reading submissions"):
        for student, folder in submissions:
            folder = Path(folder)
            present = sorted(p.name for p in folder.glob("*.ipynb"))
            if not any(f"{n}.ipynb" in present for n in trusted.notebooks):
                # nbgrader would skip this folder (no notebook) or fail on it (only unknown names)
                missing = ", ".join(f"{n}.ipynb is missing" for n in trusted.notebooks)
                ungradable[student] = [f"no notebook was submitted: {missing}" if not present else
                                       f"{missing}; found {', '.join(present)} instead: notebooks must keep "
                                       "their names"]
                continue
            files = _working_files(str(folder), coursedir.ignore, []) + source_files
            for name in trusted.notebooks:
                path = folder / f"{name}.ipynb"
                if path.exists():
                    session.submit(student, name, path, files)
            bad = [session.problems[(student, n)] for n in trusted.notebooks if (student, n) in session.problems]
            if bad:
                ungradable[student] = bad
    if ungradable:          # nbgrader would stop on these (or skip them silently): recorded below instead
        excluded = [e for e in (coursedir.student_id_exclude or "").split(",") if e] + sorted(ungradable)
        coursedir.student_id_exclude = ",".join(excluded)

    if app.config.Autograde.get("create_student", True):      # else nbgrader wants a roster: keep its check
        with timings.measure("student rows"):
            ensure_students(coursedir, [s for s, _ in submissions])

    collect = _Collect()
    app.log.addHandler(collect)
    _ACTIVE = session
    exit_code = 0
    try:
        with timings.measure("nbgrader converter (incl. waiting and judging)"), shared_gradebook_engine():
            if progress is not None:
                progress[0].start()
            if len(ungradable) < len(submissions) or not submissions:
                try:
                    app.start()
                except SystemExit as e:
                    exit_code = int(e.code or 0)
            for student, folder in submissions:
                if student in ungradable:
                    _record_ungradable(coursedir, assignment, student, folder, ungradable[student])
                    advance(student)
    finally:
        _ACTIVE = None
        app.log.removeHandler(collect)
        if progress is not None:
            progress[0].stop()
    with timings.measure("reading scores back"):
        report = _batch_report(course_dir, assignment, coursedir, trusted, session, submissions, collect.records,
                               ungradable)
    from .scores import shown_db_url
    report.update(sandbox=command.kind, sandbox_warning=warning, jobs=jobs, nbgrader_exit_code=exit_code,
                  limits=limits.as_dict(), gradebook=shown_db_url(coursedir.db_url))
    timings.parts["sandbox wall (sum over notebooks)"] = session.sandbox_seconds
    timings.parts["learner CPU (sum over notebooks)"] = session.sandbox_cpu
    timings.parts["first sandbox ready after"] = min(pool.ready_seconds) if pool.ready_seconds else None
    timings.parts["sandboxes started"] = len(pool.ready_seconds)
    report["timings"] = {"total": time.perf_counter() - timings.started, **timings.parts}
    report["sandbox_prewarm"] = pool.prewarm
    return report


def ensure_students(coursedir, students: list[str]) -> None:
    """Create the gradebook's missing student rows up front, tolerating another writer.

    nbgrader's Autograde creates each student with find-then-insert. Two graders running at once
    (two assignments, same students) on a PostgreSQL gradebook can both miss the row and both
    insert it; the second insert fails and nbgrader drops that student's submission. Here the
    loser of that race finds the row on its second look; Autograde then only updates it.
    """
    from nbgrader.api import Gradebook, InvalidEntry, MissingEntry
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        for student in students:
            for _ in range(2):
                try:
                    gb.find_student(student)
                    break
                except MissingEntry:
                    try:
                        gb.add_student(student)
                        break
                    except InvalidEntry:        # inserted meanwhile by another grader (rolled back)
                        continue


def _working_files(folder: str, ignore: list[str], exclude: list[str]) -> list[tuple[str, str]]:
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


def _record_ungradable(coursedir, assignment: str, student: str, folder: str, reasons: list[str]) -> None:
    """A submission that cannot be run at all: every cell scored 0 in the gradebook, with the reason
    as the automatic comment formgrader shows (nbgrader's own rule for a missing notebook)."""
    import shutil

    from nbgrader.api import Gradebook
    dest = coursedir.format_path(coursedir.autograded_directory, student, assignment)
    if os.path.isdir(dest):
        shutil.rmtree(dest)           # as nbgrader does for a submission it failed to grade
    text = "Not graded: " + "; ".join(reasons)
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        gb.update_or_create_student(student)
        timestamp = coursedir.get_existing_timestamp(folder)
        sub = (gb.update_or_create_submission(assignment, student, timestamp=timestamp) if timestamp
               else gb.update_or_create_submission(assignment, student))
        for nb in sub.notebooks:
            for grade in nb.grades:
                grade.auto_score = 0
                grade.needs_manual_grade = False
            for comment in nb.comments:
                comment.auto_comment = text
        gb.db.commit()


def _submitted_students(coursedir, assignment: str, student_glob: str) -> list[str]:
    pattern = coursedir.format_path(coursedir.submitted_directory, student_glob, assignment)
    regexp = coursedir.format_path(coursedir.submitted_directory, "(?P<student_id>.*)", assignment, escape=True)
    found = []
    for path in sorted(glob.glob(pattern)):
        m = re.match(regexp, path)
        if m and os.path.isdir(path):
            found.append(m.group("student_id"))
    return found


def _pending_submissions(coursedir, assignment: str, force: bool, trusted) -> list[tuple[str, str]]:
    """(student, folder) for every submission nbgrader will grade, in nbgrader's order.

    Like nbgrader without --force, a submission already in autograded/ is skipped, unless it was
    submitted again since, or its grading never finished (a batch that was killed): then its
    partial autograded/ folder is removed so that it is graded afresh.
    """
    import shutil

    from nbgrader.api import Gradebook
    excluded = set(coursedir.student_id_exclude.split(",")) if coursedir.student_id_exclude else set()
    out, gb = [], None
    try:
        for student in _submitted_students(coursedir, assignment, coursedir.student_id or "*"):
            if student in excluded:
                continue
            src = coursedir.format_path(coursedir.submitted_directory, student, assignment)
            dest = coursedir.format_path(coursedir.autograded_directory, student, assignment)
            if os.path.exists(dest) and not force:
                new, old = coursedir.get_existing_timestamp(src), coursedir.get_existing_timestamp(dest)
                if not (new is not None and old is not None and new > old):
                    gb = gb or Gradebook(coursedir.db_url, coursedir.course_id)
                    if _finished(gb, assignment, student, trusted, src, dest):
                        continue
                    shutil.rmtree(dest)
            out.append((student, src))
    finally:
        if gb is not None:
            gb.close()
    return out


def _finished(gb, assignment: str, student: str, trusted, src: str, dest: str) -> bool:
    """Whether a previous run recorded this submission completely: every test cell scored in the
    gradebook, and every submitted notebook written to autograded/ as a readable notebook."""
    from nbgrader.api import MissingEntry
    for name in trusted.notebooks:
        if os.path.exists(os.path.join(src, f"{name}.ipynb")):
            try:
                nbformat.read(os.path.join(dest, f"{name}.ipynb"), as_version=4)
            except Exception:
                return False
    try:
        sub = gb.find_submission(assignment, student)
        for nb in sub.notebooks:
            tests = trusted.notebooks[nb.name].tests if nb.name in trusted.notebooks else {}
            if any(g.auto_score is None for g in nb.grades if g.name in tests):
                return False
    except MissingEntry:
        return False
    return True


def _progress(console, total: int, assignment: str):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    progress = Progress(TextColumn("[bold]grading[/bold] {task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console or Console(stderr=True), transient=True)
    task = progress.add_task(assignment, total=total)
    return progress, task


def _batch_report(course_dir, assignment, coursedir, trusted, session, submissions, errors, ungradable) -> dict:
    from nbgrader.api import Gradebook, MissingEntry
    order = {c.grade_id: i for nb in trusted.notebooks.values() for i, c in enumerate(nb.cells)}
    students = []
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        for student, folder in submissions:
            entry = {"student": student, "notebooks": [], "problems": list(ungradable.get(student, []))}
            recorded = student in ungradable or os.path.isdir(
                coursedir.format_path(coursedir.autograded_directory, student, assignment))
            try:
                sub = gb.find_submission(assignment, student)
            except MissingEntry:
                sub = None
            if sub is None or not recorded:
                entry["status"] = "error"
                entry["problems"] += [e for e in errors if student in e] or ["nbgrader did not record this submission"]
                students.append(entry)
                continue
            entry.update(status="not gradable" if student in ungradable else "graded", score=float(sub.score),
                         max_score=float(sub.max_score), late_penalty=float(sub.late_submission_penalty or 0),
                         needs_manual_grade=bool(sub.needs_manual_grade))
            others = sorted(p.name for p in Path(folder).glob("*.ipynb") if p.stem not in trusted.notebooks)
            for nb in sorted(sub.notebooks, key=lambda n: n.name):
                outcome = session.outcomes.get((student, nb.name))
                cells = []
                for grade in sorted(nb.grades, key=lambda g: order.get(g.name, 0)):
                    verdict = outcome.tests.get(grade.name) if outcome else None
                    pending = grade.auto_score is None and grade.manual_score is None
                    kind = "test" if grade.name in trusted.notebooks[nb.name].tests else "written"
                    cells.append({"grade_id": grade.name, "kind": kind, "max_points": float(grade.max_score),
                                  "score": None if pending else float(grade.score),
                                  "status": "manual" if pending else (verdict.status if verdict else kind),
                                  "message": verdict.message if verdict else None})
                info = {"notebook": nb.name, "score": float(nb.score), "max_score": float(nb.max_score),
                        "cells": cells}
                if outcome is None and student not in ungradable:
                    info["problem"] = f"{nb.name}.ipynb is missing (scored 0)" + (
                        f"; found {', '.join(others)} instead: notebooks must keep their names" if others else "")
                    entry["problems"].append(info["problem"])
                elif outcome is not None and outcome.problem:
                    info["problem"] = outcome.problem
                    entry["problems"].append(f"{nb.name}: {outcome.problem}")
                if outcome is not None and outcome.sandbox:
                    info["sandbox"] = {k: outcome.sandbox.get(k) for k in ("wall", "cpu", "reason", "runs",
                                                                            "maxrss_kb")}
                entry["notebooks"].append(info)
            students.append(entry)
    return {"assignment": assignment, "course_dir": str(course_dir), "trusted_copy": trusted.origin,
            "students": students, "nbgrader_errors": errors}


# ----------------------------------------------------------------------------- one notebook

def find_assignment(notebook: Path, course_dirs: list[Path]) -> tuple[Path, str, str]:
    """(course_dir, assignment, notebook name) for a learner's notebook, from its file name."""
    stem = notebook.stem
    for course in course_dirs:
        source = course / "source"
        if not source.is_dir():
            continue
        if (source / stem / f"{stem}.ipynb").exists():
            return course, stem, stem
        for candidate in sorted(source.glob(f"*/{notebook.name}")):
            return course, candidate.parent.name, stem
        parent = notebook.resolve().parent.name
        if (source / parent).is_dir():
            names = sorted(p.stem for p in (source / parent).glob("*.ipynb"))
            if len(names) == 1:
                return course, parent, names[0]
    known = sorted({p.name for c in course_dirs if (c / "source").is_dir() for p in (c / "source").iterdir()
                    if p.is_dir()})
    raise GraderError(f"cannot tell which assignment {notebook.name} belongs to: name it like its assignment "
                      f"(one of {', '.join(known) or 'none found'}), e.g. ps1_rnn_forward.ipynb")


def _course_config(course_dir: Path):
    """The course's nbgrader_config.py, read without starting nbgrader (empty if absent or broken)."""
    from traitlets.config import Config
    path = course_dir / "nbgrader_config.py"
    if not path.exists():
        return Config()
    try:
        from traitlets.config.loader import PyFileConfigLoader
        return PyFileConfigLoader(path.name, path=str(course_dir)).load_config()
    except Exception:
        return Config()


def _ignore_pattern(cfg) -> str | None:
    """The course's IgnorePattern (stderr text nbgrader drops before scoring), if enabled."""
    section = cfg.get("IgnorePattern", {})
    return section.get("pattern") if section.get("enabled") else None


def score_cell(verdict, pattern: str | None) -> float:
    """nbgrader's rule for an autograded code cell: an error, or stderr it keeps, gives 0."""
    for out in verdict.outputs:
        if out.output_type == "error":
            return 0.0
        if out.output_type == "stream" and out.name == "stderr":
            if not (pattern and re.search(pattern, out.text)):
                return 0.0
    return verdict.max_points


def grade_notebook(notebook: Path, course_dirs: list[Path], require_sandbox: bool = False,
                   cell_timeout: float = 60.0, notebook_timeout: float = 300.0, memory_mb: int = 2048) -> dict:
    """Grade one learner notebook against its assignment's hidden checks (no gradebook)."""
    timings = Timings()
    notebook = Path(notebook)
    if not notebook.exists():
        raise GraderError(f"no such notebook: {notebook}")
    course_dir, assignment, name = find_assignment(notebook, course_dirs)
    command, warning = sandbox_command(require_sandbox)
    pool = SandboxPool(command, 1)
    try:
        with timings.measure("references"):
            trusted = TrustedAssignment.from_source(course_dir, assignment)
            if name not in trusted.notebooks:
                raise GraderError(f"{assignment} has no notebook named {name}")
            trusted.prepare()
            pool.set_inputs(*trusted.sandbox_inputs())
            pool.wait_ready()
        limits = Limits(cell_timeout=cell_timeout, notebook_timeout=notebook_timeout, memory_mb=memory_mb,
                        require_seccomp=require_sandbox)
        cfg = _course_config(course_dir)
        ignore = cfg.get("CourseDirectory", {}).get("ignore", [".ipynb_checkpoints", "*.pyc", "__pycache__",
                                                               "feedback", "*.pct.py", "jupytext.toml"])
        session = GradingSession(trusted, pool, limits, timings)
        session.submit("you", name, notebook, _working_files(str(course_dir / "source" / assignment), ignore, []))
        outcome = session.outcome("you", name)
    finally:
        pool.close()
    pattern = _ignore_pattern(cfg)
    cells = []
    for cell in trusted.notebooks[name].cells:
        if cell.points is None:
            continue
        verdict = outcome.tests.get(cell.grade_id)
        if verdict is None:
            cells.append({"grade_id": cell.grade_id, "max_points": cell.points, "score": None, "status": "manual",
                          "message": None})
            continue
        score, status, message = score_cell(verdict, pattern), verdict.status, verdict.message
        if verdict.passed and score == 0:
            status, message = "failed", "the checks passed, but your code wrote to stderr during them (nbgrader gives 0)"
        cells.append({"grade_id": cell.grade_id, "max_points": cell.points, "score": score, "status": status,
                      "message": message})
    auto = [c for c in cells if c["status"] != "manual"]
    return {"assignment": assignment, "notebook": str(notebook), "trusted_copy": trusted.origin,
            "sandbox": command.kind, "sandbox_warning": warning, "problem": outcome.problem,
            "score": sum(c["score"] or 0 for c in auto), "max_score": sum(c["max_points"] for c in auto),
            "manual_points": sum(c["max_points"] for c in cells if c["status"] == "manual"),
            "cells": cells, "timings": {"total": time.perf_counter() - timings.started, **timings.parts}}
