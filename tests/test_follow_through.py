"""One mistake costs one function (follow-through marking), in the learner's kernel.

For every catalogued mistake of every graded function ``f``: a correct submission (the correct
sample) with ``f`` replaced by the mistake loses, outside ``f``'s own test cells, at most the
points of the assignment's integration check. The declared checks of the other test cells run
in-process with ``check``'s own per-case step, so follow-through is what a learner's kernel and
stock ``nbgrader autograde`` do. Only cells whose function can reach ``f`` (through the names the
sample's code uses) can lose anything, so only those run.

Run as a script, it prints the worst collateral loss per assignment, with follow-through
(``--follow``, the default) or without it (``--before``: every check runs the learner's own
functions together, as ``check`` did before follow-through marking):

    .venv/bin/python tests/test_follow_through.py --before
"""
from __future__ import annotations

import inspect
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from autograder.exercises import registry                                     # noqa: E402
from autograder.authoring.catalogue import mistake_as_function                  # noqa: E402
from autograder.checks.cells import grade_id, is_test, load_functions, nbgrader_meta   # noqa: E402
from autograder.checks.api import check, expected_output                         # noqa: E402
from autograder.course import ROOT, notebooks                         # noqa: E402
from autograder.checks.declarations import Declaration, parse                # noqa: E402
from autograder.authoring.samples import fill, read_sample                      # noqa: E402

from conftest import ASSIGNMENTS                                      # noqa: E402


@dataclass
class GradedCell:
    grade_id: str
    points: float
    declarations: list[Declaration]

    @property
    def exercise(self) -> str:
        return self.declarations[0].exercise

    @property
    def function(self) -> str:
        return self.declarations[0].function

    @property
    def integration(self) -> bool:
        return any(d.integration for d in self.declarations)


IMPLEMENTATIONS = ("sample_correct", "solution")


def graded_cells(assignment: str) -> list[GradedCell]:
    (path,) = notebooks(ROOT / "source" / assignment)       # one notebook per assignment
    return [GradedCell(grade_id(c), float(nbgrader_meta(c)["points"]), parse(c.source))
            for c in nbformat.read(path, as_version=4).cells if is_test(c)]


def correct_namespace(assignment: str, origin: str) -> dict:
    """The learner code of a correct submission, run here: the correct sample or the solution
    (they call each other's functions differently, e.g. only the solution's rnn_backward calls
    rnn_step_backward)."""
    (path,) = notebooks(ROOT / "source" / assignment)
    if origin == "solution":
        return load_functions(path)
    release = nbformat.read(ROOT / "release" / assignment / path.name, as_version=4)
    return load_functions(fill(release, read_sample(ROOT / "samples" / assignment / "sample_correct.py")))


def _names_used(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):      # nested functions, comprehensions
            names |= _names_used(const)
    return names


def reachable(namespace: dict) -> dict[str, set[str]]:
    """function name -> the names of the namespace's functions it can call, transitively."""
    calls = {name: _names_used(fn.__code__) & set(namespace) for name, fn in namespace.items()
             if isinstance(fn, types.FunctionType)}
    reach = {}
    for name in calls:
        seen, todo = set(), [name]
        while todo:
            for callee in calls.get(todo.pop(), ()):
                if callee not in seen:
                    seen.add(callee)
                    todo.append(callee)
        reach[name] = seen
    return reach


def cell_passes(cell: GradedCell, namespace: dict, follow: bool) -> bool:
    """What nbgrader records: every declaration's check passes (a crash fails the cell too)."""
    for d in cell.declarations:
        try:
            check(namespace[d.function], d.exercise, list(d.cases), integration=d.integration or not follow)
        except Exception:
            return False
    return True


@dataclass
class Loss:
    exercise: str
    mistake: str
    points: float          # lost outside the exercise's own cells
    cells: list[str]


