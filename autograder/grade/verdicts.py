"""The verdicts table: what ``autograder grade`` knew about every test cell, kept for the class report.

nbgrader's gradebook records a score per cell; the trusted grader knows more: whether the cell
passed, which catalogued mistakes the failing output equals, and whether the notebook crashed,
ran out of time or could not be graded at all. ``autograder_verdict`` keeps that, one row per
(course, assignment, student, notebook, test cell), in the gradebook's own database (SQLite or
PostgreSQL, same engine), written in the session and the commit that record the grades
(``steps/save_grades.py``, ``submissions.record_ungradable``). A regrade deletes the notebook's
rows and writes them again in that same transaction, so rows are never duplicated and never
outlive the grades they explain. Stock ``nbgrader autograde`` writes none.
"""
from __future__ import annotations

import datetime
import json

from sqlalchemy import Column, DateTime, Float, Integer, String, Text, UniqueConstraint, delete, insert, inspect, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import declarative_base

Base = declarative_base()       # our own metadata: nbgrader's create_all and migrations never see it

RUN_COMPLETED, RUN_TIMEOUT, RUN_CRASH, RUN_UNGRADABLE = "completed", "time-out", "crash", "ungradable"


class Verdict(Base):
    __tablename__ = "autograder_verdict"
    __table_args__ = (UniqueConstraint("course_id", "assignment", "student", "notebook", "grade_id"),)

    id = Column(Integer, primary_key=True)
    course_id = Column(String(128), nullable=False)
    assignment = Column(String(128), nullable=False)
    student = Column(String(128), nullable=False)
    notebook = Column(String(128), nullable=False)
    grade_id = Column(String(128), nullable=False)
    function = Column(String(128))        # the graded function the cell checks (its failing check's)
    status = Column(String(32), nullable=False)   # passed | failed | error | not run | not gradable | ungradable
    error = Column(String(128))           # the error output's name: AssertionError, TimeoutError, CrashError, ...
    mistakes = Column(Text, nullable=False, default="[]")    # JSON list: catalogued mistakes matched
    message = Column(Text)                # the first problem, as the learner read it
    score = Column(Float)                 # nbgrader's auto_score at grading time (tells a later stock regrade)
    max_points = Column(Float)
    run = Column(String(32), nullable=False)      # the notebook's run: completed | time-out | crash | ungradable
    problem = Column(Text)                # why the notebook's run ended early, or could not start
    graded_at = Column(DateTime, nullable=False)

    @property
    def mistake_names(self) -> list[str]:
        try:
            names = json.loads(self.mistakes or "[]")
        except ValueError:
            return []
        return [str(n) for n in names] if isinstance(names, list) else []


_ready: set = set()        # databases (URLs) whose table is known to exist


def ensure_table(bind) -> None:
    """Create the table if missing, once per database. ``bind`` is an engine (a batch's start:
    a grader creating it at the same moment is no error) or the grades' own connection (the
    table is then made in their transaction: on SQLite another connection would wait for its lock)."""
    key = str(bind.engine.url)
    if key in _ready:
        return
    try:
        Base.metadata.create_all(bind, checkfirst=True)
    except DBAPIError:
        if not inspect(bind).has_table(Verdict.__tablename__):
            raise
    _ready.add(key)


def prepare_table(db_url: str) -> None:
    """At a batch's start, before any grades are written: the table, on its own connection."""
    from sqlalchemy import create_engine
    if db_url in _ready:
        return
    engine = create_engine(db_url)
    try:
        ensure_table(engine)
    finally:
        engine.dispose()
    _ready.add(db_url)


def run_of(outcome) -> str:
    """How the notebook's run went, from the judged outcome (``judge.NotebookOutcome``)."""
    end = outcome.sandbox or {}
    timed_out = end.get("reason") == "timeout" or end.get("signal") == 24 or any(
        v.error == "TimeoutError" for v in outcome.tests.values())
    if timed_out:
        return RUN_TIMEOUT
    if outcome.problem or any(v.error == "CrashError" for v in outcome.tests.values()):
        return RUN_CRASH
    return RUN_COMPLETED


def replace_notebook(db, course_id: str, assignment: str, student: str, notebook: str, outcome,
                     scores: dict) -> None:
    """In the grades' session ``db``: this notebook's verdicts, replacing any earlier ones."""
    ensure_table(db.connection())
    _delete(db, course_id, assignment, student, notebook)
    run, now = run_of(outcome), _now()
    _insert(db, [dict(course_id=course_id, assignment=assignment, student=student, notebook=notebook,
                      grade_id=gid, function=v.function, status=v.status, error=v.error,
                      mistakes=json.dumps(list(v.mistakes)), message=v.message, score=scores.get(gid),
                      max_points=v.max_points, run=run, problem=outcome.problem, graded_at=now)
                 for gid, v in outcome.tests.items()])


def replace_ungradable(db, course_id: str, assignment: str, student: str, notebooks, reason: str) -> None:
    """In the grades' session ``db``: a submission that could not be run; every test cell gets
    ``reason`` (``notebooks``: nbgrader's SubmittedNotebook rows, every cell scored 0)."""
    ensure_table(db.connection())
    _delete(db, course_id, assignment, student)
    now = _now()
    _insert(db, [dict(course_id=course_id, assignment=assignment, student=student, notebook=nb.name,
                      grade_id=grade.name, function=None, status=RUN_UNGRADABLE, error=None, mistakes="[]",
                      message=reason, score=0.0, max_points=grade.max_score, run=RUN_UNGRADABLE, problem=reason,
                      graded_at=now)
                 for nb in notebooks for grade in nb.grades
                 if grade.cell_type == "code"])      # a written answer: graded by hand, no verdict


def _insert(db, rows: list[dict]) -> None:
    """The rows in one batched INSERT (SQLAlchemy's ORM bulk insert). ``render_nulls``: a None
    is sent as NULL rather than left out, so that rows with and without a message or an error
    go in one batch instead of one statement per change of shape (issue 16)."""
    if rows:
        db.execute(insert(Verdict).execution_options(render_nulls=True), rows)


def read_verdicts(engine, course_id: str, assignment: str) -> list[Verdict] | None:
    """Every stored verdict of the assignment, or None when no grader ever made the table."""
    if not inspect(engine).has_table(Verdict.__tablename__):
        return None
    from sqlalchemy.orm import Session
    with Session(engine) as db:
        rows = db.scalars(select(Verdict).where(Verdict.course_id == course_id,
                                                Verdict.assignment == assignment)).all()
        db.expunge_all()
    return list(rows)


def _delete(db, course_id: str, assignment: str, student: str, notebook: str | None = None) -> None:
    where = [Verdict.course_id == course_id, Verdict.assignment == assignment, Verdict.student == student]
    if notebook is not None:
        where.append(Verdict.notebook == notebook)
    db.execute(delete(Verdict).where(*where).execution_options(synchronize_session=False))    # no Verdict objects in the session


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
