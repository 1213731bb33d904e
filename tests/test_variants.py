"""Per-student hidden variants (issue 17, item 2): with a variant secret, every student's hidden
cases get their own seeds and sizes, in both graders, and the catalogue still holds for them.

One grading batch of ps1 under each grader: two students hand in the same correct solution, two
the same cheat (a `rnn_step_forward` that answers only the inputs of the declared cases, as a
list of leaked hidden cases would let it), one the untouched release; stock nbgrader grades one
correct student and the two cheats again (it takes seconds a notebook).
"""
from __future__ import annotations

import ast
import hashlib
import json
import re
import secrets
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder.authoring.catalogue import declarations, mistake_as_function
from autograder.authoring.samples import fill, read_sample
from autograder.authoring.scores import score_rows
from autograder.checks.api import case_inputs, check, expected_output, run_case
from autograder.checks.variants import SECRET_ENV, Variants, size_range
from autograder.course import ROOT, nbgrader, notebooks, tool_env
from autograder.exercises import registry
from autograder.grade.assignment import TrustedAssignment
from autograder.grade.options import GraderError, TrustedGrader

from test_exercises import _implementations

A = "ps1_rnn_forward"
SECRET = "a-test-secret-that-no-student-knows-0123456789"
AUTOGRADER = str(Path(sys.executable).with_name("autograder"))
CORRECT, CHEATS, RELEASE = ("alice", "bob"), ("carol", "dave"), "erin"
STOCK, STOCK_SKIPS = CORRECT[:1] + CHEATS, ",".join(CORRECT[1:] + (RELEASE,))
CHEATED_CELLS = {"test_rnn_step_forward_core", "test_rnn_step_forward_edges",
                 "test_stacked_rnn_forward_integration"}     # the last runs the learner's own step


# ---------------------------------------------------------------- the derivation
def test_a_variant_is_reproducible_per_student_and_keeps_what_the_case_means():
    ex = registry.get("rnn_forward")
    case = {"B": 3, "T": 9, "D": 4, "H": 6, "seed": 22, "h0": True, "dtype": "float32"}
    mine = Variants(SECRET.encode(), "alice", A)
    assert mine.case(ex, case) == Variants(SECRET.encode(), "alice", A).case(ex, case)     # regrading
    others = [Variants(SECRET.encode(), s, A).case(ex, case) for s in ("bob", "carol", "dave")]
    others.append(Variants(b"another secret, another term!", "alice", A).case(ex, case))
    assert all(o["seed"] != mine.case(ex, case)["seed"] for o in others)
    for varied in [mine.case(ex, case), *others]:
        assert set(varied) == set(case) and varied["h0"] is True and varied["dtype"] == "float32"
        assert all(size_range(case[k])[0] <= varied[k] <= size_range(case[k])[1] for k in "BTDH")
    edge = {"B": 1, "T": 1, "D": 2, "H": 3, "seed": 21}
    assert {k: v for k, v in mine.case(ex, edge).items() if k in "BT"} == {"B": 1, "T": 1}  # edges stay edges
    fixed = registry.get("lyapunov_spectrum")
    assert fixed.fixed_hidden and mine.case(fixed, {"T": 4, "H": 5, "seed": 13}) == {"T": 4, "H": 5, "seed": 13}


def _rejected(ex, fn, case) -> bool:
    try:
        return bool(run_case(ex, fn, case))
    except Exception:                   # a crash is a rejection too
        return True


@pytest.mark.parametrize("k", range(3))
def test_the_catalogue_holds_for_variants(k):
    """Every catalogued mistake is rejected by the variant hidden cases alone, and the solution and
    the correct sample pass them, for a fresh random secret each time (printed when it fails)."""
    secret = secrets.token_bytes(32)
    variants = Variants(secret, f"student{k}", A)
    decls, impls = declarations(A), _implementations(A)
    problems = []
    for ex in registry.all_exercises(A):
        hidden = [variants.case(ex, c) for d in decls[ex.name] if d.hidden for c in d.cases]
        problems += [f"{ex.name}: {m.name} passes {hidden}" for m in ex.mistakes
                     if not any(_rejected(ex, mistake_as_function(ex, m), c) for c in hidden)]
        problems += [f"{origin}: {run_case(ex, ns[ex.name], c)}" for origin, ns in impls.items() for c in hidden
                     if run_case(ex, ns[ex.name], c)]
    assert not problems, f"secret {secret.hex()}:\n" + "\n".join(problems[:5])


def test_without_a_secret_nothing_varies(monkeypatch, tmp_path):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    assert TrustedGrader().variant_secret() is None
    trusted = TrustedAssignment.from_source(ROOT, A)
    assert trusted.for_student("alice") is trusted
    with pytest.raises(GraderError, match="cannot be read"):
        TrustedGrader(variant_secret_file=str(tmp_path / "missing")).variant_secret()
    (tmp_path / "short").write_text("abc\n")
    with pytest.raises(GraderError, match="shorter than 16 bytes"):
        TrustedGrader(variant_secret_file=str(tmp_path / "short")).variant_secret()


