"""`autograder grade`: the same scores as stock `nbgrader autograde` on every assignment's samples,
cell by cell; nbgrader's feedback and export on its output; the single-notebook report; batches
of some students, without --force, several assignments in one command, and clear errors."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.course import nbgrader, notebooks, tool_env
from autograder.authoring.samples import samples, submit_samples
from autograder.authoring.scores import score_rows

from conftest import ASSIGNMENTS, submit_everything

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


def _graded_both_ways(a: str, stock_graded, built_course: Path, base: Path):
    """(stock course, our course, our --json report): the same submissions graded by each grader
    (stock nbgrader's grading is shared with tests/test_nbgrader.py)."""
    stock, ours = stock_graded(a), base / "ours"
    shutil.copytree(built_course, ours)
    submit_everything(a, ours)
    grade(ours, a, "--force", "--jobs", "2", "--quiet", "--json", str(base / "report.json"))
    return stock, ours, json.loads((base / "report.json").read_text())


# One test per assignment (not one per check), on the worker that runs test_nbgrader.py's tests of
# the same assignment, which share its stock grading.
@pytest.mark.parametrize("a", [pytest.param(a, marks=pytest.mark.xdist_group(f"stock-{a}")) for a in WITH_SAMPLES])
def test_same_scores_as_stock_nbgrader_and_nbgrader_tools_work(a, stock_graded, built_course, tmp_path):
    stock, ours, report = _graded_both_ways(a, stock_graded, built_course, tmp_path)

    # the scores, cell by cell
    assert score_rows(a, ours) == score_rows(a, stock)

    # what a learner reads in the feedback: the same pass lines and the same messages
    for student in score_rows(a, stock):
        assert recorded_test_outputs(ours, student, a) == recorded_test_outputs(stock, student, a), student

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
    assert "sample_buggy" in table and "37 / 100" in table
    result = grade(course, "ps9_nothing", check=False)
    assert result.returncode == 2
    assert "generate_assignment" in result.stderr and "Traceback" not in result.stderr

    # several assignments in one command (one start-up, one set of sandboxes): the same rows as
    # one command each, a report per assignment; one that cannot be graded ends it with status 2
    b = "ps2_bptt"
    submit_samples(b, course)
    alone = score_rows(a, course)
    grade(course, b, "--quiet")
    alone_b = score_rows(b, course)
    grade(course, a, b, "--force", "--quiet", "--json", str(out))
    both = json.loads(out.read_text())
    assert list(both) == [a, b] and all(len(r["students"]) == 3 for r in both.values())
    assert score_rows(a, course) == alone and score_rows(b, course) == alone_b
    result = grade(course, a, "ps9_nothing", "--force", "--quiet", check=False)
    assert result.returncode == 2 and "generate_assignment" in result.stderr and "Traceback" not in result.stderr
    assert grade(course, a, str(next(iter(notebooks(course / "release" / a)))), check=False).returncode == 2

    # a penalty from an earlier grading (say the student was late then) is reset when the
    # submission graded now is on time, as nbgrader's AssignLatePenalties resets it
    from nbgrader.api import Gradebook
    url = f"sqlite:///{course / 'gradebook.db'}"
    with Gradebook(url) as gb:
        gb.find_submission_notebook(a, a, "sample_correct").late_submission_penalty = 5.0
        gb.db.commit()
    grade(course, a, "--student", "sample_correct", "--force", "--quiet")
    with Gradebook(url) as gb:
        assert gb.find_submission_notebook(a, a, "sample_correct").late_submission_penalty is None


def test_help_explains_both_modes():
    text = subprocess.run([AUTOGRADER, "grade", "--help"], capture_output=True, text=True).stdout
    for phrase in ["ASSIGNMENT", "NOTEBOOK.ipynb", "--jobs", "--student", "--json", "--require-sandbox",
                   "gradebook", "bubblewrap", "--help-all", "TrustedGrader"]:
        assert phrase in text
    every = subprocess.run([AUTOGRADER, "grade", "--help-all"], capture_output=True, text=True).stdout
    for trait in ["--TrustedGrader.cell_timeout", "--TrustedGrader.notebook_timeout", "--TrustedGrader.memory_mb",
                  "--TrustedGrader.output_bytes", "--TrustedGrader.jobs"]:
        assert trait in every
