"""Single-notebook mode: one learner's notebook against its assignment's hidden checks, with no
gradebook (self-paced learners). The same sandbox, plan and verdicts as a batch; the points come
from nbgrader's own rules (``IgnorePattern``, ``determine_grade``) on the verdicts' outputs."""
from __future__ import annotations

import time
from pathlib import Path

import nbformat

from ..checks import messages
from ..sandbox.command import sandbox_command
from ..sandbox.pool import SandboxPool
from . import reference_cache
from .assignment import TrustedAssignment
from .options import GraderError, course_config, grader_options
from .report import CellReport, SingleNotebookReport
from .session import GradingSession, Timings
from .submissions import working_files

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



def score_cell(verdict, cfg) -> float:
    """nbgrader's points for a test cell with the verdict's outputs: the course's IgnorePattern
    (when enabled) drops matching stderr, then nbgrader's ``determine_grade``."""
    from nbgrader.preprocessors import IgnorePattern
    from nbgrader.utils import determine_grade
    cell = nbformat.v4.new_code_cell(metadata={"nbgrader": {"grade": True, "solution": False,
                                                            "grade_id": verdict.grade_id,
                                                            "points": verdict.max_points}})
    cell.outputs = list(verdict.outputs)
    ignore = IgnorePattern(config=cfg)
    if ignore.enabled:
        cell, _ = ignore.preprocess_cell(cell, {}, 0)
    score, _ = determine_grade(cell)
    return float(score)


def grade_notebook(notebook: Path, course_dirs: list[Path], flags=None, student: str = "you") -> SingleNotebookReport:
    """Grade one learner notebook against its assignment's hidden checks (no gradebook), with the
    limits of its course's configuration and ``flags`` (command-line values) on top. ``student``
    names the learner when it is known (Gradescope's submission metadata)."""
    timings = Timings()
    notebook = Path(notebook)
    if not notebook.exists():
        raise GraderError(f"no such notebook: {notebook}")
    course_dir, assignment, name = find_assignment(notebook, course_dirs)
    cfg = course_config(course_dir)
    options = grader_options(cfg, flags)
    command, warning = sandbox_command(options.require_sandbox)
    pool = SandboxPool(command, 1)
    try:
        with timings.measure("references"):
            trusted = TrustedAssignment.from_source(course_dir, assignment)
            if name not in trusted.notebooks:
                raise GraderError(f"{assignment} has no notebook named {name}")
            reference_cache.prepare(trusted, options.cache_path(course_dir))
            trusted.set_case_limits(options.case_timeout, options.case_timeout_factor)
            pool.set_inputs(*trusted.sandbox_inputs())
            pool.wait_ready()
        session = GradingSession(trusted, pool, options.limits(cfg.get("Execute", {}).get("timeout")), timings,
                                 options.files_bytes)
        ignore = _course_directory(cfg).ignore
        session.submit(student, name, notebook, working_files(str(course_dir / "source" / assignment), ignore, []))
        outcome = session.outcome(student, name)
        reference_cache.save_answers(trusted, options.cache_path(course_dir))
    finally:
        pool.close()
    cells = [_cell(cell, outcome, cfg) for cell in trusted.notebooks[name].cells if cell.points is not None]
    return SingleNotebookReport(assignment, str(notebook), trusted.origin, command.kind, warning, outcome.problem,
                                cells, session.notes.get(student, []),
                                {"total": time.perf_counter() - timings.started, **timings.parts})


def _course_directory(cfg):
    from nbgrader.coursedir import CourseDirectory
    return CourseDirectory(config=cfg)


def _cell(cell, outcome, cfg) -> CellReport:
    verdict = outcome.tests.get(cell.grade_id)
    if verdict is None:
        return CellReport(cell.grade_id, "written", cell.points, None, "manual")
    score, status, message = score_cell(verdict, cfg), verdict.status, verdict.message
    if verdict.passed and score == 0:
        status, message = "failed", messages.PASSED_BUT_STDERR
    return CellReport(cell.grade_id, "test", cell.points, score, status, message, verdict.hidden and not verdict.passed)
