"""`autograder report ASSIGNMENT`: what a batch tells the instructor about the class.

Reads the scores from nbgrader's gradebook and the verdicts ``autograder grade`` stored beside
them (``grade/verdicts.py``; nothing is graded again), and writes one self-contained HTML page
(figures embedded as PNG, no script, nothing fetched) plus a terminal summary: score histograms
per question and in total, the catalogued mistakes ranked by how many students made them, the
failures no catalogued mistake explains (the catalogue's blind spots), the questions that cost
the class most and those nearly everybody passed, and the crashes, time-outs and ungradable
submissions with their reasons. A question is a graded function (all its test cells) or a
written answer.
"""
from __future__ import annotations

import base64
import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ..checks import messages
from ..course import course_db_url, shown_db_url
from ..grade import verdicts as stored

NEARLY_ALL = 0.9           # "nearly everybody passed": at least this share got the question's full points
COSTLIEST = 5              # questions listed as the costliest
SHOWN = 6                  # student ids per mistake in the terminal (the page lists them all)


class ReportError(Exception):
    """A report that cannot be made (no such assignment, nothing submitted)."""


@dataclass
class Question:
    name: str                          # the graded function, or a written answer's grade_id
    kind: str                          # "function" | "written"
    cells: list[str]
    points: float
    lost: float = 0.0                  # points the class lost on it, in all
    full: int = 0                      # students with every point of it
    scored: int = 0                    # students with a score (written answers may wait for grading)


@dataclass
class MistakeCount:
    function: str
    mistake: str
    students: list[str]
    cells: list[str]


@dataclass
class Failure:
    """One test cell's failure: a blind spot (no catalogued mistake matched) or a problem run."""
    student: str
    grade_id: str
    function: str | None
    summary: str
    message: str


@dataclass
class ClassReport:
    assignment: str
    gradebook: str
    students: list[str]
    max_total: float
    totals: dict[str, float]
    questions: list[Question]
    scores: dict[str, dict[str, float]]            # student -> question -> points (graded ones)
    have_verdicts: bool                            # did autograder grade store verdicts for anyone?
    scores_only: list[str] = field(default_factory=list)   # students without (current) verdicts
    stale: list[str] = field(default_factory=list)         # ... whose verdicts disagree with the gradebook
    mistakes: dict[str, list[MistakeCount]] = field(default_factory=dict)     # function -> ranked
    blind_spots: dict[str, list[Failure]] = field(default_factory=dict)       # function -> failures
    outcomes: dict[str, Counter] = field(default_factory=dict)    # function -> status -> students' cells
    problems: list[dict] = field(default_factory=list)   # {student, run, reason}: crash, time-out, ungradable

    @property
    def costliest(self) -> list[Question]:
        return sorted((q for q in self.questions if q.lost > 0), key=lambda q: -q.lost)[:COSTLIEST]

    @property
    def nearly_all_passed(self) -> list[Question]:
        return [q for q in self.questions if q.scored and q.full >= NEARLY_ALL * q.scored]


# ---------------------------------------------------------------- reading the gradebook

def build_report(course_dir: Path, assignment: str, db_url: str | None = None) -> ClassReport:
    """The class report of ``assignment`` from the course's gradebook and the stored verdicts
    (read only: nbgrader's ``Gradebook`` would add a course row, and a missing SQLite file is not made)."""
    from nbgrader.api import Assignment
    from sqlalchemy import create_engine, inspect, select
    from sqlalchemy.engine import make_url
    from sqlalchemy.orm import Session
    db_url = db_url or course_db_url(course_dir)
    url, shown = make_url(db_url), shown_db_url(db_url)
    if url.drivername.startswith("sqlite") and not (url.database and Path(url.database).exists()):
        raise ReportError(f"there is no gradebook {shown}: grade the assignment first")
    engine = create_engine(db_url)
    try:
        if not inspect(engine).has_table("assignment"):
            raise ReportError(f"{shown} is not an nbgrader gradebook")
        with Session(engine) as db:
            record = db.scalars(select(Assignment).where(Assignment.name == assignment)).first()
            if record is None:
                raise ReportError(f"assignment {assignment!r} is not in the gradebook {shown}")
            questions, cell_question = _questions(record, _source_order(course_dir, assignment))
            rows, totals = _cell_scores(record)
            found = stored.read_verdicts(engine, record.course_id, assignment)
    finally:
        engine.dispose()
    if not rows:
        raise ReportError(f"no submission of {assignment!r} is in the gradebook {shown}")
    report = ClassReport(assignment, shown, sorted(rows), sum(q.points for q in questions),
                         totals, questions, {}, have_verdicts=bool(found))
    _score_questions(report, rows)
    _read_verdicts(report, found or [], rows, cell_question)
    return report


