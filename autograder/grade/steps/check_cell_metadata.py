"""FastCheckCellMetadata: nbgrader's ``CheckCellMetadata`` with its JSON schema compiled once;
``cell_problem``: the same schema, as a reason for one cell instead of an exception for the
notebook (the intake's validation before planning).

Both remember their answer for each cell's metadata (``_Memo``): a batch's notebooks carry the
same few metadata values over and over (the assignment's own), so each value is checked once.
"""
from __future__ import annotations

import math

import jsonschema
from nbgrader.nbgraderformat import MetadataValidator

from nbgrader.preprocessors import CheckCellMetadata

VERSION = MetadataValidator.schema_version
_COMPILED: dict = {}      # schema version -> compiled validator, shared by every notebook


class _NotPlain(Exception):
    pass


def _frozen(value, depth: int = 0):
    """A hashable twin of a small, plain JSON value: exact types (True is not 1, 1 is not 1.0),
    mappings in their own key order (which can decide the error jsonschema reports); raises
    ``_NotPlain`` for anything else (a large or deep value, another type), never memoised."""
    t = type(value)
    if t is str and len(value) <= 512:
        return value
    if t is float:
        return (t, repr(value))              # -0.0 is not 0.0 in a message
    if value is None or t is bool or t is int:
        return (t, value)
    if depth > 4 or not isinstance(value, (dict, list)) or len(value) > 32:
        raise _NotPlain
    if t is list:
        return (list, tuple(_frozen(v, depth + 1) for v in value))
    if isinstance(value, dict) and all(type(k) is str and len(k) <= 512 for k in value):
        return (dict, tuple((k, _frozen(v, depth + 1)) for k, v in value.items()))
    raise _NotPlain


class _Memo:
    """Answers by metadata value, bounded (learner-chosen values: when full, it stops growing)."""
    SIZE = 4096

    def __init__(self):
        self.answers: dict = {}

    def key(self, meta):
        try:
            return _frozen(meta)
        except _NotPlain:
            return None

    def remember(self, key, answer) -> None:
        if key is not None and len(self.answers) < self.SIZE:
            self.answers[key] = answer


_PASSED = _Memo()        # metadata values of this version that nbgrader's schema accepts
_PROBLEMS = _Memo()      # metadata value -> cell_problem's answer


class FastCheckCellMetadata(CheckCellMetadata):
    """nbgrader's CheckCellMetadata with the JSON schema compiled once, not once per cell, and each
    metadata value of this schema version checked once per batch. On any problem it hands over
    to nbgrader's own step, for nbgrader's own message and exception."""

    def preprocess(self, nb, resources):
        validator = None
        try:
            for cell in nb.cells:
                if "nbgrader" not in cell.metadata:
                    continue
                meta = cell.metadata["nbgrader"]
                if meta.get("schema_version", 0) != VERSION:
                    validator = validator or MetadataValidator()
                    validator.validate_cell(cell)       # raises nbgrader's schema errors
                    key = None                          # (and its checks read the cell: never memoised)
                else:
                    key = _PASSED.key(meta)
                    if key is not None and key in _PASSED.answers:
                        continue
                error = jsonschema.exceptions.best_match(_compiled(VERSION).iter_errors(meta))
                if error is not None:
                    raise error
                _PASSED.remember(key, True)
        except jsonschema.ValidationError:
            return super().preprocess(nb, resources)
        return nb, resources


def _compiled(version: int):
    if version not in _COMPILED:
        schema = MetadataValidator().schema
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        _COMPILED[version] = cls(schema)
    return _COMPILED[version]


def cell_problem(cell) -> str | None:
    """Why a cell's nbgrader metadata breaks nbgrader's schema (this version's types, keys and
    version, plus what nbgrader itself fails on: finite points, a grade_id where one is needed),
    or None. Used by the intake before planning, so that one bad cell is that cell's problem."""
    meta = cell.get("metadata", {}).get("nbgrader") if isinstance(cell.get("metadata"), dict) else None
    if meta is None:
        return None
    if not isinstance(meta, dict):
        return f"a {type(meta).__name__}, not a mapping"
    key = _PROBLEMS.key(meta)
    if key is not None and key in _PROBLEMS.answers:
        return _PROBLEMS.answers[key]
    problem = _metadata_problem(meta)
    _PROBLEMS.remember(key, problem)
    return problem


def _metadata_problem(meta: dict) -> str | None:
    version = meta.get("schema_version")
    if type(version) is not int or version != VERSION:
        return f"schema version {repr(version)[:20]}, this grader reads version {VERSION}"
    error = jsonschema.exceptions.best_match(_compiled(VERSION).iter_errors(meta))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path)
        return (f"{where}: " if where else "") + error.message[:120]
    points = meta.get("points")
    if points is not None and not math.isfinite(points):
        return "points is not a finite number"
    if (meta.get("grade") or meta.get("solution") or meta.get("locked")) and not meta.get("grade_id"):
        return "no grade_id"
    if meta.get("grade") and "points" not in meta:
        return "a graded cell without points"
    return None
