"""Cheating earns nothing under `autograder grade`.

The cheats the issue names (from the corpus in tests/corpus, whose whole run is tests/test_corpus.py)
and attacks on the grader itself (tests/cheats) are graded in one batch: every submission gets
exactly what its honest work deserves, and no attack has an effect outside its sandbox. Some of
the cheats are also graded by stock `nbgrader autograde`, which the test shows rewarding them.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.sandbox import command as sandbox
from autograder.course import nbgrader, tool_env
from autograder.authoring.scores import score_rows
from cheats.runner_attacks import ENTRIES as RUNNER_ATTACKS
from corpus.entries import A, ENTRIES, build_submission

AUTOGRADER = str(Path(sys.executable).with_name("autograder"))
NAMED = {                     # the list: cheat -> the test cell it tries to win (the buggy work fails it)
    "patch_allclose": "test_rnn_forward_core",            # np.allclose and assert_allclose replaced
    "rigged_eq_subclass": "test_rnn_forward_core",        # an ndarray subclass whose == always agrees
    "array_function_subclass": "test_rnn_forward_core",   # ... whose __array_function__ always agrees
    "input_transformer": "test_rnn_forward_core",         # an IPython input transformer blanks later cells
    "ast_transformer": "test_rnn_forward_core",           # ... an AST transformer empties them
    "showtraceback": "test_rnn_forward_core",             # get_ipython().showtraceback overridden
    "import_torch": "test_rnn_forward_core",              # torch.nn.RNN as the answer
    "import_torch_importlib": "test_rnn_forward_core",    # ... through importlib and __import__
    "patch_check_module": "test_rnn_forward_core",        # the check itself replaced
    "cell_between_redefines_check": "test_rnn_forward_core",
    "frame_walk": "test_rnn_forward_core",                # the caller's frames searched for the expected value
    "gc_walk": "test_rnn_forward_core",                   # ... the garbage collector searched
    "read_source": "test_rnn_forward_core",               # the source notebook (with solutions) read
}
ALL = [e for e in ENTRIES if e.name in NAMED] + RUNNER_ATTACKS
pytestmark = pytest.mark.skipif(not sandbox.bwrap_status()[0],
                                reason="the cheating guarantees need bubblewrap (autograder grade's sandbox)")


EVIL_STARTUP = Path("/tmp/rnn_course_evil_startup")     # where the write_outside attack aims outside HOME


def _digests(paths) -> dict:
    found = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()}
    if EVIL_STARTUP.is_dir():     # another run (e.g. stock nbgrader, unprotected) may have made it before
        found.update({str(p): p.stat().st_mtime_ns for p in EVIL_STARTUP.iterdir()})
    return found


def _points(rows: dict, student: str) -> float | None:
    got = rows.get(student)
    return None if got is None else sum(v for k, v in got.items() if v is not None and k.startswith("test_"))


def _grade(course: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([AUTOGRADER, "grade", A, "--force", "--timeout", "5", "--notebook-timeout", "90",
                           *args], cwd=course, env=tool_env(), capture_output=True, text=True)


def test_cheats_and_attacks_earn_nothing(built_course, tmp_path):
    """The named cheats and the attacks on the grader, graded in one batch (one test, so that
    pytest -n 2 does not grade the batch twice)."""
    course = tmp_path / "course"
    shutil.copytree(built_course, course)
    for entry in ALL:
        build_submission(entry, course)
    watched = [course / "nbgrader_config.py", Path.home() / ".bashrc",
               *sorted((course / "submitted").glob("*/*/*.ipynb"))]
    before = _digests(watched)
    result = _grade(course, "--jobs", "2", "--quiet", "--json", str(course / "report.json"))
    report = {s["student"]: s for s in json.loads((course / "report.json").read_text())["students"]}
    rows = score_rows(A, course)

    wrong = {}
    for entry in ALL:                      # never more than the honest work deserves
        got = _points(rows, entry.name)
        if got is None or (got != entry.deserved if entry.exact else got > entry.deserved):
            wrong[entry.name] = (got, entry.deserved, report.get(entry.name, {}).get("problems"))
    assert not wrong, f"(got, deserved, problems): {wrong}"
    for name, cell in NAMED.items():       # and nothing on the cell the cheat aims at
        assert rows[name][cell] == 0, (name, rows[name])
    assert _digests(watched) == before, "a file outside the sandbox changed"
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert all(s["status"] == "graded" for s in report.values()), report


def test_one_learner_cannot_touch_the_next(built_course, tmp_path):
    """Graded one after the other by the same warm sandbox (--jobs 1): a learner that patches
    numpy, builtins, the environment and /tmp leaves nothing behind for the next one."""
    course = tmp_path / "course"
    shutil.copytree(built_course, course)
    names = ["fill_tmp", "poison_next", "poison_next_victim"]
    for entry in RUNNER_ATTACKS:
        if entry.name in names:
            build_submission(entry, course)
    result = _grade(course, "--jobs", "1", "--quiet")
    rows = score_rows(A, course)
    assert _points(rows, "poison_next_victim") == 90.0, (rows, result.stderr[-2000:])


# Measured with stock nbgrader 0.9.6 before follow-through marking (deserved -> stock): input_transformer 35 -> 90,
# patch_check_module 35 -> 90, import_torch_importlib 35 -> 48, frame_walk 35 -> 38,
# cell_between_redefines_check 0 -> 90 (also ast_transformer 35 -> 90, gc_walk 26 -> 38,
# import_torch 35 -> 48). Stock's own check is strict about types, so np.allclose and the
# ndarray-subclass cheats do not fool it either; showtraceback, set_custom_exc and post_run_cell
# hooks do not hide the error output from nbclient.
CHEATS_STOCK_REWARDS = ["input_transformer", "patch_check_module", "import_torch_importlib", "frame_walk",
                        "cell_between_redefines_check"]


def test_stock_nbgrader_rewards_cheats_that_earn_nothing_here(built_course, tmp_path):
    """The same submissions under stock `nbgrader autograde`: the cheats get points they do not
    deserve (test_cheats_and_attacks_earn_nothing gives each exactly what it deserves)."""
    course = tmp_path / "course"
    shutil.copytree(built_course, course)
    entries = [e for e in ENTRIES if e.name in CHEATS_STOCK_REWARDS]
    for entry in entries:
        build_submission(entry, course)
    result = nbgrader("autograde", A, "--force", "--log-level=ERROR", "--Execute.timeout=60", course_dir=course,
                      capture=True)
    assert result.returncode == 0, result.stderr[-2000:]
    stock = score_rows(A, course)
    for entry in entries:
        assert _points(stock, entry.name) > entry.deserved, (entry.name, stock.get(entry.name))
