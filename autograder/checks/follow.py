"""Follow-through marking in the learner's kernel: while a graded function is checked, the other
graded functions of its assignment are the course's references.

So a mistake is charged once, to the function that makes it: ``attend`` is judged on its own work
even when the learner's ``masked_softmax`` is wrong. ``check`` rebinds those names in the checked
function's globals (the notebook's namespace) for the duration of each call and restores them
afterwards, also when the call raises. The stand-ins are found by name, not through the registry's
``builds_on``, so a solution that calls another graded function the registry does not expect is
judged fairly too; only the functions built on the checked one are never lent (``lendable``). A
stand-in answers only while the call it was made for runs: learner code that keeps one and calls
it later gets a RuntimeError. An integration check (``integration=True``) replaces nothing: it
runs the learner's own functions together.

This is the in-kernel half; ``autograder grade`` never holds reference code in its sandbox and
answers stand-ins from its trusted parent instead (``grade.stubs``).
"""
from __future__ import annotations

import copy
import inspect
import types
from typing import Any, Callable

import numpy as np

from ..exercises import registry
from .messages import reference_rejected, stashed_reference

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def first_float_dtype(value: Any) -> np.dtype | None:
    """The dtype of the first floating ndarray in ``value`` (arguments in order, containers walked)."""
    if isinstance(value, np.ndarray):
        return value.dtype if value.dtype.kind == "f" else None
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    for item in items:
        found = first_float_dtype(item)
        if found is not None:
            return found
    return None


def cast_floats(value: Any, dtype) -> Any:
    """``value`` with every floating ndarray in it cast to ``dtype`` (containers rebuilt)."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value.astype(dtype)
    if isinstance(value, dict):
        return {k: cast_floats(v, dtype) for k, v in value.items()}
    if isinstance(value, list):
        return [cast_floats(v, dtype) for v in value]
    if isinstance(value, tuple):
        return tuple(cast_floats(v, dtype) for v in value)
    return value


def lendable(ex: registry.Exercise) -> list[registry.Exercise]:
    """The graded functions whose references may stand in while ``ex`` is checked: every other one
    of its assignment except those built on ``ex`` (through ``builds_on``, transitively), whose
    reference would compute ``ex``'s own answer (``attend`` with identity values returns the masked
    softmax). ``autograder grade`` also leaves out those whose checks come later in the notebook
    (``grade.plan``), so that a reference never answers before its own function's checks are over.
    """
    def builds_on(name: str, seen: set) -> bool:
        for callee in registry.get(name).builds_on:
            if callee == ex.name or (callee not in seen and builds_on(callee, seen | {callee})):
                return True
        return False
    return [other for other in registry.all_exercises(ex.assignment)
            if other.name != ex.name and not builds_on(other.name, {other.name})]


def _signature(original: Callable, ex: registry.Exercise) -> inspect.Signature | None:
    """The learner's own signature, if it is a plain function whose parameters line up one to one
    with the contract's (the sandbox's stubs follow the same rule: ``learner_runner._positional_signature``)."""
    if type(original) is not types.FunctionType:
        return None
    code = original.__code__          # its own parameters, not a __signature__ or __wrapped__ it claims
    if code.co_argcount != len(ex.args) or code.co_kwonlyargcount or code.co_flags & (inspect.CO_VARARGS
                                                                                       | inspect.CO_VARKEYWORDS):
        return None
    try:
        sig = inspect.signature(original)
    except (TypeError, ValueError):
        return None
    params = list(sig.parameters.values())
    if len(params) != len(ex.args) or any(p.kind not in _POSITIONAL for p in params):
        return None
    return sig


class References:
    """The stand-ins lent to one call of a checked function, as a context manager.

    Within ``with References(fn, ex):`` every other graded function of ``ex``'s assignment that
    ``fn``'s globals hold is a stand-in for its reference; afterwards the learner's own functions
    are back (also when the call raised). ``called`` lists the references the call used.
    """

    def __init__(self, fn: Callable, ex: registry.Exercise, integration: bool = False):
        self.checked = ex.name
        self.open = False
        self.called: list[str] = []
        self._namespace = getattr(fn, "__globals__", None)
        self._originals: dict[str, tuple[Callable, inspect.Signature]] = {}
        if integration or not isinstance(self._namespace, dict):
            return
        for other in lendable(ex):
            original = self._namespace.get(other.name)
            if original is fn or not callable(original):
                continue
            sig = _signature(original, other)
            if sig is not None:
                self._originals[other.name] = (original, sig)

    def __enter__(self) -> "References":
        for name, (_, sig) in self._originals.items():
            self._namespace[name] = self._stand_in(registry.get(name), sig)
        self.open = True
        return self

    def __exit__(self, *exc) -> None:
        self.open = False
        for name, (original, _) in self._originals.items():
            self._namespace[name] = original

    def _stand_in(self, ex: registry.Exercise, sig: inspect.Signature) -> Callable:
        """A function with the learner's signature that returns ``ex``'s reference in the inputs' dtype."""
        lent = self

        def reference_stand_in(*args, **kwargs):
            __tracebackhide__ = True
            if not lent.open:
                raise RuntimeError(stashed_reference(ex.name, lent.checked))
            bound = sig.bind(*args, **kwargs)         # a call that would not fit the learner's own raises TypeError
            bound.apply_defaults()
            values = dict(zip(ex.args, bound.arguments.values()))
            if ex.name not in lent.called:
                lent.called.append(ex.name)
            dtype = first_float_dtype(values)
            try:
                out = ex.reference(**cast_floats(copy.deepcopy(values), np.float64))
            except Exception as err:      # the contract: invalid arguments raise ValueError
                raise ValueError(reference_rejected(ex.name, lent.checked, err)) from None
            return cast_floats(out, dtype) if dtype is not None else out

        reference_stand_in.__name__ = reference_stand_in.__qualname__ = ex.name
        reference_stand_in.__signature__ = sig
        return reference_stand_in
