"""nbgrader's gradebook during a batch: one shared database engine for all of nbgrader's steps,
and the student rows made up front so that graders running at once do not race for them."""
from __future__ import annotations

import contextlib

from . import quiet_imports


class _Engines:
    """The gradebook engines of a batch (or of a whole command, ``keep_engines``): one per
    database URL, the course rows known to exist, one sessionmaker per engine."""

    def __init__(self):
        self.engines: dict = {}
        self.factories: dict = {}   # each new sessionmaker is a new Session class, whose event
        self.courses: set = set()   # dispatch SQLAlchemy sets up again on its first query

    def engine(self, db_url: str):
        if db_url not in self.engines:
            from sqlalchemy import create_engine
            self.engines[db_url] = create_engine(db_url, future=True)
        return self.engines[db_url]

    def dispose(self) -> None:
        for engine in self.engines.values():
            engine.dispose()


_kept: _Engines | None = None       # while keep_engines() runs


@contextlib.contextmanager
def keep_engines():
    """One engine per gradebook for a whole command of several assignments, rather than one per
    batch: SQLAlchemy compiles each statement once per engine (a few milliseconds each, about
    twenty kinds per batch), and nbgrader's Gradebook inspects the tables on a new engine."""
    global _kept
    if _kept is not None:
        yield
        return
    _kept = _Engines()
    try:
        yield
    finally:
        kept, _kept = _kept, None
        kept.dispose()


@contextlib.contextmanager
def shared_gradebook_engine():
    """Let nbgrader's steps share one database engine during a batch.

    nbgrader opens ``Gradebook(db_url)`` about nine times per notebook, and each one creates an
    SQLAlchemy engine, inspects the tables and runs ``create_all``: a third of its time for a
    notebook. Here every such call in the converter and its preprocessors gets a real
    ``Gradebook`` with its own session on one engine (created by the real constructor, once
    per course id so that the same ``Course`` rows exist; kept for the command under
    ``keep_engines``). Restored on exit.
    """
    quiet_imports()
    import nbgrader.api as api
    import nbgrader.converters.autograde as m_autograde
    import nbgrader.preprocessors.latesubmissions as m_late
    import nbgrader.preprocessors.overwritecells as m_overwrite
    import nbgrader.preprocessors.overwritekernelspec as m_kernelspec
    import nbgrader.preprocessors.saveautogrades as m_save
    from sqlalchemy.orm import scoped_session, sessionmaker

    real = api.Gradebook
    state = _kept or _Engines()

    def gradebook(db_url, course_id="default_course", authenticator=None):
        if (db_url, course_id) not in state.courses:
            gb = real(db_url, course_id, authenticator)
            gb.db.remove()
            if db_url in state.engines:
                gb.engine.dispose()
            state.engines.setdefault(db_url, gb.engine)
            state.courses.add((db_url, course_id))
        if db_url not in state.factories:
            state.factories[db_url] = sessionmaker(autoflush=True, bind=state.engines[db_url], future=True)
        gb = object.__new__(real)
        gb.engine = state.engines[db_url]
        gb.db = scoped_session(state.factories[db_url])
        gb.course_id, gb.authenticator = course_id, authenticator
        gb.close = gb.db.remove                     # keep the shared engine open
        return gb

    global _shared
    modules = (m_autograde, m_late, m_overwrite, m_kernelspec, m_save)
    saved = [m.Gradebook for m in modules]
    for m in modules:
        m.Gradebook = gradebook
    _shared = gradebook
    try:
        yield
    finally:
        _shared = None
        for m, g in zip(modules, saved):
            m.Gradebook = g
        if state is not _kept:
            state.dispose()


_shared = None      # the Gradebook of shared_gradebook_engine while a batch runs


def open_gradebook(db_url: str, course_id: str):
    """An nbgrader ``Gradebook``: during a batch, one on the batch's shared engine."""
    if _shared is not None:
        return _shared(db_url, course_id)
    from nbgrader.api import Gradebook
    return Gradebook(db_url, course_id)


@contextlib.contextmanager
def gradebook_session(db_url: str):
    """A plain SQLAlchemy session on nbgrader's gradebook, for reading nbgrader's models in bulk.

    ``nbgrader.api.Gradebook(db_url)`` creates an engine, inspects every table and runs
    ``create_all`` (about twenty statements) before its first query; the readers here need none
    of that: the gradebook exists (the assignment was read from it), and what they load they
    load with the eager options of nbgrader's own relationships.
    """
    from sqlalchemy.orm import Session
    state = _kept or _Engines()         # under keep_engines, the command's engine
    try:
        with Session(state.engine(db_url)) as db:
            yield db
    finally:
        if state is not _kept:
            state.dispose()


def chunks(items: list, size: int = 500):
    """``items`` in slices small enough for an ``IN (...)`` list on any database."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def ensure_students(db_url: str, course_id: str, students: list[str]) -> None:
    """Create the gradebook's missing student rows up front, tolerating another writer.

    nbgrader's Autograde creates each student with find-then-insert. Two graders running at once
    (two assignments, same students) on a PostgreSQL gradebook can both miss the row and both
    insert it; the second insert fails and nbgrader drops that student's submission. Here the
    loser of that race finds the row on its second look; Autograde then only updates it.
    The students already there are found in one query per 500 (a repeat run inserts nothing).
    """
    from nbgrader.api import Gradebook, InvalidEntry, MissingEntry, Student
    from sqlalchemy import select
    with gradebook_session(db_url) as db:
        known = {sid for chunk in chunks(students) for sid in db.scalars(select(Student.id).where(Student.id.in_(chunk)))}
    missing = [s for s in students if s not in known]
    if not missing:
        return
    with Gradebook(db_url, course_id) as gb:
        for student in missing:
            for _ in range(2):
                try:
                    gb.find_student(student)
                    break
                except MissingEntry:
                    try:
                        gb.add_student(student)
                        break
                    except InvalidEntry:        # inserted meanwhile by another grader (rolled back)
                        continue
