"""The Gradescope autograder (`autograder gradescope`): the zip built for ps1, unpacked into a
temporary tree laid out as Gradescope's (source/, submission/, results/), its run_autograder run on
a correct, a buggy, a hidden-only failing and two broken submissions; results.json validated
against a JSON schema written from Gradescope's specification, the scores equal to `autograder
grade`'s, and the zip searched for solution text."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import nbformat
import pytest

import autograder
from autograder import cli
from autograder.authoring.gradescope import PYTHON_ENV, ROOT_ENV, find_notebook, run, write_zip
from autograder.authoring.samples import SAMPLES, fill, read_sample
from autograder.checks import messages
from autograder.checks.declarations import parse
from autograder.course import ROOT, tool_env
from test_bundle import secrets

A = "ps1_rnn_forward"
AUTOGRADER = str(Path(sys.executable).with_name("autograder"))
pytestmark = pytest.mark.xdist_group("gradescope")

# results.json, from https://gradescope-autograders.readthedocs.io/en/latest/specs/ ("Output
# format"): a top-level score or a score on every test; visibility and formats from fixed sets.
VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
FORMAT = {"enum": ["text", "html", "simple_format", "md", "ansi"]}
NUMBER, STRING = {"type": "number"}, {"type": "string"}
TEST_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "properties": {"score": NUMBER, "max_score": NUMBER, "status": {"enum": ["passed", "failed"]},
                   "name": STRING, "name_format": FORMAT, "number": STRING, "output": STRING,
                   "output_format": FORMAT, "tags": {"type": "array", "items": STRING},
                   "visibility": VISIBILITY, "extra_data": {"type": "object"}},
}
RESULTS_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "properties": {"score": NUMBER, "execution_time": NUMBER, "output": STRING, "output_format": FORMAT,
                   "test_output_format": FORMAT, "test_name_format": FORMAT, "visibility": VISIBILITY,
                   "stdout_visibility": VISIBILITY, "extra_data": {"type": "object"},
                   "tests": {"type": "array", "items": TEST_SCHEMA},
                   "leaderboard": {"type": "array"}},
    "anyOf": [{"required": ["score"]},
              {"required": ["tests"], "properties": {"tests": {"items": {"required": ["score"]}}}}],
}

# A learner who fits the visible cases: right everywhere but on the inputs of one hidden case of
# test_rnn_step_forward_edges (B = D = H = 1, seed 11), where it returns zeros.
HIDDEN_CASE = {"B": 1, "D": 1, "H": 1, "seed": 11}
HIDDEN_ONLY = '''def rnn_step_forward(x_t, h_prev, W_xh, W_hh, b_h, nonlinearity="tanh"):
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError("unknown nonlinearity")
    z = x_t @ W_xh + h_prev @ W_hh + b_h
    if x_t.shape == (1, 1) and abs(float(x_t[0, 0]) - {x!r}) < 1e-9:
        return np.zeros_like(z)
    return np.tanh(z) if nonlinearity == "tanh" else np.maximum(z, 0)
'''


# /autograder/submission_metadata.json, as Gradescope writes it (the fields read here)
METADATA = {"id": 123456, "users": [{"email": "ada@example.edu", "id": 4242, "name": "Ada Lovelace", "sid": "S1001"}],
            "assignment": {"id": 98765, "title": "ps1_rnn_forward"}}


def sample_notebook(answers: dict) -> bytes:
    nb = nbformat.read(ROOT / "release" / A / f"{A}.ipynb", as_version=4)
    return nbformat.writes(fill(nb, answers)).encode()


def submissions() -> dict[str, dict[str, bytes]]:
    correct = read_sample(SAMPLES / A / "sample_correct.py")
    x = float(autograder.case_inputs("rnn_step_forward", HIDDEN_CASE)["x_t"][0, 0])
    return {
        "correct": {f"{A}.ipynb": sample_notebook(correct)},
        "buggy": {f"{A}.ipynb": sample_notebook(read_sample(SAMPLES / A / "sample_buggy.py"))},
        # any name will do when it is the only notebook
        "hidden_only": {"my_work.ipynb": sample_notebook(dict(correct, rnn_step_forward=HIDDEN_ONLY.format(x=x)))},
        "not_json": {f"{A}.ipynb": b"{ this is not a notebook", "notes.txt": b"hello"},
        "no_notebook": {"answers.py": b"def rnn_forward(): pass\n"},
    }


@pytest.fixture(scope="module")
def zip_path(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gradescope") / "autograder.zip"
    result = subprocess.run([AUTOGRADER, "gradescope", A, "--out", str(out)], cwd=ROOT, env=tool_env(),
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return out


def gradescope_tree(zip_path: Path, root: Path, files: dict[str, bytes], metadata: dict | None = None) -> Path:
    """/autograder as Gradescope lays it out: the zip in source/, run_autograder beside it, the
    student's files in submission/, and submission_metadata.json when given."""
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(root / "source")
        for info in zf.infolist():            # extractall drops the permission bits
            (root / "source" / info.filename).chmod((info.external_attr >> 16) & 0o777)
    (root / "run_autograder").write_bytes((root / "source" / "run_autograder").read_bytes())
    (root / "run_autograder").chmod(0o755)
    for name, data in files.items():
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / name).write_bytes(data)
    (root / "results").mkdir()
    if metadata is not None:
        (root / "submission_metadata.json").write_text(json.dumps(metadata))
    return root


