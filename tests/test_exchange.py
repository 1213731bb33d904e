"""A class on one JupyterHub-style machine, through nbgrader's exchange, with real commands:

instructor `nbgrader release_assignment` -> students `nbgrader fetch_assignment`, work, `nbgrader
submit` -> instructor `nbgrader collect`, `autograder grade`, a written answer graded by hand (as
Formgrader does it), `nbgrader generate_feedback`, `nbgrader release_feedback`, `nbgrader export`
-> students `nbgrader fetch_feedback`.

Three students, each with a home directory of their own (HOME, working directory, ~/.jupyter):
alice hands in a partly wrong notebook, bob hands in an untouched copy and then a correct one
(the later one must be graded), carol hands in a correct notebook after the due date. Every
command must run without a warning (these are the commands of every week of a course), except
two that report real events: nbgrader's note that carol is late, and bob's being told that his
first submission has no feedback. Each student is named by ``c.CourseDirectory.student_id`` in
their ~/.jupyter/nbgrader_config.py, since one OS user plays all three here; on a hub nbgrader
takes the user name.
"""
from __future__ import annotations

import csv
import html
import json
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.course import ROOT, tool_env
from autograder.authoring.feedback import _hidden_region
from autograder.authoring.samples import SAMPLES, fill, read_sample

from conftest import copy_course

A = "ps1_rnn_forward"
HUB_CONFIG = ROOT / "jupyterhub" / "nbgrader_config.py"
AUTOGRADER = str(Path(sys.executable).with_name("autograder"))
# nbgrader logs a late submission as a warning; that one is news for the instructor, not noise.
LATE_NOTE = r"is [\d.]+ seconds late|Late submission penalty"

pytestmark = pytest.mark.xdist_group("exchange")


def make_home(home: Path, exchange: Path, extra: str = "") -> Path:
    """A user's home with ~/.jupyter/nbgrader_config.py: the hub-wide config, the test's exchange."""
    (home / ".jupyter").mkdir(parents=True)
    (home / ".jupyter" / "nbgrader_config.py").write_text(
        f"c = get_config()\nload_subconfig({str(HUB_CONFIG)!r})\nc.Exchange.root = {str(exchange)!r}\n{extra}")
    return home


def run(home: Path, *args: str, cwd: Path | None = None, program: str | None = None, allow: str = "^$") -> str:
    """Run a command as the user whose home is ``home``; fail on an error or on any warning but
    those matching ``allow``."""
    env = tool_env()
    env["HOME"] = str(home)
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "JUPYTERHUB_USER"):
        env.pop(var, None)
    cmd = [program, *args] if program else [sys.executable, "-m", "nbgrader", *args]
    result = subprocess.run(cmd, cwd=cwd or home, env=env, capture_output=True, text=True)
    out = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(args)}:\n{out}"
    noise = [line for line in out.splitlines() if re.search(r"WARN|Warning", line) and not re.search(allow, line)]
    assert not noise, f"{' '.join(args)} warned:\n" + "\n".join(noise)
    return out


def work_on(home: Path, sample: str | None) -> None:
    """Fill the fetched notebook with a sample's answers (None: leave it untouched)."""
    path = home / A / f"{A}.ipynb"
    nb = nbformat.read(path, as_version=4)
    if sample:
        fill(nb, read_sample(SAMPLES / A / f"{sample}.py"))
    nbformat.write(nb, path)


