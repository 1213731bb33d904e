"""The catalogue's guarantee under per-student hidden variants, for every assignment: for random
secrets, every catalogued mistake is rejected by the student's variant hidden cases alone, and the
solution and the correct sample pass them all.

    .venv/bin/python bench/variant_catalogue.py [--secrets N] [ASSIGNMENT ...]

tests/test_variants.py asserts the same for ps1 on three secrets per run; this sweeps them all
(about 25 s per secret on this machine, most of it in ps4 and ps5). A failing line prints the
secret, so the variant can be reproduced.
"""
from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from autograder.authoring.catalogue import declarations, mistake_as_function  # noqa: E402
from autograder.checks.api import run_case  # noqa: E402
from autograder.checks.variants import Variants  # noqa: E402
from autograder.course import assignments  # noqa: E402
from autograder.exercises import registry  # noqa: E402
from test_exercises import _implementations  # noqa: E402


def _message(ex, fn, case) -> str | None:
    try:
        return run_case(ex, fn, case)
    except Exception as e:                 # a crash is a rejection too
        return f"raised {type(e).__name__}: {e}"


def sweep(assignment: str, secret: bytes) -> tuple[int, int, list[str]]:
    """(mistakes checked, correct runs checked, problems) for one student's variants."""
    variants = Variants(secret, "student", assignment)
    decls, impls = declarations(assignment), _implementations(assignment)
    mistakes = runs = 0
    problems = []
    for ex in registry.all_exercises(assignment):
        hidden = [variants.case(ex, c) for d in decls.get(ex.name, []) if d.hidden for c in d.cases]
        for m in ex.mistakes:
            mistakes += 1
            if not any(_message(ex, mistake_as_function(ex, m), c) for c in hidden):
                problems.append(f"{ex.name}: mistake '{m.name}' passes every variant hidden case")
        for origin, namespace in impls.items():
            for case in hidden:
                runs += 1
                message = _message(ex, namespace[ex.name], case)
                if message:
                    problems.append(f"{origin}: {message.splitlines()[0]} {case}")
    return mistakes, runs, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--secrets", type=int, default=3)
    args = parser.parse_args()
    failed = 0
    for assignment in args.assignments or assignments(ROOT):
        started, total = time.perf_counter(), [0, 0]
        for _ in range(args.secrets):
            secret = secrets.token_bytes(32)
            mistakes, runs, problems = sweep(assignment, secret)
            total[0] += mistakes
            total[1] += runs
            for p in problems:
                print(f"  secret {secret.hex()}: {p}")
            failed += len(problems)
        print(f"{assignment}: {args.secrets} secrets, {total[0]} mistakes against variant hidden cases, "
              f"{total[1]} correct runs, {time.perf_counter() - started:.1f} s")
    print("every mistake rejected, every correct run passed" if not failed else f"{failed} problems")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
