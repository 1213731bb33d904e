"""The steps ``autograder grade`` puts into nbgrader's Autograde converter, one class per file.

``compose`` maps nbgrader's own (configured) list of preprocessors onto ours: every step in
``STEPS`` is replaced by its drop-in, the others (ClearOutput, DeduplicateIds, IgnorePattern,
LimitOutput, AssignLatePenalties, ...) stay nbgrader's. The steps that need the grading session
get it as an instance attribute, when the converter constructs them.
"""
from __future__ import annotations

from nbgrader.preprocessors import AssignLatePenalties, CheckCellMetadata, Execute, OverwriteCells, OverwriteKernelspec, SaveAutoGrades
from traitlets.utils.importstring import import_item

from .check_cell_metadata import FastCheckCellMetadata
from .late_penalties import OnTimeAssignLatePenalties
from .overwrite_cells import FixedOverwriteCells
from .overwrite_kernelspec import CachedOverwriteKernelspec
from .save_grades import BatchedSaveAutoGrades
from .trusted_execute import TrustedExecute

# nbgrader's step -> ours; a subclass of Execute (a course's own executor) is replaced too
STEPS = {
    Execute: TrustedExecute,                     # verdicts from the trusted parent, not the kernel
    CheckCellMetadata: FastCheckCellMetadata,    # the schema compiled once
    OverwriteCells: FixedOverwriteCells,         # no KeyErrors; source cells read once
    SaveAutoGrades: BatchedSaveAutoGrades,       # one query and one commit per notebook
    OverwriteKernelspec: CachedOverwriteKernelspec,   # the source kernelspec read once per batch
    AssignLatePenalties: OnTimeAssignLatePenalties,   # skipped where it writes None over None
}
SESSION_STEPS = (TrustedExecute, FixedOverwriteCells, CachedOverwriteKernelspec, OnTimeAssignLatePenalties)


def ours(step) -> type:
    """Our drop-in for one entry of nbgrader's list (a class or its import string)."""
    step = import_item(step) if isinstance(step, str) else step
    if isinstance(step, type) and issubclass(step, Execute):
        return TrustedExecute
    return STEPS.get(step, step)


def compose(preprocessors: list, autograde: bool) -> list[type]:
    """nbgrader's list with our steps swapped in; the autograde list always has TrustedExecute."""
    steps = [ours(pp) for pp in preprocessors]
    if autograde and TrustedExecute not in steps:
        steps.insert(0, TrustedExecute)
    return steps


def construct(step: type, parent, session):
    """One step as nbconvert would construct it (``step(parent=exporter)``), plus the session."""
    if isinstance(step, type) and issubclass(step, SESSION_STEPS):
        return step(parent=parent, session=session)
    return step(parent=parent) if isinstance(step, type) else step
