"""The grader's own copy of an assignment: its test cells, their case inputs and references.

Read from the gradebook's source cells (what nbgrader itself restores into submissions) or, for
one notebook without a gradebook, from ``source/``; never from a submission. ``prepare`` parses
every test cell's declarations, builds each case's inputs and computes its float64 PyTorch
reference once per assignment, for every student.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import math
import time

import nbformat
import numpy as np

from ..checks import api
from ..checks.cells import is_test_cell, nbgrader_meta
from ..checks.declarations import Declaration, DeclarationError, parse
from ..checks.variants import Variants
from ..exercises import registry


@dataclass
class TrustedCell:
    grade_id: str
    cell_type: str
    locked: bool
    source: str
    points: float | None = None     # graded cells only
    solution: bool = False

    @property
    def is_test(self) -> bool:
        return is_test_cell(self.cell_type, self.points is not None, self.solution)


@dataclass
class CaseRef:
    key: str                        # the inputs' name in the sandbox
    exercise: registry.Exercise
    case: dict
    inputs: dict                    # exactly what the learner's function receives
    expected: Any = None            # float64 PyTorch reference (None for "expect" cases)
    seconds: float = 0.0            # the reference's own time on this case (the case's time limit)
    mistakes: list | None = None    # the catalogued mistakes' outputs (api.mistake_outputs), when known
    limit: float | None = None      # seconds the learner's call may take (set_case_limits)


@dataclass
class TestCell:
    grade_id: str
    points: float
    declarations: list[Declaration] = field(default_factory=list)
    cases: list[list[CaseRef]] = field(default_factory=list)
    problem: str | None = None      # why this cell cannot be graded here


@dataclass
class TrustedNotebook:
    name: str
    cells: list[TrustedCell]        # nbgrader's source cells, in the gradebook's order
    tests: dict[str, TestCell] = field(default_factory=dict)

    @property
    def by_id(self) -> dict[str, TrustedCell]:
        return {c.grade_id: c for c in self.cells}


class TrustedAssignment:
    """An assignment's test cells, case inputs and references, read from a trusted copy."""

    def __init__(self, name: str, notebooks: list[TrustedNotebook], origin: str):
        self.name, self.origin = name, origin
        self.db_url = self.course_id = None       # set when read from a gradebook
        self.notebooks = {nb.name: nb for nb in notebooks}
        self.memo: dict = {}          # (case, output digests) -> verdict, shared by every student
        self.answers: dict = {}       # (function, argument digest) -> follow-through answer (grade.stubs)
        self.variant_secret: bytes | None = None    # set: every student gets their own hidden cases
        self._students: dict[str, TrustedAssignment] = {}
        self.cache_status = "off"    # what the reference cache did (grade.reference_cache.prepare)
        self.cached_answers = 0       # how many of them the reference cache holds (grade.reference_cache)

    # -- loading
    @classmethod
    def from_gradebook(cls, db_url: str, course_id: str, assignment: str) -> "TrustedAssignment":
        """The cells nbgrader itself restores into submissions (written by generate_assignment),
        read in four queries (the assignment, its notebooks, their source cells, their graded and
        solution cells)."""
        from nbgrader.api import Assignment, BaseCell, Notebook
        from sqlalchemy import select
        from sqlalchemy.orm import selectinload, with_polymorphic
        from .gradebook import gradebook_session
        any_cell = with_polymorphic(BaseCell, "*")      # GradeCell.max_score loaded with the cell
        query = select(Assignment).where(Assignment.name == assignment).options(
            selectinload(Assignment.notebooks).options(selectinload(Notebook.source_cells),
                                                       selectinload(Notebook._base_cells.of_type(any_cell))))
        notebooks = []
        with gradebook_session(db_url) as db:
            for nb in db.scalars(query).one().notebooks:
                points = {c.name: float(c.max_score) for c in nb.grade_cells}
                solutions = {c.name for c in nb.solution_cells}
                cells = [TrustedCell(c.name, c.cell_type, bool(c.locked), c.source or "", points.get(c.name),
                                     c.name in solutions) for c in nb.source_cells]
                notebooks.append(TrustedNotebook(nb.name, cells))
        trusted = cls(assignment, sorted(notebooks, key=lambda n: n.name), f"gradebook {db_url}")
        trusted.db_url, trusted.course_id = db_url, course_id
        return trusted

    @classmethod
    def from_source(cls, course_dir: Path, assignment: str) -> "TrustedAssignment":
        """The instructor's source notebooks (for grading one notebook without a gradebook)."""
        folder = Path(course_dir) / "source" / assignment
        notebooks = []
        for path in sorted(folder.glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            cells = []
            for cell in nb.cells:
                m = nbgrader_meta(cell)
                if not m.get("grade_id"):
                    continue
                points = float(m["points"]) if m.get("grade") else None
                cells.append(TrustedCell(m["grade_id"], cell.cell_type, bool(m.get("locked")), cell.source,
                                         points, bool(m.get("solution"))))
            notebooks.append(TrustedNotebook(path.stem, cells))
        if not notebooks:
            raise FileNotFoundError(f"no source notebooks in {folder}")
        return cls(assignment, notebooks, f"source {folder}")

    # -- references, once per assignment
    def prepare(self, known: dict | None = None) -> None:
        """Parse every test cell's declarations, build the case inputs and compute the references;
        ``known`` (case key -> CaseRef, from ``grade.reference_cache``) replaces that work."""
        for nb in self.notebooks.values():
            for cell in nb.cells:
                if cell.is_test:
                    nb.tests[cell.grade_id] = self._test_cell(nb.name, cell, known or {})

    def case_refs(self) -> list[CaseRef]:
        return [ref for nb in self.notebooks.values() for test in nb.tests.values()
                for refs in test.cases for ref in refs]

    def set_case_limits(self, least: float, factor: float) -> None:
        """Each case's time limit: the larger of ``least`` seconds and ``factor`` times the
        reference's own time (``least`` 0: no limit per case, only the cell's)."""
        for ref in self.case_refs():
            ref.limit = math.ceil(10 * max(least, factor * ref.seconds)) / 10 if least > 0 else None

    def _test_cell(self, notebook: str, cell: TrustedCell, known: dict) -> TestCell:
        test = TestCell(cell.grade_id, float(cell.points))
        try:
            test.declarations = parse(cell.source)
        except DeclarationError as e:
            test.problem = (f"test cell {cell.grade_id} is not made of check(...) declarations ({e}); "
                            "it cannot be graded by `autograder grade` (use `nbgrader autograde`)")
            return test
        if not test.declarations:
            test.problem = f"test cell {cell.grade_id} declares no checks"
            return test
        for d, decl in enumerate(test.declarations):
            refs = []
            try:
                ex = registry.get(decl.exercise)
                for c, case in enumerate(decl.cases):
                    key = f"{notebook}/{cell.grade_id}/{d}/{c}"
                    if key in known and known[key].case == case and known[key].exercise.name == ex.name:
                        refs.append(known[key])
                        continue
                    inputs = api.case_inputs(ex, case)
                    expect = case.get("expect")
                    if expect and expect != "ValueError":
                        raise ValueError(f"unsupported expectation {expect!r}")
                    started = time.perf_counter()
                    expected = None if expect else api.expected_output(ex, case, inputs)
                    refs.append(CaseRef(key, ex, case, inputs, expected, time.perf_counter() - started))
            except Exception as e:
                test.problem = f"the grader could not prepare {cell.grade_id} ({type(e).__name__}: {e})"
                return test
            test.cases.append(refs)
        return test

    # -- per-student hidden variants (checks.variants)
    def for_student(self, student: str) -> "TrustedAssignment":
        """The assignment as ``student`` is graded: without a variant secret, this one; with it, a
        copy whose hidden cases are that student's variants (inputs and references computed once
        per student; visible cases, memo and follow-through answers shared)."""
        if self.variant_secret is None:
            return self
        if student not in self._students:
            variants = Variants(self.variant_secret, student, self.name)
            mine = copy.copy(self)
            mine.variant_secret, mine._students = None, {}
            mine.notebooks = {name: replace(nb, tests={gid: _varied(test, variants) for gid, test in nb.tests.items()})
                              for name, nb in self.notebooks.items()}
            self._students[student] = mine
        return self._students[student]

    def sandbox_inputs(self) -> tuple[dict, dict]:
        """Every case's inputs as the sandbox gets them: descriptions and one dict of arrays."""
        calls, arrays = {}, {}
        for nb in self.notebooks.values():
            for test in nb.tests.values():
                for refs in test.cases:
                    for ref in refs:
                        calls[ref.key] = [describe_input(v, arrays) for v in ref.inputs.values()]
        return calls, arrays


def _varied(test: TestCell, variants: Variants) -> TestCell:
    """``test`` with its hidden declarations' cases replaced by this student's variants; their
    keys name the student, so that verdicts memoised for one student never serve another."""
    if test.problem:
        return test
    cases = []
    for decl, refs in zip(test.declarations, test.cases):
        if not decl.hidden:
            cases.append(refs)
            continue
        mine = []
        for ref in refs:
            case = variants.case(ref.exercise, ref.case)
            if case == ref.case:        # an exercise whose hidden cases stay fixed
                mine.append(ref)
                continue
            try:
                inputs = api.case_inputs(ref.exercise, case)
                expected = None if case.get("expect") else api.expected_output(ref.exercise, case, inputs)
            except Exception as e:
                return replace(test, cases=[], problem=f"the grader could not prepare {test.grade_id}'s hidden "
                               f"case {case} for {variants.student} ({type(e).__name__}: {e})")
            mine.append(CaseRef(f"{ref.key}@{variants.student}", ref.exercise, case, inputs, expected,
                                seconds=ref.seconds, limit=ref.limit))    # sizes vary by a third at most
        cases.append(mine)
    return replace(test, cases=cases)


def describe_input(value, arrays: dict):
    """A trusted value (case inputs, reference answers) as the sandbox rebuilds it (``learner_runner.build``)."""
    if isinstance(value, np.ndarray):
        key = f"i{len(arrays)}"
        arrays[key] = value
        return {"t": "nd", "k": key}
    if value is None:
        return {"t": "none"}
    if isinstance(value, bool):
        return {"t": "bool", "v": value}
    if isinstance(value, (int, np.integer)):
        return {"t": "int", "v": int(value)}
    if isinstance(value, (float, np.floating)):
        return {"t": "float", "v": repr(float(value))}
    if isinstance(value, str):
        return {"t": "str", "v": value}
    if isinstance(value, (list, tuple)):
        return {"t": "tuple" if isinstance(value, tuple) else "list",
                "items": [describe_input(v, arrays) for v in value]}
    if isinstance(value, dict):
        return {"t": "dict", "items": [[describe_input(k, arrays), describe_input(v, arrays)]
                                       for k, v in value.items()]}
    raise TypeError(f"cannot send an input of type {type(value).__name__} to the sandbox")

