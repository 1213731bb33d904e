"""The check API used in test cells: ``check(fn, "name", cases=[{...}, ...])``.

In a learner's kernel (JupyterLab, ``nbgrader validate``, stock ``nbgrader autograde``) it runs
the learner's function on each case, computes the PyTorch reference and raises
``AssertionError`` with a message that says what differs, where, by how much and, when the
output equals a catalogued mistake, which mistake. The pieces (``case_inputs``,
``expected_output``, ``judge``) are separate so that a grader can run the learner's function
in one process and judge its output in another.
"""
from __future__ import annotations

import copy
import json
import sys
from typing import Any, Callable

import numpy as np

from ..exercises import registry
from . import messages, variants
from .compare import Tolerance, describe_difference
from .follow import References, cast_floats
from .tracebacks import hide_check_frames, message_first


def float_dtype(case: dict) -> np.dtype:
    name = case.get("dtype", "float64")
    if name not in ("float32", "float64"):
        raise ValueError(f"case dtype must be 'float32' or 'float64', got {name!r}")
    return np.dtype(name)


def case_inputs(name: str | registry.Exercise, case: dict) -> dict:
    """The arguments a case passes to the learner's function, in the contract's order."""
    ex = registry.get(name) if isinstance(name, str) else name
    inputs = ex.make_inputs(case)
    missing = [a for a in ex.args if a not in inputs]
    if missing:
        raise RuntimeError(f"exercise {ex.name}: make_inputs gave no {missing}")
    return cast_floats({a: inputs[a] for a in ex.args}, float_dtype(case))


def expected_output(name: str | registry.Exercise, case: dict, inputs: dict | None = None) -> Any:
    """The float64 PyTorch reference for a case (computed on the very values the learner gets)."""
    ex = registry.get(name) if isinstance(name, str) else name
    inputs = case_inputs(ex, case) if inputs is None else inputs
    return ex.reference(**cast_floats(inputs, np.float64))


_EXPECTED: dict[tuple[str, str], Any] = {}     # (exercise, case) -> reference output, for re-run cells


def _expected_for_case(ex: registry.Exercise, case: dict, inputs: dict) -> Any:
    """``expected_output`` on ``case_inputs(ex, case)``, computed once per case (cases are data)."""
    key = (ex.name, json.dumps(case, sort_keys=True))
    if key not in _EXPECTED:
        if len(_EXPECTED) >= 2048:
            _EXPECTED.clear()
        _EXPECTED[key] = expected_output(ex, case, inputs)
    return _EXPECTED[key]


def _difference(ex: registry.Exercise, case: dict, expected: Any, got: Any) -> str | None:
    rtol, atol = ex.tolerances(float_dtype(case))
    tol = Tolerance(rtol, atol, float_dtype(case))
    if len(ex.outputs) == 1:
        return describe_difference(expected, got, tol, ex.outputs[0], ex.shapes)
    if not isinstance(got, (tuple, list)) or len(got) != len(ex.outputs):
        what = f"{type(got).__name__} of length {len(got)}" if isinstance(got, (tuple, list)) else type(got).__name__
        return messages.wrong_tuple(ex.name, ex.outputs, what)
    for out_name, e, g in zip(ex.outputs, expected, got):
        problem = describe_difference(e, g, tol, out_name, ex.shapes)
        if problem:
            return problem
    return None


def mistake_outputs(ex: registry.Exercise, inputs: dict) -> list:
    """Every catalogued mistake's output on these inputs (``NO_OUTPUT`` where it does not apply)."""
    outputs = []
    inputs64 = cast_floats(inputs, np.float64)
    for mistake in ex.mistakes:
        try:
            outputs.append(mistake.outputs(**copy.deepcopy(inputs64)))
        except Exception:      # a mistake may not apply to every shape (e.g. a transpose)
            outputs.append(NO_OUTPUT)
    return outputs


NO_OUTPUT = object()


def matching_mistakes(ex: registry.Exercise, case: dict, inputs: dict, got: Any,
                      known: list | None = None) -> list[registry.Mistake]:
    """The catalogued mistakes whose output equals ``got`` on this case; ``known``: their outputs
    computed beforehand (``mistake_outputs``, e.g. from the grader's reference cache)."""
    found = []
    wrongs = known if known is not None and len(known) == len(ex.mistakes) else mistake_outputs(ex, inputs)
    for mistake, wrong in zip(ex.mistakes, wrongs):
        if wrong is NO_OUTPUT:
            continue
        if _difference(ex, case, wrong, got) is None:
            found.append(mistake)
    return found


def describe_case(ex: registry.Exercise, case: dict, inputs: dict) -> str:
    def show(v):
        if isinstance(v, np.ndarray):
            return f"{v.shape} {v.dtype}"
        if isinstance(v, (list, dict)):
            return f"{type(v).__name__} of {len(v)}"
        return repr(v)
    args = ", ".join(f"{k} {show(v)}" for k, v in inputs.items())
    return messages.case_description(case, args)


