"""Read scores back from nbgrader's gradebook and print them as a table."""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from rich.console import Console
from rich.table import Table

from ..checks.cells import grade_id, nbgrader_meta
from ..course import ROOT, course_db_url, notebooks, shown_db_url


def graded_cells(assignment: str, course_dir: Path = ROOT) -> list[tuple[str, float]]:
    """(grade_id, points) of every graded cell, in notebook order."""
    cells = []
    for path in notebooks(course_dir / "source" / assignment):
        for cell in nbformat.read(path, as_version=4).cells:
            if nbgrader_meta(cell).get("grade"):
                cells.append((grade_id(cell), float(nbgrader_meta(cell)["points"])))
    return cells


def score_rows(assignment: str, course_dir: Path = ROOT, db_url: str | None = None) -> dict[str, dict[str, float | None]]:
    """student -> {grade_id: score, or None while it waits for manual grading}, from ``db_url``
    (default: the course's gradebook)."""
    rows: dict[str, dict] = {}
    with Gradebook(db_url or course_db_url(course_dir)) as gb:
        try:
            submissions = gb.assignment_submissions(assignment)
        except MissingEntry:
            return rows
        for sub in submissions:
            row = rows.setdefault(sub.student_id, {})
            for nb in sub.notebooks:
                for grade in nb.grades:
                    pending = grade.auto_score is None and grade.manual_score is None
                    row[grade.name] = None if pending else grade.score
    return dict(sorted(rows.items()))


def print_scores(assignment: str, course_dir: Path = ROOT, console: Console | None = None) -> dict:
    cells = graded_cells(assignment, course_dir)
    rows = score_rows(assignment, course_dir)
    table = Table(title=f"{assignment}: points per question (gradebook {shown_db_url(course_db_url(course_dir))})")
    table.add_column("question")
    table.add_column("max", justify="right")
    for student in rows:
        table.add_column(student, justify="right")
    for gid, points in cells:
        marks = [rows[s].get(gid) for s in rows]
        table.add_row(gid.removeprefix("test_"), f"{points:g}",
                      *["[dim]by hand[/dim]" if m is None else f"{m:g}" for m in marks])
    totals = [sum(v for v in rows[s].values() if v is not None) for s in rows]
    table.add_row("[bold]total[/bold]", f"{sum(p for _, p in cells):g}", *[f"[bold]{t:g}[/bold]" for t in totals],
                  end_section=True)
    (console or Console(width=160)).print(table)
    return rows