def _cell_scores(record) -> tuple[dict[str, dict[str, float | None]], dict[str, float]]:
    """student -> grade_id -> score (None while it waits for grading by hand), and the totals."""
    rows, totals = {}, {}
    for sub in sorted(record.submissions, key=lambda s: s.student_id):
        cells = rows.setdefault(sub.student_id, {})
        for nb in sub.notebooks:
            for grade in nb.grades:
                pending = grade.auto_score is None and grade.manual_score is None
                cells[grade.name] = None if pending else float(grade.score)
        totals[sub.student_id] = float(sub.score)
    return rows, totals


def _source_order(course_dir: Path, assignment: str) -> dict[str, int]:
    """grade_id -> its place in the source notebooks (the gradebook keeps no order)."""
    from .scores import graded_cells
    try:
        return {gid: i for i, (gid, _) in enumerate(graded_cells(assignment, Path(course_dir)))}
    except Exception:              # no source/ here: the gradebook's order
        return {}


def _questions(record, order: dict[str, int]) -> tuple[list[Question], dict[str, str]]:
    """The assignment's questions in notebook order, and each graded cell's question. A test cell
    belongs to the graded function whose solution cell's grade_id it starts with (test_<name>_...)."""
    functions = sorted((c.name for nb in record.notebooks for c in nb.solution_cells), key=len, reverse=True)
    questions: dict[str, Question] = {}
    of: dict[str, str] = {}
    for nb in record.notebooks:
        for cell in sorted(nb.grade_cells, key=lambda c: order.get(c.name, len(order))):
            name = next((f for f in functions if cell.name.startswith(f"test_{f}_") or cell.name == f"test_{f}"),
                        None) if cell.cell_type == "code" else None
            key = name or cell.name
            q = questions.setdefault(key, Question(key, "function" if name else "written", [], 0.0))
            q.cells.append(cell.name)
            q.points += float(cell.max_score)
            of[cell.name] = key
    return list(questions.values()), of


def _score_questions(report: ClassReport, rows: dict) -> None:
    for student, cells in rows.items():
        per = report.scores.setdefault(student, {})
        for q in report.questions:
            marks = [cells.get(gid) for gid in q.cells]
            if any(m is None for m in marks):
                continue                                  # waits for grading by hand
            per[q.name] = sum(marks)
            q.scored += 1
            q.lost += q.points - per[q.name]
            q.full += per[q.name] >= q.points - 1e-9


def _read_verdicts(report: ClassReport, found: list, rows: dict, cell_question: dict) -> None:
    """Rank the stored verdicts; a student whose verdicts disagree with the gradebook's scores
    (graded again by stock nbgrader since) is shown with scores only."""
    by_student: dict[str, list] = defaultdict(list)
    for v in found:
        by_student[v.student].append(v)
    for student in report.students:
        mine = by_student.get(student, [])
        if mine and any(rows[student].get(v.grade_id) != v.score for v in mine if v.grade_id in rows[student]):
            report.stale.append(student)
            mine = []
        if not mine:
            report.scores_only.append(student)
            continue
        _count_student(report, student, mine, cell_question)
    for function, counts in report.mistakes.items():
        counts.sort(key=lambda m: (-len(m.students), m.mistake))
    place = {q.name: i for i, q in enumerate(report.questions)}
    for name in ("mistakes", "blind_spots", "outcomes"):          # functions in notebook order
        table = getattr(report, name)
        setattr(report, name, dict(sorted(table.items(), key=lambda kv: place.get(kv[0], len(place)))))
    report.problems.sort(key=lambda p: (p["run"], p["student"]))


