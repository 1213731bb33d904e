"""FastCheckCellMetadata: nbgrader's ``CheckCellMetadata`` with its JSON schema compiled once;
``cell_problem``: the same schema, as a reason for one cell instead of an exception for the
notebook (the intake's validation before planning)."""
from __future__ import annotations

import math

import jsonschema
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.preprocessors import CheckCellMetadata

_COMPILED: dict = {}      # schema version -> compiled validator, shared by every notebook


class FastCheckCellMetadata(CheckCellMetadata):
    """nbgrader's CheckCellMetadata with the JSON schema compiled once, not once per cell. On any
    problem it hands over to nbgrader's own step, for nbgrader's own message and exception."""

    def preprocess(self, nb, resources):
        validator = MetadataValidator()
        compiled = _compiled(validator)
        try:
            for cell in nb.cells:
                if "nbgrader" not in cell.metadata:
                    continue
                if cell.metadata["nbgrader"].get("schema_version", 0) != validator.schema_version:
                    validator.validate_cell(cell)       # raises nbgrader's schema errors
                error = jsonschema.exceptions.best_match(compiled.iter_errors(cell.metadata["nbgrader"]))
                if error is not None:
                    raise error
        except jsonschema.ValidationError:
            return super().preprocess(nb, resources)
        return nb, resources


def _compiled(validator: MetadataValidator):
    key = validator.schema_version
    if key not in _COMPILED:
        cls = jsonschema.validators.validator_for(validator.schema)
        cls.check_schema(validator.schema)
        _COMPILED[key] = cls(validator.schema)
    return _COMPILED[key]


def cell_problem(cell) -> str | None:
    """Why a cell's nbgrader metadata breaks nbgrader's schema (this version's types, keys and
    version, plus what nbgrader itself fails on: finite points, a grade_id where one is needed),
    or None. Used by the intake before planning, so that one bad cell is that cell's problem."""
    meta = cell.get("metadata", {}).get("nbgrader") if isinstance(cell.get("metadata"), dict) else None
    if meta is None:
        return None
    if not isinstance(meta, dict):
        return f"a {type(meta).__name__}, not a mapping"
    validator = MetadataValidator()
    version = meta.get("schema_version")
    if type(version) is not int or version != validator.schema_version:
        return f"schema version {repr(version)[:20]}, this grader reads version {validator.schema_version}"
    error = jsonschema.exceptions.best_match(_compiled(validator).iter_errors(meta))
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
