"""`autograder grade`: the same scores as stock `nbgrader autograde` on every assignment's samples,
cell by cell; nbgrader's feedback and export on its output; the single-notebook report; how a
submission is turned into sandbox steps; and the sandbox's own guarantees."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder import sandbox
from autograder.course import nbgrader, notebooks, tool_env
from autograder.samples import fill, read_sample, samples, submit_samples
from autograder.scores import score_rows
from autograder.trusted import TrustedAssignment, decode, plan_job

from conftest import ASSIGNMENTS

WITH_SAMPLES = [a for a in ASSIGNMENTS if samples(a)]
AUTOGRADER = str(Path(sys.executable).with_name("autograder"))


def grade(course: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`autograder grade ...` as a user runs it, in the course directory."""
    result = subprocess.run([AUTOGRADER, "grade", *args], cwd=course, env=tool_env(), capture_output=True,
                            text=True)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def recorded_test_outputs(course: Path, student: str, assignment: str) -> dict:
    """grade_id -> the recorded outputs of every autograded test cell, as comparable tuples."""
    found = {}
    for path in notebooks(course / "autograded" / student / assignment):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
                outs = []
                for o in cell.outputs:      # the kernel splits a stream into chunks as it pleases
                    if o.output_type == "stream" and outs and outs[-1][:2] == ("stream", o.name):
                        outs[-1] = ("stream", o.name, outs[-1][2] + o.text)
                    elif o.output_type == "stream":
                        outs.append(("stream", o.name, o.text))
                    else:
                        outs.append((o.output_type, o.get("ename"), o.get("evalue")))
                found[meta["grade_id"]] = outs
    return found


def _graded_both_ways(a: str, built_course: Path, base: Path):
    """(stock course, our course, our --json report): the samples graded by each grader."""
    stock, ours = base / "stock", base / "ours"
    shutil.copytree(built_course, stock)
    submit_samples(a, stock)
    shutil.copytree(stock, ours)
    result = nbgrader("autograde", a, "--force", "--log-level=ERROR", course_dir=stock, capture=True)
    assert result.returncode == 0, result.stderr
    grade(ours, a, "--force", "--jobs", "2", "--quiet", "--json", str(base / "report.json"))
    return stock, ours, json.loads((base / "report.json").read_text())


