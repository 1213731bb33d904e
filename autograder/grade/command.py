"""The ``autograder grade`` command: run a mode, print its report, write ``--json``.

Its arguments are in ``autograder/cli.py`` with every other subcommand's.
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from ..checks import messages

# Learner-made text (a folder's name, a reason quoting a notebook, a learner's exception message)
# is printed inert: rich markup escaped, and control characters shown as escapes, so that no
# terminal sequence (a hyperlink, a cleared screen, a new window title) reaches the terminal.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def shown(text: str) -> str:
    from rich.markup import escape
    return escape(CONTROL.sub(lambda m: repr(m.group())[1:-1], str(text)))


def run(args, course_dir: Path, explicit_course_dir: bool) -> int:
    """Run one mode of `autograder grade`; the exit status (0 graded, 1 some not, 2 set-up error)."""
    import warnings

    from rich.console import Console

    from ..sandbox.command import SandboxError
    from .options import GraderError

    warnings.filterwarnings("ignore", message=".*not in session.*")   # nbgrader's own SQLAlchemy noise
    warnings.filterwarnings("ignore", module="nbformat")               # cell ids repaired in submissions
    console, err = Console(stderr=False), Console(stderr=True)
    targets = [args.target] if isinstance(args.target, str) else list(dict.fromkeys(args.target))   # once each
    is_notebook = any(t.endswith(".ipynb") or Path(t).is_file() for t in targets)
    if is_notebook and len(targets) > 1:
        err.print("[bold red]autograder grade:[/bold red] give one notebook, or assignment ids only")
        return 2
    if is_notebook and (getattr(args, "scheduler", None) or getattr(args, "dask_local", None) is not None):
        err.print("[bold red]autograder grade:[/bold red] --scheduler and --dask-local grade an assignment's "
                  "submissions, not one notebook")
        return 2
    if is_notebook:
        try:
            report = _grade_one(targets[0], args, course_dir, explicit_course_dir, err)
        except (GraderError, SandboxError) as e:
            err.print(f"[bold red]autograder grade:[/bold red] {e}")
            return 2
        _write_json(args.json, report.to_dict())
        if not args.quiet:
            print_notebook_report(report, console)
        return 0
    reports = []

    def done(report) -> None:             # each assignment's table as soon as it is graded
        reports.append(report)
        if not args.quiet:
            print_batch_summary(report, console)
    try:
        _grade_batches(targets, args, course_dir, err, done)
    except (GraderError, SandboxError) as e:
        err.print(f"[bold red]autograder grade:[/bold red] {e}")
        if not reports:
            return 2
    # one assignment: its report; several: {assignment: report}, in the order graded
    _write_json(args.json, reports[0].to_dict() if len(targets) == 1 and reports
                else {r.assignment: r.to_dict() for r in reports})
    if len(reports) < len(targets):
        return 2
    return 1 if any(r.ungraded or r.nbgrader_exit_code for r in reports) else 0


def _write_json(path: Path | None, data) -> None:
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, default=str))


def _options(args, course_dir: Path):
    from .options import course_config, grader_options
    return grader_options(course_config(course_dir), args)


def _grade_one(target: str, args, course_dir: Path, explicit_course_dir: bool, err):
    """One notebook: its assignment is looked up in the course directory and, unless one was
    given, in the course this package belongs to (a self-paced learner's notebook may be anywhere)."""
    from rich.panel import Panel

    from ..course import ROOT
    from .notebook import grade_notebook
    dirs = [course_dir] if explicit_course_dir else [course_dir, ROOT]
    report = grade_notebook(Path(target), dirs, args)
    if report.sandbox_warning:
        err.print(Panel(_sandbox_warning(report.sandbox_warning), style="bold red"))
    return report


def _grade_batches(targets: list[str], args, course_dir: Path, err, on_report) -> None:
    import time
    started = time.perf_counter()
    dask = getattr(args, "scheduler", None) or getattr(args, "dask_local", None) is not None
    from .warm import handed
    # a warm grader's sandbox, or one started now (grade_assignments closes it for a Dask pool)
    first = handed() or (None if dask else early_sandbox())
    try:
        from .batch import grade_assignments            # nbgrader's stack: most of a second
        options = _options(args, course_dir)
        pool_factory = _dask_pool_factory(args)
    except BaseException:
        if first:
            first[1].close()
        raise
    if pool_factory is None:            # a Dask worker's bubblewrap is checked on the worker
        _warn_early(err, options.require_sandbox)
    grade_assignments(course_dir, targets, options, students=args.student, force=args.force,
                      log_level="WARN" if args.verbose else "ERROR", progress=not args.quiet, console=err,
                      pool_factory=pool_factory, on_report=on_report, first=first, started=started)


def early_sandbox():
    """(command, zygote): the first sandbox, started before nbgrader is imported and the course's
    configuration read, so that it is warm when the first notebook comes; only under bubblewrap,
    which every configuration accepts (without it, the options decide what may run)."""
    from ..sandbox.command import sandbox_command
    from ..sandbox.pool import Zygote
    command, warning = sandbox_command(False)
    return None if warning else (command, Zygote(command))


def _dask_pool_factory(args):
    """--scheduler / --dask-local: the notebooks run on Dask workers (grade/distributed.py)."""
    from .options import GraderError
    scheduler, local = getattr(args, "scheduler", None), getattr(args, "dask_local", None)
    if not scheduler and local is None:
        return None
    if local is not None and local < 1:
        raise GraderError(f"--dask-local needs at least one worker (got {local})")
    from .distributed import dask_pool_factory
    return dask_pool_factory(scheduler, local)


def _sandbox_warning(why: str) -> str:
    return ("WARNING: learner code will run WITHOUT a sandbox.\n"
            f"{why}.\n"
            "It still runs in a separate process with time, memory and output limits, no new processes "
            "and no sockets, but it can read and write whatever your user can (including the gradebook "
            "and source/), and torch is only hidden from sys.path. Install bubblewrap, or pass "
            "--require-sandbox to refuse instead.")


def _warn_early(err, require: bool) -> None:
    from rich.panel import Panel

    from ..sandbox.command import bwrap_status
    ok, why = bwrap_status()
    if not ok and not require:
        err.print(Panel(_sandbox_warning(why), style="bold red"))


def print_batch_summary(report, console) -> None:
    from rich.table import Table
    students = report.students
    table = Table(title=f"{report.assignment}: {len(students)} submission(s) graded into the gradebook")
    for col, kw in (("student", {}), ("score", {"justify": "right"}), ("checks passed", {"justify": "right"}),
                    ("by hand", {"justify": "right"}), ("notes", {})):
        table.add_column(col, **kw)
    for s in students:
        if s.status == "error":
            table.add_row(shown(s.student), "-", "-", "-", "[red]" + shown("; ".join(s.problems)[:200]) + "[/red]")
            continue
        cells = [c for nb in s.notebooks for c in nb.cells]
        auto = [c for c in cells if c.kind == "test"]
        passed = sum(1 for c in auto if c.score is not None and c.score == c.max_points)
        manual = sum(c.max_points for c in cells if c.status == "manual")
        table.add_row(shown(s.student), f"{s.score:g} / {s.max_score:g}", f"{passed} of {len(auto)}",
                      f"{manual:g}" if manual else "", shown("; ".join(_notes(s, auto))[:160]))
    console.print(table)
    t = report.timings
    n = sum(len(s.notebooks) for s in students)
    rate = f", {n / t['total']:.1f} notebooks/s" if t["total"] else ""
    started = t.get("sandboxes started") or report.jobs
    console.print(f"{n} notebook(s) in {t['total']:.1f} s{rate}; learner code ran in {report.sandbox} "
                  f"({started} sandbox(es), at most {report.jobs}). Scores: {report.gradebook} "
                  f"(feedback: nbgrader generate_feedback {report.assignment}).", highlight=False)
    if report.sandbox_warning:
        console.print(f"[bold red]Learner code was NOT sandboxed: {report.sandbox_warning}[/bold red]")


def _notes(s, auto) -> list[str]:
    notes = list(s.problems)
    if s.late_penalty:
        notes.append(f"late penalty {s.late_penalty:g}")
    failed = [c.grade_id.removeprefix("test_") for c in auto if c.score == 0 and c.max_points]
    if failed and not notes and len(failed) < len(auto):
        notes.append("failed: " + ", ".join(failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else ""))
    elif failed and not notes:
        notes.append("failed every check")
    return notes


def print_notebook_report(report, console) -> None:
    from rich.table import Table
    table = Table(title=f"{report.assignment}: {Path(report.notebook).name}")
    table.add_column("question")
    table.add_column("points", justify="right")
    table.add_column("result")
    for c in report.cells:
        name = shown(c.grade_id.removeprefix("test_"))
        if c.status == "manual":
            table.add_row(name, f"- / {c.max_points:g}", "[dim]graded by your instructor[/dim]")
        elif c.score == c.max_points:
            table.add_row(name, f"{c.score:g} / {c.max_points:g}", "[green]passed[/green]")
        else:
            table.add_row(name, f"{c.score:g} / {c.max_points:g}", "[red]" + shown(messages.summary(c.message)) + "[/red]")
    console.print(table)
    problem = report.problem or ""
    for c in report.cells:
        if problem and c.message and problem.split(",")[0] in c.message:
            continue                      # the whole notebook's problem, printed once below
        if c.status != "manual" and c.score != c.max_points and c.message:
            console.print(f"\n[bold]{shown(c.grade_id.removeprefix('test_'))}[/bold]")
            console.print(shown(c.message), highlight=False)
    for line in ([report.problem] if report.problem else []) + report.notes:
        console.print(f"\n[red]{shown(line)}[/red]")
    manual = f"; {report.manual_points:g} more points are graded by hand" if report.manual_points else ""
    console.print(f"\n[bold]autograded: {report.score:g} / {report.max_score:g}{manual}[/bold]")


def main_from_cli(args, course_dir: Path, explicit_course_dir: bool, exit_fast: bool) -> int:
    code = run(args, course_dir, explicit_course_dir)
    if exit_fast:
        # The `autograder` program itself: everything is written and closed; skip the interpreter's
        # tear-down of torch, nbgrader and SQLAlchemy (over a second).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
