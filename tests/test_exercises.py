"""Tests with teeth: every catalogued mistake is rejected and named; independently written correct
solutions (the notebook's, the correct sample's, in float32 too) are accepted."""
from __future__ import annotations

import nbformat
import pytest

from autograder.exercises import registry
from autograder.authoring.catalogue import declarations, outcomes
from autograder.checks.cells import load_functions
from autograder.checks.api import run_case
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


def test_public_checks_alone_do_not_reject_everything(outcome_table):
    assignment, rows = outcome_table
    assert not all(r.public_rejects for r in rows), "the hidden cases add nothing: every mistake fails in public"


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


def _with_float32(cases):
    extra = [{**c, "dtype": "float32"} for c in cases if "dtype" not in c and "expect" not in c]
    return list(cases) + extra


def test_correct_implementations_pass_every_case(implementations):
    assignment, impls = implementations
    assert len(impls) >= 2, "the solution and a differently written correct sample"
    decls = declarations(assignment)
    failures = []
    for origin, namespace in impls.items():
        for ex in registry.all_exercises(assignment):
            cases = _with_float32([c for d in decls[ex.name] for c in d.cases])
            for case in cases:
                message = run_case(ex, namespace[ex.name], case)
                if message:
                    failures.append(f"{origin}: {message}")
    assert not failures, "\n\n".join(failures[:5])