def _count_student(report: ClassReport, student: str, mine: list, cell_question: dict) -> None:
    problem_runs: dict[str, list[str]] = {}
    for v in sorted(mine, key=lambda v: v.grade_id):
        function = v.function or cell_question.get(v.grade_id, v.grade_id)
        report.outcomes.setdefault(function, Counter())[_outcome(v)] += 1
        for name in v.mistake_names:
            counts = report.mistakes.setdefault(function, [])
            entry = next((m for m in counts if m.mistake == name), None)
            if entry is None:
                entry = MistakeCount(function, name, [], [])
                counts.append(entry)
            if student not in entry.students:
                entry.students.append(student)
            if v.grade_id not in entry.cells:
                entry.cells.append(v.grade_id)
        if v.status == "failed" and not v.mistake_names and v.error == "AssertionError":
            report.blind_spots.setdefault(function, []).append(
                Failure(student, v.grade_id, function, messages.summary(v.message), v.message or ""))
        if v.run != stored.RUN_COMPLETED and v.problem:
            problem_runs.setdefault(v.run, []).append(v.problem)
        elif v.error in _CELL_RUN:
            problem_runs.setdefault(_CELL_RUN[v.error], []).append(f"{v.grade_id}: {messages.summary(v.message)}")
        elif v.run != stored.RUN_COMPLETED:
            problem_runs.setdefault(v.run, [])
    for run, reasons in problem_runs.items():
        report.problems.append({"student": student, "run": run, "reason": "; ".join(dict.fromkeys(reasons))})


_CELL_RUN = {"TimeoutError": stored.RUN_TIMEOUT, "CrashError": stored.RUN_CRASH}    # a cell's error -> run


def _outcome(v) -> str:
    """One test cell's outcome, as the per-function table counts it."""
    if v.status == "passed":
        return "passed"
    if v.status == "failed" and v.error == "AssertionError":
        return "named mistake" if v.mistake_names else "unexplained wrong output"
    if v.error in ("TimeoutError", "CrashError"):
        return "time-out or crash"
    if v.status in ("not run", "not gradable"):
        return v.status
    if v.status == stored.RUN_UNGRADABLE:
        return "not gradable"
    return "raised"


OUTCOMES = ("passed", "named mistake", "unexplained wrong output", "raised", "time-out or crash", "not run",
            "not gradable")


# ---------------------------------------------------------------- figures

def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _hist(ax, values: list[float], points: float, title: str) -> None:
    step = 1.0 if points <= 20 else points / 20
    edges = [i * step - step / 2 for i in range(int(points / step) + 2)]
    ax.hist(values, bins=edges, color="#3b6ea8", edgecolor="white")
    ax.set_title(title, fontsize=9)
    ax.set_xlim(-step, points + step)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.tick_params(labelsize=7)


