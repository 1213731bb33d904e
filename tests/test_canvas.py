"""The Canvas export plugin (`nbgrader export --exporter=autograder.authoring.canvas.CanvasExportPlugin`):
a real nbgrader gradebook with ps1's and ps2's graded cells and three students, exported by the real
`nbgrader export` against a roster in Canvas's own export format; totals (after late penalties) and
per-question columns, Canvas ids, the Points Possible row, and an unmatched student reported."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.course import ROOT, nbgrader, tool_env

# nbgrader's own add_submission trips an SQLAlchemy autoflush warning; it is not ours to fix here.
pytestmark = [pytest.mark.xdist_group("canvas"), pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")]
PLUGIN = "autograder.authoring.canvas.CanvasExportPlugin"
ASSIGNMENTS = ["ps1_rnn_forward", "ps2_bptt"]

# A gradebook exported from a Canvas course (Grades > Export), as Canvas's guides describe it:
# https://community.canvaslms.com/t5/Instructor-Guide/How-do-I-export-grades-in-the-Gradebook/ta-p/809
# and, for what an import reads back, .../How-do-I-import-grades-in-the-Gradebook/ta-p/807 :
# Student ("Last, First"), ID (Canvas's user id), SIS User ID, SIS Login ID, Section, one column
# per assignment named "Name (assignment id)", read-only score columns, a byte-order mark, a
# "Points Possible" row under the header, and the course's Test Student.
ROSTER = ("\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,ps1_rnn_forward (12345),Current Score,Final Score\n"
          "    Points Possible,,,,,100.00,(read only),(read only)\n"
          '"Lovelace, Ada",2001,S1001,ada,RNN 101 A,,,\n'
          '"Hopper, Grace",2002,S1002,grace,RNN 101 B,,,\n'
          '"Turing, Alan",2003,S1003,alan,RNN 101 A,,,\n'
          '"Student, Test",2099,,9f8e7d,RNN 101 A,,,\n')

# student -> assignment -> points lost (taken from the first autograded cells); None: no submission
LOST = {"ada": {"ps1_rnn_forward": 0, "ps2_bptt": 12},
        "grace": {"ps1_rnn_forward": 5, "ps2_bptt": None},
        "bob": {"ps1_rnn_forward": 0, "ps2_bptt": 0}}
LATE = {("grace", "ps1_rnn_forward"): 10.0}
SAMPLE = ROOT / "docs" / "canvas_grades.csv"


def graded_cells(assignment: str):
    path = ROOT / "source" / assignment / f"{assignment}.ipynb"
    for cell in nbformat.read(path, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            yield meta["grade_id"], float(meta["points"]), cell.cell_type


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A course directory with a real nbgrader gradebook, scores set through nbgrader's API."""
    course = tmp_path_factory.mktemp("canvas")
    (course / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.course_id = "rnn-course"\n')
    (course / "canvas_roster.csv").write_text(ROSTER, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:      # nbgrader creates the database with the `alembic` on PATH
        mp.setenv("PATH", tool_env()["PATH"])
        Gradebook(f"sqlite:///{course / 'gradebook.db'}", "rnn-course").close()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "rnn-course") as gb:
        for student, first, last in [("ada", "Ada", "Lovelace"), ("grace", "Grace", "Hopper"), ("bob", "Bob", "Kahn")]:
            gb.add_student(student, first_name=first, last_name=last)
        for a in ASSIGNMENTS:
            gb.add_assignment(a)
            gb.add_notebook(a, a)
            for grade_id, points, kind in graded_cells(a):
                gb.add_grade_cell(grade_id, a, a, max_score=points, cell_type=kind)
        for student, lost in LOST.items():
            for a, points_lost in lost.items():
                if points_lost is None:
                    continue
                gb.add_submission(a, student)
                for grade_id, points, kind in graded_cells(a):
                    grade = gb.find_grade(grade_id, a, a, student)
                    take = min(points, points_lost)
                    points_lost -= take
                    if kind == "code":
                        grade.auto_score = points - take
                    else:
                        grade.manual_score = points - take
                if (student, a) in LATE:
                    gb.find_submission_notebook(a, a, student).late_submission_penalty = LATE[(student, a)]
                gb.db.commit()
    return course


def export(course: Path, to: str, *options: str) -> tuple[list[list[str]], str]:
    result = nbgrader("export", f"--exporter={PLUGIN}", f"--to={to}", *options, course_dir=course, capture=True)
    assert result.returncode == 0, result.stderr
    return list(csv.reader(io.StringIO((course / to).read_text(encoding="utf-8")))), result.stderr


def test_totals_with_the_roster(course):
    rows, log = export(course, "canvas.csv", "--CanvasExportPlugin.roster=canvas_roster.csv")
    header, points, *students = rows
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "ps1_rnn_forward (12345)", "ps2_bptt"]
    assert points == ["Points Possible", "", "", "", "", "100", "100"]
    assert sorted(students) == sorted([
        ["Lovelace, Ada", "2001", "S1001", "ada", "RNN 101 A", "100", "88"],
        ["Hopper, Grace", "2002", "S1002", "grace", "RNN 101 B", "85", "0"],     # 95 minus 10 late; no ps2
    ])
    # bob is not in Canvas: reported, not silently dropped; ps2 has no Canvas id yet
    assert "Student bob is not in the Canvas roster" in log
    assert "No Canvas id for ps2_bptt" in log
    assert "2 students of the Canvas roster have no nbgrader record (Turing, Alan; Student, Test)" in log
    assert (course / "canvas.csv").read_text(encoding="utf-8") == SAMPLE.read_text(encoding="utf-8"), \
        "docs/canvas_grades.csv is this export: copy it there when the format changes"


def test_per_question_columns_and_configured_ids(course):
    rows, _ = export(course, "questions.csv", "--CanvasExportPlugin.columns=questions",
                     "--CanvasExportPlugin.assignment_ids={'ps1_rnn_forward: test_rnn_forward_core': 777}",
                     "--assignment=['ps1_rnn_forward']")
    header, points, *students = rows
    cells = list(graded_cells("ps1_rnn_forward"))
    assert header[5:] == [f"ps1_rnn_forward: {g}" + (" (777)" if g == "test_rnn_forward_core" else "")
                          for g, _, _ in cells]
    assert points[5:] == [f"{p:g}" for _, p, _ in cells] and sum(float(p) for p in points[5:]) == 100
    by_login = {row[3]: [float(v) for v in row[5:]] for row in students}
    assert set(by_login) == {"ada", "grace", "bob"}           # no roster: every gradebook student, by login id
    assert sum(by_login["ada"]) == sum(by_login["bob"]) == 100
    assert sum(by_login["grace"]) == 95 and by_login["grace"][0] == cells[0][1] - 5     # no late penalty per cell
    assert [row[0] for row in students if row[3] == "ada"] == ["Lovelace, Ada"]