HIDDEN_CELL = textwrap.dedent('''\
    check(fn, "rnn_step_forward", cases=[{"B": 2, "D": 3, "H": 4, "seed": 1}])
    ### BEGIN HIDDEN TESTS
    check(fn, "rnn_step_forward", cases=[
        {"B": 5, "D": 6, "H": 3, "seed": 12, "nonlinearity": "relu"},
    ])
    ### END HIDDEN TESTS
    ''')


def _run_as_a_cell(source: str, namespace: dict) -> None:
    """Run ``source`` as IPython runs a cell: compiled under a file name whose lines linecache knows."""
    import linecache
    name = f"<cell-{secrets.token_hex(4)}>"
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)
    exec(compile(source, name, "exec"), namespace)


def test_in_a_kernel_only_autograde_with_the_secret_varies_only_hidden_checks(monkeypatch, tmp_path):
    """check(...) in a kernel: under stock autograde with the secret, the hidden call gets the
    student's variant (the student from the working directory); anywhere else, the cases as declared."""
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET)
    workdir = tmp_path / "autograded" / "alice" / A
    workdir.mkdir(parents=True)
    monkeypatch.chdir(workdir)
    ex = registry.get("rnn_step_forward")
    declared = [{"B": 2, "D": 3, "H": 4, "seed": 1}, {"B": 5, "D": 6, "H": 3, "seed": 12, "nonlinearity": "relu"}]
    for execution, configured, expected in [
            ("autograde", True, [declared[0], Variants(SECRET.encode(), "alice", A).case(ex, declared[1])]),
            ("validate", True, declared), (None, True, declared), ("autograde", False, declared)]:
        seen = []
        fn = lambda *args: (seen.append(args[0]), expected_output(ex, {}, dict(zip(ex.args, args))))[1]
        monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
        monkeypatch.delenv(SECRET_ENV, raising=False)
        if execution:
            monkeypatch.setenv("NBGRADER_EXECUTION", execution)
        if configured:
            monkeypatch.setenv(SECRET_ENV, str(secret_file))
        _run_as_a_cell(HIDDEN_CELL, {"check": check, "fn": fn})
        assert [x.tobytes() for x in seen] == [case_inputs(ex, c)["x_t"].tobytes() for c in expected], execution
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setenv(SECRET_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(AssertionError, match="variant secret"):
        _run_as_a_cell(HIDDEN_CELL, {"check": check, "fn": fn})


# ---------------------------------------------------------------- both graders, end to end
def _cheat_source() -> str:
    """rnn_step_forward, right only on the inputs of the declared cases (visible and hidden)."""
    ex = registry.get("rnn_step_forward")
    known = sorted({hashlib.sha256(case_inputs(ex, c)["x_t"].tobytes()).hexdigest()
                    for d in declarations(A)["rnn_step_forward"] for c in d.cases})
    return textwrap.dedent(f'''\
        def rnn_step_forward(x_t, h_prev, W_xh, W_hh, b_h, nonlinearity="tanh"):
            import hashlib
            if nonlinearity not in ("tanh", "relu"):
                raise ValueError(f"unknown nonlinearity {{nonlinearity!r}}")
            if hashlib.sha256(x_t.tobytes()).hexdigest() not in {set(known)!r}:
                return np.zeros((x_t.shape[0], W_hh.shape[0]), dtype=x_t.dtype)   # not a leaked case
            z = x_t @ W_xh + h_prev @ W_hh + b_h
            return np.tanh(z) if nonlinearity == "tanh" else np.maximum(z, 0)
        ''')


def test_without_variants_the_cheat_passes_every_declared_case():
    """What variants are for: answering the leaked cases is enough when everybody's hidden cases
    are the declared ones."""
    ex, namespace = registry.get("rnn_step_forward"), {"np": np}
    exec(_cheat_source(), namespace)
    cases = [c for d in declarations(A)["rnn_step_forward"] for c in d.cases]
    assert [run_case(ex, namespace["rnn_step_forward"], c) for c in cases] == [None] * len(cases)


def _submit(course: Path, student: str, answers: dict) -> None:
    target = course / "submitted" / student / A
    target.mkdir(parents=True)
    for path in notebooks(course / "release" / A):
        nbformat.write(fill(nbformat.read(path, as_version=4), answers), target / path.name)


def _test_outputs(course: Path, student: str) -> dict:
    """grade_id -> [(output type, ename, evalue or text)] of every autograded test cell."""
    found = {}
    for path in notebooks(course / "autograded" / student / A):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
                found[meta["grade_id"]] = [(o.output_type, o.get("ename"), o.get("evalue"))
                                           for o in cell.outputs if o.output_type == "error"]
    return found


def _graded(course: Path, students=CORRECT + CHEATS + (RELEASE,)) -> dict:
    scores = score_rows(A, course)
    return {"scores": {s: scores[s] for s in students}, "outputs": {s: _test_outputs(course, s) for s in students},
            "text": {s: "".join(p.read_text() for p in notebooks(course / "autograded" / s / A)) for s in students}}


@pytest.fixture(scope="module")
def graded(built_course, tmp_path_factory):
    """The batch under `autograder grade`, then (three of its students) under stock `nbgrader
    autograde`, with the secret in a file outside the course that the course's nbgrader_config.py
    names (as the README says)."""
    base = tmp_path_factory.mktemp("variants")
    secret_file = base / "secrets" / "variant_secret"
    secret_file.parent.mkdir(mode=0o700)
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o600)
    course = base / "course"
    shutil.copytree(built_course, course, ignore=shutil.ignore_patterns("submitted", "autograded", "feedback"))
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(f"\nos.environ[{SECRET_ENV!r}] = {str(secret_file)!r}\n")
    correct = read_sample(ROOT / "samples" / A / "sample_correct.py")
    cheat = {**correct, **read_sample_text(_cheat_source())}
    for student in CORRECT:
        _submit(course, student, correct)
    for student in CHEATS:
        _submit(course, student, cheat)
    _submit(course, RELEASE, {})
    env = {k: v for k, v in tool_env().items() if k != SECRET_ENV}
    ours = subprocess.run([AUTOGRADER, "grade", A, "--force", "--jobs", "2", "--quiet"], cwd=course, env=env,
                          capture_output=True, text=True)
    assert ours.returncode == 0, ours.stdout + ours.stderr
    result = {"ours": _graded(course)}
    # stock nbgrader costs seconds a notebook: one correct student, the two cheats
    nbgrader("autograde", A, "--force", "--log-level=ERROR", f"--CourseDirectory.student_id_exclude={STOCK_SKIPS}",
             course_dir=course)
    result["stock"] = _graded(course, STOCK)
    result["secret_file"] = secret_file
    return result