# One test per assignment (not one per check): under pytest -n 2 a shared fixture would be built
# again on every worker that runs one of its tests, grading everything twice with stock nbgrader.
@pytest.mark.parametrize("a", WITH_SAMPLES)
def test_same_scores_as_stock_nbgrader_and_nbgrader_tools_work(a, built_course, tmp_path):
    stock, ours, report = _graded_both_ways(a, built_course, tmp_path)

    # the scores, cell by cell
    assert score_rows(a, ours) == score_rows(a, stock)

    # what a learner reads in the feedback: the same pass lines and the same messages
    for sample in samples(a):
        assert recorded_test_outputs(ours, sample.stem, a) == recorded_test_outputs(stock, sample.stem, a), sample.stem

    # the --json report agrees with the gradebook
    rows = score_rows(a, ours)
    assert report["sandbox"] == "bubblewrap" or report["sandbox_warning"]
    for student in report["students"]:
        assert student["status"] == "graded"
        cells = {c["grade_id"]: c["score"] for nb in student["notebooks"] for c in nb["cells"]}
        assert cells == rows[student["student"]]

    # nbgrader's feedback and export work on its output
    result = nbgrader("generate_feedback", a, "--force", "--log-level=ERROR", course_dir=ours, capture=True)
    assert result.returncode == 0, result.stderr
    html = "".join(p.read_text() for p in (ours / "feedback" / "sample_buggy" / a).glob("*.html"))
    assert "Likely mistake" in html
    result = nbgrader("export", "--log-level=ERROR", course_dir=ours, capture=True)
    assert result.returncode == 0, result.stderr
    csv = (ours / "grades.csv").read_text()
    assert "sample_buggy" in csv and a in csv

    # a self-paced learner grades one notebook, far from any course directory: same points, hints
    nb = next(iter(notebooks(stock / "submitted" / "sample_buggy" / a)))
    lonely = tmp_path / "learner" / nb.name
    lonely.parent.mkdir()
    shutil.copy(nb, lonely)
    out = tmp_path / "learner" / "report.json"
    result = subprocess.run([AUTOGRADER, "grade", str(lonely), "--json", str(out)], cwd=lonely.parent,
                            env=tool_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    stock_rows = score_rows(a, stock)["sample_buggy"]
    assert json.loads(out.read_text())["score"] == sum(v for k, v in stock_rows.items() if k.startswith("test_"))
    assert "Likely mistake" in result.stdout
    assert not (lonely.parent / "gradebook.db").exists()


# ----------------------------------------------------------------------------- batches


def test_students_option_no_force_skip_and_clear_errors(built_course, tmp_path):
    a = "ps1_rnn_forward"
    course = tmp_path / "course"
    shutil.copytree(built_course, course)
    submit_samples(a, course)
    out = tmp_path / "r.json"
    grade(course, a, "--student", "sample_correct", "sample_release", "--quiet", "--json", str(out))
    graded = {s["student"] for s in json.loads(out.read_text())["students"]}
    assert graded == {"sample_correct", "sample_release"}
    assert set(score_rows(a, course)) == graded
    grade(course, a, "--quiet", "--json", str(out))                  # like nbgrader: only what is new
    assert {s["student"] for s in json.loads(out.read_text())["students"]} == {"sample_buggy"}
    table = grade(course, a, "--force").stdout
    assert "sample_buggy" in table and "35 / 100" in table
    result = grade(course, "ps9_nothing", check=False)
    assert result.returncode == 2
    assert "generate_assignment" in result.stderr and "Traceback" not in result.stderr


def test_help_explains_both_modes():
    text = subprocess.run([AUTOGRADER, "grade", "--help"], capture_output=True, text=True).stdout
    for phrase in ["ASSIGNMENT", "NOTEBOOK.ipynb", "--jobs", "--student", "--json", "--require-sandbox",
                   "gradebook", "bubblewrap"]:
        assert phrase in text


# ----------------------------------------------------------------------------- planning

def _trusted(a="ps1_rnn_forward") -> TrustedAssignment:
    from autograder.course import ROOT
    t = TrustedAssignment.from_source(ROOT, a)
    t.prepare()
    return t


def _release(a="ps1_rnn_forward"):
    from autograder.course import ROOT
    return nbformat.read(next(iter(notebooks(ROOT / "release" / a))), as_version=4)


def _kinds(steps):
    return [s["grade_id"] if s["kind"] == "test" else "code" for s in steps]


def test_plan_runs_code_in_order_tests_as_calls_and_skips_demos():
    t = _trusted()
    nb = _release()
    steps = plan_job(t.notebooks["ps1_rnn_forward"], nb)
    tests = [s for s in steps if s["kind"] == "test"]
    assert [s["grade_id"] for s in tests] == list(t.notebooks["ps1_rnn_forward"].tests)
    assert all(s["calls"] for s in tests)
    code = "\n".join(s["source"] for s in steps if s["kind"] == "code")
    assert "check(" not in code and "if not GRADING" not in code        # no test cells, no demos
    assert "from autograder import check" in code                       # the setup cell runs


def test_plan_restores_locked_cells_and_ignores_moved_or_deleted_tests():
    t = _trusted()
    nb = _release()
    honest = _kinds(plan_job(t.notebooks["ps1_rnn_forward"], nb))
    setup = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    setup.source = "raise SystemExit('tampered')"
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("test_")]
    nb.cells = [c for c in nb.cells if c not in tests] + tests[3:][::-1]    # 3 deleted, the rest moved
    steps = plan_job(t.notebooks["ps1_rnn_forward"], nb)
    assert _kinds(steps) == honest
    assert not any("tampered" in s.get("source", "") for s in steps)


