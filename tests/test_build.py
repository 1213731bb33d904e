"""release/ and solutions/ are exactly what nbgrader generates from source/, and leak nothing."""
from __future__ import annotations

import re

import jupytext
import nbformat
import pytest

from autograder.checks.cells import is_solution, is_test
from autograder.course import ROOT, notebooks
from autograder.checks.declarations import BEGIN_HIDDEN

from conftest import ASSIGNMENTS


def _essence(path):
    nb = nbformat.read(path, as_version=4)
    return nb.metadata, [(c.cell_type, c.source, c.metadata, c.get("outputs")) for c in nb.cells]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_text_form_matches_source_notebook(assignment):
    for nb_path in notebooks(ROOT / "source" / assignment):
        text = nb_path.with_name(nb_path.stem + ".pct.py")
        assert text.exists(), f"{nb_path} has no text form {text.name}"
        a, b = jupytext.read(text), jupytext.read(nb_path)
        assert [(c.cell_type, c.source, dict(c.metadata)) for c in a.cells] == \
               [(c.cell_type, c.source, dict(c.metadata)) for c in b.cells], \
            f"{text.name} and {nb_path.name} differ: run `autograder build {assignment}`"


@pytest.mark.parametrize("kind", ["release", "solutions"])
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_equals_regenerated(built_course, assignment, kind):
    committed = sorted(p.name for p in (ROOT / kind / assignment).iterdir())
    fresh = sorted(p.name for p in (built_course / kind / assignment).iterdir())
    assert committed == fresh, f"{kind}/{assignment} holds other files than nbgrader generates"
    for name in fresh:
        if name.endswith(".ipynb"):
            assert _essence(ROOT / kind / assignment / name) == _essence(built_course / kind / assignment / name), \
                f"{kind}/{assignment}/{name} is not what nbgrader generates: run `autograder build {assignment}`"


def _solution_lines(source_nb):
    """Substantial lines of solution code in a source notebook that appear nowhere else in it."""
    solution = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
    lines, elsewhere = set(), ""
    for cell in source_nb.cells:
        if cell.cell_type == "code" and is_solution(cell):
            body = solution.findall(cell.source)
            lines |= {l.strip() for chunk in body for l in chunk.splitlines() if len(l.strip()) > 12}
            elsewhere += solution.sub("", cell.source)
        else:
            elsewhere += cell.source
    return {l for l in lines if l not in elsewhere}


def _hidden_lines(source_nb):
    lines = set()
    for cell in source_nb.cells:
        if is_test(cell):
            for chunk in re.findall(BEGIN_HIDDEN + r"\n(.*?)### END HIDDEN TESTS", cell.source, re.S):
                lines |= {l.strip() for l in chunk.splitlines() if '"seed"' in l}
    return lines


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_holds_no_solution_and_no_hidden_test(assignment):
    for src in notebooks(ROOT / "source" / assignment):
        source_nb = nbformat.read(src, as_version=4)
        text = (ROOT / "release" / assignment / src.name).read_text()
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
        leaked = [l for l in _solution_lines(source_nb) | _hidden_lines(source_nb) if l in text]
        assert not leaked, f"release/{assignment}/{src.name} leaks: {leaked[:3]}"
        release_nb = nbformat.read(ROOT / "release" / assignment / src.name, as_version=4)
        stubs = [c for c in release_nb.cells if c.cell_type == "code" and is_solution(c)]
        assert stubs and all("raise NotImplementedError()" in c.source for c in stubs)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solutions_hold_no_hidden_test_and_no_outputs(assignment):
    for src in notebooks(ROOT / "source" / assignment):
        source_nb = nbformat.read(src, as_version=4)
        text = (ROOT / "solutions" / assignment / src.name).read_text()
        assert "BEGIN HIDDEN TESTS" not in text
        leaked = [l for l in _hidden_lines(source_nb) if l in text]
        assert not leaked, f"solutions/{assignment}/{src.name} leaks hidden cases: {leaked[:3]}"
        nb = nbformat.read(ROOT / "solutions" / assignment / src.name, as_version=4)
        assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