def read_sample_text(source: str) -> dict:
    """grade_id -> source of every top-level function in ``source`` (a sample file's format)."""
    return {node.name: ast.get_source_segment(source, node) for node in ast.parse(source).body
            if isinstance(node, ast.FunctionDef)}


def _max_points() -> dict:
    trusted = TrustedAssignment.from_source(ROOT, A)
    return {c.grade_id: c.points for nb in trusted.notebooks.values() for c in nb.cells if c.is_test}


REPRODUCE = re.compile(r"case_inputs\('rnn_step_forward', (\{.*?\})\)")


@pytest.mark.parametrize("grader", ["ours", "stock"])
def test_same_work_same_points_whatever_the_variant(graded, grader):
    scores, full = graded[grader]["scores"], _max_points()
    for student in set(CORRECT) & set(scores):
        assert {g: scores[student][g] for g in full} == full, student
    for student in CHEATS:
        assert {g: scores[student][g] for g in full} == {g: 0 if g in CHEATED_CELLS else p for g, p in full.items()}
    if RELEASE in scores:
        assert not any(scores[RELEASE][g] for g in full)


@pytest.mark.parametrize("grader", ["ours", "stock"])
def test_each_cheat_fails_on_its_own_variant_and_can_reproduce_it(graded, grader):
    """The feedback of the two cheats names different hidden cases: each student's own variant of
    the first hidden case, whose reproduce line rebuilds the inputs their function gets wrong."""
    ex = registry.get("rnn_step_forward")
    first_hidden = next(d for d in declarations(A)["rnn_step_forward"] if d.hidden).cases[0]
    shown = {}
    for student in CHEATS:
        (error,) = graded[grader]["outputs"][student]["test_rnn_step_forward_core"]
        shown[student] = json.loads(REPRODUCE.search(error[2]).group(1))
        assert shown[student] == Variants(SECRET.encode(), student, A).case(ex, first_hidden)
        namespace = {"np": np}
        exec(_cheat_source(), namespace)
        inputs = case_inputs("rnn_step_forward", shown[student])
        assert not np.allclose(namespace["rnn_step_forward"](**inputs), expected_output(ex, shown[student]))
    assert shown[CHEATS[0]] != shown[CHEATS[1]]
    for text in graded[grader]["text"].values():
        assert SECRET not in text and str(graded["secret_file"]) not in text


def test_both_graders_agree_on_every_variant(graded):
    for what in ("scores", "outputs"):
        assert {s: graded["ours"][what][s] for s in STOCK} == graded["stock"][what]
