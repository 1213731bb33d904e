"""Canvas's gradebook import CSV from nbgrader's gradebook: an ``nbgrader export`` plugin.

    nbgrader export --exporter=autograder.authoring.canvas.CanvasExportPlugin --to canvas.csv

or ``c.ExportApp.plugin_class = "autograder.authoring.canvas.CanvasExportPlugin"`` in
nbgrader_config.py. The file is what Canvas's Grades > Import reads
(https://community.canvaslms.com/t5/Instructor-Guide/How-do-I-import-grades-in-the-Gradebook/ta-p/807):
the columns Student, ID, SIS User ID, SIS Login ID, Section, then one column per assignment named
``NAME (CANVAS_ID)`` when the Canvas assignment's id is known (``NAME`` alone makes Canvas create a
new assignment), and a "Points Possible" row under the header.

Students are matched by id: with ``CanvasExportPlugin.roster``, a gradebook CSV exported from the
Canvas course (Grades > Export), the nbgrader student id is looked up in the roster's
``match_on`` column (SIS Login ID by default: nbgrader ids are usually the login names) and the
row takes Canvas's own Student, ID, SIS ids and Section. A student the roster does not have is
reported in the log and left out (Canvas would refuse the row), never silently. The roster's
assignment columns also give the Canvas ids of assignments with the same name.

``CanvasExportPlugin.columns``: ``"total"`` (one column per assignment, nbgrader's score after the
late penalty, as ``nbgrader export``) or ``"questions"`` (one column per graded cell,
``ASSIGNMENT: grade_id``, the cell's score, without late penalties). A missing submission scores
0, as in nbgrader's own CSV.
"""
from __future__ import annotations

import csv
import re

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin
from traitlets import Dict, Enum, Unicode

IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POINTS_POSSIBLE = "Points Possible"
CANVAS_COLUMN = re.compile(r"^(?P<name>.*\S)\s+\((?P<id>\d+)\)$")     # "ps1_rnn_forward (12345)"


def read_roster(path: str) -> tuple[list[dict], dict[str, str]]:
    """(the students' rows, assignment name -> Canvas id) of a Canvas gradebook export."""
    with open(path, newline="", encoding="utf-8-sig") as fh:       # Canvas writes a byte-order mark
        rows = list(csv.DictReader(fh))
    if not rows or not set(IDENTITY[:2]) <= set(rows[0]):
        raise ValueError(f"{path} is not a Canvas gradebook export (no Student and ID columns)")
    ids = {}
    for column in rows[0]:
        m = CANVAS_COLUMN.match(column or "")
        if m:
            ids[m["name"]] = m["id"]
    students = [r for r in rows if (r.get("ID") or "").strip() and r["Student"].strip() != POINTS_POSSIBLE]
    return students, ids


def number(value: float) -> str:
    return f"{round(float(value), 4):g}"


class CanvasExportPlugin(ExportPlugin):
    """Canvas's gradebook import CSV (``--to`` names it; default canvas_grades.csv)."""

    roster = Unicode("", help="A gradebook CSV exported from the Canvas course (Grades > Export): maps "
                              "nbgrader student ids to Canvas students, and names Canvas assignment ids."
                     ).tag(config=True)
    match_on = Enum(["SIS Login ID", "SIS User ID", "ID"], default_value="SIS Login ID",
                    help="The roster column that holds nbgrader's student id.").tag(config=True)
    columns = Enum(["total", "questions"], default_value="total",
                   help="One column per assignment (its total) or one per graded cell.").tag(config=True)
    assignment_ids = Dict({}, help="Canvas assignment id per column name (an nbgrader assignment, or "
                                   "'ASSIGNMENT: grade_id' with columns='questions'); the roster's columns "
                                   "give the others.").tag(config=True)

    def export(self, gradebook: Gradebook) -> None:
        dest = self.to or "canvas_grades.csv"
        roster, known_ids = read_roster(self.roster) if self.roster else ([], {})
        known_ids.update({k: str(v) for k, v in self.assignment_ids.items()})
        chosen = [a for a in gradebook.assignments if not self.assignment or a.name in self.assignment]
        columns = self._columns(chosen)                  # (header name, assignment, (notebook, cell) or None, points)
        by_id = {(r.get(self.match_on) or "").strip(): r for r in roster}
        rows, unmatched = [], []
        for student in gradebook.students:
            if self.student and student.id not in self.student:
                continue
            if roster and student.id not in by_id:
                unmatched.append(student.id)
                continue
            identity = self._identity(student, by_id.get(student.id))
            rows.append(identity + [self._score(gradebook, student.id, *c[1:3]) for c in columns])
        header = IDENTITY + [f"{name} ({known_ids[name]})" if name in known_ids else name for name, *_ in columns]
        points = [POINTS_POSSIBLE, "", "", "", ""] + [number(c[3]) for c in columns]
        with open(dest, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows([header, points, *rows])
        self.unmatched = unmatched
        self.log.info("Wrote %d students and %d grade columns to %s", len(rows), len(columns), dest)
        for student_id in unmatched:
            self.log.warning("Student %s is not in the Canvas roster %s (no %s %s): left out of %s",
                             student_id, self.roster, self.match_on, student_id, dest)
        graded = {s.id for s in gradebook.students}
        absent = [r["Student"] for key, r in by_id.items() if key not in graded]
        if absent:
            self.log.info("%d students of the Canvas roster have no nbgrader record (%s): not in %s",
                          len(absent), "; ".join(absent), dest)
        missing = [a.name for a in chosen] if self.columns == "total" else []
        for name in (n for n in missing if n not in known_ids):
            self.log.warning("No Canvas id for %s: Canvas will create a new assignment named %s", name, name)

    def _columns(self, chosen) -> list[tuple]:
        if self.columns == "total":
            return [(a.name, a.name, None, a.max_score) for a in chosen]
        out = []
        for a in chosen:
            several = len(a.notebooks) > 1
            for nb in a.notebooks:
                for cell in nb.grade_cells:          # the notebook's order, as nbgrader stored them
                    label = f"{a.name}/{nb.name}: {cell.name}" if several else f"{a.name}: {cell.name}"
                    out.append((label, a.name, (nb.name, cell.name), cell.max_score))
        return out

    def _identity(self, student, row: dict | None) -> list[str]:
        if row is not None:
            return [(row.get(k) or "").strip() for k in IDENTITY]
        name = ", ".join(n for n in (student.last_name, student.first_name) if n) or student.id
        identity = dict.fromkeys(IDENTITY, "")
        identity.update({"Student": name, self.match_on: student.id})
        return [identity[k] for k in IDENTITY]

    def _score(self, gradebook: Gradebook, student: str, assignment: str, cell) -> str:
        try:
            if cell is None:
                sub = gradebook.find_submission(assignment, student)
                return number(max(0.0, sub.score - sub.late_submission_penalty))
            return number(gradebook.find_grade(cell[1], cell[0], assignment, student).score)
        except MissingEntry:
            return number(0)
