"""Batch mode: grade every submission of an assignment into ``autograded/`` and the gradebook.

nbgrader's own converter (``converter.TrustedAutograde``) does the bookkeeping; the pipeline:

    1. TrustedAssignment.from_gradebook   the test cells nbgrader itself restores
    2. SandboxPool                         warm sandboxes start (in parallel with 3)
    3. TrustedAssignment.prepare           case inputs and PyTorch references, once
    3b. intake.take_in_all                 every submission copied as plain data into a private
                                           working area, which nbgrader then reads as submitted/
    4. GradingSession.submit               every pending submission's learner code goes to the pool
    5. TrustedAutograde.start              nbgrader's sanitize and autograde steps (one pass), with
                                           TrustedExecute waiting for 4 and judging
    6. read_batch_report                   scores read back from the gradebook

Steps 4 and 5 overlap: sandboxes run submissions ahead while nbgrader records earlier ones.
Submissions nbgrader would fail on or skip silently (no notebook, a renamed notebook, a file
that is not JSON) are recorded here instead: 0 on every cell, with the reason as the automatic
comment (``submissions.record_ungradable``).
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..sandbox.command import SandboxError, sandbox_command
from ..sandbox.pool import SandboxPool
from . import reference_cache
from .assignment import TrustedAssignment
from ..course import shown_db_url
from .gradebook import ensure_students, keep_engines, shared_gradebook_engine
from .intake import take_in_all
from .options import GraderError, TrustedGrader, course_config, grader_options
from . import verdicts
from .report import BatchReport
from .session import GradingSession, Timings
from .submissions import (pending_submissions, read_batch_report, record_ungradable,
                          working_files)


START_UP = "start-up (imports, nbgrader configuration)"


def grade_assignment(course_dir: Path, assignment: str, options: TrustedGrader | None = None, *,
                     students: list[str] | None = None, force: bool = False, log_level: str = "ERROR",
                     progress: bool = True, console=None, pool_factory=None) -> BatchReport:
    """Grade every submission of ``assignment`` (or only ``students``) into ``autograded/`` and
    the gradebook, like ``nbgrader autograde``; return the report read back from the gradebook.
    ``pool_factory(options)`` runs learner code elsewhere than this machine's SandboxPool (a
    ``grade.distributed.DaskPool``, which says where it ran with ``describe()``)."""
    return grade_assignments(course_dir, [assignment], options, students=students, force=force,
                             log_level=log_level, progress=progress, console=console, pool_factory=pool_factory)[0]


def grade_assignments(course_dir: Path, chosen: list[str], options: TrustedGrader | None = None, *,
                      students: list[str] | None = None, force: bool = False, log_level: str = "ERROR",
                      progress: bool = True, console=None, pool_factory=None, on_report=None,
                      first=None, started: float | None = None) -> list[BatchReport]:
    """``grade_assignment`` for several assignments, one after the other, in this one process and
    on one pool of sandboxes: the start-up (imports, configuration, sandboxes) is paid once.
    ``on_report(report)`` is called as each assignment is done. ``first``: (command, zygote) from
    ``early_sandbox``, started before this module was imported; ``started``: when that was."""
    course_dir = Path(course_dir).resolve()
    started = started or time.perf_counter()
    if first and pool_factory is not None:
        first[1].close()
        first = None
    try:
        options = options or grader_options(course_config(course_dir))
    except BaseException:
        if first:
            first[1].close()
        raise
    if pool_factory is None:
        command, warning = (first[0], None) if first else sandbox_command(options.require_sandbox)
        # zygotes start now (the first one may have already), in parallel with what follows
        pool = SandboxPool(command, options.effective_jobs(), first[1] if first else None)
        describe = lambda: (command.kind, warning)  # noqa: E731
    else:
        pool = pool_factory(options)
        describe = pool.describe
    reports, staged, imports = [], [], time.perf_counter() - started
    try:
        _sweep_intake_areas()
        with _chdir(course_dir), keep_engines():
            # the next assignment's notebooks go to the pool before this one's bookkeeping starts,
            # so the sandboxes run them while nbgrader records this one (two assignments at most
            # are held at once)
            failed = None
            for i, assignment in enumerate(chosen):
                if not staged and failed is None:
                    failed = _try_stage(staged, assignment, course_dir, options, students, force, log_level,
                                        progress, console, pool, started, imports)
                if i + 1 < len(chosen) and failed is None:
                    failed = _try_stage(staged, chosen[i + 1], course_dir, options, students, force,
                                        log_level, progress, console, pool, time.perf_counter(), 0.0)
                if not staged or staged[0].assignment != assignment:
                    break
                report = _finish(course_dir, staged.pop(0), options, pool)
                report.sandbox, report.sandbox_warning = describe()
                reports.append(report)
                if on_report:
                    on_report(report)
            if failed is not None:
                raise failed
    finally:
        for left in staged:
            left.close()
        pool.close()
    return reports


def _try_stage(staged: list, assignment: str, course_dir, options, students, force, log_level, progress,
               console, pool, started: float, imports: float):
    """Stage ``assignment`` onto ``staged``; the set-up error that stopped it, if one did."""
    timings = Timings(started=started, epoch=time.time() - (time.perf_counter() - started))
    timings.add(START_UP, imports)
    try:
        staged.append(_stage(course_dir, assignment, options, students, force, log_level, progress, console,
                             timings, pool))
    except (GraderError, SandboxError) as e:
        return e
    return None


@contextlib.contextmanager
def _chdir(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


@dataclass
class _Staged:
    """One assignment between its staging (its notebooks sent to the pool) and its bookkeeping."""

    assignment: str
    app: object
    limits: object
    trusted: TrustedAssignment
    work: Path
    session: GradingSession
    converter: object
    submissions: list
    ungradable: dict
    bar: object
    timings: Timings
    staged_at: float = 0.0

    def close(self) -> None:
        self.session.close()
        shutil.rmtree(self.work, ignore_errors=True)


def _stage(course_dir, assignment, options, students, force, log_level, progress, console, timings,
           pool) -> _Staged:
    """Steps 1 to 4 of the pipeline: the trusted copy, the intake, every pending submission sent
    to the pool."""
    with timings.measure(START_UP):
        app = _autograde_app(assignment, students, force, log_level)
        limits = options.limits(app.config.Execute.get("timeout"))
    secret = options.variant_secret()       # per-student hidden variants; a bad secret file stops here
    with timings.measure("trusted test cells and references (once)"):
        trusted = _prepare(app.coursedir, assignment, pool, options)
    trusted.variant_secret = secret
    work = Path(tempfile.mkdtemp(prefix=f"{INTAKE_PREFIX}{os.getpid()}-"))   # private (0700), removed by close
    try:
        with timings.measure("intake (submissions copied as plain data)"):
            intake = _take_in(app, assignment, trusted, options, students, work)
        with timings.measure("waiting for the first sandbox"):
            pool.wait_ready()
        bar = _Progress(console, assignment) if progress else None
        staged = _send(assignment, options, limits, bar, timings, pool, app, trusted, intake, work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    staged.staged_at = time.perf_counter()
    return staged


INTAKE_PREFIX = "autograder-intake-"


def _sweep_intake_areas() -> None:
    """Remove the working areas of batches that were killed (SIGKILL leaves no time to clean up):
    this user's, named for a process that no longer runs."""
    root = Path(tempfile.gettempdir())
    for entry in root.glob(f"{INTAKE_PREFIX}*-*"):
        pid = entry.name[len(INTAKE_PREFIX):].split("-", 1)[0]
        try:
            if not pid.isdigit() or entry.is_symlink() or entry.stat().st_uid != os.getuid():
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            continue


