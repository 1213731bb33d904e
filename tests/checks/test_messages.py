"""Every learner-facing sentence is written once, in checks/messages.py, and both graders use it."""
from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest

import autograder
from autograder.checks import messages
from autograder.checks.api import run_case
from autograder.exercises import registry

PACKAGE = Path(autograder.__file__).parent
# The program bound into the sandbox cannot import this package (it is not there): exempt.
EXEMPT = {PACKAGE / "checks" / "messages.py", PACKAGE / "sandbox" / "learner_runner.py"}
MIN_FRAGMENT = 12        # shorter literal pieces (", got ", " on ") are words, not sentences


def _templates() -> dict[str, str]:
    return {k: v for k, v in vars(messages).items() if k.isupper() and isinstance(v, str)}


def _fragments(template: str) -> list[str]:
    pieces = [literal for literal, *_ in string.Formatter().parse(template)]
    return [p.strip() for p in pieces if len(p.strip()) >= MIN_FRAGMENT]


def _literals(path: Path) -> list[tuple[int, str]]:
    """Every string constant in a module, f-strings' literal parts included."""
    return [(node.lineno, node.value) for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def test_templates_have_sentences_to_guard():
    fragments = [f for t in _templates().values() for f in _fragments(t)]
    assert len(fragments) >= 15
    for phrase in ("should raise ValueError on", "modified its argument(s)", "cases failed; the first is shown",
                   "passed", "Likely mistake:"):
        assert any(phrase in t for t in _templates().values()), phrase


def test_no_learner_facing_sentence_is_written_twice():
    fragments = {f: name for name, t in _templates().items() for f in _fragments(t)}
    repeated = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path in EXEMPT:
            continue
        for line, text in _literals(path):
            for fragment, name in fragments.items():
                if fragment in text:
                    repeated.append(f"{path.relative_to(PACKAGE)}:{line} repeats messages.{name}: {fragment!r}")
    assert not repeated, "\n".join(repeated)


def test_the_kernel_check_speaks_the_shared_sentences():
    ex = registry.get("rnn_step_forward")
    case = {"B": 2, "D": 3, "H": 4, "seed": 1}

    def in_place(x_t, h_prev, W_xh, W_hh, b_h, nonlinearity="tanh"):
        h_prev += 1.0
        return h_prev

    def no_error(*args):
        return None

    where = "case"
    assert messages.modified_inputs("rnn_step_forward", ["h_prev"], where).split(where)[0] in run_case(ex, in_place, case)
    said = run_case(ex, no_error, dict(case, expect="ValueError"))
    assert said.startswith(messages.should_raise("rnn_step_forward", "", None).split(" on ")[0])
    assert messages.cases_passed("f", 1) == "f: 1 case passed\n"
    assert messages.cases_passed("f", 3) == "f: 3 cases passed\n"
    assert messages.cases_failed(1, 3) == ""
    assert messages.cases_failed(2, 3) == "\n\n(2 of 3 cases failed; the first is shown.)"


@pytest.mark.parametrize("message,line", [
    ("f is wrong on case {}\n  (inputs: x)\n  `h` has wrong values\n  Likely mistake: bias forgotten. Add b.",
     "likely mistake: bias forgotten"),
    ("f is wrong on case {}\n  (inputs: x)\n  `h` should have shape (2, 3), got (3, 2).",
     "`h` should have shape (2, 3), got (3, 2)."),
    ("TimeoutError: too slow", "TimeoutError: too slow"),
    (None, "failed"),
])
def test_summary_is_one_line_for_a_table(message, line):
    assert messages.summary(message) == line
