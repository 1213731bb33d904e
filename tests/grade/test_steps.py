"""The nbgrader steps of `autograder grade`, each on its own, as nbgrader's preprocessors are tested."""
from __future__ import annotations

import copy

import nbformat
import pytest
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.converters import Autograde
from nbgrader.preprocessors import (CheckCellMetadata, Execute, IgnorePattern, LimitOutput,
                                    OverwriteCells, SaveAutoGrades)

from autograder.course import ROOT, notebooks
from autograder.grade import steps
from autograder.grade.judge import CellVerdict, NotebookOutcome
from autograder.grade.steps.check_cell_metadata import FastCheckCellMetadata
from autograder.grade.steps.late_penalties import OnTimeAssignLatePenalties
from autograder.grade.steps.overwrite_cells import FixedOverwriteCells
from autograder.grade.steps.save_grades import BatchedSaveAutoGrades
from autograder.grade.steps.trusted_execute import TrustedExecute


def _release():
    return nbformat.read(next(iter(notebooks(ROOT / "release" / "ps1_rnn_forward"))), as_version=4)


class Outcomes:
    """The one method of a GradingSession that TrustedExecute uses: the judged outcome."""

    def __init__(self, outcome):
        self.asked, self.given = [], outcome

    def outcome(self, student, notebook):
        self.asked.append((student, notebook))
        return self.given


def test_compose_maps_nbgraders_own_lists():
    default = Autograde.class_traits()["autograde_preprocessors"].default()
    assert steps.compose(default, autograde=True) == [TrustedExecute, IgnorePattern, ClearMetadataPreprocessor,
                                                      LimitOutput, BatchedSaveAutoGrades, OnTimeAssignLatePenalties,
                                                      FastCheckCellMetadata]
    sanitize = Autograde.class_traits()["sanitize_preprocessors"].default()
    assert FixedOverwriteCells in steps.compose(sanitize, autograde=False)
    assert TrustedExecute not in steps.compose(sanitize, autograde=False)

    class CourseExecute(Execute):
        pass
    assert steps.compose([CourseExecute, "nbgrader.preprocessors.OverwriteCells"], autograde=True) == \
        [TrustedExecute, FixedOverwriteCells]
    assert steps.compose([IgnorePattern], autograde=True) == [TrustedExecute, IgnorePattern]
    for theirs, ours in steps.STEPS.items():
        assert issubclass(ours, theirs) or theirs is Execute


def test_construct_gives_the_session_to_the_steps_that_need_it():
    session = object()
    assert steps.construct(TrustedExecute, None, session).session is session
    assert steps.construct(FixedOverwriteCells, None, session).session is session
    assert steps.construct(OnTimeAssignLatePenalties, None, session).session is session
    assert isinstance(steps.construct(IgnorePattern, None, session), IgnorePattern)


def test_trusted_execute_writes_the_verdicts_and_the_runs_outputs():
    nb = _release()
    test_ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
                and not c.metadata["nbgrader"].get("solution")]
    passed = [nbformat.v4.new_output("stream", name="stdout", text="rnn_step_forward: 3 cases passed\n")]
    outcome = NotebookOutcome("ps1_rnn_forward", tests={gid: CellVerdict(gid, 10.0, True, passed) for gid in test_ids})
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    printed = [nbformat.v4.new_output("stream", name="stdout", text="hello\n")]
    outcome.cell_outputs[f"{first_code}:{nb.cells[first_code].get('id', '')}"] = printed
    session = Outcomes(outcome)
    step = TrustedExecute(session=session)
    out, _ = step.preprocess(copy.deepcopy(nb), {"nbgrader": {"student": "s", "notebook": "ps1_rnn_forward"}})
    assert session.asked == [("s", "ps1_rnn_forward")]
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in out.cells}
    assert all(by_id[gid].outputs == passed for gid in test_ids)
    assert out.cells[first_code].outputs == printed
    counts = [c.execution_count for c in out.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1))


def test_fast_check_cell_metadata_agrees_with_nbgrader():
    nb = _release()
    assert FastCheckCellMetadata().preprocess(copy.deepcopy(nb), {})[0] == nb
    broken = copy.deepcopy(nb)
    cell = next(c for c in broken.cells if c.metadata.get("nbgrader", {}).get("grade"))
    cell.metadata["nbgrader"]["points"] = "lots"
    with pytest.raises(Exception) as theirs:
        CheckCellMetadata().preprocess(copy.deepcopy(broken), {})
    with pytest.raises(Exception) as ours:
        FastCheckCellMetadata().preprocess(copy.deepcopy(broken), {})
    assert type(ours.value) is type(theirs.value) and str(ours.value) == str(theirs.value)


def test_fixed_overwrite_cells_is_nbgraders_step():
    assert issubclass(FixedOverwriteCells, OverwriteCells)
    assert issubclass(BatchedSaveAutoGrades, SaveAutoGrades)
    assert FixedOverwriteCells().session is None          # outside a session: nbgrader's own preprocess