def _take_in(app, assignment: str, trusted, options, students: list[str] | None, work: Path) -> dict:
    """Every submission copied into ``work`` (``intake``), which nbgrader then reads as its
    submitted directory; several chosen students become an exclusion list of safe ids."""
    coursedir = app.coursedir
    submitted = Path(coursedir.root) / coursedir.submitted_directory
    wanted = set(students) if students else None
    taken = {s.student: s for s in take_in_all(submitted, work, assignment, trusted, options.intake_caps(), wanted)}
    coursedir.submitted_directory = str(work)
    if students and len(students) > 1:
        excluded = [s for s in taken if s not in students]
        if coursedir.student_id_exclude:
            excluded += coursedir.student_id_exclude.split(",")
        coursedir.student_id_exclude = ",".join(excluded)
    return taken


def _send(assignment, options, limits, bar, timings, pool, app, trusted, intake: dict, work: Path) -> _Staged:
    """Step 4 on the intake's working copies: the session, and every pending submission in it."""
    from .converter import TrustedAutograde
    coursedir = app.coursedir
    session = GradingSession(trusted, pool, limits, timings, options.files_bytes,
                             on_outcome=bar.advance if bar else None,
                             locate=lambda student, notebook: Path(coursedir.format_path(
                                 coursedir.submitted_directory, student, assignment)) / f"{notebook}.ipynb")
    converter = TrustedAutograde(coursedir=coursedir, parent=app, session=session)
    for sub in intake.values():
        session.notes.setdefault(sub.student, []).extend(sub.notes)
        session.voided.update({(sub.student, nb): v for nb, v in sub.voided.items()})
        session.parsed.update({(sub.student, nb): part for nb, part in sub.parsed.items()})
        session.nodes.update(sub.nodes)
    try:
        submissions = pending_submissions(converter, assignment)
        if bar:
            bar.total(len(submissions))
        if app.config.Autograde.get("create_student", True):      # else nbgrader wants a roster: keep its check
            with timings.measure("student rows"):
                ensure_students(coursedir.db_url, coursedir.course_id, [s for s, _ in submissions])
            converter.students_made = frozenset(s for s, _ in submissions)
        with timings.measure("reading submissions"):
            ungradable = _submit_all(session, app, submissions, assignment, intake)
    except BaseException:
        session.close()
        raise
    return _Staged(assignment, app, limits, trusted, work, session, converter, submissions, ungradable, bar, timings)


