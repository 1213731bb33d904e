"""Where things are in the course directory, and running nbgrader's own commands on it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def assignments(root: Path = ROOT) -> list[str]:
    """Assignment ids, in order: the folders of source/."""
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
