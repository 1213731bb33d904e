"""A feedback step for nbgrader: remove the hidden tests from what learners see.

nbgrader's feedback shows test cells as they ran, hidden tests included (jupyter/nbgrader#917),
both in the cell's source and in the source lines IPython prints inside a traceback. This step
removes the hidden region from the source (nbgrader's ClearHiddenTests) and the hidden lines
from every traceback, keeping the error message itself: what differs, where, the likely mistake.
"""
from __future__ import annotations

import re

from nbgrader.preprocessors import ClearHiddenTests, GetGrades
from traitlets import List

from ..checks.declarations import hidden_lines

ANSI = re.compile(r"\x1b\[[0-9;]*m")
LINE_PREFIX = re.compile(r"^\s*(?:-+>\s*)?\d*\s?")     # IPython's "----> 3 " and "      2 " gutters


def _hidden_region(source: str) -> set[str]:
    """The hidden lines' text, stripped (a traceback shows them with other indentation)."""
    lines = source.splitlines()
    return {lines[i - 1].strip() for i in hidden_lines(source, strict=False) if lines[i - 1].strip()}


def scrub_traceback(traceback: list[str], hidden: set[str]) -> list[str]:
    kept = []
    for entry in traceback:
        lines = [l for l in entry.split("\n")
                 if not (lambda plain: "HIDDEN TESTS" in plain or LINE_PREFIX.sub("", plain, count=1).strip() in hidden)(
                     ANSI.sub("", l))]
        if lines:
            kept.append("\n".join(lines))
    return kept


class HideHiddenTests(ClearHiddenTests):
    """ClearHiddenTests for feedback: also scrubs the hidden lines out of tracebacks."""

    # nbconvert's HTMLExporter configures ``NbConvertBase.display_data_priority``, a base class of
    # every preprocessor; nbgrader's preprocessors redeclare that trait without ``config=True``, so
    # traitlets warns "Config option `display_data_priority` not recognized" for any of them run by
    # generate_feedback (GetGrades alone declares it configurable). Declare it the way GetGrades does.
    display_data_priority = List(GetGrades.class_traits()["display_data_priority"].default()).tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "code":
            hidden = _hidden_region(cell.source)
            if hidden:
                for output in cell.get("outputs", []):
                    if output.get("output_type") == "error":
                        output["traceback"] = scrub_traceback(output.get("traceback", []), hidden)
        return super().preprocess_cell(cell, resources, cell_index)
