"""List the functions of the package by length (lines from `def` to its last line).

    .venv/bin/python scripts/function_lengths.py [--over N] [PATH ...]     (default: autograder/, over 40)

tests/test_function_lengths.py holds grade/ and sandbox/ to 60 lines, with the exceptions it names.
"""
from __future__ import annotations

import argparse
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def lengths(paths: list[Path]) -> list[tuple[int, str]]:
    """(lines, "file:line name") of every function and method under ``paths``."""
    found = []
    for base in paths:
        for path in sorted(base.rglob("*.py")) if base.is_dir() else [base]:
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                    where = f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
                    found.append((node.end_lineno - start + 1, where))
    return sorted(found, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", type=Path, default=[ROOT / "autograder"])
    parser.add_argument("--over", type=int, default=40)
    args = parser.parse_args()
    for n, where in lengths([p.resolve() for p in args.paths]):
        if n > args.over:
            print(f"{n:4d}  {where}")


if __name__ == "__main__":
    main()