def _finish(course_dir, staged: _Staged, options, pool) -> BatchReport:
    """Steps 5 and 6: nbgrader's bookkeeping as the sandboxes' results come, the scores read back.
    The report's total is this assignment's own time: its staging and this."""
    s, timings = staged, staged.timings
    coursedir = s.app.coursedir
    timings.paused = time.perf_counter() - s.staged_at      # while the assignment before was recorded
    try:
        verdicts.prepare_table(coursedir.db_url)       # the class report's table, before any grades
        with timings.measure("nbgrader converter (incl. waiting and judging)"):
            exit_code, errors = _convert(s.app, s.converter, s.submissions, s.ungradable, s.assignment, s.bar)
        with timings.measure("reading scores back"):
            report = read_batch_report(course_dir, s.assignment, coursedir, s.trusted, s.session, s.submissions,
                                       errors, s.ungradable)
        with timings.measure("reference cache: new follow-through answers"):
            saved = reference_cache.save_answers(s.trusted, options.cache_path(course_dir))
    finally:
        s.close()
    report.references = {"cache": s.trusted.cache_status, "answers saved": saved,
                         "torch imported": "torch" in sys.modules}
    report.jobs, report.nbgrader_exit_code, report.limits = pool.jobs, exit_code, s.limits.as_dict()
    report.gradebook = shown_db_url(coursedir.db_url)
    report.timings = _timings(timings, s.session, pool)
    report.sandbox_prewarm = pool.prewarm
    return report


def _autograde_app(assignment: str, students: list[str] | None, force: bool, log_level: str):
    """nbgrader's AutogradeApp, initialised as `nbgrader autograde` would be (configuration,
    course directory, --student); several students become an exclusion list."""
    from nbgrader.apps.autogradeapp import AutogradeApp
    app = AutogradeApp()
    argv = [assignment, f"--log-level={log_level}"] + (["--force"] if force else [])
    chosen = students or []
    if len(chosen) == 1:
        argv.append(f"--student={chosen[0]}")
    app.initialize(argv)
    app.coursedir.assignment_id = assignment
    return app


def _prepare(coursedir, assignment: str, pool: SandboxPool, options: TrustedGrader) -> TrustedAssignment:
    """The trusted copy from the gradebook, its references (from the reference cache when it
    holds them), each case's time limit, and the inputs sent to the pool."""
    try:
        trusted = TrustedAssignment.from_gradebook(coursedir.db_url, coursedir.course_id, assignment)
    except Exception:
        raise GraderError(f"assignment {assignment!r} is not in the gradebook {coursedir.db_url}: "
                          f"run `nbgrader generate_assignment {assignment}` first") from None
    trusted.cache_status = reference_cache.prepare(trusted, options.cache_path(coursedir.root))
    trusted.set_case_limits(options.case_timeout, options.case_timeout_factor)
    pool.set_inputs(*trusted.sandbox_inputs())
    return trusted


