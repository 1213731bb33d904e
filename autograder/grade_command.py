"""The ``autograder grade`` command: arguments, progress, summary table, ``--json``."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

DESCRIPTION = """\
Grade submissions with the course's trusted grader.

  autograder grade ASSIGNMENT
      Run in the course directory, like `nbgrader autograde ASSIGNMENT`: grades every
      submitted/<student>/ASSIGNMENT/ into autograded/ and the nbgrader gradebook
      (gradebook.db), so formgrader, `nbgrader generate_feedback` and `nbgrader export`
      work as usual. Same points as nbgrader for honest work, many times faster, and the
      verdicts come from this process, not from the learner's code.

  autograder grade path/to/ps1_rnn_forward.ipynb
      Grade one notebook yourself (self-paced learners): runs the assignment's hidden
      checks and prints a report per question, with hints. No gradebook is needed.

Learner code runs in a sandbox (bubblewrap: no network, no torch, no course files, CPU,
memory, time and output limits). Without bubblewrap it runs as a plain subprocess with
limits, after a loud warning; --require-sandbox refuses that instead.
"""

EPILOG = """\
examples:
  autograder grade ps1_rnn_forward                      grade everyone, all cores
  autograder grade ps1_rnn_forward --student alice bob  grade two students
  autograder grade ps1_rnn_forward --force --json scores.json
  autograder grade ~/ps1_rnn_forward.ipynb              check your own notebook