def hidden_lines(course: Path) -> set[str]:
    nb = nbformat.read(course / "source" / A / f"{A}.ipynb", as_version=4)
    lines = set().union(*(_hidden_region(c.source) for c in nb.cells if c.cell_type == "code"))
    return {line for line in lines if '"seed"' in line or len(line) > 24}       # not "])" and the like


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    base = tmp_path_factory.mktemp("classroom")
    exchange = base / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)                  # as the hub admin creates it: every user may write
    # One OS user plays every student here, so nbgrader's check that a submission is owned by the
    # student it names is off; on a hub each student is a user of their own and it stays on.
    teacher = make_home(base / "instructor", exchange, 'c.ExchangeCollect.check_owner = False\n'
                        # a late policy, so that the penalty can be seen end to end
                        'c.LateSubmissionPlugin.penalty_method = "zero"\n')
    course = copy_course(teacher / "rnn-course")
    students = {s: make_home(base / s, exchange, f"c.CourseDirectory.student_id = {s!r}\n")
                for s in ("alice", "bob", "carol")}
    timings = {}

    def step(name, fn, *args, **kw):
        start = time.perf_counter()
        out = fn(*args, **kw)
        timings[name] = timings.get(name, 0) + time.perf_counter() - start
        return out

    step("generate_assignment", run, teacher, "generate_assignment", A, cwd=course)
    step("release_assignment", run, teacher, "release_assignment", A, cwd=course)
    for s, home in students.items():
        step("fetch_assignment", run, home, "fetch_assignment", A)
        assert (home / A / f"{A}.ipynb").exists()

    submitted = {}
    work_on(students["alice"], "sample_buggy")
    step("submit", run, students["alice"], "submit", A)
    work_on(students["bob"], None)                       # bob submits the untouched copy by mistake...
    step("submit", run, students["bob"], "submit", A)
    bob_cache = students["bob"] / ".local" / "share" / "jupyter" / "nbgrader_cache" / "rnn-course"
    first_bob = {p.name for p in bob_cache.iterdir()}
    work_on(students["bob"], "sample_correct")           # ...and hands in his real work again
    step("submit", run, students["bob"], "submit", A)
    submitted["bob"] = sorted({p.name for p in bob_cache.iterdir()} - first_bob)

    # The due date passes (set in the gradebook, as Formgrader's "Manage Assignments" does), then carol submits.
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "rnn-course") as gb:
        gb.update_or_create_assignment(A, duedate=datetime.now(timezone.utc).replace(tzinfo=None))
    time.sleep(0.1)
    work_on(students["carol"], "sample_correct")
    step("submit", run, students["carol"], "submit", A)

    step("collect", run, teacher, "collect", A, cwd=course)
    # The buggy sample handed in directly: what alice's notebook must score after the round trip.
    ref = course / "submitted" / "reference_buggy" / A
    ref.mkdir(parents=True)
    nbformat.write(fill(nbformat.read(course / "release" / A / f"{A}.ipynb", as_version=4),
                        read_sample(SAMPLES / A / "sample_buggy.py")), ref / f"{A}.ipynb")

    step("autograder grade", run, teacher, "grade", A, "--jobs", "2", "--quiet", "--json", str(base / "report.json"),
         cwd=course, program=AUTOGRADER)
    # A teaching assistant grades alice's written answer in Formgrader: its handlers set the grade
    # and the comment through nbgrader's Gradebook API, as here.
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "rnn-course") as gb:
        grade = gb.find_grade("written_dynamics", A, A, "alice")
        grade.manual_score = 6
        comment = gb.find_comment("written_dynamics", A, A, "alice")
        comment.manual_comment = "Right about the eigenvalues; say why a bounded state can still forget."
        gb.db.commit()
    step("generate_feedback", run, teacher, "generate_feedback", A, cwd=course, allow=LATE_NOTE)
    # nbgrader 0.9.6's release_feedback stops on a submission that did not come through the exchange
    # (it reads the timestamp.txt and submission_secret.txt that `nbgrader collect` copies): the
    # reference is not a student of the exchange.
    shutil.rmtree(course / "feedback" / "reference_buggy")
    step("release_feedback", run, teacher, "release_feedback", A, cwd=course)
    step("export", run, teacher, "export", cwd=course)
    # bob is told that his first submission has no feedback: it was replaced by his second
    first = re.escape(next(iter(first_bob)).split("+", 2)[2])
    for s, home in students.items():
        step("fetch_feedback", run, home, "fetch_feedback", A,
             allow=f"Could not find feedback for .* submitted at {first}$" if s == "bob" else "^$")
    print("exchange round trip timings (s):", json.dumps({k: round(v, 1) for k, v in timings.items()}))
    return course, students, submitted, json.loads((base / "report.json").read_text())


