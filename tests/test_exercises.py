"""Tests with teeth: every catalogued mistake is rejected and named; independently written correct
solutions (the notebook's, the correct sample's, in float32 too) are accepted."""
from __future__ import annotations

import nbformat
import numpy as np
import pytest

from autograder.exercises import registry
from autograder.authoring.catalogue import declarations, outcomes, visible_rates
from autograder.checks.cells import grade_id, is_test, load_functions, nbgrader_meta
from autograder.checks.api import case_inputs, run_case
from autograder.course import ROOT, notebooks
from autograder.authoring.samples import fill, read_sample

from conftest import ASSIGNMENTS

EXERCISES = [(a, e.name) for a in ASSIGNMENTS for e in registry.all_exercises(a)]


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def outcome_table(request):
    return request.param, outcomes(request.param)


def test_every_mistake_is_rejected_and_named(outcome_table):
    assignment, rows = outcome_table
    not_rejected = [(r.exercise, r.mistake) for r in rows if not r.rejects]
    not_named = [(r.exercise, r.mistake) for r in rows if not r.named]
    assert not not_rejected, f"mistakes that pass every check: {not_rejected}"
    assert not not_named, f"mistakes rejected without being named: {not_named}"


def test_public_cases_alone_reject_every_mistake(outcome_table):
    """Visible predicts hidden: a mistake the visible checks let through is a justified exception,
    and at most 5% of a function's mistakes may be one."""
    assignment, rows = outcome_table
    unjustified = [(r.exercise, r.mistake) for r in rows if not r.public_rejects and not r.exception]
    assert not unjustified, f"mistakes that pass every public case: {unjustified}"
    for name, (hit, total) in visible_rates(rows).items():
        assert hit >= 0.95 * total, f"{name}: the public cases reject only {hit} of {total} mistakes"


def test_hidden_cases_alone_reject_every_mistake(outcome_table):
    """Hard-coding the visible cases earns nothing: the hidden cases reject every mistake too."""
    assignment, rows = outcome_table
    missed = [(r.exercise, r.mistake) for r in rows if not r.hidden_rejects]
    assert not missed, f"mistakes that pass every hidden case: {missed}"


SHAPE_KEYS = {"B", "T", "Tq", "S", "N", "K", "L", "D", "H", "A", "E", "F", "C", "V", "d", "dq", "dk", "dv",
              "max_len", "k", "beam_width", "horizon", "M"}


def hidden_only_behaviours(cases_public, cases_hidden) -> list[str]:
    """What the hidden cases exercise that no public case does: a value of a non-shape key, or an
    edge size (a shape key equal to 1)."""
    def behaviours(cases):
        found = set()
        for case in cases:
            for key, value in case.items():
                if key == "seed":
                    continue
                if key in SHAPE_KEYS:
                    if value == 1:
                        found.add(f"{key}=1")
                elif key == "lengths":            # shape-dependent data: its kind, and the edge length 1
                    found.add("lengths given")
                    if 1 in value:
                        found.add("a length of 1")
                else:
                    found.add(f"{key}={value!r}")
        return found
    return sorted(behaviours(cases_hidden) - behaviours(cases_public))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_behaviour_is_hidden_only(assignment):
    problems = []
    for name, decls in declarations(assignment).items():
        missing = hidden_only_behaviours([c for d in decls if not d.hidden for c in d.cases],
                                         [c for d in decls if d.hidden for c in d.cases])
        if missing:
            problems.append(f"{name}: {missing}")
    assert not problems, "behaviours only the hidden cases exercise:\n" + "\n".join(problems)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_points_are_split_over_behaviours(assignment):
    """A function worth 6 points or more has at least two test cells, so an edge-case slip costs a part."""
    cells: dict[str, list[int]] = {}
    for path in notebooks(ROOT / "source" / assignment):
        for cell in nbformat.read(path, as_version=4).cells:
            if is_test(cell):
                from autograder.checks.declarations import parse
                (name,) = {d.exercise for d in parse(cell.source)}
                cells.setdefault(name, []).append(nbgrader_meta(cell)["points"])
    too_coarse = {name: pts for name, pts in cells.items() if sum(pts) >= 6 and len(pts) < 2}
    assert not too_coarse, f"functions worth 6+ points in a single test cell: {too_coarse}"


@pytest.mark.parametrize("assignment,name", EXERCISES)
def test_mistake_catalogue_is_substantial(assignment, name):
    assert len(registry.get(name).mistakes) >= 3


def _implementations(assignment):
    """name -> {origin: namespace} for the notebook's solution and the correct sample."""
    found = {}
    for path in notebooks(ROOT / "source" / assignment):
        found[f"solution {path.name}"] = load_functions(path)
        sample = ROOT / "samples" / assignment / "sample_correct.py"
        if sample.exists():
            nb = fill(nbformat.read(ROOT / "release" / assignment / path.name, as_version=4), read_sample(sample))
            found[f"sample_correct {path.name}"] = load_functions(nb)
    return found


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def implementations(request):
    return request.param, _implementations(request.param)


def _holds_floats(value) -> bool:
    if isinstance(value, np.ndarray):
        return value.dtype.kind == "f"
    if isinstance(value, dict):
        value = list(value.values())
    return isinstance(value, (list, tuple)) and any(_holds_floats(v) for v in value)


def _with_float32(ex, cases):
    """The cases again in float32, where there are float arrays to cast (ps6's tanh_fixed_points
    takes Python floats: float32 means nothing to it)."""
    extra = [{**c, "dtype": "float32"} for c in cases if "dtype" not in c and "expect" not in c
             and _holds_floats(list(case_inputs(ex, c).values()))]
    return list(cases) + extra


def test_correct_implementations_pass_every_case(implementations):
    assignment, impls = implementations
    assert len(impls) >= 2, "the solution and a differently written correct sample"
    decls = declarations(assignment)
    failures = []
    for origin, namespace in impls.items():
        for ex in registry.all_exercises(assignment):
            cases = _with_float32(ex, [c for d in decls[ex.name] for c in d.cases])
            for case in cases:
                message = run_case(ex, namespace[ex.name], case)
                if message:
                    failures.append(f"{origin}: {message}")
    assert not failures, "\n\n".join(failures[:5])
