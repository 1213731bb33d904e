"""The grading session: submissions sent to the sandbox pool ahead, and their judged outcomes.

``submit`` reads a submitted notebook once, plans its job (``plan``) and queues it on the pool;
``outcome`` waits for its run and judges it (``judge``). nbgrader's steps get the session as an
instance (``steps.construct``), so the converter asks it for a notebook's verdicts while the
sandboxes already run the next submissions.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..sandbox.command import Limits
from ..sandbox.channel import ChannelBudget, ChannelLimits
from ..sandbox.pool import SandboxPool
from .assignment import TrustedAssignment
from .judge import NotebookOutcome, judge_notebook
from .plan import plan_job
from .stubs import StubAnswers, StubBudget


FIRST_SENT = "first notebook sent to the sandboxes after"


@dataclass
class Timings:
    started: float = field(default_factory=time.perf_counter)
    epoch: float = field(default_factory=time.time)       # the same moment, on the wall clock
    paused: float = 0.0          # seconds between its staging and its bookkeeping, not its own (batch.py)
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
                 files_bytes: int, on_outcome=None, locate=None):
        self.trusted, self.pool, self.limits, self.timings = trusted, pool, limits, timings
        self.files_bytes = files_bytes
        self.on_outcome = on_outcome
        self.locate = locate        # (student, notebook) -> submitted path, for notebooks not submitted ahead
        self.futures: dict = {}
        self.steps: dict = {}
        self.outcomes: dict[tuple[str, str], NotebookOutcome] = {}
        self.problems: dict[tuple[str, str], str] = {}
        self.notes: dict[str, list[str]] = {}       # student -> files left out of their notebooks' folder
        self.voided: dict[tuple[str, str], dict[str, str]] = {}   # (student, notebook) -> test grade_id -> why
        self.parsed: dict = {}          # (student, notebook) -> the intake's planned_part of the file it wrote
        self.nodes: dict = {}           # the file's absolute path -> the intake's validated notebook in it
        self.cache: dict = {}                       # for nbgrader's steps (source cells, ...)
        self.seconds_late: dict[str, float] = {}    # student -> how late, as the converter's set-up found it
        self.sandbox_seconds = self.sandbox_cpu = 0.0

    def submit(self, student: str, notebook: str, path: Path, files: list[tuple[str, str]] | None = None) -> None:
        key = (student, notebook)
        if key in self.futures or key in self.problems:
            return
        nb = self.parsed.pop(key, None)         # the intake parsed and validated this very file
        if nb is None:
            nb, problem = read_submission(path)
            if problem:
                self.problems[key] = problem
                return
        trusted = self.trusted.for_student(student)       # their own hidden cases, with a variant secret
        steps = plan_job(trusted.notebooks[notebook], nb)
        names, payload, dropped = pack_files(files or [], self.files_bytes)
        for why in dropped:
            if why not in self.notes.setdefault(student, []):
                self.notes[student].append(why)
        job = {"type": "job", "id": f"{student}/{notebook}", "steps": steps, "limits": self.limits.as_dict(),
               "files": names}
        self.steps[key] = steps
        if not (self.trusted.cached_answers or getattr(self.pool, "answers_elsewhere", False)) and _lends(steps):
            import_references_soon()    # no answer is cached: the first one here will want torch
        budget = StubBudget(self.limits.stub_calls, self.limits.stub_bytes,    # one per notebook, over its runs
                            channel=ChannelBudget(ChannelLimits.from_limits(self.limits.as_dict())))
        answers = lambda: StubAnswers(steps, budget, self.trusted.answers)
        if trusted is self.trusted:
            self.futures[key] = self.pool.submit(job, payload, answers)
        else:       # the sandbox gets this student's inputs only, never another student's variants
            self.futures[key] = self.pool.submit(job, payload, answers, inputs=trusted.sandbox_inputs())
        self.timings.parts.setdefault(FIRST_SENT, time.perf_counter() - self.timings.started)

    def outcome(self, student: str, notebook: str) -> NotebookOutcome:
        key = (student, notebook)
        if key in self.outcomes:
            return self.outcomes[key]
        if key not in self.futures and key not in self.problems and self.locate is not None:
            self.submit(student, notebook, self.locate(student, notebook))
        if key in self.problems:
            outcome = judge_notebook(self.trusted.for_student(student), notebook, None, self.limits.as_dict(),
                                     problem=self.problems[key])
        else:
            outcome = self._judged(key, notebook)
        void_cells(outcome, self.voided.get(key, {}))
        self.futures.pop(key, None)
        self.outcomes[key] = outcome
        if self.on_outcome:
            self.on_outcome(student, notebook, outcome)
        return outcome

    def _judged(self, key, notebook: str) -> NotebookOutcome:
        with self.timings.measure("waiting for sandboxes"):
            future = self.futures[key]
            if not future.done() and self.pool.backlog():
                self.pool.hurry()            # the sandboxes are behind: use every one allowed
            try:
                result, problem = future.result(), None
            except Exception as e:
                result, problem = None, f"the grading sandbox could not run this notebook ({e})"
        with self.timings.measure("judging"):
            outcome = judge_notebook(self.trusted.for_student(key[0]), notebook, result, self.limits.as_dict(),
                                     self.steps.get(key), problem)
        if result is not None:
            self.sandbox_seconds += result.seconds
            self.sandbox_cpu += result.cpu
        return outcome

    def finished(self, student: str, src: str, dest: str) -> bool:
        """Whether a previous run recorded this submission completely: every test cell scored in the
        gradebook, and every submitted notebook written to autograded/ as a readable notebook."""
        from nbgrader.api import Gradebook, MissingEntry
        for name in self.trusted.notebooks:
            if os.path.exists(os.path.join(src, f"{name}.ipynb")):
                try:
                    nbformat.read(os.path.join(dest, f"{name}.ipynb"), as_version=4)
                except Exception:
                    return False
        if "gradebook" not in self.cache:
            self.cache["gradebook"] = Gradebook(self.trusted.db_url, self.trusted.course_id)
        try:
            sub = self.cache["gradebook"].find_submission(self.trusted.name, student)
        except MissingEntry:
            return False
        for nb in sub.notebooks:
            tests = self.trusted.notebooks[nb.name].tests if nb.name in self.trusted.notebooks else {}
            if any(g.auto_score is None for g in nb.grades if g.name in tests):
                return False
        return True

    def close(self) -> None:
        gb = self.cache.pop("gradebook", None)
        if gb is not None:
            gb.close()


def void_cells(outcome: NotebookOutcome, voided: dict[str, str]) -> None:
    """Score 0 the test cells whose nbgrader metadata the intake found invalid, with why."""
    from ..checks import messages
    from .judge import CellVerdict
    for gid, why in voided.items():
        if gid in outcome.tests:
            text = messages.INVALID_METADATA.format(cell=gid, why=why)
            old = outcome.tests[gid]
            outcome.tests[gid] = CellVerdict(gid, old.max_points, False, [nbformat.v4.new_output(
                "error", ename="GraderError", evalue=text, traceback=[f"GraderError: {text}"])], text, "not gradable")


def pack_files(files: list[tuple[str, str]], limit: int) -> tuple[list, bytes, list[str]]:
    """Extra files for the notebook's working directory: (name, offset, length) entries, their
    bytes, and why any file was left out (unreadable, or beyond ``limit`` bytes in all)."""
    names, parts, size, dropped = [], [], 0, []
    for path, name in files:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            dropped.append(f"{name} was left out of the notebook's folder (it could not be read: {e.strerror})")
            continue
        if size + len(data) > limit:
            dropped.append(f"{name} was left out of the notebook's folder (the grader passes at most "
                           f"{limit >> 20} MB of files)")
            continue
        names.append([name, size, len(data)])
        parts.append(data)
        size += len(data)
    return names, b"".join(parts), dropped


def read_submission(path: Path, invalid: dict | None = None):
    """(notebook, None), or (None, why it cannot be graded at all). A notebook that breaks
    nbformat's schema is still returned, its error put into ``invalid`` (as "ValidationError")."""
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
        return nbformat.reads(text, as_version=4, capture_validation_error=invalid), None
    except nbformat.reader.NotJSONError:
        return None, f"{name} is not valid JSON (a damaged or unsaved file): re-save the notebook in Jupyter"
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        return None, f"{name} is valid JSON but not a notebook nbgrader can read ({first})"


def _lends(steps: list[dict]) -> bool:
    """Whether a job's checks may ask the parent for follow-through answers."""
    return any(call.get("stubs") for step in steps if step["kind"] == "test" for call in step.get("calls", []))


_importing = False


def import_references_soon() -> None:
    """Import torch and the exercise registry in a thread, once: a follow-through answer the
    reference cache does not hold needs them, and importing torch then, in the pool's thread
    that reads the sandbox's stream, leaves the sandboxes waiting for a second or two."""
    global _importing
    if _importing:
        return
    _importing = True

    def run() -> None:
        try:
            from ..exercises import registry
            registry.all_exercises()
            import torch  # noqa: F401
        except Exception:
            pass
    threading.Thread(target=run, name="import-references", daemon=True).start()
