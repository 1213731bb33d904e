"""Shared fixtures: the course checkout, its assignments, and a course built afresh in a temp dir."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autograder.build import build
from autograder.course import ROOT, assignments

ASSIGNMENTS = assignments(ROOT)


def copy_course(target: Path) -> Path:
    """A course directory with this checkout's sources and config, nothing generated."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "source", target / "source")
    shutil.copy(ROOT / "nbgrader_config.py", target / "nbgrader_config.py")
    return target


@pytest.fixture(scope="session")
def fresh_course(tmp_path_factory) -> Path:
    """source/ copied to a temp course directory and built there with real nbgrader commands."""
    course = copy_course(tmp_path_factory.mktemp("fresh") / "course")
    build(ASSIGNMENTS, course, quiet=True)
    return course
