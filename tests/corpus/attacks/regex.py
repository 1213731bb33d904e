"""Class 6: super-linear work on learner input outside the sandbox.

Learner text that made a pattern, tokenizer or parser of the parent or of nbgrader take time
growing faster than the text: 100,000 word characters on stderr (the old ``IgnorePattern``
``\\w*Warning\\b``), blank lines and magics (the IPython-syntax pattern and IPython's own
transformer, once run in the parent), terminal escapes in outputs and tracebacks (nbconvert's
ANSI filter in feedback), ``$$`` in markdown (mistune in feedback), and a forged traceback that
the child never capped. Each now runs in linear time, on a capped prefix, or in the sandbox.
"""
from __future__ import annotations

from pathlib import Path

import nbformat

from . import Attack
from .channel import forged_cell, full_points, submission

ESCAPES = "\\x1b[1mx" * 25_000


def _feedback_free_of_escapes(assignment: str):
    """check: the autograded notebook holds no terminal escape and no traceback line beyond 2,100
    characters (what nbconvert's filters later read in feedback)."""
    def check(course_dir: Path, outcome: dict) -> list[str]:
        student = outcome.get("student") or outcome.get("name") or ""
        problems = []
        for path in (course_dir / "autograded").glob(f"*/{assignment}/{assignment}.ipynb"):
            if student and path.parts[-3] != student:
                continue
            nb = nbformat.read(path, as_version=4)
            for cell in nb.cells:
                for out in cell.get("outputs", []):
                    texts = [out.get("text", "")] + list(out.get("traceback", [])) + [out.get("evalue", "")]
                    if any("\x1b" in str(t) for t in texts):
                        problems.append(f"{path.name}: a terminal escape in an output")
                    if any(len(str(t)) > 2100 for t in out.get("traceback", [])):
                        problems.append(f"{path.name}: a traceback line over 2,100 characters")
        return problems
    return check


ATTACKS = [
    Attack("regex_stderr_word_characters", 6, "ps1_rnn_forward",
           "a cell writes 100,000 word characters to stderr (the old IgnorePattern took ~16 s on it)",
           submission("ps1_rnn_forward", ["import sys\nsys.stderr.write('a' * 100_000)"]),
           full_points("ps1_rnn_forward")),
    Attack("regex_blank_lines", 6, "ps2_bptt",
           "a cell of 3,000 blank lines (the old IPython-syntax pattern in the parent: minutes)",
           submission("ps2_bptt", ["\n" * 3000 + "x = 1\n"]), full_points("ps2_bptt")),
    Attack("regex_many_magics", 6, "ps3_birnn",
           "a cell of 1,500 %time lines (IPython's transformer, quadratic, now runs in the sandbox)",
           submission("ps3_birnn", ["%time 1\n" * 1500]), full_points("ps3_birnn")),
    Attack("regex_terminal_escapes", 6, "ps4_attention",
           "cells print 100,000 characters of colour codes and raise an error of 50,000 escape numbers",
           submission("ps4_attention", [f"print('{ESCAPES}')"] * 6 + ["raise ValueError('\\x1b[' + '0;' * 50_000 + 'm')"]),
           full_points("ps4_attention"), check=_feedback_free_of_escapes("ps4_attention")),
    Attack("regex_markdown_dollars", 6, "ps5_pointer",
           "a markdown cell of 600,000 characters of $$ (mistune in feedback: quadratic)",
           submission("ps5_pointer", markdown=["$$" * 300_000]), full_points("ps5_pointer")),
    Attack("regex_forged_traceback", 6, "ps6_dynamics",
           "a cell forges its own result: 1 MB of escape numbers on stdout and an error whose traceback "
           "has 400 lines of them (the child caps real tracebacks, not forged ones)",
           submission("ps6_dynamics", [forged_cell(
               "forge(_frame({'type': 'cell', 'step': __STEP__, 'key': '__KEY__', 'stdout': '\\x1b[' + '0;' * 400_000,"
               " 'stderr': '', 'error': {'ename': 'E', 'evalue': 'x', 'traceback': ['\\x1b[' + '0;' * 1000] * 400}}))\n")]),
           full_points("ps6_dynamics"), check=_feedback_free_of_escapes("ps6_dynamics")),
]
