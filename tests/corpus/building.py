"""Building blocks of issue 18's attack entries: honest notebooks from the samples, their
points, the folders a submission is written into (``tests/corpus/attacks/*``), and what the
runners (``tests/test_attacks.py``, ``bench/corpus_outcomes.py``) share: planted markers, the
witness, the search for leaks."""
from __future__ import annotations

import functools
import json
from pathlib import Path

import nbformat

from autograder.authoring.samples import fill, read_sample
from autograder.course import ROOT, tool_env
from corpus.attacks import MARKERS

ASSIGNMENTS = ["ps1_rnn_forward", "ps2_bptt", "ps3_birnn", "ps4_attention", "ps5_pointer", "ps6_dynamics",
               "ps7_memory"]


def release(a: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "release" / a / f"{a}.ipynb", as_version=4)


def honest(a: str) -> nbformat.NotebookNode:
    """The release filled with the assignment's correct sample (the witness's work)."""
    return fill(release(a), read_sample(ROOT / "samples" / a / "sample_correct.py"))


def test_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
            and not c.metadata["nbgrader"].get("solution")]


@functools.cache
def points(a: str) -> dict[str, float]:
    """Test grade_id -> points, from the release."""
    return {c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader["points"]) for c in test_cells(release(a))}


def full(a: str) -> float:
    return sum(points(a).values())


def folder(course: Path, student: str, a: str) -> Path:
    path = course / "submitted" / student / a
    path.mkdir(parents=True, exist_ok=True)
    return path


def write(nb, path: Path) -> None:
    """A notebook written as JSON as it is, even when nbformat would refuse it (NaN included)."""
    path.write_text(json.dumps(nb, indent=1))


def honest_in(course: Path, student: str, a: str) -> Path:
    """submitted/<student>/<a>/ holding honest work; returns the folder."""
    path = folder(course, student, a)
    nbformat.write(honest(a), path / f"{a}.ipynb")
    return path


WITNESS = "sample_correct"


def submit_witness(course: Path, a: str) -> None:
    honest_in(course, WITNESS, a)


def plant_markers(course: Path) -> None:
    """The secrets of ``MARKERS`` in a built course: its source notebooks' solution cells, a
    student's e-mail in the gradebook, its config (the environment's is ``grader_env``)."""
    for nb_path in sorted((course / "source").glob("*/*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
                cell.source += f"\n# {MARKERS['source']}\n"
        nbformat.write(nb, nb_path)
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "rnn-course") as gb:
        gb.update_or_create_student("marker_student", email=MARKERS["gradebook"])
    with open(course / "nbgrader_config.py", "a") as f:
        f.write(f"\n# {MARKERS['config']}\n")


def grader_env(home: Path) -> dict:
    """A grader's environment: a private HOME, and the environment's marker."""
    return {**tool_env(), "HOME": str(home), "IPYTHONDIR": str(home / ".ipython"), "MPLBACKEND": "Agg",
            "RNN_COURSE_SECRET": MARKERS["environment"]}


def leaks(course: Path, students: list[str] | None = None) -> list[str]:
    """Every autograded or feedback file (of ``students``, or all) that holds a marker."""
    found = []
    for top in ("autograded", "feedback"):
        for who in sorted((course / top).iterdir()) if (course / top).is_dir() else []:
            if students is not None and who.name not in students:
                continue
            for path in sorted(who.rglob("*")) if who.is_dir() else [who]:
                if path.is_file() and not path.is_symlink():
                    data = path.read_bytes()
                    found += [f"{path.relative_to(course)}: {kind}" for kind, m in MARKERS.items()
                              if m.encode() in data]
    return found
