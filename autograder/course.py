"""Where things are in the course directory, and running nbgrader's own commands on it."""
from __future__ import annotations

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
