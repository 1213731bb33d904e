"""Where things are in the course directory, and running nbgrader's own commands on it."""
from __future__ import annotations

import functools
import hashlib
import os
import subprocess
import sys
from pathlib import Path

# The checkout this package was installed from: its bundled samples/, and the course the tests
# use. Commands never default to it: they work on ``course_directory``.
ROOT = Path(__file__).resolve().parent.parent


def course_directory(given: Path | None = None) -> Path:
    """The course directory a command works on: ``--course-dir`` if given, else the current
    directory (as nbgrader)."""
    course = Path(given or Path.cwd()).resolve()
    if not course.is_dir():
        raise SystemExit(f"autograder: the course directory {course} does not exist")
    return course


def assignments(root: Path = ROOT) -> list[str]:
    """Assignment ids, in order: the folders of source/."""
    if not (root / "source").is_dir():
        raise SystemExit(f"autograder: {root} is not a course directory (no source/); run in one or pass --course-dir")
    return sorted(p.name for p in (root / "source").iterdir() if p.is_dir() and not p.name.startswith("."))


def notebooks(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))


def tool_env() -> dict:
    """The environment for nbgrader/jupytext subprocesses: this interpreter's scripts first on PATH
    (nbgrader runs `alembic` from PATH) and no inherited grading flag."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.pop("NBGRADER_EXECUTION", None)
    return env


def nbgrader(*args: str, course_dir: Path = ROOT, check: bool = True, capture: bool = False) -> subprocess.CompletedProcess:
    """Run a real `nbgrader` command in a course directory with this interpreter."""
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course_dir, env=tool_env(),
                          check=check, text=True, capture_output=capture)


def course_db_url(course_dir: Path) -> str:
    """The course's gradebook as nbgrader finds it: ``c.CourseDirectory.db_url`` in its
    nbgrader_config.py (PostgreSQL, say), else gradebook.db in the course directory."""
    from traitlets.config.loader import PyFileConfigLoader
    course_dir = Path(course_dir).resolve()
    url = None
    if (course_dir / "nbgrader_config.py").exists():
        cfg = PyFileConfigLoader("nbgrader_config.py", path=str(course_dir)).load_config()
        url = cfg.CourseDirectory.get("db_url")
    return url or f"sqlite:///{course_dir / 'gradebook.db'}"


def shown_db_url(db_url: str) -> str:
    """A gradebook URL for people: a SQLite file by its path, others without a password."""
    from sqlalchemy.engine import make_url
    url = make_url(db_url)
    return url.database if url.drivername.startswith("sqlite") else url.render_as_string(hide_password=True)


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """A digest of the course package's code: a Dask worker and its client, or the warm grader
    and its command, must grade with the same checks."""
    package = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        h.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]