def counted(fn, like):
    """``fn`` as a plain function with the parameters and defaults of ``like`` (follow-through
    replaces only those) that counts the calls it gets."""
    names = ", ".join(inspect.signature(like).parameters)
    namespace = {"fn": fn}
    exec(f"def mistaken({names}):\n    mistaken.calls += 1\n    return fn({names})\n", namespace)
    mistaken = namespace["mistaken"]
    mistaken.__defaults__, mistaken.calls = like.__defaults__, 0
    return mistaken


def collateral_losses(assignment: str, origin: str, follow: bool = True) -> list[Loss]:
    """Points each catalogued mistake loses outside its function's own test cells.

    A cell that never calls the mistaken function (follow-through gave it the reference) behaves
    the same whichever mistake it is, so it runs once per function, not once per mistake.
    """
    namespace, cells = correct_namespace(assignment, origin), graded_cells(assignment)
    reach = reachable(namespace)
    losses = []
    for ex in registry.all_exercises(assignment):
        others = [c for c in cells if c.exercise != ex.name and ex.name in reach.get(c.function, ())]
        correct = namespace[ex.name]
        known: dict[str, bool] = {}          # grade_id -> passes, for cells that never called the mistake
        for mistake in ex.mistakes:
            failed = []
            for cell in others:
                if cell.grade_id in known:
                    passed = known[cell.grade_id]
                else:
                    namespace[ex.name] = mistaken = counted(mistake_as_function(ex, mistake, like=correct), correct)
                    try:
                        passed = cell_passes(cell, namespace, follow)
                    finally:
                        namespace[ex.name] = correct
                    if mistaken.calls == 0:
                        known[cell.grade_id] = passed
                if not passed:
                    failed.append(cell)
            losses.append(Loss(ex.name, mistake.name, sum(c.points for c in failed), [c.grade_id for c in failed]))
    return losses


def integration_points(cells: list[GradedCell]) -> float:
    return sum(c.points for c in cells if c.integration)


@pytest.mark.parametrize("origin", IMPLEMENTATIONS)
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_one_mistake_costs_one_function(assignment, origin, capsys):
    allowed = integration_points(graded_cells(assignment))
    worst = [loss for loss in collateral_losses(assignment, origin) if loss.points > allowed]
    capsys.readouterr()                          # the passing checks' lines
    assert not worst, "\n".join(f"{l.exercise} / {l.mistake}: {l.points:g} points lost in {l.cells}" for l in worst)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_references_reject_what_the_contract_rejects(assignment):
    """A stand-in raises ValueError where the contract asks the learner's function to (it turns a
    reference's exception into ValueError), so every reference must refuse its own invalid cases."""
    accepted = []
    for ex in registry.all_exercises(assignment):
        for cell in graded_cells(assignment):
            for d in cell.declarations:
                for case in d.cases:
                    if d.exercise == ex.name and case.get("expect"):
                        try:
                            expected_output(ex, case)
                        except Exception:
                            continue
                        accepted.append((ex.name, case))
    assert not accepted, f"references that accept invalid arguments: {accepted}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_what_a_function_builds_on_is_checked_before_it(assignment):
    """`autograder grade` lends a reference only after its own function's checks (``grade.plan``),
    so every function a solution calls (``builds_on``) must be checked earlier in the notebook."""
    first = {}
    for i, cell in enumerate(graded_cells(assignment)):
        first.setdefault(cell.exercise, i)
    last = {cell.exercise: i for i, cell in enumerate(graded_cells(assignment)) if not cell.integration}
    for ex in registry.all_exercises(assignment):
        for callee in ex.builds_on:
            assert last[callee] < first[ex.name], f"{callee} is checked after {ex.name}, which builds on it"


