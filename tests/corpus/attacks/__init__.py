"""Issue 18's corpus: attacks on the grader from outside the learner's kernel, by class.

Each module here (``intake.py``, ``names.py``, ``metadata.py``, ``html.py``, ``channel.py``, ...)
defines ``ATTACKS: list[Attack]``; ``all_attacks()`` collects them. ``tests/test_attacks.py``
grades every assignment's attacks in one batch per assignment, next to an honest witness, with
secrets planted where a grader must never show them (``MARKERS``), and checks for each entry:
a recorded outcome (with ``reason`` in it when given), no more than ``deserved`` points (exactly
that when ``exact``), its own ``check`` if any, no marker in any autograded notebook or feedback
page, the witness's full marks, and a batch that ends in bounded time.
``bench/corpus_outcomes.py`` runs the same entries through stock ``nbgrader autograde``.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

CLASSES = {
    1: "submission folder trusted as plain files",
    2: "names trusted",
    3: "notebook metadata trusted",
    4: "learner content becomes active HTML",
    5: "parent believes the sandbox's output",
    6: "super-linear work on learner input outside the sandbox",
    7: "learners share state",
}

# Planted by the runner before grading; none may appear in anything a learner gets back.
MARKERS = {
    "source": "SOURCE_MARKER_7f3a9c",        # a comment in every solution cell of source/<a>/*.ipynb
    "gradebook": "GRADEBOOK_MARKER_51be02",   # a student's e-mail in the gradebook
    "environment": "ENV_MARKER_c0d4e8",       # the grader's environment, as RNN_COURSE_SECRET
    "config": "CONFIG_MARKER_9e21aa",         # a comment in the course's nbgrader_config.py
}


@dataclass
class Attack:
    name: str                 # unique; also the student id unless the entry builds its own folder
    cls: int                  # a key of CLASSES
    assignment: str           # e.g. "ps3_birnn"
    what: str                 # one line for docs/robustness.md
    # writes the submission into the course directory: build(course_dir, student) -> None.
    # Most write submitted/<student>/<assignment>/; a name attack may create its own folder.
    build: Callable[[Path, str], None]
    deserved: float           # the most it may earn (autograded points)
    exact: bool = True        # must earn exactly `deserved`
    reason: str | None = None # a phrase its recorded outcome must contain
    student: str | None = None  # the id the outcome is recorded under, when not `name`
    # further post-conditions: check(course_dir, outcome) -> list of problems (empty when held)
    check: Callable[[Path, dict], list[str]] | None = None


def all_attacks() -> list[Attack]:
    attacks: list[Attack] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        attacks += importlib.import_module(f"{__name__}.{info.name}").ATTACKS
    names = [a.name for a in attacks]
    assert len(names) == len(set(names)), "attack names must be unique"
    return attacks
