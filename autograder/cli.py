"""`autograder` command line: build the course, stage sample submissions, grade them, print
scores, tabulate the catalogue, write the student bundle. Every subcommand's arguments are here; every subcommand works on
the course directory: the current directory, or --course-dir (as nbgrader)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .course import assignments, course_directory

GRADE_DESCRIPTION = """\
Grade submissions with the course's trusted grader.

  autograder grade ASSIGNMENT
      Run in the course directory, like `nbgrader autograde ASSIGNMENT`: grades every
      submitted/<student>/ASSIGNMENT/ into autograded/ and the nbgrader gradebook
      (gradebook.db), so formgrader, `nbgrader generate_feedback` and `nbgrader export`
      work as usual. Same points as nbgrader for honest work, many times faster, and the
      verdicts come from this process, not from the learner's code.

  autograder grade ASSIGNMENT [ASSIGNMENT ...]
      Several assignments, one after the other, in one process on one set of sandboxes:
      the start-up is paid once, not once per assignment.

  autograder grade path/to/ps1_rnn_forward.ipynb
      Grade one notebook yourself (self-paced learners): runs the assignment's hidden
      checks and prints a report per question, with hints. No gradebook is needed.

Learner code runs in a sandbox (bubblewrap: no network, no torch, no course files, CPU,
memory, time and output limits). Without bubblewrap it runs as a plain subprocess with
limits, after a loud warning; --require-sandbox refuses that instead.

With --scheduler ADDRESS (or --dask-local N) the notebooks run on Dask workers, each in the
worker's own sandbox; this process still writes autograded/ and the gradebook alone.
"""

GRADE_EPILOG = """\
examples:
  autograder grade ps1_rnn_forward                      grade everyone, all cores
  autograder grade ps1_rnn_forward --student alice bob  grade two students
  autograder grade ps1_rnn_forward --force --json scores.json
  autograder grade ps1_rnn_forward ps2_bptt ps3_birnn    several assignments, one start-up
  autograder grade ~/ps1_rnn_forward.ipynb              check your own notebook
  autograder grade ps1_rnn_forward --scheduler tcp://lab1:8786   grade on a Dask cluster

exit status: 0 when every submission was graded, 1 when some could not be, 2 on a usage
or set-up error (unknown assignment, a broken nbgrader_config.py, no sandbox with
--require-sandbox).

Limits and defaults are traitlets of TrustedGrader, set in the course's nbgrader_config.py
(c.TrustedGrader.cell_timeout = 60); the flags above override them. --help-all lists them.
"""




class _HelpAll(argparse.Action):
    """--help-all: the help, then every TrustedGrader option (as nbgrader's --help-all does)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from .grade.options import help_all
        parser.print_help()
        print("\n" + help_all())
        parser.exit()


def add_grade_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("grade", help="grade submissions (like nbgrader autograde) or one notebook, in a sandbox",
                       description=GRADE_DESCRIPTION, epilog=GRADE_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", nargs="+", metavar="ASSIGNMENT | NOTEBOOK.ipynb",
                   help="assignment ids (grade their submissions, one after the other, in one process) or "
                        "one notebook file (grade just that notebook)")
    p.add_argument("--help-all", action=_HelpAll, help="show this help and every configurable limit, then exit")
    p.add_argument("--student", nargs="+", metavar="ID", help="grade only these students (default: everyone)")
    p.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                   help=f"sandboxes running at once (default: TrustedGrader.jobs, or all cores: here {os.cpu_count()})")
    p.add_argument("--force", "-f", action="store_true",
                   help="grade again submissions that are already in autograded/ (as nbgrader's --force)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write every score and message to FILE as JSON")
    p.add_argument("--require-sandbox", action="store_true",
                   help="refuse to run learner code when bubblewrap is not available")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="time limit per cell (default: TrustedGrader.cell_timeout, or nbgrader's Execute.timeout)")
    p.add_argument("--notebook-timeout", type=float, default=None, metavar="SECONDS",
                   help="time limit for a whole notebook (default: TrustedGrader.notebook_timeout)")
    p.add_argument("--memory", type=int, default=None, metavar="MB",
                   help="memory a notebook may use on top of numpy (default: TrustedGrader.memory_mb)")
    # grading on a Dask cluster (grade/distributed.py)
    dask = p.add_mutually_exclusive_group()
    dask.add_argument("--scheduler", metavar="ADDRESS",
                      help="run every notebook on the workers of this Dask scheduler (tcp://host:8786 or "
                           "tls://...); this process stays the only writer of the gradebook and autograded/")
    dask.add_argument("--dask-local", type=int, metavar="N",
                      help="start a Dask cluster of N worker processes on 127.0.0.1 for this run, and grade on it")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no table (use with --json)")
    p.add_argument("--verbose", "-v", action="store_true", help="show nbgrader's own log messages")
    return p


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="autograder", description=__doc__)
    p.add_argument("--course-dir", type=Path, default=None,
                   help="the course directory (default: the current directory, as nbgrader)")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("build", help="sync source notebooks with their text forms, then generate release/ and solutions/")
    s.add_argument("assignment", nargs="*", help="assignment ids (default: all)")
    s = sub.add_parser("samples", help="copy the bundled sample submissions into the course's submitted/")
    s.add_argument("assignment", nargs="*")
    s = sub.add_parser("scores", help="print the course gradebook's scores as a table")
    s.add_argument("assignment", nargs="*")
    s = sub.add_parser("catalogue", help="run every catalogued mistake through the declared checks and tabulate")
    s.add_argument("assignment", nargs="*")
    s = sub.add_parser("bundle", help="write what students get (release notebooks, the check package, a README) into DIR")
    s.add_argument("dir", type=Path, metavar="DIR")
    s.add_argument("assignment", nargs="*", help="assignment ids (default: all)")
    s.add_argument("--force", action="store_true", help="replace DIR if it is not empty")
    add_grade_parser(sub)
    s = sub.add_parser("warm", help="keep a warm grader running: `autograder grade` then starts in a fraction of "
                                    "a second (it forks a fresh process per run)")
    s.add_argument("--idle", type=float, default=30.0, metavar="MINUTES",
                   help="end after this many minutes without a run (default: 30)")
    s.add_argument("--stop", action="store_true", help="stop this user's warm grader")
    # -- gradescope (issue 17): the autograder.zip Gradescope runs
    s = sub.add_parser("gradescope", help="write the autograder.zip that grades ASSIGNMENT on Gradescope",
                       description="Write the autograder.zip Gradescope expects (setup.sh, run_autograder, the "
                                   "course package, the assignment's declarations; no solutions). Its "
                                   "run_autograder grades the submitted notebook with the trusted grader.")
    s.add_argument("assignment", help="an assignment id")
    s.add_argument("--out", type=Path, default=Path("autograder.zip"), help="where to write it (default: autograder.zip)")
    s.add_argument("--visibility", default="visible",
                   choices=["hidden", "after_due_date", "after_published", "visible"],
                   help="when students see their results (default: visible; a failing hidden case's details "
                        "are always after_published)")
    # the class report (issue 17)
    s = sub.add_parser("report", help="write a class report (HTML) from the gradebook and the stored verdicts, "
                                      "and print its summary")
    s.add_argument("assignment", nargs="+", help="assignment ids")
    s.add_argument("--out", type=Path, metavar="FILE.html",
                   help="where to write the page (one assignment; default: report/ASSIGNMENT.html in the course)")
    s.add_argument("--quiet", "-q", action="store_true", help="write the page, print no summary")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if argv is None and args.command == "grade":     # the program itself: a warm grader, if one runs
        from .grade.warm import delegate
        code = delegate(sys.argv[1:])
        if code is not None:
            return code
    return _run(args, exit_fast=argv is None)


