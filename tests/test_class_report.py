"""Issue 17, item 1: the class report, from the verdicts `autograder grade` stored with the grades.

One batch grades ps1's samples plus four students made for the report: a wrong output no
catalogued mistake explains (a blind spot), a hostile student id and message (escaping), a
function that hangs (a time-out) and a file that is not a notebook (ungradable). The report must
rank the samples' mistakes, list the rest with their reasons, escape what learners wrote, open
offline in Chromium, say "scores only" for stock nbgrader's gradebook, and a regrade must replace
the verdicts, never add to them. (The corpus's report is checked in tests/test_corpus.py, on its
graded course; PostgreSQL in tests/test_postgres.py.)
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from autograder import cli
from autograder.authoring.class_report import build_report, render_html, write_report
from autograder.authoring.samples import fill, read_sample, submit_samples
from autograder.course import ROOT, tool_env
from autograder.grade.intake import student_id_for
from autograder.grade.verdicts import Verdict

pytestmark = pytest.mark.xdist_group("class_report")

A = "ps1_rnn_forward"
NB = f"{A}.ipynb"
EVIL_ID = "<img src=x onerror=alert(1)>"
EVIL_TEXT = "<script>alert('pwned')</script>"
CORRECT = read_sample(ROOT / "samples" / A / "sample_correct.py")
SHOTS = Path(os.environ["BROWSER_SCREENSHOTS"]) if os.environ.get("BROWSER_SCREENSHOTS") else None


def _submit(course: Path, student: str, answers: dict | None = None, raw: bytes | None = None) -> None:
    folder = course / "submitted" / student / A
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    if raw is not None:
        (folder / NB).write_bytes(raw)
        return
    nb = nbformat.read(course / "release" / A / NB, as_version=4)
    nbformat.write(fill(nb, {**CORRECT, **(answers or {})}), folder / NB)


def _changed(name: str, old: str, new: str) -> dict:
    assert old in CORRECT[name]
    return {name: CORRECT[name].replace(old, new)}


def _grade(course: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "autograder", "grade", A, "--jobs", "2", "--timeout", "3", "--quiet", *extra]
    result = subprocess.run(cmd, cwd=course, env=tool_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode in (0, 1), result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def course(built_course, tmp_path_factory) -> Path:
    """ps1's samples and the report's four students, graded in one batch."""
    course = tmp_path_factory.mktemp("report") / "course"
    shutil.copytree(built_course, course)
    submit_samples(A, course)
    _submit(course, "blind_spot", _changed("rnn_step_forward", "return acts[nonlinearity](pre)",
                                           "return 2 * acts[nonlinearity](pre)"))
    _submit(course, EVIL_ID, {"spectral_radius": f"def spectral_radius(W):\n    raise AssertionError({EVIL_TEXT!r})\n"})
    _submit(course, "sleeper", {"linear_fixed_point": "def linear_fixed_point(x, W, U, b):\n    while True:\n"
                                                      "        pass\n"})
    _submit(course, "not_a_notebook", raw=b"I forgot to save my notebook\n")
    _grade(course)
    return course


@pytest.fixture(scope="module")
def report(course):
    return build_report(course, A)


@pytest.fixture(scope="module")
def page(course) -> Path:
    return write_report(course, A, course / "report" / f"{A}.html", quiet=True)


def _mistakes(report, function: str) -> dict[str, list[str]]:
    return {m.mistake: m.students for m in report.mistakes.get(function, [])}


def test_the_samples_mistakes_are_ranked_with_their_students(report):
    assert report.have_verdicts and not report.scores_only
    # the hostile folder name is graded under the intake's fixed id (autograder.grade.intake)
    assert set(report.students) == {"sample_correct", "sample_buggy", "sample_release", "blind_spot",
                                    student_id_for(EVIL_ID), "sleeper", "not_a_notebook"}
    # the mistakes samples/ps1_rnn_forward/sample_buggy.py makes (its "# MISTAKE:" lines)
    assert _mistakes(report, "convert_rnn_state_dict") == {"bias_hh forgotten": ["sample_buggy"]}
    assert _mistakes(report, "lstm_cell_forward") == {"gate blocks in the order i, f, o, g": ["sample_buggy"]}
    assert _mistakes(report, "many_to_one_classify") == {"softmax over the batch axis": ["sample_buggy"]}
    assert "initial state h0 ignored" in _mistakes(report, "rnn_forward")
    for counts in report.mistakes.values():
        sizes = [len(m.students) for m in counts]
        assert sizes == sorted(sizes, reverse=True)
    assert not any("sample_correct" in m.students for c in report.mistakes.values() for m in c)


def test_unexplained_failures_are_the_catalogues_blind_spots(report):
    spots = {(f.student, f.grade_id.split("_")[0]) for fs in report.blind_spots.values() for f in fs}
    assert ("blind_spot", "test") in spots
    step = report.blind_spots["rnn_step_forward"]
    assert {f.student for f in step} == {"blind_spot"}
    assert all("rnn_step_forward is wrong on" in f.message and "Likely mistake" not in f.message for f in step)
    # the buggy sample's failures all matched a catalogued mistake
    assert not any(f.student == "sample_buggy" for fs in report.blind_spots.values() for f in fs)


def test_costly_and_easy_questions(report):
    costly = [q.name for q in report.costliest]
    assert costly and "rnn_step_forward" in [q.name for q in report.questions]
    lost = [q.lost for q in report.costliest]
    assert lost == sorted(lost, reverse=True)
    # every question: somebody (the release, the broken file) lost points, so none is "nearly all passed"
    assert report.nearly_all_passed == []
    q = {q.name: q for q in report.questions}
    assert q["spectral_radius"].full == 3           # correct, blind_spot, sleeper (buggy: singular value)
    assert q["rnn_step_forward"].full == 4          # correct, buggy, sleeper and the hostile id


def test_crashes_time_outs_and_ungradable_with_reasons(report):
    runs = {(p["student"], p["run"]): p["reason"] for p in report.problems}
    assert "not valid JSON" in runs[("not_a_notebook", "ungradable")]
    assert ("sleeper", "time-out") in runs and "did not return within 2 s" in runs[("sleeper", "time-out")]  # its case limit
    assert not any(s in ("sample_correct", "sample_buggy", "blind_spot") for s, _ in runs)


def test_the_page_escapes_what_learners_wrote(page):
    html = page.read_text()
    assert EVIL_ID not in html and EVIL_TEXT not in html
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in html
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert html.count("data:image/png;base64,") == 2


def test_the_command_prints_a_summary(course, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert cli.main(["--course-dir", str(course), "report", A, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert out.exists()
    assert "bias_hh forgotten" in text and "sample_buggy" in text
    assert "not_a_notebook" in text and "ungradable" in text
    assert cli.main(["--course-dir", str(course), "report", "no_such_assignment"]) == 2


def test_a_regrade_replaces_the_verdicts(course, tmp_path):
    regraded = tmp_path / "course"
    shutil.copytree(course, regraded)
    db = f"sqlite:///{regraded / 'gradebook.db'}"
    engine = create_engine(db)

    def rows(student):
        with Session(engine) as s:
            return s.scalar(select(func.count()).select_from(Verdict).where(Verdict.student == student))
    before = {s: rows(s) for s in ("sample_buggy", "not_a_notebook")}
    assert before["sample_buggy"] > 0 and before["not_a_notebook"] == before["sample_buggy"]
    _submit(regraded, "sample_buggy")                                  # resubmitted, now correct
    _submit(regraded, "not_a_notebook", read_sample(ROOT / "samples" / A / "sample_buggy.py"))
    _grade(regraded, "--force", "--student", "sample_buggy", "not_a_notebook")
    assert {s: rows(s) for s in before} == before                       # replaced, not added
    engine.dispose()
    after = build_report(regraded, A)
    assert not any("sample_buggy" in m.students for c in after.mistakes.values() for m in c)
    assert "not_a_notebook" in _mistakes(after, "lstm_cell_forward")["gate blocks in the order i, f, o, g"]
    assert not any(p["student"] == "not_a_notebook" for p in after.problems)


def test_stock_nbgrader_leaves_scores_only(stock_graded, tmp_path):
    course = stock_graded(A)
    report = build_report(course, A)
    assert not report.have_verdicts and set(report.scores_only) == set(report.students)
    assert report.totals["solution"] == 90.0 and report.mistakes == {} and report.problems == []
    html = render_html(report)
    assert 'id="scores-only"' in html and "stock <code>nbgrader autograde</code>" in html
    assert 'id="mistakes"' not in html


def test_the_page_opens_offline_in_chromium(page):
    """Headless Chromium opens the file; every request beyond file:// and data: is blocked and
    recorded; the instructor opens the first ranked mistake and reads the students behind it."""
    from playwright.sync_api import sync_playwright
    blocked, dialogs = [], []

    def route(r):
        if r.request.url.startswith(("file://", "data:")):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"])
        try:
            tab = browser.new_page(viewport={"width": 1200, "height": 900})
            tab.route("**/*", route)
            tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            tab.goto(page.as_uri())
            first = tab.locator("h3:text-is('convert_rnn_state_dict') + ol.mistakes > li").first
            assert "bias_hh forgotten" in first.locator("summary").inner_text()
            assert not first.locator("details p").is_visible()
            first.locator("summary").click()
            assert first.locator("details p").inner_text() == "sample_buggy"
            assert tab.locator("img").evaluate_all("imgs => imgs.every(i => i.naturalWidth > 0)")
            assert EVIL_TEXT in tab.locator("body").inner_text()      # shown as text, not markup
            if SHOTS:
                SHOTS.mkdir(parents=True, exist_ok=True)
                tab.screenshot(path=str(SHOTS / "class_report.png"), full_page=True)
        finally:
            browser.close()
    assert blocked == [] and dialogs == []
