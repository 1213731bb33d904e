"""nbgrader's gradebook on PostgreSQL (``c.CourseDirectory.db_url``), as a course with several
teaching assistants runs it: two `autograder grade` runs on different assignments at the same
time while a teaching assistant grades a written answer and adds a student (through nbgrader's
Gradebook API, as Formgrader's handlers do); then Formgrader's API, `nbgrader generate_feedback`
and `nbgrader export` on the result. A real server: Debian's postgresql binaries, a throwaway
cluster on a unix socket in a temp directory (tests/postgres_server.py)."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from nbgrader.api import Gradebook, MissingEntry

from autograder.course import nbgrader, tool_env
from autograder.grade.gradebook import ensure_students
from autograder.authoring.samples import submit_samples
from autograder.authoring.scores import graded_cells, score_rows

from conftest import copy_course
from postgres_server import PostgresServer, postgres_bin

ASSIGNMENTS = ("ps1_rnn_forward", "ps2_bptt")
AUTOGRADER = str(Path(sys.executable).with_name("autograder"))
COMMENT = "The eigenvalue argument is right; the saturation part is missing."

pytestmark = pytest.mark.xdist_group("postgres")


@pytest.fixture(scope="module")
def server():
    if postgres_bin() is None:
        why = "PostgreSQL's server programs are not installed (scripts/setup.sh installs them as root)"
        if os.environ.get("CI"):
            pytest.fail(why)          # CI must run these tests, not skip them
        pytest.skip(why)
    pg = PostgresServer(postgres_bin()).start()
    try:
        yield pg
    finally:
        pg.stop()


@pytest.fixture(scope="module")
def course(server, tmp_path_factory):
    """A course whose gradebook is a PostgreSQL database, both assignments generated and submitted."""
    url = server.create_database("rnn_course")
    course = copy_course(tmp_path_factory.mktemp("pg") / "course")
    with open(course / "nbgrader_config.py", "a") as f:
        f.write(f"\nc.CourseDirectory.db_url = {url!r}\n")
    for a in ASSIGNMENTS:
        nbgrader("generate_assignment", a, "--log-level=ERROR", course_dir=course)
        submit_samples(a, course)
    return course, url


def scored(gb: Gradebook, assignment: str, student: str) -> bool:
    gb.db.rollback()                      # see the graders' latest commits
    try:
        grades = gb.find_submission_notebook(assignment, assignment, student).grades
    except MissingEntry:
        return False
    return all(g.auto_score is not None for g in grades if g.name.startswith("test_"))


@pytest.fixture(scope="module")
def graded(course):
    """Both assignments graded at once; a teaching assistant at work in Formgrader meanwhile."""
    course_dir, url = course
    runs = [subprocess.Popen([AUTOGRADER, "grade", a, "--jobs", "1", "--quiet"], cwd=course_dir, env=tool_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for a in ASSIGNMENTS]
    grading = lambda: any(r.poll() is None for r in runs)      # noqa: E731
    ta = {}
    with Gradebook(url, "rnn-course") as gb:
        # Manage Students: a student who joined late, added while both graders write
        gb.update_or_create_student("late_joiner", first_name="Ada", last_name="Lovelace")
        ta["student added while grading"] = grading()
        # Grade a written answer as soon as its submission's checks are scored, through the calls
        # of Formgrader's GradeHandler.put and CommentHandler.put. (Before that, nbgrader's
        # SaveAutoGrades would flag a manual score it finds as "needs manual grade": to review.)
        a = ASSIGNMENTS[0]
        while not scored(gb, a, "sample_buggy") and grading():
            time.sleep(0.05)
        if scored(gb, a, "sample_buggy"):
            grade = gb.find_grade("written_dynamics", a, a, "sample_buggy")
            comment = gb.find_comment("written_dynamics", a, a, "sample_buggy")
            grade.manual_score, grade.needs_manual_grade = 7.0, False
            comment.manual_comment = COMMENT
            gb.db.commit()
            ta["grade"] = grading()
    outputs = [r.communicate()[0] for r in runs]
    for r, out in zip(runs, outputs):
        assert r.returncode == 0, out
    return course_dir, url, ta


# One test for the expensive fixtures: under pytest -n 2 (xdist 3.8 with pytest 9 does not honour
# xdist_group) a second test could build them again on the other worker.
def test_postgres_gradebook(course, graded):
    two_graders_and_a_teaching_assistant_lose_nothing(*graded)
    formgrader_feedback_and_export_read_postgres(*graded)
    class_report_reads_postgres(*graded)
    concurrent_first_sightings_of_a_student_are_not_lost(course[1])


def two_graders_and_a_teaching_assistant_lose_nothing(course_dir, url, ta):
    assert ta["student added while grading"]
    assert ta.get("grade"), "the written answer was not graded while autograder grade was running"
    for a in ASSIGNMENTS:
        rows = score_rows(a, course_dir, db_url=url)
        cells = dict(graded_cells(a, course_dir))
        auto = {g for g in cells if g.startswith("test_")}
        assert set(rows) == {"sample_buggy", "sample_correct", "sample_release"}, a
        for student, row in rows.items():
            assert set(row) == set(cells), (a, student)          # a grade for every graded cell
        assert {g: rows["sample_correct"][g] for g in auto} == {g: cells[g] for g in auto}
        assert {rows["sample_release"][g] for g in auto} == {0}
        assert 0 < sum(rows["sample_buggy"][g] for g in auto) < sum(cells[g] for g in auto)
    assert score_rows(ASSIGNMENTS[0], course_dir, db_url=url)["sample_buggy"]["written_dynamics"] == 7.0
    with Gradebook(url, "rnn-course") as gb:
        assert gb.find_student("late_joiner").last_name == "Lovelace"
        assert gb.find_comment("written_dynamics", ASSIGNMENTS[0], ASSIGNMENTS[0], "sample_buggy").manual_comment == COMMENT


def class_report_reads_postgres(course_dir, url, ta):
    """Issue 17: the verdicts table lives in the PostgreSQL gradebook too (seven graders made it
    at once), one row per test cell, and the class report reads it."""
    from autograder.authoring.class_report import build_report
    from autograder.grade.verdicts import Verdict
    from sqlalchemy import create_engine, func, select
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(Verdict.assignment, Verdict.student, Verdict.grade_id, func.count())
                            .group_by(Verdict.assignment, Verdict.student, Verdict.grade_id)).all()
    engine.dispose()
    assert {a for a, *_ in rows} == set(ASSIGNMENTS) and {n for *_, n in rows} == {1}
    report = build_report(course_dir, ASSIGNMENTS[0], db_url=url)
    assert report.have_verdicts and report.scores_only == []
    assert "sample_buggy" in {s for c in report.mistakes.values() for m in c for s in m.students}


def formgrader_feedback_and_export_read_postgres(course_dir, url, ta):
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    # Formgrader's pages are drawn from NbGraderAPI, over the configured gradebook
    exchange = course_dir.parent / "exchange"
    exchange.mkdir(exist_ok=True)
    exchange.chmod(0o777)
    config = Config({"CourseDirectory": {"root": str(course_dir), "db_url": url, "course_id": "rnn-course"},
                     "Exchange": {"root": str(exchange)}})
    api = NbGraderAPI(CourseDirectory(config=config), config=config)
    listed = {s["student"]: s for s in api.get_submissions(ASSIGNMENTS[0])}
    assert {"sample_buggy", "sample_correct", "sample_release"} <= set(listed)
    assert listed["sample_buggy"]["autograded"] and not listed["sample_buggy"]["needs_manual_grade"]
    assert api.get_student("late_joiner")["last_name"] == "Lovelace"

    result = nbgrader("generate_feedback", ASSIGNMENTS[0], "--student=sample_buggy", course_dir=course_dir,
                      capture=True)
    assert "WARNING" not in result.stderr, result.stderr
    page = (course_dir / "feedback" / "sample_buggy" / ASSIGNMENTS[0] / f"{ASSIGNMENTS[0]}.html").read_text()
    assert COMMENT in page and "Likely mistake" in page

    assert "WARNING" not in nbgrader("export", course_dir=course_dir, capture=True).stderr
    with open(course_dir / "grades.csv", newline="") as f:
        exported = {(r["assignment"], r["student_id"]): float(r["score"]) for r in csv.DictReader(f)}
    for a in ASSIGNMENTS:
        rows = score_rows(a, course_dir)          # the course's configured gradebook: PostgreSQL
        for student, row in rows.items():
            assert exported[(a, student)] == pytest.approx(sum(v for v in row.values() if v is not None)), (a, student)
    table = subprocess.run([AUTOGRADER, "--course-dir", str(course_dir), "scores", ASSIGNMENTS[0]], env=tool_env(),
                           capture_output=True, text=True, check=True).stdout
    assert "postgresql" in table and "sample_buggy" in table


def concurrent_first_sightings_of_a_student_are_not_lost(url):
    """Two graders meeting a new student at once both try to insert the row; the loser must find
    it instead of failing (nbgrader would then drop that student's submission)."""
    newcomers = [f"newcomer_{i:02d}" for i in range(40)]
    errors, start = [], threading.Barrier(2)

    def grader():
        try:
            start.wait()
            ensure_students(url, "rnn-course", newcomers)
        except Exception as e:           # noqa: BLE001 (the test reports whatever went wrong)
            errors.append(e)

    threads = [threading.Thread(target=grader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with Gradebook(url, "rnn-course") as gb:
        assert {s.id for s in gb.students} >= set(newcomers)
