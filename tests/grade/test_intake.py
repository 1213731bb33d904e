"""The intake (grade/intake.py) on its own, without grading: what is copied, what is left out
and why, which names are mapped, which cells' metadata is invalid. Milliseconds; the attacks
graded end to end are tests/test_attacks.py."""
from __future__ import annotations

import json
import os
from types import SimpleNamespace

import nbformat
import pytest

from autograder.grade.assignment import TrustedCell, TrustedNotebook
from autograder.grade.intake import Caps, student_id_for, take_in_all
from autograder.grade.steps.check_cell_metadata import cell_problem

A = "ps0"


def _trusted():
    cells = [TrustedCell("f", "code", False, "def f(): ...", solution=True),
             TrustedCell("test_f", "code", True, "check(f)", points=5.0)]
    return SimpleNamespace(notebooks={A: TrustedNotebook(A, cells)})


def _notebook(test_meta=None) -> dict:
    meta = {"schema_version": 3, "grade": True, "solution": False, "locked": True, "grade_id": "test_f",
            "points": 5}
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("def f(): return 1", metadata={"nbgrader": {
            "schema_version": 3, "grade": False, "solution": True, "locked": False, "grade_id": "f"}}),
        nbformat.v4.new_code_cell("check(f)", metadata={"nbgrader": test_meta if test_meta is not None else meta})])
    return json.loads(nbformat.writes(nb))


def _submit(root, student, nb=None):
    folder = root / "submitted" / student / A
    folder.mkdir(parents=True)
    (folder / f"{A}.ipynb").write_text(json.dumps(nb or _notebook()))
    return folder


def _take(root, caps=None):
    return {s.student: s for s in take_in_all(root / "submitted", root / "work", A, _trusted(), caps or Caps())}


def test_links_and_special_files_are_left_out_with_their_reason(tmp_path):
    folder = _submit(tmp_path, "alice")
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", folder / "link.txt")
    os.link(tmp_path / "secret.txt", folder / "hard.txt")
    os.mkfifo(folder / "fifo")
    os.symlink(".", folder / "loop")
    with open(folder / "sparse.bin", "wb") as f:
        f.truncate(1 << 40)
    (folder / "data.txt").write_text("kept")
    sub = _take(tmp_path)["alice"]
    kept = sorted(p.name for p in sub.path.iterdir())
    assert kept == ["data.txt", f"{A}.ipynb"]
    notes = "\n".join(sub.notes)
    for name, why in [("link.txt", "symbolic link"), ("hard.txt", "hard link"), ("fifo", "fifo"),
                      ("loop", "symbolic link"), ("sparse.bin", "MB")]:
        assert any(name in n and why in n for n in sub.notes), (name, notes)
    assert not sub.refused


def test_a_notebook_that_is_a_link_is_never_read(tmp_path):
    folder = _submit(tmp_path, "bob")
    (folder / f"{A}.ipynb").unlink()
    solutions = tmp_path / "source.ipynb"
    solutions.write_text(json.dumps(_notebook()))
    os.symlink(solutions, folder / f"{A}.ipynb")
    sub = _take(tmp_path)["bob"]
    assert not (sub.path / f"{A}.ipynb").exists()
    assert any("symbolic link" in n for n in sub.notes)


def test_folders_that_are_links_are_refused(tmp_path):
    _submit(tmp_path, "carol")
    os.symlink(tmp_path / "submitted" / "carol", tmp_path / "submitted" / "mallory")
    taken = _take(tmp_path)
    assert "symbolic link" in " ".join(taken["mallory"].refused)
    assert not taken["carol"].refused


@pytest.mark.parametrize("name", ["a,b", "line\nbreak", "--force", "..x", "x" * 65, "a\u2215b", "<b>", "_x"])
def test_unsafe_names_are_mapped_to_fixed_safe_ids(tmp_path, name):
    _submit(tmp_path, name)
    sub = next(iter(_take(tmp_path).values()))
    assert sub.student == student_id_for(name) != name and sub.student.startswith("_unsafe_")
    assert sub.path.name == A and sub.path.parent.name == sub.student
    assert any("not a safe student id" in n for n in sub.notes)


def test_safe_names_are_kept():
    for name in ["alice", "bob.smith", "jo+course@uni.edu", "s1234567", "A-b_c"]:
        assert student_id_for(name) == name


def test_caps_on_entries_and_depth(tmp_path):
    folder = _submit(tmp_path, "dave")
    for i in range(20):
        (folder / f"f{i:02d}.txt").write_text("x")
    sub = _take(tmp_path, Caps(entries=10))["dave"]
    assert any("more than 10" in n for n in sub.notes)


@pytest.mark.parametrize("change, why", [
    ({"schema_version": 1}, "schema version"), ({"schema_version": "3"}, "schema version"),
    ({"points": "5"}, "not of type"), ({"points": float("nan")}, "finite"), ({"points": -1}, "minimum"),
    ({"grade": "yes"}, "not of type"), ({"bonus": 1}, "Additional properties"), ({"grade_id": "a b"}, "match"),
])
def test_invalid_cell_metadata_is_named(change, why):
    meta = {"schema_version": 3, "grade": True, "solution": False, "locked": True, "grade_id": "t", "points": 1,
            **change}
    assert why in cell_problem({"metadata": {"nbgrader": meta}})


