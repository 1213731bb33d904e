"""Issue 8: grading survives bad input, faults and attacks.

The corpus (tests/corpus/entries.py: broken files, tampered structure, faults, attacks) is graded
in one batch by `autograder grade`, next to an honest witness. Every submission must get a recorded
outcome with a readable reason, no submission more than it deserves (the exact entries exactly
that), the witness what it gets alone, and nothing outside the working copies may change. A batch
killed with SIGKILL and started again must end with every submission graded once, as in one run.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.course import tool_env
from autograder.authoring.samples import submit_samples
from autograder.authoring.class_report import build_report, write_report

from corpus.listener import Listener
from corpus.entries import A, ENTRIES, FULL, NETWORK_PORT, PWNED, build_submission

pytestmark = pytest.mark.xdist_group("corpus")     # one worker grades the corpus, once

CELL_TIMEOUT = "10"      # seconds per cell: the faults that hang cost this, not nbgrader's 120 s
WITNESS = "sample_correct"


def _tree_digest(paths: list[Path]) -> dict[str, str]:
    out = {}
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def _grade(course: Path, home: Path, *extra: str, background: bool = False):
    env = {**tool_env(), "HOME": str(home), "IPYTHONDIR": str(home / ".ipython")}
    cmd = [sys.executable, "-m", "autograder", "grade", A, "--jobs", "2", "--timeout", CELL_TIMEOUT, "--quiet", *extra]
    if background:
        return subprocess.Popen(cmd, cwd=course, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
    return subprocess.run(cmd, cwd=course, env=env, capture_output=True, text=True, timeout=1200)


def _corpus_course(built_course: Path, target: Path) -> Path:
    """A copy of the built course (release, gradebook without submissions) with the corpus submitted."""
    shutil.copytree(built_course, target)
    for entry in ENTRIES:
        build_submission(entry, target)
    submit_samples(A, target)
    return target


@pytest.fixture(scope="module")
def corpus_course(built_course, tmp_path_factory):
    return _corpus_course(built_course, tmp_path_factory.mktemp("corpus") / "course")


@pytest.fixture(scope="module")
def graded(corpus_course, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    PWNED.unlink(missing_ok=True)
    shutil.rmtree("/tmp/rnn_course_evil_startup", ignore_errors=True)
    watched = [corpus_course / "source", corpus_course / "nbgrader_config.py", corpus_course / "submitted"]
    before = _tree_digest(watched)
    listener = Listener(NETWORK_PORT)
    try:
        start = time.perf_counter()
        result = _grade(corpus_course, home, "--json", str(corpus_course / "corpus.json"))
        seconds = time.perf_counter() - start
    finally:
        listener.close()
    report = json.loads((corpus_course / "corpus.json").read_text())
    print(f"corpus of {len(ENTRIES)} graded in {seconds:.0f} s (exit {result.returncode})")
    return {"report": {s["student"]: s for s in report["students"]}, "before": before,
            "after": _tree_digest(watched), "connections": listener.count, "listening": listener.available, "home": home, "result": result}


def _score(student: dict) -> float:
    return float(student.get("score") or 0.0)


def test_every_submission_has_a_recorded_outcome(graded):
    report = graded["report"]
    missing = [e.name for e in ENTRIES if e.name not in report]
    assert not missing, f"no outcome for {missing}\n{graded['result'].stderr[-2000:]}"
    for entry in ENTRIES:
        student = report[entry.name]
        assert student["status"] in ("graded", "not gradable"), (entry.name, student)
        if entry.reason:
            text = " ".join(student.get("problems", []))
            assert entry.reason in text, f"{entry.name}: expected a reason containing {entry.reason!r}, got {text!r}"


def test_no_undeserved_points(graded):
    report = graded["report"]
    over = {e.name: (_score(report[e.name]), e.deserved) for e in ENTRIES if _score(report[e.name]) > e.deserved}
    assert not over, f"undeserved points (got, deserved): {over}"


def test_exact_entries_get_exactly_what_they_deserve(graded):
    report = graded["report"]
    off = {e.name: (_score(report[e.name]), e.deserved, report[e.name].get("problems"))
           for e in ENTRIES if e.exact and _score(report[e.name]) != e.deserved}
    assert not off, f"(got, deserved, problems): {off}"


def test_faults_do_not_touch_honest_neighbours(graded):
    assert _score(graded["report"][WITNESS]) == FULL


def test_nothing_outside_the_working_copies_changes(graded):
    before, after = graded["before"], graded["after"]
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not changed, changed[:10]
    assert not PWNED.exists(), "a pickle payload ran in the grader"
    assert not Path("/tmp/rnn_course_evil_startup").exists()
    own_cache = graded["home"] / ".cache" / "rnn-course-autograder"     # the grader's own (matplotlib fonts)
    written = [p for p in graded["home"].rglob("*") if p.is_file() and own_cache not in p.parents]
    assert not written, f"a submission wrote into the grader's HOME: {written[:5]}"
    if graded["listening"]:
        assert graded["connections"] == 0, "a submission opened a network connection"


def test_a_killed_batch_resumes_with_every_submission_graded_once(graded, built_course, tmp_path):
    course = _corpus_course(built_course, tmp_path / "course")
    home = tmp_path / "home"
    home.mkdir()
    proc = _grade(course, home, background=True)
    time.sleep(15)                                   # some graded, some in flight
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    _grade(course, home, "--json", str(course / "resumed.json"))
    first = graded["report"]
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        subs = gb.assignment_submissions(A)
        counts: dict[str, int] = {}
        for sub in subs:
            counts[sub.student_id] = counts.get(sub.student_id, 0) + 1
        scores = {sub.student_id: float(sub.score) for sub in subs}
    assert set(counts) == set(first), set(first) ^ set(counts)
    assert all(n == 1 for n in counts.values()), {k: n for k, n in counts.items() if n != 1}
    differ = {e.name: (scores.get(e.name), _score(first[e.name])) for e in ENTRIES
              if e.exact and scores.get(e.name) != _score(first[e.name])}
    assert not differ, f"resumed run (got, single run): {differ}"
    assert build_report(course, A).scores_only == []         # every submission's verdicts, once (issue 17)


def test_the_class_report_of_the_corpus(graded, corpus_course, tmp_path):
    """Issue 17: the class report of the graded corpus, from the verdicts stored while grading:
    every submission, the ungradable ones with their reasons, the crashes and time-outs with
    theirs, and a page that escapes whatever the attacks wrote."""
    batch = graded["report"]
    report = build_report(corpus_course, A)
    assert set(report.students) == set(batch) and report.have_verdicts and report.scores_only == []
    runs: dict[str, dict[str, str]] = {}
    for p in report.problems:
        runs.setdefault(p["student"], {})[p["run"]] = p["reason"]
    for entry in ENTRIES:
        if entry.reason and batch[entry.name]["status"] == "not gradable":
            assert entry.reason in runs[entry.name]["ungradable"], entry.name
    for name, student in batch.items():
        for nb in student.get("notebooks", []):
            if nb.get("problem") and student["status"] == "graded":
                found = {**runs.get(name, {})}
                assert set(found) & {"crash", "time-out"} and any(nb["problem"] in r for r in found.values()), name
    assert WITNESS not in runs and not any(WITNESS in m.students for c in report.mistakes.values() for m in c)
    assert "bias_hh forgotten" in {m.mistake for m in report.mistakes["convert_rnn_state_dict"]}
    page = write_report(corpus_course, A, tmp_path / "corpus.html", quiet=True)
    assert "<script" not in page.read_text()
    shots = os.environ.get("BROWSER_SCREENSHOTS")
    if shots:
        from playwright.sync_api import sync_playwright
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium")
            tab = browser.new_page(viewport={"width": 1200, "height": 900})
            tab.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:")) else r.abort())
            tab.goto(page.as_uri())
            tab.screenshot(path=str(Path(shots) / "class_report_corpus.png"), full_page=True)
            browser.close()
