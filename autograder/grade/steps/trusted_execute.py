"""TrustedExecute: nbgrader's ``Execute`` step, with verdicts the learner's code cannot touch."""
from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Any


class TrustedExecute(NbGraderPreprocessor):
    """Replaces nbgrader's ``Execute``: writes each test cell's outputs from the trusted verdicts
    of the session (learner code already ran in the sandbox; test cells never run anywhere).
    nbgrader's later steps (IgnorePattern, SaveAutoGrades, ...) score those outputs as usual."""

    session = Any(help="the GradingSession whose outcomes this step writes")

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        outcome = self.session.outcome(info["student"], info["notebook"])
        resources["autograder_outcome"] = outcome       # for BatchedSaveAutoGrades: the verdicts table
        done = set()
        count = 0
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            count += 1
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in outcome.tests and gid not in done and cell.metadata["nbgrader"].get("grade"):
                cell.outputs = outcome.tests[gid].outputs
                done.add(gid)
            else:
                cell.outputs = outputs_for(outcome, cell, index)
            cell.execution_count = count
        return nb, resources


def outputs_for(outcome, cell, index: int) -> list:
    """A code cell's outputs from the sandbox's run, found by position and id (as ``plan.cell_key``
    named it), or by id alone when cells moved."""
    key = f"{index}:{cell.get('id', '')}"
    if key in outcome.cell_outputs:
        return outcome.cell_outputs[key]
    cid = cell.get("id")
    if cid:
        for k, v in outcome.cell_outputs.items():
            if k.split(":", 1)[1] == cid:
                return v
    return []