# ---------------------------------------------------------------- the stand-ins themselves
NS_CODE = """
import numpy as np

def masked_softmax(scores, mask=None):
    e = np.exp(np.where(np.broadcast_to(mask, scores.shape) if mask is not None else True, scores, -np.inf))
    return e / e.sum(-1, keepdims=True)          # NaN on fully masked rows

def attend(scores, values, mask=None):
    w = masked_softmax(scores, mask=mask)
    return np.einsum("bs,bsd->bd", w, values), w

def attend_transposed(scores, values, mask=None):
    w = masked_softmax(scores, mask)
    return np.einsum("bs,bsd->bd", w, values[:, ::-1]), w

KEPT = []

def attend_keeping(scores, values, mask=None):
    KEPT.append(masked_softmax)
    return attend(scores, values, mask)

def masked_softmax_from_kept(scores, mask=None):
    return KEPT[0](scores, mask)

def attend_crashing(scores, values, mask=None):
    masked_softmax(scores, mask)
    raise IndexError("my own bug")
"""
EMPTY_ROW = [{"B": 3, "S": 5, "dv": 2, "mask": "full", "empty_rows": 1, "seed": 3}]


@pytest.fixture
def namespace():
    ns = {"__name__": "__notebook__"}
    exec(compile(NS_CODE, "<notebook>", "exec"), ns)
    return ns


def test_a_wrong_callee_costs_nothing_and_comes_back(namespace, capsys):
    own = namespace["masked_softmax"]
    check(namespace["attend"], "attend", cases=EMPTY_ROW)               # the reference gives 0, not NaN
    assert namespace["masked_softmax"] is own
    with pytest.raises(AssertionError, match="contains NaN"):
        check(namespace["masked_softmax"], "masked_softmax", cases=[{"B": 3, "S": 5, "mask": "full",
                                                                      "empty_rows": 1, "seed": 3}])
    with pytest.raises(AssertionError, match="integration check") as info:
        check(namespace["attend"], "attend", cases=EMPTY_ROW, integration=True)
    assert "contains NaN" in str(info.value) and namespace["masked_softmax"] is own


def test_float32_and_keywords_follow_the_learners_signature(namespace, capsys):
    check(namespace["attend"], "attend", cases=[{**EMPTY_ROW[0], "dtype": "float32"}])
    assert "1 case passed" in capsys.readouterr().out


def test_the_message_says_which_reference_stood_in(namespace):
    with pytest.raises(AssertionError) as info:
        check(namespace["attend_transposed"], "attend", cases=EMPTY_ROW)
    assert "`attend` called the reference `masked_softmax` in place of yours" in str(info.value)


def test_a_kept_stand_in_refuses(namespace, capsys):
    check(namespace["attend_keeping"], "attend", cases=EMPTY_ROW)
    (kept,) = namespace["KEPT"]
    with pytest.raises(RuntimeError, match="lent to `attend` only while its check calls it"):
        kept(np.zeros((2, 3)))
    with pytest.raises(RuntimeError, match="refuses to answer"):      # not while its own function is checked
        check(namespace["masked_softmax_from_kept"], "masked_softmax", cases=[{"B": 2, "S": 3, "seed": 1}])


def test_names_are_restored_when_the_checked_function_raises(namespace):
    own = namespace["masked_softmax"]
    with pytest.raises(IndexError, match="my own bug") as info:
        check(namespace["attend_crashing"], "attend", cases=EMPTY_ROW)
    assert namespace["masked_softmax"] is own
    assert any("called the reference `masked_softmax`" in note for note in info.value.__notes__)


def _main(argv: list[str]) -> None:
    follow = "--before" not in argv
    import contextlib
    import io
    for assignment in [a for a in argv if not a.startswith("--")] or ASSIGNMENTS:
        for origin in IMPLEMENTATIONS:
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                losses = collateral_losses(assignment, origin, follow)
            worst = max(losses, key=lambda l: l.points)
            over5 = sum(l.points > 5 for l in losses)
            print(f"{assignment} ({origin}): {len(losses)} mistakes, worst {worst.points:g} points outside "
                  f"{worst.exercise} ({worst.mistake}: {', '.join(worst.cells) or '-'}); "
                  f"{over5} cost more than 5; {time.perf_counter() - start:.1f} s", flush=True)


if __name__ == "__main__":
    _main(sys.argv[1:])
