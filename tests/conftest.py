"""Shared fixtures: the course checkout, its assignments, and a course built afresh in a temp dir."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from filelock import FileLock

from autograder.authoring.build import build
from autograder.authoring.samples import submit_samples
from autograder.course import ROOT, assignments, nbgrader, notebooks

ASSIGNMENTS = assignments(ROOT)


def copy_course(target: Path) -> Path:
    """A course directory with this checkout's sources and config (with the templates it names),
    nothing generated."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "source", target / "source")
    shutil.copytree(ROOT / "templates", target / "templates")
    shutil.copy(ROOT / "nbgrader_config.py", target / "nbgrader_config.py")
    return target


@pytest.fixture(scope="session")
def built_course(tmp_path_factory, worker_id) -> Path:
    """source/ copied to a temp course directory and built there with real nbgrader commands,
    once for all test workers (read-only: copy it before grading in it)."""
    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        shared = shared.parent
    course = shared / "built-course"
    with FileLock(str(shared / "built-course.lock")):
        if not (course / ".built").exists():
            shutil.rmtree(course, ignore_errors=True)
            build(ASSIGNMENTS, copy_course(course), quiet=True)
            (course / ".built").touch()
    return course


@pytest.fixture(scope="session")
def fresh_course(built_course, tmp_path_factory) -> Path:
    """This worker's own copy of the built course (release/, solutions/, gradebook) to grade in."""
    course = tmp_path_factory.mktemp("graded") / "course"
    shutil.copytree(built_course, course)
    return course


STOCK_STUDENTS = {"solution": "solutions", "release": "release"}    # student -> the folder they hand in


def submit_everything(a: str, course: Path) -> None:
    """The solutions, the untouched release and every sample, as submitted/<student>/<a>/."""
    for student, kind in STOCK_STUDENTS.items():
        target = course / "submitted" / student / a
        target.mkdir(parents=True, exist_ok=True)
        for nb in notebooks(course / kind / a):
            shutil.copy(nb, target / nb.name)
    submit_samples(a, course)


@pytest.fixture(scope="session")
def stock_graded(built_course):
    """assignment -> a course in which stock `nbgrader autograde` graded the solutions, the release
    and every sample: once per assignment for the whole run (the most expensive grading there is),
    shared by tests/test_nbgrader.py and tests/grade/test_grader.py. Read-only: copy to change it."""
    def get(a: str) -> Path:
        course = built_course.parent / f"stock-graded-{a}"
        with FileLock(str(built_course.parent / f"stock-graded-{a}.lock")):
            if not (course / ".graded").exists():
                shutil.rmtree(course, ignore_errors=True)
                shutil.copytree(built_course, course)
                submit_everything(a, course)
                result = nbgrader("autograde", a, "--force", "--log-level=ERROR", course_dir=course, capture=True)
                assert result.returncode == 0, result.stderr
                (course / ".graded").touch()
        return course
    return get
