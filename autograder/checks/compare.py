"""Compare a learner's output with the expected one, strictly, and say what differs.

``describe_difference`` returns ``None`` when the output is acceptable and otherwise one
paragraph a learner can act on. Nothing here is fooled by an honest accident: the type must
be exactly ``np.ndarray`` (no subclass, no list), shapes must be equal (no broadcasting),
the dtype must follow the inputs, NaN and inf only match NaN and inf, and values must pass
both a relative and an absolute tolerance.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float
    float_dtype: np.dtype      # the dtype floating outputs must have (that of the inputs)


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    return repr(v.item() if isinstance(v, np.generic) else v)


def _index(flat: int, shape: tuple) -> tuple:
    return tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()


def _kind(x: Any) -> str:
    t = type(x)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _compare_arrays(name: str, expected: np.ndarray, got: Any, tol: Tolerance, shape_doc: str) -> str | None:
    if type(got) is not np.ndarray:
        hint = ""
        if isinstance(got, np.ndarray):
            hint = " (a subclass of ndarray is not accepted: return np.asarray(...))"
        elif isinstance(got, (list, tuple)):
            hint = " (wrap it with np.array(...) or build it with numpy functions)"
        elif got is None:
            hint = " (did you forget a return statement?)"
        return f"`{name}` should be a numpy.ndarray, got {_kind(got)}{hint}."
    doc = f" {shape_doc}" if shape_doc else ""
    if got.shape != expected.shape:
        msg = f"`{name}` should have shape {expected.shape}{doc}, got {got.shape}."
        if got.ndim == expected.ndim and got.shape == expected.shape[::-1]:
            msg += " It looks transposed."
        elif got.size == expected.size:
            msg += " It has the right number of entries: check the order of axes."
        return msg
    want_dtype = expected.dtype if expected.dtype.kind in "iub" else tol.float_dtype
    if expected.dtype.kind == "b":
        want_dtype = np.dtype(bool)
    if got.dtype != want_dtype:
        why = "the dtype of the inputs" if expected.dtype.kind == "f" else "the contract's dtype"
        hint = ""
        if want_dtype == np.float32 and got.dtype == np.float64:
            hint = (" A float64 constant promotes float32 arrays: create helpers with dtype=x.dtype "
                    "(np.zeros(..., dtype=x.dtype), np.eye(H, dtype=W.dtype)).")
        return f"`{name}` should have dtype {want_dtype} ({why}), got {got.dtype}.{hint}"
    if expected.size == 0:
        return None
    if expected.dtype.kind in "iub":
        bad = got != expected
        if not bad.any():
            return None
        first = _index(int(np.flatnonzero(bad)[0]), expected.shape)
        return (f"`{name}` differs at {int(bad.sum())} of {expected.size} entries; first at index {first}: "
                f"expected {_fmt(expected[first])}, got {_fmt(got[first])}.")
    exp = expected.astype(np.float64)
    g = got.astype(np.float64)
    nan_exp, nan_got = np.isnan(exp), np.isnan(g)
    if (nan_got & ~nan_exp).any():
        i = _index(int(np.flatnonzero(nan_got & ~nan_exp)[0]), exp.shape)
        return (f"`{name}` contains NaN at {int((nan_got & ~nan_exp).sum())} entries; first at index {i}, "
                f"where {_fmt(exp[i])} is expected (an overflow, 0/0, or log of 0?).")
    inf_got = np.isinf(g) & ~(np.isinf(exp) & (np.sign(g) == np.sign(exp)))
    if inf_got.any():
        i = _index(int(np.flatnonzero(inf_got)[0]), exp.shape)
        return f"`{name}` contains {_fmt(g[i])} at index {i}, where {_fmt(exp[i])} is expected (an overflow?)."
    special = nan_exp | np.isinf(exp)
    if (special & ~(nan_got | np.isinf(g))).any():
        i = _index(int(np.flatnonzero(special & ~(nan_got | np.isinf(g)))[0]), exp.shape)
        return f"`{name}` should be {_fmt(exp[i])} at index {i}, got {_fmt(g[i])}."
    with np.errstate(invalid="ignore"):
        err = np.where(special, 0.0, np.abs(g - exp))
        allowed = tol.atol + tol.rtol * np.abs(np.where(special, 0.0, exp))
    bad = err > allowed
    if not bad.any():
        return None
    first = _index(int(np.flatnonzero(bad)[0]), exp.shape)
    worst = _index(int(np.argmax(err)), exp.shape)
    return (f"`{name}` has wrong values at {int(bad.sum())} of {exp.size} entries.\n"
            f"    first at index {first}: expected {_fmt(exp[first])}, got {_fmt(g[first])}\n"
            f"    largest error {err[worst]:.3g} at index {worst} "
            f"(allowed: |got - expected| <= {tol.atol:g} + {tol.rtol:g} * |expected|)")


def _compare_scalar(name: str, expected: float, got: Any, tol: Tolerance) -> str | None:
    if isinstance(got, np.ndarray) or isinstance(got, bool) or not isinstance(got, (float, np.floating, int, np.integer)):
        hint = " (use float(...) on a 0-d array)" if isinstance(got, np.ndarray) and got.ndim == 0 else ""
        return f"`{name}` should be a float, got {_kind(got)}{hint}."
    g, e = float(got), float(expected)
    if np.isnan(e) and np.isnan(g):
        return None
    if not (np.isfinite(g) and np.isfinite(e)):     # inf - inf is nan, and nothing is > inf
        return None if g == e else f"`{name}` should be {_fmt(e)}, got {_fmt(g)}."
    if abs(g - e) > tol.atol + tol.rtol * abs(e):
        return f"`{name}` should be {_fmt(e)}, got {_fmt(g)} (error {abs(g - e):.3g})."
    return None


def describe_difference(expected: Any, got: Any, tol: Tolerance, name: str = "output",
                        shapes: dict[str, str] | None = None) -> str | None:
    """Walk ``expected`` (arrays, floats, tuples, lists, dicts) and compare ``got`` with it."""
    shapes = shapes or {}
    if isinstance(expected, np.ndarray):
        return _compare_arrays(name, expected, got, tol, shapes.get(name, ""))
    if isinstance(expected, (float, np.floating)):
        return _compare_scalar(name, expected, got, tol)
    if isinstance(expected, (int, np.integer)):
        if type(got) not in (int,) and not isinstance(got, np.integer):
            return f"`{name}` should be an int, got {_kind(got)}."
        return None if int(got) == int(expected) else f"`{name}` should be {expected}, got {got}."
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"`{name}` should be a dict with keys {sorted(expected)}, got {_kind(got)}."
        missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected), key=str)
        if missing or extra:
            parts = ([f"missing {missing}"] if missing else []) + ([f"unexpected {extra}"] if extra else [])
            return f"`{name}` should have keys {sorted(expected)}: {', '.join(parts)}."
        for key in expected:
            sub = f"{name}[{key!r}]" if name != "output" else key
            problem = describe_difference(expected[key], got[key], tol, sub, shapes)
            if problem:
                return problem
        return None
    if isinstance(expected, (tuple, list)):
        want = "tuple" if isinstance(expected, tuple) else "list"
        if not isinstance(got, (tuple, list)):
            return f"`{name}` should be a {want} of {len(expected)} items, got {_kind(got)}."
        if len(got) != len(expected):
            return f"`{name}` should be a {want} of {len(expected)} items, got {len(got)}."
        for i, (e, g) in enumerate(zip(expected, got)):
            problem = describe_difference(e, g, tol, f"{name}[{i}]", shapes)
            if problem:
                return problem
        return None
    raise TypeError(f"cannot compare expected value of type {_kind(expected)}")
