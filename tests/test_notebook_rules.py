"""The source notebooks follow the course's rules (CONTRIBUTING.md): test cells are declarations,
graded functions match the registry and the contract, points add up."""
from __future__ import annotations

import ast

import nbformat
import pytest

from autograder.exercises import registry
from autograder.checks.cells import grade_id, is_demo, is_solution, is_test, nbgrader_meta
from autograder.checks.api import case_inputs
from autograder.course import ROOT, notebooks
from autograder.checks.declarations import DeclarationError, parse

from conftest import ASSIGNMENTS


def _cells(assignment):
    for path in notebooks(ROOT / "source" / assignment):
        yield from nbformat.read(path, as_version=4).cells


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_test_cells_are_declarations_only(assignment):
    for cell in filter(is_test, _cells(assignment)):
        decls = parse(cell.source)             # raises DeclarationError on anything else
        names = {d.exercise for d in decls}
        assert len(names) == 1, f"{grade_id(cell)} checks several exercises: {names}"
        (name,) = names
        assert grade_id(cell).startswith(f"test_{name}"), f"{grade_id(cell)} should start with test_{name}"
        assert all(d.function == name for d in decls), f"{grade_id(cell)}: check the function named {name}"
        assert any(not d.hidden for d in decls), f"{grade_id(cell)} has no public check"
        kinds = {d.integration for d in decls}
        assert len(kinds) == 1, f"{grade_id(cell)} mixes integration and unit checks"
        assert (grade_id(cell) == f"test_{name}_integration") == kinds.pop(), \
            f"{grade_id(cell)}: integration checks, and only they, live in test_<function>_integration"
        assert any(d.hidden for d in decls), f"{grade_id(cell)} has no hidden check"
        ex = registry.get(name)
        assert ex.assignment == assignment
        for d in decls:
            for case in d.cases:
                case_inputs(ex, case)          # every case builds


def test_declarations_reject_anything_else():
    assert parse("check(f, 'f', cases=[{'seed': 1}], integration=True)")[0].integration
    assert not parse("check(f, 'f', cases=[{'seed': 1}])")[0].integration
    for bad in ["x = 1", "check(f, 'f', cases=make_cases())", "import os\ncheck(f, 'f', cases=[{}])",
                "check(f, 'f', [{'seed': 1}])", "assert f(1) == 2",
                "check(f, 'f', cases=[{}], integration=1)", "check(f, 'f', cases=[{}], integration=flag)",
                "check(f, 'f', cases=[{}], integration=True, more=1)",
                "### BEGIN HIDDEN TESTS\ncheck(f, 'f', cases=[{'seed': 1}])"]:
        with pytest.raises(DeclarationError):
            parse(bad)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_graded_functions_match_the_registry(assignment):
    solution_ids, tested = [], set()
    for cell in _cells(assignment):
        if is_solution(cell) and cell.cell_type == "code":
            tree = ast.parse(cell.source)
            defs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
            assert defs == [grade_id(cell)], f"solution cell {grade_id(cell)} must define exactly that function"
            assert ast.get_docstring(tree.body[0]), f"{grade_id(cell)} needs a docstring with the shapes"
            solution_ids.append(grade_id(cell))
        if is_test(cell):
            tested |= {d.exercise for d in parse(cell.source)}
    registered = {e.name for e in registry.all_exercises(assignment)}
    assert registered == tested, f"registered but untested: {registered - tested}; tested but unknown: {tested - registered}"
    assert set(solution_ids) == registered
    for name in solution_ids:
        ex = registry.get(name)
        tree = ast.parse(next(c.source for c in _cells(assignment) if grade_id(c) == name))
        params = [a.arg for a in tree.body[0].args.args]
        assert tuple(params) == ex.args, f"{name}: the notebook's signature {params} differs from the registry's {ex.args}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_points_and_written_answers(assignment):
    graded = [nbgrader_meta(c) for c in _cells(assignment) if nbgrader_meta(c).get("grade")]
    assert sum(m["points"] for m in graded) == 100
    manual = [m for m in graded if m.get("solution")]
    assert manual, "at least one manually graded written answer"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_at_most_one_small_integration_check(assignment):
    """Follow-through marking charges a mistake to its function; one integration check (at most 5
    points) runs the learner's own functions together, on a function that calls others."""
    cells = [c for c in filter(is_test, _cells(assignment)) if any(d.integration for d in parse(c.source))]
    assert len(cells) <= 1, [grade_id(c) for c in cells]
    for cell in cells:
        assert nbgrader_meta(cell)["points"] <= 5, grade_id(cell)
        assert registry.get(parse(cell.source)[0].exercise).builds_on, f"{grade_id(cell)} checks a function that calls no other"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_demo_cells_skip_under_grading(assignment):
    for cell in filter(is_demo, _cells(assignment)):
        assert cell.source.lstrip().startswith("if not GRADING"), cell.source[:80]