def run(argv: list[str]) -> int:
    """The command ARGV in this process (the warm grader's forked child runs its requests so)."""
    return _run(parser().parse_args(argv), exit_fast=False)


def _run(args, exit_fast: bool) -> int:
    if args.command == "warm":
        from .grade import warm
        if args.stop:
            stopped = warm.stop()
            print("autograder warm: stopped" if stopped else "autograder warm: none was running")
            return 0 if stopped else 1
        return warm.serve(args.idle, log=lambda line: print(line, flush=True))
    course_dir = course_directory(args.course_dir)
    if args.command == "grade":
        from .grade.command import main_from_cli
        return main_from_cli(args, course_dir, args.course_dir is not None, exit_fast=exit_fast)
    if args.command == "gradescope":
        from .authoring.gradescope import GradescopeError, write_zip
        try:
            names = write_zip(args.assignment, course_dir, args.out, args.visibility)
        except GradescopeError as e:
            print(f"autograder gradescope: {e}", file=sys.stderr)
            return 2
        print(f"{args.out}: {len(names)} files for Gradescope's autograder (upload it as the assignment's "
              f"autograder; setup.sh installs the rest)")
        return 0
    if args.command == "report":
        return _report(args, course_dir)
    chosen = args.assignment or assignments(course_dir)
    if args.command == "bundle":
        from .authoring.bundle import BundleError, write_bundle
        try:
            written = write_bundle(args.dir, chosen, course_dir, force=args.force)
        except BundleError as e:
            print(f"autograder bundle: {e}", file=sys.stderr)
            return 2
        print(f"{args.dir}: {len(written)} files for students (README.md says how to start)")
    elif args.command == "build":
        from .authoring.build import build
        build(chosen, course_dir)
    elif args.command == "samples":
        from .authoring.samples import submit_samples
        for a in chosen:
            students = submit_samples(a, course_dir)
            print(f"{a}: submitted/{{{','.join(students)}}}/{a}/")
    elif args.command == "scores":
        from .authoring.scores import print_scores
        for a in chosen:
            print_scores(a, course_dir)
    elif args.command == "catalogue":
        from .authoring.catalogue import print_report
        for a in chosen:
            print_report(a, course_dir)
    return 0


def _report(args, course_dir: Path) -> int:
    from .authoring.class_report import ReportError, write_report
    if args.out and len(args.assignment) > 1:
        print("autograder report: --out takes one assignment", file=sys.stderr)
        return 2
    try:
        for a in args.assignment:
            write_report(course_dir, a, args.out, quiet=args.quiet)
    except ReportError as e:
        print(f"autograder report: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
