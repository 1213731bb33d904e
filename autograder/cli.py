"""`autograder` command line: build the course, stage sample submissions, grade them, print scores,
write the student bundle."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .course import ROOT, assignments


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="autograder", description=__doc__)
    parser.add_argument("--course-dir", type=Path, default=ROOT, help="the course directory (default: this checkout)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="sync source notebooks with their text forms, then generate release/ and solutions/")
    p.add_argument("assignment", nargs="*", help="assignment ids (default: all)")
    p = sub.add_parser("samples", help="copy the bundled sample submissions into submitted/")
    p.add_argument("assignment", nargs="*")
    p = sub.add_parser("scores", help="print the gradebook's scores as a table")
    p.add_argument("assignment", nargs="*")
    p = sub.add_parser("catalogue", help="run every catalogued mistake through the declared checks and tabulate")
    p.add_argument("assignment", nargs="*")
    p = sub.add_parser("bundle", help="write what students get (release notebooks, the check package, a README) into DIR")
    p.add_argument("dir", type=Path, metavar="DIR")
    p.add_argument("assignment", nargs="*", help="assignment ids (default: all)")
    p.add_argument("--force", action="store_true", help="replace DIR if it is not empty")
    from .grade_command import add_parser as add_grade_parser
    add_grade_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "grade":
        from .grade_command import main_from_cli
        return main_from_cli(args, args.course_dir, argv)
    chosen = args.assignment or assignments(args.course_dir)

    if args.command == "bundle":
        from .bundle import BundleError, write_bundle
        try:
            written = write_bundle(args.dir, args.assignment or None, args.course_dir, force=args.force)
        except BundleError as e:
            print(f"autograder bundle: {e}", file=sys.stderr)
            return 2
        print(f"{args.dir}: {len(written)} files for students (README.md says how to start)")
        return 0
    if args.command == "build":
        from .build import build
        build(chosen, args.course_dir)
    elif args.command == "samples":
        from .samples import submit_samples
        for a in chosen:
            students = submit_samples(a, args.course_dir)
            print(f"{a}: submitted/{{{','.join(students)}}}/{a}/")
    elif args.command == "scores":
        from .scores import print_scores
        for a in chosen:
            print_scores(a, args.course_dir)
    elif args.command == "catalogue":
        from .catalogue import print_report
        for a in chosen:
            print_report(a, args.course_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
