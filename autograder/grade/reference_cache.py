"""The reference cache: an assignment's prepared cases on disk, so a repeat run needs no torch.

``TrustedAssignment.prepare`` builds every case's inputs and computes its PyTorch reference; that
and importing torch are most of a run's fixed cost. One ``.npz`` file per assignment keeps what
it computed: each case's inputs, reference and the reference's own time (the case's time
limit derives from it), the catalogued mistakes' outputs on it (to name a mistake without
running it), the follow-through answers the batch gave, and the data of every exercise of the
assignment (``registry.describe``), so that a warm run imports no exercise module and no torch.

An entry is used only when its key matches: the test cells' sources (the declarations), the
numpy and torch versions (torch's from its metadata, without importing it) and this format; and
when every source file it was computed with (the exercise modules, the registry, the check API)
still hashes the same. Anything else (a corrupt, truncated or foreign file, a changed module)
is ignored and rebuilt. The file is ``numpy.load``-ed with ``allow_pickle=False`` and its
description is JSON: nothing in it can run code.

Where: ``<course>/.autograder-cache/`` by default (``TrustedGrader.cache_dir``). The entries hold
the hidden cases' inputs and answers, so they belong where the hidden tests are, in the private
course directory (made 0700 here), not in a per-user cache shared by every course; and deleting
the course deletes them. A Dask worker can use its own directory, or get the entry's bytes from
the client (``entry_bytes`` / ``prepare_from_bytes``) and verify them the same way.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import os
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..checks import api
from ..exercises import registry
from .assignment import CaseRef, TrustedAssignment

FORMAT = 3              # 3: follow-through answers keyed by a sha256 of the request's bytes (grade/stubs.py)
DIRECTORY = ".autograder-cache"
ANSWER_BYTES = 64 << 20          # follow-through answers kept on disk, at most (learner-driven)
PACKAGE = Path(__file__).resolve().parent.parent
SHARED_SOURCES = ("exercises/registry.py", "exercises/inputs.py", "exercises/torch_ref.py",
                  "checks/api.py", "checks/follow.py", "checks/messages.py")


class Unusable(ValueError):
    """An entry that must not be used (and is rebuilt)."""


# ----------------------------------------------------------------------------- the key

def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def key_of(trusted: TrustedAssignment) -> str:
    """What the entry depends on besides the source files: the declarations and the versions."""
    cells = [[nb.name, [[c.grade_id, c.source] for c in nb.cells if c.is_test]]
             for nb in sorted(trusted.notebooks.values(), key=lambda n: n.name)]
    blob = json.dumps({"format": FORMAT, "assignment": trusted.name, "cells": cells, "numpy": np.__version__,
                       "torch": _version("torch"), "python": list(sys.version_info[:2])}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _source_hashes(files: list[str]) -> dict[str, str]:
    return {f: hashlib.sha256((PACKAGE / f).read_bytes()).hexdigest() for f in files}


def _exercise_files(exercises: list[registry.Exercise]) -> list[str]:
    files = set(SHARED_SOURCES)
    for ex in exercises:
        module = sys.modules.get(getattr(registry.real(ex.name).reference, "__module__", ""))
        path = Path(getattr(module, "__file__", "") or "").resolve()
        if PACKAGE not in path.parents:
            raise Unusable(f"exercise {ex.name} is not defined in the package")
        files.add(path.relative_to(PACKAGE).as_posix())
    return sorted(files)


# ----------------------------------------------------------------------------- values <-> JSON + arrays

def _encode(value, arrays: dict):
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise Unusable("an object array cannot be stored without pickle")
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {"nd": key}
    if isinstance(value, np.generic):               # a numpy scalar stays one (its type may matter)
        key = f"a{len(arrays)}"
        arrays[key] = np.asarray(value)
        return {"np": key}
    if value is None or isinstance(value, (bool, int, str)):
        return {"v": value}
    if isinstance(value, float):
        return {"f": repr(value)}
    if isinstance(value, (list, tuple)):
        return {"tuple" if isinstance(value, tuple) else "list": [_encode(v, arrays) for v in value]}
    if isinstance(value, dict):
        return {"dict": [[_encode(k, arrays), _encode(v, arrays)] for k, v in value.items()]}
    raise Unusable(f"a value of type {type(value).__name__} cannot be stored")


def _decode(desc, arrays):
    if not isinstance(desc, dict) or len(desc) != 1:
        raise Unusable("malformed value")
    (kind, v), = desc.items()
    if kind == "nd":
        return np.array(arrays[v])
    if kind == "np":
        return np.array(arrays[v])[()]
    if kind == "v" and (v is None or isinstance(v, (bool, int, str))):
        return v
    if kind == "f":
        return float(v)
    if kind in ("list", "tuple") and isinstance(v, list):
        items = [_decode(d, arrays) for d in v]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict" and isinstance(v, list):
        return {_decode(k, arrays): _decode(x, arrays) for k, x in v}
    raise Unusable(f"unknown value kind {kind!r}")


# ----------------------------------------------------------------------------- writing

def entry_bytes(trusted: TrustedAssignment) -> bytes:
    """The assignment's prepared cases (and the answers so far) as one ``.npz`` file's bytes."""
    refs = trusted.case_refs()
    for ref in refs:                        # computed once, when the entry is first written
        if ref.mistakes is None:
            ref.mistakes = api.mistake_outputs(ref.exercise, ref.inputs) if ref.expected is not None else []
    arrays: dict = {}
    assignments = sorted({ref.exercise.assignment for ref in refs})
    exercises = [e for a in assignments for e in registry.all_exercises(a)]
    cases = {ref.key: {"exercise": ref.exercise.name, "case": ref.case, "seconds": ref.seconds,
                       "inputs": _encode(ref.inputs, arrays), "expected": _encode(ref.expected, arrays),
                       "mistakes": [None if m is api.NO_OUTPUT else _encode(m, arrays) for m in ref.mistakes]}
             for ref in refs}
    answers, size = [], 0
    for (name, digest), (described, data, error) in list(trusted.answers.items()):
        size += len(data)
        if size > ANSWER_BYTES:
            break
        key = f"b{len(answers)}"
        arrays[key] = np.frombuffer(data, dtype=np.uint8) if data else np.zeros(0, np.uint8)
        answers.append([name, digest, described, key, error])
    files = sorted(set(_exercise_files(exercises)))
    meta = {"format": FORMAT, "key": key_of(trusted), "sources": _source_hashes(files),
            "exercises": [registry.describe(e) for e in exercises], "cases": cases, "answers": answers}
    meta["arrays"], blob = _pack(arrays)
    buf = io.BytesIO()
    np.savez(buf, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), blob=blob)
    return buf.getvalue()


def _pack(arrays: dict) -> tuple[dict, np.ndarray]:
    """Every array in one byte buffer (one npz member to read, not thousands) and its index."""
    index, parts, size = {}, [], 0
    for key, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        if arr.dtype.kind not in "biufc":
            raise Unusable(f"arrays of dtype {arr.dtype} are not stored")
        index[key] = [size, arr.dtype.str, list(arr.shape)]
        parts.append(arr.tobytes())
        size += arr.nbytes
    return index, np.frombuffer(b"".join(parts), dtype=np.uint8)


def _unpack(index: dict, blob: np.ndarray) -> dict:
    arrays = {}
    for key, (offset, dtype, shape) in index.items():
        dtype = np.dtype(dtype)
        if dtype.kind not in "biufc":
            raise Unusable(f"dtype {dtype}")
        count = int(np.prod(shape, dtype=np.int64))
        arrays[key] = np.frombuffer(blob, dtype=dtype, count=count, offset=int(offset)).reshape(shape)
    return arrays


def write(trusted: TrustedAssignment, directory: Path) -> Path:
    """Write (or replace) the assignment's entry atomically; other entries of it are removed."""
    directory = Path(directory)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = entry_bytes(trusted)
    path = entry_path(trusted, directory)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".npz")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    for old in directory.glob(f"{trusted.name}-*.npz"):     # this assignment's stale entries only
        if old != path and re.fullmatch(re.escape(trusted.name) + r"-[0-9a-f]{16}\.npz", old.name):
            old.unlink(missing_ok=True)
    trusted.cached_answers = len(trusted.answers)
    return path