def _submit_all(session: GradingSession, app, submissions: list, assignment: str,
                intake: dict | None = None) -> dict[str, list[str]]:
    """Send every pending submission to the pool; return the students nbgrader cannot grade
    (refused by the intake, no notebook, only renamed ones, unreadable files), with why, and
    exclude them from nbgrader."""
    coursedir, trusted = app.coursedir, session.trusted
    exclude_overwriting = app.config.Autograde.get("exclude_overwriting", {}).get(assignment, [])
    source_files = working_files(coursedir.format_path(coursedir.source_directory, ".", assignment),
                                 coursedir.ignore, exclude_overwriting)
    ungradable: dict[str, list[str]] = {}
    for student, folder in submissions:
        folder = Path(folder)
        if intake and student in intake and intake[student].refused:
            ungradable[student] = list(intake[student].refused)
            continue
        present = sorted(p.name for p in folder.glob("*.ipynb"))
        if not any(f"{n}.ipynb" in present for n in trusted.notebooks):
            missing = ", ".join(f"{n}.ipynb is missing" for n in trusted.notebooks)
            ungradable[student] = [f"no notebook was submitted: {missing}" if not present else
                                   f"{missing}; found {', '.join(present)} instead: notebooks must keep "
                                   "their names"]
            if intake and student in intake:            # why the intake left a notebook out, if it did
                ungradable[student] += [n for n in intake[student].notes if ".ipynb" in n]
            continue
        files = working_files(str(folder), coursedir.ignore, []) + source_files
        for name in trusted.notebooks:
            if (folder / f"{name}.ipynb").exists():
                session.submit(student, name, folder / f"{name}.ipynb", files)
        bad = [session.problems[(student, n)] for n in trusted.notebooks if (student, n) in session.problems]
        if bad:
            ungradable[student] = bad
    if ungradable:          # nbgrader would stop on these (or skip them silently): recorded instead
        excluded = [e for e in (coursedir.student_id_exclude or "").split(",") if e] + sorted(ungradable)
        coursedir.student_id_exclude = ",".join(excluded)
    return ungradable


def _convert(app, converter, submissions: list, ungradable: dict, assignment: str, bar) -> tuple[int, list[str]]:
    """Run nbgrader's converter on the gradable submissions and record the others; return the
    exit code `nbgrader autograde` would have and the errors nbgrader logged."""
    from nbgrader.converters.base import NbGraderException
    collect = _Collect()
    app.log.addHandler(collect)
    exit_code = 0
    try:
        with shared_gradebook_engine():
            if bar:
                bar.start()
            if len(ungradable) < len(submissions) or not submissions:
                try:
                    converter.start()
                except NbGraderException:
                    exit_code = 1
            for student, folder in submissions:
                if student in ungradable:
                    record_ungradable(app.coursedir, assignment, student, folder, ungradable[student])
                    if bar:
                        bar.advance(student)
    finally:
        app.log.removeHandler(collect)
        if bar:
            bar.stop()
    return exit_code, collect.records


def _timings(timings: Timings, session: GradingSession, pool: SandboxPool) -> dict:
    parts = dict(timings.parts)
    parts["sandbox wall (sum over notebooks)"] = session.sandbox_seconds
    parts["learner CPU (sum over notebooks)"] = session.sandbox_cpu
    parts["first sandbox ready after"] = min(pool.ready_seconds) if pool.ready_seconds else None
    parts["sandboxes started"] = len(pool.ready_seconds)
    return {"total": time.perf_counter() - timings.started - timings.paused, "started at (epoch seconds)": timings.epoch,
            **parts}


class _Collect(logging.Handler):
    """nbgrader's logged errors, for the report (one bad submission never stops a batch)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record):
        try:
            self.records.append(record.getMessage())
        except Exception:
            pass


class _Progress:
    """A progress bar over students (rich), advanced once per student."""

    def __init__(self, console, assignment: str):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        self.bar = Progress(TextColumn("[bold]grading[/bold] {task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=console or Console(stderr=True), transient=True)
        self.task = self.bar.add_task(assignment, total=0)
        self.seen: set = set()

    def total(self, n: int) -> None:
        self.bar.update(self.task, total=n)

    def advance(self, student: str, *_) -> None:
        if student not in self.seen:
            self.seen.add(student)
            self.bar.advance(self.task)

    def start(self) -> None:
        self.bar.start()

    def stop(self) -> None:
        self.bar.stop()