def figures(report: ClassReport) -> dict[str, str]:
    """The histograms as data: URLs (PNG): the total, and one small panel per question."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out = {}
    fig, ax = plt.subplots(figsize=(6, 2.6))
    _hist(ax, list(report.totals.values()), report.max_total, f"total (of {report.max_total:g} points)")
    ax.set_xlabel("points", fontsize=8)
    ax.set_ylabel("students", fontsize=8)
    out["total"] = _png(fig)
    plt.close(fig)
    cols = 4
    rows = max(1, -(-len(report.questions) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(11, 2.0 * rows), squeeze=False)
    for ax, q in zip(axes.flat, report.questions):
        values = [report.scores[s][q.name] for s in report.students if q.name in report.scores[s]]
        _hist(ax, values, q.points, f"{q.name} ({q.points:g})")
    for ax in list(axes.flat)[len(report.questions):]:
        ax.axis("off")
    fig.tight_layout()
    out["questions"] = _png(fig)
    plt.close(fig)
    return out


# ---------------------------------------------------------------- the page

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>Class report: {{ r.assignment }}</title>
<style>
body { font-family: sans-serif; max-width: 70em; margin: 1em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: .5em 0 1em; } td, th { border: 1px solid #ccc; padding: .2em .5em; }
th { background: #f3f3f3; text-align: left; } td.n { text-align: right; }
details { margin: .2em 0 .2em 1em; } summary { cursor: pointer; } pre { white-space: pre-wrap; background: #f8f8f8;
padding: .4em; font-size: 85%; } .note { background: #fff6d8; padding: .5em; border-left: 4px solid #e0b000; }
img { max-width: 100%; }
</style></head><body>
<h1>Class report: {{ r.assignment }}</h1>
<p>{{ r.students|length }} submissions in the gradebook {{ r.gradebook }}; {{ r.max_total|g }} points in all.
Scores are nbgrader's; mistakes, blind spots and problems are the verdicts <code>autograder grade</code> stored
when it graded (nothing here is graded again).</p>
{% if not r.have_verdicts %}<p class="note" id="scores-only">No verdicts are stored for this assignment: it was
graded by stock <code>nbgrader autograde</code> (or not yet by <code>autograder grade</code>). This report shows
scores only; grade with <code>autograder grade</code> to see the mistakes.</p>
{% elif r.scores_only %}<p class="note" id="scores-only">Scores only (no current verdicts) for
{{ r.scores_only|length }} student(s): {{ r.scores_only|join(", ") }}{% if r.stale %}; the verdicts of
{{ r.stale|join(", ") }} disagree with the gradebook's scores (graded again by stock nbgrader since?){% endif %}.</p>
{% endif %}

<h2 id="scores">Scores</h2>
<p>Mean {{ mean|g }}, median {{ median|g }} of {{ r.max_total|g }}.</p>
<img alt="histogram of total scores" src="{{ fig.total }}">
<h3>Per question</h3>
<img alt="histograms of the scores per question" src="{{ fig.questions }}">

<h2 id="costliest">The questions that cost the class most</h2>
{% if r.costliest %}<table><tr><th>question</th><th>points</th><th>points lost by the class</th><th>full marks</th></tr>
{% for q in r.costliest %}<tr><td>{{ q.name }}</td><td class="n">{{ q.points|g }}</td><td class="n">{{ q.lost|g }}</td>
<td class="n">{{ q.full }} of {{ q.scored }}</td></tr>{% endfor %}</table>{% else %}<p>No points were lost.</p>{% endif %}
<h2 id="passed">The questions nearly everybody passed</h2>
<p>Full marks from at least {{ (nearly * 100)|round|int }}% of the students graded on it:
{% for q in r.nearly_all_passed %}{{ q.name }} ({{ q.full }} of {{ q.scored }}){% if not loop.last %}, {% endif %}
{% else %}none{% endfor %}.</p>

{% if r.have_verdicts %}
<h2 id="mistakes">Catalogued mistakes, by how many students made them</h2>
{% for function, counts in mistakes %}<h3>{{ function }}</h3><ol class="mistakes">
{% for m in counts %}<li><details><summary><span class="mistake">{{ m.mistake }}</span>:
<b>{{ m.students|length }}</b> of {{ r.students|length }} students (in {{ m.cells|join(", ") }})</summary>
<p>{{ m.students|join(", ") }}</p></details></li>{% endfor %}</ol>
{% else %}<p>No failing output matched a catalogued mistake.</p>{% endfor %}

<h2 id="blind-spots">Failures no catalogued mistake explains</h2>
<p>Wrong outputs that match no entry of the catalogue: each may be a mistake worth cataloguing.</p>
{% for function, failures in blind %}<h3>{{ function }}: {{ failures|length }}</h3>
{% for f in failures %}<details><summary>{{ f.student }}, {{ f.grade_id }}: {{ f.summary }}</summary>
<pre>{{ f.message }}</pre></details>{% endfor %}
{% else %}<p>None: every wrong output matched a catalogued mistake.</p>{% endfor %}

<h2 id="outcomes">Test cells by outcome, per function</h2>
<table><tr><th>function</th>{% for o in outcomes %}<th>{{ o }}</th>{% endfor %}</tr>
{% for function, counter in r.outcomes.items() %}<tr><td>{{ function }}</td>
{% for o in outcomes %}<td class="n">{{ counter[o] or "" }}</td>{% endfor %}</tr>{% endfor %}</table>

<h2 id="problems">Crashes, time-outs and ungradable submissions</h2>
{% if r.problems %}<table><tr><th>student</th><th>what happened</th><th>reason</th></tr>
{% for p in r.problems %}<tr><td>{{ p.student }}</td><td>{{ p.run }}</td><td>{{ p.reason }}</td></tr>{% endfor %}
</table>{% else %}<p>None.</p>{% endif %}
{% endif %}
</body></html>
"""


