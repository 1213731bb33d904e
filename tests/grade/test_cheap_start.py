"""Issue 16, items 1-2: a repeat run imports no torch, and hanging submissions cost seconds.

One course, one assignment (ps1), three real `autograder grade` runs in subprocesses: cold (the
reference cache is written), warm under ``python -X importtime`` (torch must never be imported;
the same scores cell by cell), and warm again with four hanging submissions added: an infinite
loop, a ``time.sleep`` and a SIGINT-ignoring loop inside graded functions, and a loop at the top
level of a solution cell. They may cost at most 30 s more than the batch without them, and lose
only the hanging function's cells. Corrupt, foreign and stale cache entries are unit-tested on
the same course's gradebook.
"""
from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder.authoring.samples import submit_samples
from autograder.course import notebooks, tool_env
from autograder.grade import reference_cache
from autograder.grade.assignment import TrustedAssignment

A = "ps1_rnn_forward"
PYTHON = sys.executable
CORRECT = ["solution", "solution_2", "sample_correct"]

# student -> (solution cell, its new source, the function that hangs or None)
HANGS = {
    "hang_loop": ("spectral_radius", "def spectral_radius(W):\n    while True:\n        pass\n", "spectral_radius"),
    "hang_sleep": ("many_to_one_classify", "def many_to_one_classify(x, h0, W_xh, W_hh, b_h, W_hy, b_y):\n"
                   "    import time\n    time.sleep(3600)\n", "many_to_one_classify"),
    "hang_sigint": ("convert_rnn_state_dict", "def convert_rnn_state_dict(state_dict, num_layers, bidirectional):\n"
                    "    import signal\n    signal.signal(signal.SIGINT, signal.SIG_IGN)\n    n = 0\n"
                    "    while True:\n        n += 1\n", "convert_rnn_state_dict"),
    "hang_top_level": ("linear_rnn_closed_form", None, None),      # the solution, then a loop at top level
}


def _submit(course: Path, student: str, change: tuple | None = None) -> None:
    target = course / "submitted" / student / A
    target.mkdir(parents=True, exist_ok=True)
    for path in notebooks(course / "solutions" / A):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if change and cell.metadata.get("nbgrader", {}).get("grade_id") == change[0]:
                cell.source = change[1] if change[1] is not None else cell.source + "\n\nwhile True:\n    pass\n"
        nbformat.write(nb, target / path.name)


def _grade(course: Path, report: Path, *python_flags: str) -> tuple[dict, float, str]:
    started = time.perf_counter()
    result = subprocess.run([PYTHON, *python_flags, "-m", "autograder", "grade", A, "--force", "--jobs", "2",
                             "--quiet", "--json", str(report)], cwd=course, env=tool_env(), capture_output=True,
                            text=True)
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(report.read_text()), seconds, result.stderr


def _cells(report: dict) -> dict:
    return {(s["student"], c["grade_id"]): (c["score"], c["message"])
            for s in report["students"] for n in s["notebooks"] for c in n["cells"]}


@pytest.fixture(scope="module")
def runs(built_course, tmp_path_factory):
    base = tmp_path_factory.mktemp("cheap")
    course = base / "course"
    shutil.copytree(built_course, course)
    for student in CORRECT[:-1]:
        _submit(course, student)
    submit_samples(A, course)               # sample_correct is a correct one written differently
    for folder in (course / "submitted").iterdir():
        if folder.name not in CORRECT:
            shutil.rmtree(folder)
    cold, cold_s, _ = _grade(course, base / "cold.json")
    warm, warm_s, trace = _grade(course, base / "warm.json", "-X", "importtime")
    for student, change in HANGS.items():
        _submit(course, student, change)
    hung, hung_s, _ = _grade(course, base / "hung.json")
    print(f"\nps1, {len(CORRECT)} correct submissions: cold {cold_s:.1f} s, warm {warm_s:.1f} s; "
          f"with {len(HANGS)} hanging ones added: {hung_s:.1f} s (+{hung_s - warm_s:.1f} s)")
    return {"course": course, "cold": cold, "warm": warm, "trace": trace, "hung": hung,
            "seconds": (cold_s, warm_s, hung_s)}


def test_a_warm_run_imports_no_torch_and_scores_the_same(runs):
    cold, warm = runs["cold"], runs["warm"]
    assert cold["references"]["cache"].endswith("written") and cold["references"]["torch imported"]
    assert warm["references"] == {"cache": "hit", "answers saved": False, "torch imported": False}
    imported = [line.rsplit("|", 1)[-1].strip() for line in runs["trace"].splitlines() if "|" in line]
    assert len(imported) > 300 and "nbgrader" in imported           # the trace is real ...
    assert not [m for m in imported if m == "torch" or m.startswith("torch.")]     # ... and has no torch
    assert _cells(warm) == _cells(cold)
    assert {s["student"]: s["score"] for s in warm["students"]} == {s: 90.0 for s in CORRECT}


def test_hanging_submissions_cost_seconds_and_only_their_functions_points(runs):
    cold_s, warm_s, hung_s = runs["seconds"]
    assert hung_s - warm_s <= 30, (warm_s, hung_s)
    cells = _cells(runs["hung"])
    solution = {gid: score for (student, gid), (score, _) in cells.items() if student == "solution"}
    for student, (_, _, function) in HANGS.items():
        for gid, full in solution.items():
            score, message = cells[(student, gid)]
            if function and gid.startswith(f"test_{function}"):
                assert score == 0 and re.search(f"`{function}` did not return within [0-9.]+ s on case", message), \
                    (student, gid, message)
            else:
                assert score == full, (student, gid, message)
    top = nbformat.read(runs["course"] / "autograded" / "hang_top_level" / A / f"{A}.ipynb", as_version=4)
    cell = next(c for c in top.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "linear_rnn_closed_form")
    assert any(o.get("ename") == "TimeoutError" and "10 s" in o.get("evalue", "") for o in cell.outputs)


def _trusted(course: Path) -> TrustedAssignment:
    return TrustedAssignment.from_gradebook(f"sqlite:///{course / 'gradebook.db'}", "rnn-course", A)


def test_corrupt_foreign_or_stale_entries_are_rebuilt_never_trusted(runs, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(runs["course"] / ".autograder-cache", cache)
    path, = cache.glob(f"{A}-*.npz")
    good = path.read_bytes()
    assert reference_cache.prepare(_trusted(runs["course"]), cache) == "hit"

    def rewritten(change) -> bytes:
        with np.load(io.BytesIO(good), allow_pickle=False) as npz:
            meta, blob = json.loads(npz["meta"].tobytes()), npz["blob"]
        change(meta)
        buf = io.BytesIO()
        np.savez(buf, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), blob=blob)
        return buf.getvalue()

    def stale_source(meta):
        meta["sources"]["exercises/ps1_rnn_forward.py"] = "0" * 64

    def other_cells(meta):
        meta["key"] = "0" * 64

    bad = {"truncated": good[: len(good) // 2], "not a zip": b"\x93NUMPY garbage", "pickled": b"\x80\x04K\x01.",
           "foreign key": rewritten(other_cells), "stale module": rewritten(stale_source)}
    for what, data in bad.items():
        with pytest.raises(Exception):
            reference_cache.read_entry(_trusted(runs["course"]), data)
    path.write_bytes(bad["stale module"])             # rebuilt, written again, and then used
    status = reference_cache.prepare(_trusted(runs["course"]), cache)
    assert status.startswith("unusable entry") and "changed" in status and status.endswith("written"), status
    assert reference_cache.prepare(_trusted(runs["course"]), cache) == "hit"