# One test for the one expensive fixture: under pytest -n 2 (xdist 3.8 with pytest 9 does not
# honour xdist_group) a second test could build it again on the other worker.
def test_round_trip(classroom):
    scores_late_work_and_resubmission(*classroom)
    every_student_fetches_their_own_feedback(*classroom)


def scores_late_work_and_resubmission(course, students, submitted, report):
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "rnn-course") as gb:
        subs = {s.student_id: s for s in gb.assignment_submissions(A)}
        assert set(subs) == {"alice", "bob", "carol", "reference_buggy"}
        cells = {s: {g.name: g.score for nb in sub.notebooks for g in nb.grades} for s, sub in subs.items()}
        points = {g.name: g.max_score for g in subs["bob"].notebooks[0].grades}
        auto = {name for name in points if name.startswith("test_")}

        # alice's notebook went through the exchange unchanged: the scores of the same work handed in directly
        assert {g: cells["alice"][g] for g in auto} == {g: cells["reference_buggy"][g] for g in auto}
        assert 0 < sum(cells["alice"][g] for g in auto) < sum(points[g] for g in auto)
        assert cells["alice"]["written_dynamics"] == 6
        # bob's second submission is the one graded: full marks on every check (the first had 0)
        assert {g: cells["bob"][g] for g in auto} == {g: points[g] for g in auto}
        # carol's correct work earns every check, and the late policy takes it all back
        assert {g: cells["carol"][g] for g in auto} == {g: points[g] for g in auto}
        assert subs["carol"].total_seconds_late > 0 and not subs["alice"].total_seconds_late
        assert not subs["bob"].total_seconds_late
        assert subs["carol"].late_submission_penalty == subs["carol"].score > 0
        scores = {s: sub.score - (sub.late_submission_penalty or 0) for s, sub in subs.items()}
    by_student = {s["student"]: s for s in report["students"]}
    assert by_student["carol"]["late_penalty"] > 0 and not by_student["alice"].get("late_penalty")
    # bob's collected submission carries the timestamp of his second `nbgrader submit`
    stamp = (course / "submitted" / "bob" / A / "timestamp.txt").read_text().strip()
    assert submitted["bob"] == [f"bob+{A}+{stamp}"]

    with open(course / "grades.csv", newline="") as f:
        exported = {r["student_id"]: r for r in csv.DictReader(f) if r["assignment"] == A}
    for s in ("alice", "bob", "carol"):
        assert float(exported[s]["score"]) == pytest.approx(scores[s]), s
    assert float(exported["carol"]["score"]) == 0 and float(exported["carol"]["late_submission_penalty"]) > 0


def every_student_fetches_their_own_feedback(course, students, submitted, report):
    hidden = hidden_lines(course)
    assert hidden
    pages = {}
    for s, home in students.items():
        found = sorted((home / A / "feedback").glob(f"*/{A}.html"))
        assert len(found) == 1, (s, found)       # bob: only the graded (second) submission has feedback
        pages[s] = html.unescape(found[0].read_text())
        leaked = [line for line in hidden if line in pages[s]]
        assert not leaked and "HIDDEN TESTS" not in pages[s], (s, leaked[:3])
        assert "BEGIN SOLUTION" not in pages[s]
    bob_dir = next((students["bob"] / A / "feedback").iterdir()).name
    assert submitted["bob"][0].endswith(bob_dir)
    assert "Likely mistake" in pages["alice"]
    assert "say why a bounded state can still forget" in pages["alice"]
    assert "Late submission penalty" in pages["carol"] and "Late submission penalty" not in pages["bob"]
    assert "(Score: 100.0 / 100.0)" not in pages["bob"]       # the written answer is still ungraded
    assert re.search(r"Score: 90\.0 / 100\.0", pages["bob"]), "bob: every check passed, 90 of 100 points"