@pytest.fixture(scope="module")
def graded(zip_path, tmp_path_factory) -> dict[str, dict]:
    """Every submission through run_autograder (in parallel), and `autograder grade NOTEBOOK
    --json` on the correct and the buggy one; name -> {"results": ..., "grade": ...}."""
    env = tool_env()
    env.pop("PYTHONPATH", None)
    env[PYTHON_ENV] = sys.executable      # the interpreter setup.sh would have made; the package is the zip's
    runs, out = {}, {}
    for name, files in submissions().items():
        root = gradescope_tree(zip_path, tmp_path_factory.mktemp(name) / "autograder", files,
                               METADATA if name == "hidden_only" else None)
        runs[name] = (root, subprocess.Popen([str(root / "run_autograder")], env=dict(env, **{ROOT_ENV: str(root)}),
                                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for name in ("correct", "buggy"):
        notebook = runs[name][0] / "submission" / f"{A}.ipynb"
        runs[f"grade {name}"] = (notebook, subprocess.Popen(
            [AUTOGRADER, "grade", str(notebook), "--json", str(notebook.with_suffix(".json")), "--quiet"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for name, (path, proc) in runs.items():
        log, _ = proc.communicate(timeout=600)
        if name.startswith("grade "):
            out[name.split()[1]]["grade"] = json.loads(path.with_suffix(".json").read_text())
        else:
            assert proc.returncode == 0, log
            out[name] = {"results": json.loads((path / "results" / "results.json").read_text()), "log": log}
    return out


def by_cell(results: dict) -> dict[str, dict]:
    return {t["name"]: t for t in results["tests"]}


def test_every_results_json_follows_gradescopes_schema(graded):
    for name, run in graded.items():
        jsonschema.validate(run["results"], RESULTS_SCHEMA)
        assert run["results"]["execution_time"] > 0, name


def test_scores_equal_autograder_grade(graded):
    for name in ("correct", "buggy"):
        results, report = graded[name]["results"], graded[name]["grade"]
        theirs = {c["grade_id"]: c["score"] for c in report["cells"] if c["kind"] == "test"}
        ours = {t["name"]: t["score"] for t in results["tests"] if t["visibility"] == "visible"}
        assert ours == theirs, name
        assert results["score"] == report["score"] == sum(ours.values())
        assert {t["name"]: t["max_score"] for t in results["tests"] if t["visibility"] == "visible"} == \
            {c["grade_id"]: c["max_points"] for c in report["cells"] if c["kind"] == "test"}
    correct = graded["correct"]["results"]
    assert correct["score"] == sum(t["max_score"] for t in correct["tests"]) > 0
    assert all(t["status"] == "passed" for t in correct["tests"])
    buggy = graded["buggy"]["results"]
    assert 0 < buggy["score"] < correct["score"]


def test_a_failing_test_names_the_mistake(graded):
    results = graded["buggy"]["results"]
    failed = [t for t in results["tests"] if t["status"] == "failed"]
    assert failed and all(t["score"] == 0 for t in failed)
    assert any("Likely mistake:" in t["output"] for t in failed)
    assert "graded by hand" in results["output"] and results["stdout_visibility"] == "hidden"


def test_a_hidden_cases_details_wait_for_publication(graded):
    tests = by_cell(graded["hidden_only"]["results"])
    visible = tests["test_rnn_step_forward_edges"]
    details = tests[messages.GRADESCOPE_HIDDEN_NAME.format(grade_id="test_rnn_step_forward_edges")]
    assert visible["score"] == 0 and visible["visibility"] == "visible" and visible["status"] == "failed"
    assert json.dumps(HIDDEN_CASE) not in visible["output"] and details["name"] in visible["output"]
    assert details["visibility"] == "after_published" and details["max_score"] == 0
    assert json.dumps(HIDDEN_CASE) in details["output"]
    assert tests["test_rnn_step_forward_core"]["status"] == "passed"
    assert graded["hidden_only"]["results"]["extra_data"]["student"] == "S1001"      # from submission_metadata.json
    assert graded["buggy"]["results"]["extra_data"]["student"] == "you"              # none: single-notebook mode's name
    # no other test shows a hidden case, and only that cell lost points
    source = nbformat.read(ROOT / "source" / A / f"{A}.ipynb", as_version=4)
    hidden = [json.dumps(case) for cell in source.cells if cell.metadata.get("nbgrader", {}).get("grade")
              and cell.cell_type == "code" and not cell.metadata["nbgrader"].get("solution")
              for decl in parse(cell.source) if decl.hidden for case in decl.cases]
    assert hidden
    shown = [t for t in tests.values() if t["visibility"] != "after_published"]
    assert not [h for h in hidden for t in shown if h in t.get("output", "")]
    lost = sum(t["max_score"] - t["score"] for t in shown)
    assert lost == visible["max_score"]


def test_broken_submissions_are_ungradable_with_a_reason(graded):
    not_json = graded["not_json"]["results"]
    assert not_json["score"] == 0 and all(t["score"] == 0 for t in not_json["tests"])
    assert not_json["output"].startswith(messages.GRADESCOPE_UNGRADABLE.format(why=""))
    assert "JSON" in not_json["output"] or "notebook" in not_json["output"]
    none = graded["no_notebook"]["results"]
    assert none == dict(none, score=0.0, tests=[],
                        output=messages.GRADESCOPE_NO_NOTEBOOK.format(notebook=A))


def texts(zf: zipfile.ZipFile) -> dict[str, str]:
    out = {}
    for name in zf.namelist():
        data = zf.read(name).decode("utf-8")
        if name.endswith(".ipynb"):
            nb = nbformat.reads(data, as_version=4)
            data = "\n".join([c.source for c in nb.cells] + [json.dumps(c.get("outputs", [])) for c in nb.cells])
        out[name] = data
    return out


def test_zip_holds_the_grader_and_the_declarations_but_no_solution(zip_path):
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in zf.infolist()}
        everything = texts(zf)
    assert {"setup.sh", "run_autograder", "requirements.txt", "constraints.txt", "course/gradescope.json",
            "course/nbgrader_config.py", f"course/source/{A}/{A}.ipynb", "course/autograder/grade/notebook.py",
            "course/autograder/sandbox/learner_runner.py"} <= names
    assert modes["setup.sh"] == modes["run_autograder"] == 0o755
    for script in ("setup.sh", "run_autograder"):                      # bash can parse them
        assert subprocess.run(["bash", "-n"], input=everything[script], text=True).returncode == 0, script
    assert not [n for n in names if n.startswith(("solutions/", "samples/", "tests/", "course/solutions/",
                                                  "course/release/")) or n.endswith(".pct.py") or "__pycache__" in n]
    assert [n for n in names if n.startswith("course/source/")] == [f"course/source/{A}/{A}.ipynb"]
    assert "pytest" not in everything["requirements.txt"] and "torch==" in everything["requirements.txt"]
    notebook = everything[f"course/source/{A}/{A}.ipynb"]
    # the hidden declarations are there to grade with
    assert "### BEGIN HIDDEN TESTS" in notebook and json.dumps(HIDDEN_CASE)[1:-1] in notebook
    assert "BEGIN SOLUTION" not in notebook
    bodies, _ = secrets()
    for rel, text in everything.items():
        flat = " ".join(text.split())
        whole = [b for b in bodies if len(b) > 1 and " ".join(b) in flat]
        assert not whole, (rel, whole[0][:3])
        if not rel.startswith("course/autograder/exercises/"):     # the registry: see test_bundle.py's xfail
            own = {line.strip() for line in text.splitlines()}
            lines = [line for b in bodies for line in b if len(line) >= 25 and line in own]
            assert not lines, (rel, lines[:3])


def test_which_notebook_is_graded(tmp_path):
    sub = tmp_path / "submission"
    (sub / "old").mkdir(parents=True)
    for name in ("old/draft.ipynb", "scratch.ipynb", ".ipynb_checkpoints/x.ipynb"):
        (sub / name).parent.mkdir(parents=True, exist_ok=True)
        (sub / name).write_text("{}")
    path, why = find_notebook(sub, A)
    assert path is None and why == messages.GRADESCOPE_MANY.format(found="old/draft.ipynb, scratch.ipynb", notebook=A)
    (sub / "old" / f"{A}.ipynb").write_text("{}")                 # the assignment's name wins, wherever it is
    assert find_notebook(sub, A) == (sub / "old" / f"{A}.ipynb", None)


def test_unknown_assignment_is_a_usage_error(tmp_path, capsys):
    assert cli.main(["--course-dir", str(ROOT), "gradescope", "ps9_nothing", "--out", str(tmp_path / "a.zip")]) == 2
    assert "no assignment ps9_nothing" in capsys.readouterr().err
    assert not (tmp_path / "a.zip").exists()


def test_the_graders_own_failure_still_writes_results(tmp_path, capsys):
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / f"{A}.ipynb").write_text("{}")
    results = run(tmp_path, tmp_path / "no-course")          # no gradescope.json: the grader cannot start
    assert json.loads((tmp_path / "results" / "results.json").read_text()) == results
    assert results["score"] == 0 and results["tests"] == []
    assert results["output"] == messages.GRADESCOPE_FAILED.format(why="FileNotFoundError")
    assert "Traceback" in capsys.readouterr().out              # for the instructor (stdout is hidden)
    jsonschema.validate(results, RESULTS_SCHEMA)


def test_require_sandbox_without_bubblewrap_fails_loudly(zip_path, tmp_path, monkeypatch, capsys):
    """`c.TrustedGrader.require_sandbox = True` in the zip's configuration, on a machine without a
    working bubblewrap: no learner code runs, the student reads that the autograder failed, the
    instructor's stdout says why."""
    from autograder.sandbox import command
    monkeypatch.setattr(command, "_BWRAP_STATUS", {"ok": False, "why": "bubblewrap is not installed"})
    root = gradescope_tree(zip_path, tmp_path / "autograder", submissions()["correct"])
    course = root / "source" / "course"
    with open(course / "nbgrader_config.py", "a") as fh:
        fh.write("\nc.TrustedGrader.require_sandbox = True\n")
    results = run(root, course)
    assert results["score"] == 0 and results["tests"] == []
    assert results["output"] == messages.GRADESCOPE_FAILED.format(why="SandboxError")
    assert "bubblewrap is not installed" in capsys.readouterr().out


def test_the_zip_is_the_same_bytes_every_build(zip_path, tmp_path):
    again = tmp_path / "again.zip"
    write_zip(A, ROOT, again)
    assert again.read_bytes() == zip_path.read_bytes()