def entry_path(trusted: TrustedAssignment, directory: Path) -> Path:
    return Path(directory) / f"{trusted.name}-{key_of(trusted)[:16]}.npz"


# ----------------------------------------------------------------------------- reading

def read_entry(trusted: TrustedAssignment, data) -> dict:
    """The entry's case refs (key -> CaseRef) after checking its format, key and sources; the
    exercises' stand-ins are registered and the follow-through answers put in ``trusted.answers``.
    Raises ``Unusable`` (or whatever a broken file raises) when it must not be used."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        if sorted(npz.files) != ["blob", "meta"]:
            raise Unusable("not an entry of this cache")
        meta = json.loads(npz["meta"].tobytes().decode())
        blob = npz["blob"]
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise Unusable("another format")
    if meta.get("key") != key_of(trusted):
        raise Unusable("made for other test cells or other versions")
    sources = meta.get("sources")
    if not isinstance(sources, dict) or not set(SHARED_SOURCES) <= set(sources):
        raise Unusable("no list of sources")
    if _source_hashes(sorted(sources)) != sources:
        raise Unusable("an exercise module or the check API changed")
    arrays = _unpack(meta["arrays"], blob)
    registry.provide(meta["exercises"])
    known = {}
    for key, c in meta["cases"].items():
        ex = registry.get(c["exercise"])
        mistakes = [api.NO_OUTPUT if m is None else _decode(m, arrays) for m in c["mistakes"]]
        known[key] = CaseRef(key, ex, c["case"], _decode(c["inputs"], arrays), _decode(c["expected"], arrays),
                             float(c["seconds"]), mistakes if len(mistakes) == len(ex.mistakes) else None)
    for name, digest, described, key, error in meta["answers"]:
        trusted.answers[(name, digest)] = (described, arrays[key].tobytes(), error)
    trusted.cached_answers = len(trusted.answers)
    return known


def prepare(trusted: TrustedAssignment, directory: Path | None) -> str:
    """``trusted.prepare()`` from the cache when it holds a usable entry, else computed and
    written; returns what happened, for the report ("hit", "written", "off", or why not)."""
    if directory is None:
        trusted.prepare()
        return "off"
    path = entry_path(trusted, directory)
    why = "no entry"
    if path.exists():
        try:
            known = read_entry(trusted, path.read_bytes())
            trusted.prepare(known)
            if all(ref.key in known for ref in trusted.case_refs()):
                return "hit"
            why = "incomplete entry"
        except Exception as e:        # corrupt, truncated, foreign: never trusted, rebuilt
            why = f"unusable entry ({type(e).__name__}: {e})"
            trusted.answers.clear()
    trusted.prepare()
    if any(t.problem for nb in trusted.notebooks.values() for t in nb.tests.values()):
        return f"{why}; not written (a test cell cannot be prepared)"
    try:
        write(trusted, directory)
    except (Unusable, OSError) as e:
        return f"{why}; not written ({e})"
    return f"{why}; written"


def prepare_from_bytes(trusted: TrustedAssignment, data: bytes) -> None:
    """For a worker given the client's entry (``entry_bytes``): checked as a file would be."""
    trusted.prepare(read_entry(trusted, data))


def save_answers(trusted: TrustedAssignment, directory: Path | None) -> bool:
    """Rewrite the entry when the batch computed follow-through answers it did not hold."""
    if directory is None or len(trusted.answers) <= trusted.cached_answers:
        return False
    try:
        write(trusted, directory)
    except (Unusable, OSError):
        return False
    return True
