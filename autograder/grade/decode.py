"""Read back what the learner's functions returned, without trusting it.

Values arrive as plain descriptions (see ``sandbox/learner_runner.py``, ``encode``) plus exact
ndarrays opened with ``np.load(..., allow_pickle=False)``. Anything that is not plain data
becomes an inert placeholder named after the learner's class, so a message can name it.
"""
from __future__ import annotations

import hashlib

import numpy as np


class Unreadable(Exception):
    pass


_CLASSES: dict = {}
MAX_CLASSES = 2_000          # placeholder classes kept for a whole batch


def _placeholder(mod: str, name: str, ndarray: bool = False):
    """An inert instance of a class named like the learner's (for messages); no learner code."""
    mod, name = str(mod)[:200], str(name)[:200]
    key = (mod, name, ndarray)
    if key not in _CLASSES and len(_CLASSES) >= MAX_CLASSES:      # learner-chosen names: a bounded cache
        key = ("builtins", "object-of-an-unnamed-class", ndarray)
        mod, name = key[0], key[1]
    if key not in _CLASSES:
        bases = (np.ndarray,) if ndarray else ()
        cls = type(name.rsplit(".", 1)[-1] or "object", bases, {"__module__": mod, "__qualname__": name})
        _CLASSES[key] = cls
    cls = _CLASSES[key]
    return np.zeros(0).view(cls) if ndarray else cls()


_NP_SCALARS = {"b1": np.bool_, "i1": np.int8, "i2": np.int16, "i4": np.int32, "i8": np.int64, "u1": np.uint8,
               "u2": np.uint16, "u4": np.uint32, "u8": np.uint64, "f2": np.float16, "f4": np.float32,
               "f8": np.float64}


def decode(desc, arrays: dict, depth: int = 0):
    """Rebuild a returned value from its plain description (learner-written data: checked)."""
    if depth > 40 or not isinstance(desc, dict):
        raise Unreadable("malformed value")
    t = desc.get("t")
    if t == "nd":
        arr = arrays.get(desc.get("k"))
        if type(arr) is not np.ndarray:
            raise Unreadable("a returned array could not be read")
        return arr
    if t == "ndobj":
        shape = tuple(int(s) for s in desc.get("shape", ()))
        if any(s < 0 for s in shape) or int(np.prod(shape, dtype=np.float64)) > 1_000_000:
            return _placeholder("numpy", "ndarray-of-objects")
        return np.empty(shape, dtype=object)
    if t == "ndsub":
        return _placeholder(desc.get("mod", "?"), desc.get("name", "?"), ndarray=True)
    if t == "obj":
        return _placeholder(desc.get("mod", "?"), desc.get("name", "?"))
    if t == "none":
        return None
    if t == "bool":
        return bool(desc["v"]) if isinstance(desc.get("v"), bool) else _bad()
    if t == "int":
        v = desc.get("v")
        return int(v) if isinstance(v, int) and not isinstance(v, bool) else _bad()
    if t == "float":
        return float(str(desc.get("v"))[:64])
    if t == "np":
        kind = _NP_SCALARS.get(desc.get("dtype"))
        v = desc.get("v")
        if kind is None or not isinstance(v, (bool, int, float, str)):
            _bad()
        return kind(float(str(v)[:64]) if isinstance(v, str) else v)
    if t == "str":
        return str(desc.get("v"))
    if t in ("list", "tuple"):
        items = desc.get("items")
        if not isinstance(items, list):
            _bad()
        values = [decode(d, arrays, depth + 1) for d in items]
        return tuple(values) if t == "tuple" else values
    if t == "dict":
        items = desc.get("items")
        if not isinstance(items, list):
            _bad()
        out = {}
        for pair in items:
            if not isinstance(pair, list) or len(pair) != 2:
                _bad()
            key = decode(pair[0], arrays, depth + 1)
            try:
                hash(key)
            except TypeError:
                key = repr(key)
            out[key] = decode(pair[1], arrays, depth + 1)
        return out
    _bad()


def _bad():
    raise Unreadable("malformed value")


def fingerprint(descs: list, arrays: dict) -> str:
    """One fingerprint of several returned values (a call's result and its arguments after it),
    for reusing verdicts on identical outputs: their descriptions, then each one's arrays."""
    h = hashlib.sha1(repr(descs).encode("utf-8", "surrogatepass"))     # plain JSON data: repr is exact
    for desc in descs:
        h.update(b"|")
        for key in sorted(_array_keys(desc)):
            a = arrays.get(key)
            if isinstance(a, np.ndarray):
                h.update(f"{key}{a.dtype.str}{a.shape}".encode())
                h.update(_buffer(a))
    return h.hexdigest()


def _buffer(a: np.ndarray):
    """The array's bytes in C order, without a copy when its memory already is."""
    if a.flags.c_contiguous:
        try:
            return a.data
        except (ValueError, TypeError, BufferError):      # dtypes without a buffer format (datetime64)
            pass
    return np.ascontiguousarray(a).tobytes()


def _array_keys(desc) -> set:
    """The array keys a description refers to: every "nd" node's "k", at any depth."""
    found = set()
    if _walk_keys(desc, found, 0):
        return found
    found.clear()                       # deeper than the recursion allows: the same walk, iterative
    stack = [desc]
    while stack:
        d = stack.pop()
        if isinstance(d, dict):
            if d.get("t") == "nd":
                found.add(d.get("k"))
            stack.extend(d.values())
        elif isinstance(d, list):
            stack.extend(d)
    return found


def _walk_keys(d, found: set, depth: int) -> bool:
    """The walk of ``_array_keys``, recursive, visiting containers only and taking the encoder's
    leaves (an array, a scalar) without a call of their own; False past depth 40."""
    if depth > 40:
        return False
    if isinstance(d, dict):
        if d.get("t") == "nd":
            found.add(d.get("k"))
        children = d.values()
    elif isinstance(d, list):
        children = d
    else:
        return True
    for v in children:
        if type(v) is dict and len(v) == 2 and type(v.get("t")) is str:
            x = v["k"] if "k" in v else v["v"] if "v" in v else v    # {"t", "k"} or {"t", "v"}
            if type(x) in _LEAF:
                if v["t"] == "nd":
                    found.add(v.get("k"))
                continue
        if isinstance(v, (dict, list)) and not _walk_keys(v, found, depth + 1):
            return False
    return True


_LEAF = (str, int, float, bool, type(None))
