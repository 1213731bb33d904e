"""Sample submissions: each samples/<assignment>/<student>.py holds a learner's answers, and is
turned into a submitted notebook by filling the release notebook's solution cells.

In a sample file, a top-level ``def NAME`` fills the solution cell whose grade_id is NAME, and
a top-level ``ANSWERS = {"grade_id": "text", ...}`` fills written answers. An empty file is an
untouched release copy. Storing answers this way keeps the samples valid when the notebook's
text changes.
"""
from __future__ import annotations

import ast
import shutil
from pathlib import Path

import nbformat

from ..course import ROOT, notebooks

SAMPLES = ROOT / "samples"


def read_sample(path: Path) -> dict[str, str]:
    """grade_id -> new cell source."""
    src = path.read_text(encoding="utf-8")
    answers = {}
    for node in ast.parse(src).body:
        if isinstance(node, ast.FunctionDef):
            answers[node.name] = ast.get_source_segment(src, node)
        elif isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["ANSWERS"]:
            answers.update(ast.literal_eval(node.value))
    return answers


def fill(nb: nbformat.NotebookNode, answers: dict[str, str], origin: str = "sample") -> nbformat.NotebookNode:
    used = set()
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id in answers:
            cell.source = answers[grade_id]
            used.add(grade_id)
    unused = set(answers) - used
    if unused:
        raise ValueError(f"{origin}: no solution cell with grade_id {sorted(unused)}")
    return nb


def samples(assignment: str) -> list[Path]:
    return sorted((SAMPLES / assignment).glob("*.py"))


def submit_samples(assignment: str, course_dir: Path = ROOT) -> list[str]:
    """Write submitted/<student>/<assignment>/ for every sample of the assignment; return the students."""
    students = []
    for sample in samples(assignment):
        student = sample.stem
        target = course_dir / "submitted" / student / assignment
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        answers = read_sample(sample)
        for nb_path in notebooks(course_dir / "release" / assignment):
            nb = nbformat.read(nb_path, as_version=4)
            nbformat.write(fill(nb, answers, str(sample)), target / nb_path.name)
        students.append(student)
    return students