def render_html(report: ClassReport) -> str:
    """The page; jinja2 escapes every value (student ids and messages come from learners)."""
    import statistics

    import jinja2
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["g"] = lambda x: f"{x:g}"
    totals = list(report.totals.values())
    return env.from_string(PAGE).render(
        r=report, fig=figures(report), mean=round(statistics.mean(totals), 1),
        median=statistics.median(totals), nearly=NEARLY_ALL, outcomes=OUTCOMES,
        mistakes=[(f, c) for f, c in report.mistakes.items() if c],
        blind=list(report.blind_spots.items()))


# ---------------------------------------------------------------- the terminal

def print_summary(report: ClassReport, out: Path, console=None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    console = console or Console(width=140)
    totals = sorted(report.totals.values())
    console.print(f"[bold]{escape(report.assignment)}[/bold]: {len(report.students)} submissions, "
                  f"median {totals[len(totals) // 2]:g} of {report.max_total:g}; report: {escape(str(out))}")
    if not report.have_verdicts:
        console.print("[yellow]no verdicts stored (graded by stock nbgrader autograde?): scores only[/yellow]")
    elif report.scores_only:
        console.print(f"[yellow]scores only for {escape(', '.join(report.scores_only))}[/yellow]")
    table = Table(title="catalogued mistakes, by students", title_justify="left")
    for col in ("function", "mistake", "students"):
        table.add_column(col)
    for function, counts in report.mistakes.items():
        for m in counts:
            shown = ", ".join(m.students[:SHOWN]) + (f" and {len(m.students) - SHOWN} more" if len(m.students) > SHOWN else "")
            table.add_row(escape(function), escape(m.mistake), f"{len(m.students)}: {escape(shown)}")
    if report.have_verdicts:
        console.print(table)
        blind = sum(len(f) for f in report.blind_spots.values())
        console.print(f"failures no catalogued mistake explains: {blind}"
                      + (f" ({escape(', '.join(report.blind_spots))})" if blind else ""))
    costly = ", ".join(f"{q.name} (-{q.lost:g})" for q in report.costliest) or "none"
    console.print(f"costliest questions: {escape(costly)}")
    console.print(f"nearly everybody passed: {escape(', '.join(q.name for q in report.nearly_all_passed) or 'none')}")
    for p in report.problems:
        console.print(f"[red]{escape(p['run'])}[/red] {escape(p['student'])}: {escape(p['reason'][:160])}")


def write_report(course_dir: Path, assignment: str, out: Path | None = None, quiet: bool = False,
                 console=None) -> Path:
    """Build, write and (unless quiet) summarise one assignment's report; return the page's path."""
    report = build_report(course_dir, assignment)
    out = Path(out) if out else Path(course_dir) / "report" / f"{assignment}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(report), encoding="utf-8")
    if not quiet:
        print_summary(report, out, console)
    return out