def test_valid_metadata_passes():
    meta = {"schema_version": 3, "grade": True, "solution": False, "locked": True, "grade_id": "t", "points": 1e300}
    assert cell_problem({"metadata": {"nbgrader": meta}}) is None
    assert cell_problem({"metadata": {}}) is None


def test_an_invalid_test_cell_is_restored_and_voided(tmp_path):
    _submit(tmp_path, "erin", _notebook({"schema_version": 99, "grade_id": "test_f"}))
    sub = _take(tmp_path)["erin"]
    assert set(sub.voided[A]) == {"test_f"}
    written = nbformat.read(sub.path / f"{A}.ipynb", as_version=4)
    assert written.cells[1].metadata.nbgrader["schema_version"] == 3      # nbgrader reads it without stopping


def test_a_notebook_nbformat_rejects_is_refused(tmp_path):
    nb = _notebook()
    del nb["cells"][0]["source"]
    _submit(tmp_path, "frank", nb)
    assert "not a valid notebook" in " ".join(_take(tmp_path)["frank"].refused)


def test_a_lone_surrogate_refuses_that_notebook_only(tmp_path):
    """JSON may escape a lone surrogate (\\ud800), which no UTF-8 file can hold: that submission is
    refused with the reason, and the one beside it is taken in (it used to raise, ending the batch)."""
    nb = _notebook()
    nb["cells"][0]["source"] = "def f(): return '\ud800'"
    _submit(tmp_path, "gina", nb)
    _submit(tmp_path, "hal")
    taken = _take(tmp_path)
    assert "not valid Unicode" in " ".join(taken["gina"].refused)
    assert not taken["hal"].refused and (taken["hal"].path / f"{A}.ipynb").is_file()


def test_a_killed_batchs_working_area_is_removed_by_the_next(tmp_path, monkeypatch):
    """SIGKILL leaves a batch no time to remove its private working area: the next batch removes
    those of processes that no longer run, and leaves a running one's alone."""
    import subprocess
    import tempfile

    from autograder.grade import batch
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = tmp_path / f"{batch.INTAKE_PREFIX}{gone.pid}-abc"
    live = tmp_path / f"{batch.INTAKE_PREFIX}{os.getpid()}-def"
    for d in (dead, live):
        (d / "student").mkdir(parents=True)
    batch._sweep_intake_areas()
    assert not dead.exists() and live.exists()


def test_the_session_plans_from_what_the_intake_wrote(tmp_path):
    """The part of each notebook kept for the session (``sub.parsed``) is what reading the written
    file back gives the plan, repaired cells, repaired duplicate ids and split lines included."""
    from autograder.grade.plan import planned_part
    from autograder.grade.session import read_submission
    nb = _notebook({"schema_version": 99, "grade_id": "test_f"})
    nb["cells"].append(dict(nb["cells"][0], source=["a = 1\n", "b = 2"]))     # a duplicate id, a split source
    nb["cells"][2]["metadata"] = {"tags": ["demo"]}
    _submit(tmp_path, "gina", nb)
    sub = _take(tmp_path)["gina"]
    back, problem = read_submission(sub.path / f"{A}.ipynb")
    assert problem is None
    assert sub.parsed[A] == planned_part(back)
    assert len({c["id"] for c in sub.parsed[A].cells}) == 3


def test_the_converter_gets_the_written_notebook_for_a_bounded_number(tmp_path, monkeypatch):
    """``sub.nodes``: the notebook each written file holds, as reading it back gives it, for the
    converter; kept for NODES_KEPT notebooks a batch at most (memory), the others read again."""
    from autograder.grade import intake
    from autograder.grade.session import read_submission
    monkeypatch.setattr(intake, "NODES_KEPT", 2)
    for student in ("ann", "ben", "cal"):
        _submit(tmp_path, student, _notebook({"schema_version": 99, "grade_id": "test_f"}))
    taken = _take(tmp_path)
    assert [len(taken[s].nodes) for s in ("ann", "ben", "cal")] == [1, 1, 0]
    for s in ("ann", "ben"):
        [(path, node)] = taken[s].nodes.items()
        assert path == os.path.abspath(taken[s].path / f"{A}.ipynb")
        assert node == read_submission(path)[0]


def test_metadata_answers_are_remembered_by_exact_value():
    """cell_problem's memo tells apart what JSON tells apart (True is not 1, 1 is not 1.0, -0.0 is
    not 0.0) and keeps key order, which can decide the error reported."""
    base = {"schema_version": 3, "grade": True, "solution": False, "locked": True, "grade_id": "t"}
    for _ in range(2):                                      # the second round answers from the memo
        assert cell_problem({"metadata": {"nbgrader": dict(base, points=1)}}) is None
        assert "not of type" in cell_problem({"metadata": {"nbgrader": dict(base, points=True)}})
        assert cell_problem({"metadata": {"nbgrader": dict(base, schema_version=3.0)}}).startswith("schema version 3.0")
        assert "-0.0" in cell_problem({"metadata": {"nbgrader": dict(base, schema_version=-0.0)}})
        assert "0.0" in cell_problem({"metadata": {"nbgrader": dict(base, schema_version=0.0)}})
        assert "-0.0" not in cell_problem({"metadata": {"nbgrader": dict(base, schema_version=0.0)}})
