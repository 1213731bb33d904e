"""Follow-through marking under both graders: one mistake costs one function, cell by cell the same
with stock `nbgrader autograde` (the check rebinds names in the kernel) and with `autograder grade`
(stubs in the sandbox, answered by the trusted parent), and a stub kept for later is refused.

One batch of ps4 submissions, each the correct sample with one change:
* ``nan_softmax``: ``masked_softmax`` returns NaN on fully masked rows (what torch returns);
* ``kept_stub``: ``attend`` keeps the ``masked_softmax`` it was lent, and ``attention_entropy``
  calls it later, outside the check it was lent for;
* ``correct``: nothing changed (full marks, float32 cases included).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.authoring.samples import SAMPLES, fill, read_sample
from autograder.authoring.scores import score_rows
from autograder.course import nbgrader, notebooks, tool_env
from autograder.sandbox import command as sandbox

A = "ps4_attention"
AUTOGRADER = str(Path(sys.executable).with_name("autograder"))
NAN_SOFTMAX = '''def masked_softmax(scores, mask=None):
    s = np.where(np.broadcast_to(mask, scores.shape) if mask is not None else True, scores, -np.inf)
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)
'''
KEEPS = '''def attend(scores, values, mask=None):
    np.__dict__.setdefault("kept", masked_softmax)           # the stand-in lent for this call
    w = masked_softmax(scores, mask)
    return np.matmul(w[:, None, :], values)[:, 0, :], w
'''
USES_KEPT = '''def attention_entropy(weights):
    np.kept(weights, None)                                    # called outside attend's check
    p = np.where(weights > 0, weights, 1.0)
    return -np.sum(weights * np.log(p), axis=-1)
'''
SUBMISSIONS = {"nan_softmax": {"masked_softmax": NAN_SOFTMAX},
               "kept_stub": {"attend": KEEPS, "attention_entropy": USES_KEPT},
               "correct": {}}
pytestmark = pytest.mark.skipif(not sandbox.bwrap_status()[0], reason="autograder grade's sandbox needs bubblewrap")


def _submit(course: Path) -> None:
    base = read_sample(SAMPLES / A / "sample_correct.py")
    for student, changes in SUBMISSIONS.items():
        target = course / "submitted" / student / A
        target.mkdir(parents=True)
        for path in notebooks(course / "release" / A):
            nb = fill(nbformat.read(path, as_version=4), {**base, **changes})
            nbformat.write(nb, target / path.name)


def _errors(course: Path, student: str) -> dict:
    """grade_id -> (ename, evalue) of the error each autograded test cell recorded, or None."""
    found = {}
    for path in notebooks(course / "autograded" / student / A):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
                errors = [(o.ename, o.evalue) for o in cell.outputs if o.output_type == "error"]
                found[meta["grade_id"]] = errors[0] if errors else None
    return found


@pytest.fixture(scope="module")
def graded(built_course, tmp_path_factory):
    """(stock course, our course) with the submissions graded by each grader."""
    base = tmp_path_factory.mktemp("follow")
    stock, ours = base / "stock", base / "ours"
    shutil.copytree(built_course, stock)
    _submit(stock)
    shutil.copytree(stock, ours)
    result = nbgrader("autograde", A, "--force", "--log-level=ERROR", course_dir=stock, capture=True)
    assert result.returncode == 0, result.stderr
    result = subprocess.run([AUTOGRADER, "grade", A, "--force", "--jobs", "2", "--quiet"], cwd=ours,
                            env=tool_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return stock, ours


def _integration_points(rows: dict) -> float:
    return sum(v for k, v in rows["correct"].items() if k.endswith("_integration"))


def test_both_graders_agree_cell_by_cell(graded):
    stock, ours = graded
    assert score_rows(A, stock) == score_rows(A, ours)
    for student in SUBMISSIONS:
        assert _errors(stock, student) == _errors(ours, student), student


def test_a_nan_masked_softmax_costs_masked_softmax_only(graded):
    stock, ours = graded
    for course in graded:
        rows = score_rows(A, course)
        full = rows["correct"]
        lost = {g: full[g] - v for g, v in rows["nan_softmax"].items() if v is not None and v < full[g]}
        assert any(g.startswith("test_masked_softmax") for g in lost), lost
        outside = sum(p for g, p in lost.items() if not g.startswith("test_masked_softmax"))
        assert outside <= _integration_points(rows), (course.name, lost)


def test_a_kept_stub_is_refused_and_earns_nothing(graded):
    for course in graded:
        rows = score_rows(A, course)
        kept = {g: v for g, v in rows["kept_stub"].items() if g.startswith("test_attention_entropy")}
        assert kept and set(kept.values()) == {0}, (course.name, kept)
        errors = _errors(course, "kept_stub")
        refused = [errors[g] for g in kept]
        assert all(e and e[0] == "RuntimeError" and "refuses to answer" in e[1] for e in refused), refused
        others = {g: v for g, v in rows["kept_stub"].items() if g not in kept and v is not None}
        assert all(v == rows["correct"][g] for g, v in others.items()), (course.name, others)


def test_correct_work_keeps_full_marks(graded):
    for course in graded:
        rows = score_rows(A, course)
        auto = {g: v for g, v in rows["correct"].items() if g.startswith("test_")}
        assert auto and all(v and v > 0 for v in auto.values()), (course.name, auto)
        assert not any(_errors(course, "correct").values())
