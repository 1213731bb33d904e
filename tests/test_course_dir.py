"""Every subcommand works on the course directory it is run in (or --course-dir), as nbgrader's
do: run in a copied course with this checkout's shared environment, they write into the copy and
nothing outside it changes."""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.course import ROOT, tool_env

from conftest import copy_course

AUTOGRADER = str(Path(sys.executable).with_name("autograder"))
A = "ps1_rnn_forward"
SKIP = {".git", ".venv", ".work", ".pytest_cache", "__pycache__"}


def _checkout() -> dict[str, str]:
    """Every file of this checkout (not the environment or caches) and its digest."""
    found = {}
    for path in sorted(ROOT.rglob("*")):
        rel = path.relative_to(ROOT)
        if path.is_file() and not SKIP & set(rel.parts):
            found[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _run(cwd: Path, *args: str) -> str:
    result = subprocess.run([AUTOGRADER, *args], cwd=cwd, env=tool_env(), capture_output=True, text=True)
    assert result.returncode == 0, f"autograder {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.xdist_group("course_dir")
def test_every_subcommand_uses_the_course_it_runs_in(tmp_path):
    course = copy_course(tmp_path / "course").resolve()
    before = _checkout()

    _run(course, "build", A)
    assert (course / "release" / A / f"{A}.ipynb").exists() and (course / "solutions" / A).is_dir()
    assert "submitted/{sample_buggy,sample_correct,sample_release}" in _run(course, "samples", A)
    assert (course / "submitted" / "sample_correct" / A / f"{A}.ipynb").exists()
    _run(course, "grade", A, "--quiet", "--jobs", "1")
    assert (course / "autograded" / "sample_correct" / A).is_dir()
    table = _run(course, "scores", A)
    assert "sample_correct" in table and "90" in table
    assert "mistakes; public cases reject" in _run(course, "catalogue", A)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert "sample_buggy" in _run(elsewhere, "--course-dir", str(course), "scores", A)
    assert not any(elsewhere.iterdir())

    assert _checkout() == before, "a subcommand run in the copied course changed this checkout"