def judge(ex: registry.Exercise, case: dict, inputs: dict, expected: Any, got: Any,
          called: tuple[str, ...] = (), integration: bool = False, named: list | None = None,
          known_mistakes: list | None = None) -> str | None:
    """None if ``got`` is right, else the whole message for the learner.

    ``called``: the graded functions whose references stood in for the learner's own during the
    call (follow-through marking); ``integration``: the check ran the learner's own functions;
    ``named``: a list that gets the names of the catalogued mistakes ``got`` equals (the trusted
    grader stores them for the class report).
    ``known_mistakes``: the mistakes' outputs on this case, if computed beforehand.
    """
    problem = _difference(ex, case, expected, got)
    if problem is None:
        return None
    lines = [messages.wrong_on(ex.name, describe_case(ex, case, inputs)), "  " + problem]
    for mistake in matching_mistakes(ex, case, inputs, got, known_mistakes):
        lines.append(messages.likely_mistake(mistake.name, mistake.hint))
        if named is not None:
            named.append(mistake.name)
    if called:
        lines.append(messages.checked_with(ex.name, called))
    elif integration and ex.builds_on:
        lines.append(messages.integration(ex.builds_on))
    lines.append(messages.reproduce(ex.name, case))
    return "\n".join(lines)


def modified_inputs(before: dict, after: dict) -> list[str]:
    """The arguments whose arrays differ after the call (the learner changed them in place)."""
    changed = []
    for key in before:
        b, a = before[key], after[key]
        flat_b = b if isinstance(b, (list, tuple)) else [b]
        flat_a = a if isinstance(a, (list, tuple)) else [a]
        for x, y in zip(flat_b, flat_a):
            xs = x.values() if isinstance(x, dict) else [x]
            ys = y.values() if isinstance(y, dict) else [y]
            if any(isinstance(p, np.ndarray) and not np.array_equal(p, q, equal_nan=True)
                   for p, q in zip(xs, ys)):
                changed.append(key)
                break
    return changed


def run_case(ex: registry.Exercise, fn: Callable, case: dict, integration: bool = False) -> str | None:
    """Run ``fn`` on one case in this process; None if right, else the message.

    Unless ``integration``, the other graded functions ``fn`` calls are their references during
    the call (``follow.References``), so only ``fn``'s own work is judged.
    """
    __tracebackhide__ = True
    inputs = case_inputs(ex, case)
    given = copy.deepcopy(inputs)
    expect_error = case.get("expect")
    lent = References(fn, ex, integration)
    if expect_error:
        if expect_error != "ValueError":
            raise ValueError(f"unsupported expectation {expect_error!r}")
        try:
            with lent:
                got = fn(*given.values())
        except ValueError:
            return None
        except Exception as err:
            _raised_by(err, ex, case, inputs, lent.called)
            raise
        return messages.should_raise(ex.name, describe_case(ex, case, inputs), got)
    expected = _expected_for_case(ex, case, inputs)
    try:
        with lent:
            got = fn(*given.values())
    except Exception as err:
        _raised_by(err, ex, case, inputs, lent.called)
        raise
    changed = modified_inputs(inputs, given)
    if changed:
        return messages.modified_inputs(ex.name, changed, describe_case(ex, case, inputs))
    return judge(ex, case, inputs, expected, got, tuple(lent.called), integration)


def _raised_by(err: Exception, ex: registry.Exercise, case: dict, inputs: dict, called) -> None:
    """Note the case (and the stand-ins) on the learner's exception; show it without our frames."""
    err.add_note(messages.raised_by(ex.name, describe_case(ex, case, inputs)))
    if called:
        err.add_note(messages.checked_with(ex.name, called).strip())
    hide_check_frames(err)


def check(fn: Callable, name: str, cases: list[dict], integration: bool = False) -> None:
    """Check the learner's ``fn`` against exercise ``name`` on every case; raise on the first wrong one.

    ``integration=True`` runs the learner's own functions together (no follow-through stand-ins).
    """
    __tracebackhide__ = True     # pytest leaves this frame out; for IPython see checks.tracebacks
    ex = registry.get(name)
    if not callable(fn):
        raise message_first(AssertionError(messages.not_a_function(name, type(fn).__name__)))
    cases = _this_students_cases(ex, cases, sys._getframe(1))
    failures = []
    for case in cases:
        message = run_case(ex, fn, case, integration)
        if message:
            failures.append(message)
    if failures:
        raise message_first(AssertionError(failures[0] + messages.cases_failed(len(failures), len(cases))))
    print(messages.cases_passed(name, len(cases)), end="")


def _this_students_cases(ex: registry.Exercise, cases: list[dict], caller) -> list[dict]:
    """Under stock `nbgrader autograde` with a variant secret configured, a hidden check runs
    the graded student's variants of its cases (``checks.variants``); otherwise the cases as declared."""
    path = variants.autograde_secret_file()
    if path is None or not variants.declared_hidden(caller):
        return cases
    try:
        mine = variants.in_autograde_kernel(path)
    except variants.VariantError as e:
        raise message_first(AssertionError(messages.variant_secret_unusable(e))) from None
    return [mine.case(ex, c) for c in cases]