exit status: 0 when every submission was graded, 1 when some could not be, 2 on a usage
or set-up error (unknown assignment, no sandbox with --require-sandbox).
"""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("grade", help="grade submissions (like nbgrader autograde) or one notebook, in a sandbox",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="ASSIGNMENT | NOTEBOOK.ipynb",
                   help="an assignment id (grade its submissions) or a notebook file (grade just that notebook)")
    p.add_argument("--student", nargs="+", metavar="ID", help="grade only these students (default: everyone)")
    p.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                   help=f"sandboxes running at once (default: all cores, here {os.cpu_count()})")
    p.add_argument("--force", "-f", action="store_true",
                   help="grade again submissions that are already in autograded/ (as nbgrader's --force)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write every score and message to FILE as JSON")
    p.add_argument("--require-sandbox", action="store_true",
                   help="refuse to run learner code when bubblewrap is not available")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="time limit per cell (default: nbgrader's Execute.timeout from nbgrader_config.py)")
    p.add_argument("--notebook-timeout", type=float, default=300.0, metavar="SECONDS",
                   help="time limit for a whole notebook (default: 300)")
    p.add_argument("--memory", type=int, default=2048, metavar="MB",
                   help="memory a notebook may use on top of numpy (default: 2048)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no table (use with --json)")
    p.add_argument("--verbose", "-v", action="store_true", help="show nbgrader's own log messages")
    return p


def run(args, course_dir: Path, explicit_course_dir: bool) -> int:
    from rich.console import Console
    from rich.panel import Panel

    import warnings

    from .grader import BatchOptions, GraderError, grade_assignment, grade_notebook
    from .sandbox import SandboxError

    warnings.filterwarnings("ignore", message=".*not in session.*")   # nbgrader's own SQLAlchemy noise
    warnings.filterwarnings("ignore", module="nbformat")               # cell ids repaired in submissions
    console = Console(stderr=False)
    err = Console(stderr=True)
    target = args.target
    is_notebook = target.endswith(".ipynb") or Path(target).is_file()
    try:
        if is_notebook:
            dirs = [course_dir] if explicit_course_dir else []
            dirs += [Path.cwd(), course_dir] if not explicit_course_dir else []
            report = grade_notebook(Path(target), dirs, require_sandbox=args.require_sandbox,
                                    cell_timeout=args.timeout or 60.0, notebook_timeout=args.notebook_timeout,
                                    memory_mb=args.memory)
        else:
            if not explicit_course_dir and (Path.cwd() / "nbgrader_config.py").exists():
                course_dir = Path.cwd()          # like nbgrader: the course is where you run it
            options = BatchOptions(students=args.student, jobs=args.jobs, force=args.force,
                                   require_sandbox=args.require_sandbox, cell_timeout=args.timeout,
                                   notebook_timeout=args.notebook_timeout, memory_mb=args.memory,
                                   log_level="WARN" if args.verbose else "ERROR", progress=not args.quiet)
            _warn_early(err, args.require_sandbox)
            report = grade_assignment(course_dir, target, options, console=err)
    except (GraderError, SandboxError) as e:
        err.print(f"[bold red]autograder grade:[/bold red] {e}")
        return 2
    if report.get("sandbox_warning") and is_notebook:
        err.print(Panel(_sandbox_warning(report["sandbox_warning"]), style="bold red"))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str))
    if not args.quiet:
        if is_notebook:
            print_notebook_report(report, console)
        else:
            print_batch_summary(report, console)
    if is_notebook:
        return 0
    bad = [s for s in report["students"] if s.get("status") != "graded"]
    return 1 if bad or report.get("nbgrader_exit_code") else 0


def _sandbox_warning(why: str) -> str:
    return ("WARNING: learner code will run WITHOUT a sandbox.\n"
            f"{why}.\n"
            "It still runs in a separate process with time, memory and output limits, no new processes "
            "and no sockets, but it can read and write whatever your user can (including the gradebook "
            "and source/), and torch is only hidden from sys.path. Install bubblewrap, or pass "
            "--require-sandbox to refuse instead.")


def _warn_early(err, require: bool) -> None:
    from rich.panel import Panel

    from .sandbox import bwrap_status
    ok, why = bwrap_status()
    if not ok and not require:
        err.print(Panel(_sandbox_warning(why), style="bold red"))


def print_batch_summary(report: dict, console) -> None:
    from rich.table import Table
    students = report["students"]
    table = Table(title=f"{report['assignment']}: {len(students)} submission(s) graded into the gradebook")
    for col, kw in (("student", {}), ("score", {"justify": "right"}), ("checks passed", {"justify": "right"}),
                    ("by hand", {"justify": "right"}), ("notes", {})):
        table.add_column(col, **kw)
    for s in students:
        if s.get("status") == "error":
            table.add_row(s["student"], "-", "-", "-", "[red]" + "; ".join(s.get("problems", []))[:200] + "[/red]")
            continue
        cells = [c for nb in s["notebooks"] for c in nb["cells"]]
        auto = [c for c in cells if c.get("kind") == "test"]
        passed = sum(1 for c in auto if c["score"] is not None and c["score"] == c["max_points"])
        manual = sum(c["max_points"] for c in cells if c["status"] == "manual")
        notes = list(s.get("problems", []))
        if s.get("late_penalty"):
            notes.append(f"late penalty {s['late_penalty']:g}")
        failed = [c["grade_id"].removeprefix("test_") for c in auto if c["score"] == 0 and c["max_points"]]
        if failed and not notes and len(failed) < len(auto):
            notes.append("failed: " + ", ".join(failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else ""))
        elif failed and not notes:
            notes.append("failed every check")
        table.add_row(s["student"], f"{s['score']:g} / {s['max_score']:g}", f"{passed} of {len(auto)}",
                      f"{manual:g}" if manual else "", "; ".join(notes)[:160])
    console.print(table)
    t = report["timings"]
    n = sum(len(s.get("notebooks", [])) for s in students)
    rate = f", {n / t['total']:.1f} notebooks/s" if t["total"] else ""
    started = t.get("sandboxes started") or report["jobs"]
    console.print(f"{n} notebook(s) in {t['total']:.1f} s{rate}; learner code ran in {report['sandbox']} "
                  f"({started} sandbox(es), at most {report['jobs']}). Scores: {report['gradebook']} "
                  f"(feedback: nbgrader generate_feedback {report['assignment']}).", highlight=False)
    if report.get("sandbox_warning"):
        console.print(f"[bold red]Learner code was NOT sandboxed: {report['sandbox_warning']}[/bold red]")


def short(message: str | None) -> str:
    """One line for a table: the named mistake, or the exception, or what differs."""
    if not message:
        return "failed"
    lines = [l.strip() for l in message.splitlines() if l.strip()]
    for line in lines:
        if line.startswith("Likely mistake:"):
            return line.split(".")[0].replace("Likely mistake:", "likely mistake:")
    first = lines[0]
    if " is wrong on " in first and len(lines) > 2:
        return lines[2][:80]
    return first[:80]


def print_notebook_report(report: dict, console) -> None:
    from rich.markup import escape
    from rich.table import Table
    table = Table(title=f"{report['assignment']}: {Path(report['notebook']).name}")
    table.add_column("question")
    table.add_column("points", justify="right")
    table.add_column("result")
    for c in report["cells"]:
        name = c["grade_id"].removeprefix("test_")
        if c["status"] == "manual":
            table.add_row(name, f"- / {c['max_points']:g}", "[dim]graded by your instructor[/dim]")
        elif c["score"] == c["max_points"]:
            table.add_row(name, f"{c['score']:g} / {c['max_points']:g}", "[green]passed[/green]")
        else:
            table.add_row(name, f"{c['score']:g} / {c['max_points']:g}", "[red]" + escape(short(c["message"])) + "[/red]")
    console.print(table)
    problem = report.get("problem") or ""
    for c in report["cells"]:
        if problem and c["message"] and problem.split(",")[0] in c["message"]:
            continue                      # the whole notebook's problem, printed once below
        if c["status"] != "manual" and c["score"] != c["max_points"] and c["message"]:
            console.print(f"\n[bold]{c['grade_id'].removeprefix('test_')}[/bold]")
            console.print(escape(c["message"]), highlight=False)
    if report.get("problem"):
        console.print(f"\n[red]{escape(report['problem'])}[/red]")
    manual = f"; {report['manual_points']:g} more points are graded by hand" if report["manual_points"] else ""
    console.print(f"\n[bold]autograded: {report['score']:g} / {report['max_score']:g}{manual}[/bold]")


def main_from_cli(args, course_dir: Path, argv: list[str] | None) -> int:
    given = sys.argv[1:] if argv is None else argv
    explicit = any(a == "--course-dir" or a.startswith("--course-dir=") for a in given)
    code = run(args, course_dir, explicit)
    if argv is None:
        # The `autograder` program itself: everything is written and closed; skip the interpreter's
        # tear-down of torch, nbgrader and SQLAlchemy (over a second).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