def test_decode_builds_only_plain_values():
    assert decode({"t": "ndsub", "mod": "evil", "name": "Agree"}, {}).__class__.__name__ == "Agree"
    sub = decode({"t": "ndsub", "mod": "evil", "name": "Agree"}, {})
    assert isinstance(sub, np.ndarray) and type(sub) is not np.ndarray and sub.size == 0
    assert type(decode({"t": "obj", "mod": "os", "name": "system"}, {})).__module__ == "os"
    assert decode({"t": "tuple", "items": [{"t": "float", "v": "nan"}, {"t": "none"}]}, {})[1] is None
    with pytest.raises(Exception):
        decode({"t": "nd", "k": "missing"}, {})


# ----------------------------------------------------------------------------- the sandbox

def _run_cells(*sources: str, limits: dict | None = None) -> sandbox.ChildFrames:
    command, _ = sandbox.sandbox_command()
    pool = sandbox.SandboxPool(command, 1)
    try:
        pool.set_inputs({}, {})
        job = {"type": "job", "steps": [{"kind": "code", "key": str(i), "source": s} for i, s in enumerate(sources)],
               "limits": dict(sandbox.Limits(cell_timeout=5, notebook_timeout=30).as_dict(), **(limits or {}))}
        return pool.submit(job).result(timeout=120).frames
    finally:
        pool.close()


def _error(frames, key):
    return (frames.cells[key].get("error") or {}).get("evalue", "")


needs_bwrap = pytest.mark.skipif(not sandbox.bwrap_status()[0], reason="bubblewrap is not available here")


@needs_bwrap
def test_sandbox_hides_torch_course_files_network_and_processes():
    from autograder.course import ROOT
    frames = _run_cells(
        "import torch",
        "import importlib; importlib.import_module('torch')",
        f"open({str(ROOT / 'nbgrader_config.py')!r})",
        "import socket; socket.create_connection(('127.0.0.1', 9), timeout=1)",
        "import subprocess; subprocess.run(['true'])",
        "import os; print(os.getuid(), sorted(os.listdir('/')))",
        "import numpy as np, matplotlib.pyplot as plt; from autograder import check; print(check(1, 'x', []))",
    )
    assert "torch" in _error(frames, "0") and "torch" in _error(frames, "1")
    assert "No such file" in _error(frames, "2")
    assert _error(frames, "3") and _error(frames, "4")
    assert "work" not in frames.cells["5"]["stdout"]
    assert frames.cells["6"]["stdout"] == "None\n" and not frames.cells["6"]["error"]


def test_sandbox_limits_time_memory_and_output():
    frames = _run_cells("while True: pass",
                        "x = bytearray(8 * 2**30)",
                        "while True: print('spam' * 1000)",
                        "print('still here')",
                        limits={"cell_timeout": 1, "memory_mb": 512, "stream_chars": 10_000})
    assert "did not finish within 1 s" in _error(frames, "0")
    assert frames.cells["1"]["error"]["ename"] == "MemoryError"
    assert "truncated" in frames.cells["2"]["stdout"] and len(frames.cells["2"]["stdout"]) < 20_000
    assert frames.cells["3"]["stdout"] == "still here\n"


def test_require_sandbox_refuses_without_bubblewrap(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox, "_BWRAP_STATUS", {"ok": False, "why": "bubblewrap is not installed"})
    with pytest.raises(sandbox.SandboxError, match="require-sandbox"):
        sandbox.sandbox_command(require_sandbox=True)
    command, warning = sandbox.sandbox_command()
    assert not command.use_bwrap and "not installed" in warning
    for path in command.cleanup:
        shutil.rmtree(path, ignore_errors=True)


def test_fallback_subprocess_still_grades_and_warns(monkeypatch, tmp_path):
    """Without bubblewrap: a plain subprocess with limits and a loud warning, same verdicts."""
    from autograder.course import ROOT
    from autograder.grader import grade_notebook
    monkeypatch.setattr(sandbox, "_BWRAP_STATUS", {"ok": False, "why": "bubblewrap is not installed"})
    a = "ps1_rnn_forward"
    nb = fill(_release(a), read_sample(ROOT / "samples" / a / "sample_correct.py"))
    path = tmp_path / f"{a}.ipynb"
    nbformat.write(nb, path)
    report = grade_notebook(path, [ROOT])
    assert report["sandbox_warning"] and "NOT sandboxed" in report["sandbox"]
    assert report["score"] == report["max_score"] > 0
