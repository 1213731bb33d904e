"""Issue 18: attacks on the grader from outside the learner's kernel (tests/corpus/attacks).

For every assignment with attacks, one batch of `autograder grade A --jobs 2` in a copy of the
built course, with the attacks and an honest witness (samples/<a>/sample_correct.py), after
secrets are planted where a grader must never show them (``MARKERS``: the source notebooks'
solution cells, a student's e-mail in the gradebook, the grader's environment, the course
config); then `nbgrader generate_feedback`. Each attack must hold what the corpus's docstring
says; no marker may appear in anything autograded or in any feedback page; the witness keeps
full marks; each batch's time is printed (and bounded, generously: it is no benchmark).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from corpus.attacks import all_attacks
from corpus.building import WITNESS, full, grader_env, leaks, plant_markers, submit_witness

pytestmark = pytest.mark.xdist_group("attacks")      # one worker grades the corpus, once

CELL_TIMEOUT = "60"           # generous: a loaded machine must not fail honest work (ps5 makes ~1,300 reference calls)
BATCH_BOUND = 600            # seconds: far above what a batch takes; a hang ends here, not never
ATTACKS = all_attacks()
BY_ASSIGNMENT: dict[str, list] = {}
for _attack in ATTACKS:
    BY_ASSIGNMENT.setdefault(_attack.assignment, []).append(_attack)


def grade_one_assignment(built_course: Path, base: Path, a: str) -> dict:
    course = base / a / "course"
    shutil.copytree(built_course, course, symlinks=True)
    plant_markers(course)
    for attack in BY_ASSIGNMENT[a]:
        attack.build(course, attack.name)
    submit_witness(course, a)
    home = base / a / "home"
    home.mkdir()
    env = grader_env(home)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "autograder", "grade", a, "--jobs", "2", "--timeout",
                             CELL_TIMEOUT, "--quiet", "--json", str(course / "attacks.json")], cwd=course, env=env,
                            capture_output=True, text=True, timeout=BATCH_BOUND)
    seconds = time.perf_counter() - start
    feedback = subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", a, "--force",
                               "--log-level=ERROR"], cwd=course, env=env, capture_output=True, text=True,
                              timeout=BATCH_BOUND)
    report = json.loads((course / "attacks.json").read_text()) if (course / "attacks.json").exists() else {}
    print(f"{a}: {len(BY_ASSIGNMENT[a])} attacks + witness graded in {seconds:.1f} s (exit {result.returncode}); "
          f"feedback exit {feedback.returncode}")
    return {"course": course, "seconds": seconds, "result": result, "feedback": feedback,
            "students": {s["student"]: s for s in report.get("students", [])}}


@pytest.fixture(scope="module")
def graded(built_course, tmp_path_factory):
    base = tmp_path_factory.mktemp("attacks")
    return {a: grade_one_assignment(built_course, base, a) for a in sorted(BY_ASSIGNMENT)}


def _outcome(graded, attack) -> dict:
    batch = graded[attack.assignment]
    students = batch["students"]
    key = attack.student or attack.name
    assert key in students, (f"{attack.name}: no recorded outcome under {key!r}\n"
                             f"{batch['result'].stderr[-3000:]}")
    return students[key]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_holds(graded, attack):
    outcome = _outcome(graded, attack)
    assert outcome["status"] in ("graded", "not gradable"), (attack.name, outcome["status"], outcome["problems"])
    score = float(outcome.get("score") or 0.0)
    assert score <= attack.deserved, f"{attack.name}: {score} > deserved {attack.deserved}; {outcome['problems']}"
    if attack.exact:
        assert score == attack.deserved, f"{attack.name}: {score} != {attack.deserved}; {outcome['problems']}"
    if attack.reason:
        text = " ".join(outcome.get("problems", []))
        assert attack.reason in text, f"{attack.name}: no {attack.reason!r} in {text!r}"
    if attack.check:
        problems = attack.check(graded[attack.assignment]["course"], outcome)
        assert not problems, problems


@pytest.mark.parametrize("a", sorted(BY_ASSIGNMENT))
def test_nothing_leaks_and_the_witness_keeps_full_marks(graded, a):
    batch = graded[a]
    assert batch["seconds"] < BATCH_BOUND
    assert batch["feedback"].returncode == 0, batch["feedback"].stderr[-3000:]
    witness = batch["students"].get(WITNESS)
    assert witness is not None, batch["result"].stderr[-3000:]
    assert float(witness["score"]) == full(a), witness["problems"]
    assert not leaks(batch["course"]), leaks(batch["course"])[:10]
