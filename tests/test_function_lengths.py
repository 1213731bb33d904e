"""The trusted grader reads in small pieces: no function in grade/ or sandbox/ over 60 lines."""
from __future__ import annotations

import importlib.util

from autograder.course import ROOT

LIMIT = 60
EXCEPTIONS: dict[str, str] = {}      # "autograder/grade/x.py name" -> why it may be longer (none today)


def _lengths():
    spec = importlib.util.spec_from_file_location("function_lengths", ROOT / "scripts" / "function_lengths.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lengths([ROOT / "autograder" / "grade", ROOT / "autograder" / "sandbox"])


def test_no_function_over_60_lines_in_grade_and_sandbox():
    found = _lengths()
    assert len(found) > 100                      # the scan saw the package
    key = lambda where: f"{where.split(':')[0]} {where.split()[-1]}"      # file and function name
    long = [f"{n} lines: {where}" for n, where in found if n > LIMIT and key(where) not in EXCEPTIONS]
    assert not long, "\n".join(long)
