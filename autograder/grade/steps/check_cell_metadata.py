"""FastCheckCellMetadata: nbgrader's ``CheckCellMetadata`` with its JSON schema compiled once."""
from __future__ import annotations

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
