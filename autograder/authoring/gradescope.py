"""``autograder gradescope ASSIGNMENT``: the ``autograder.zip`` Gradescope runs, and the grading it runs.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` there once when it builds
the assignment's image, and for every submission runs ``run_autograder`` with the student's files
in ``/autograder/submission`` and reads ``/autograder/results/results.json``
(https://gradescope-autograders.readthedocs.io/en/latest/specs/). The zip holds:

  setup.sh, run_autograder         the two scripts Gradescope calls
  requirements.txt, constraints.txt  the course's pins, without the test-only packages
  course/autograder/               the course package: the trusted grader runs on Gradescope's side
  course/nbgrader_config.py        the course's limits (TrustedGrader, Execute.timeout, IgnorePattern)
  course/source/<a>/<nb>.ipynb     the trusted copy: the release notebook with the source's test
                                   cells (every declaration, hidden ones too) and no solution
  course/gradescope.json           which assignment and notebook this zip grades

``run_autograder`` runs ``python -m autograder.authoring.gradescope`` from ``course/``: single-
notebook mode (``grade/notebook.py``, the same sandbox and verdicts as a batch) on the submitted
notebook, turned into Gradescope's results. The root (``/autograder``) is the environment
variable AUTOGRADER_GRADESCOPE_ROOT when set, so that tests run in a temporary tree.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

import nbformat

from ..checks import messages
from ..checks.cells import is_test_cell, nbgrader_meta
from ..course import ROOT, notebooks

ROOT_ENV = "AUTOGRADER_GRADESCOPE_ROOT"
PYTHON_ENV = "AUTOGRADER_GRADESCOPE_PYTHON"
GRADESCOPE_ROOT = "/autograder"
MANIFEST = "gradescope.json"
# requirements.txt lines the grader never imports (the course's own test suite and browser tests).
TEST_ONLY = {"pytest", "pytest-xdist", "playwright"}
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, in /autograder/source, when it builds the assignment's image
# (Ubuntu). It installs Python 3.11 or newer and bubblewrap (the sandbox learner code runs in) with
# apt when missing, then the course's pinned Python packages into /autograder/venv. Offline: put
# wheels for every pinned package into a wheels/ folder next to this script and pip uses only those.
set -euo pipefail
cd "$(dirname "$0")"
ROOT="${AUTOGRADER_GRADESCOPE_ROOT:-/autograder}"

python_311() {   # the first interpreter of version 3.11 or newer
    for p in python3.13 python3.12 python3.11 python3; do
        if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$p"; return 0
        fi
    done
    return 1
}

missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
python_311 >/dev/null || missing+=(python3.11 python3.11-venv)   # Ubuntu 22.04 ships 3.10
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${missing[@]}"
fi
PY=$(python_311)

"$PY" -m venv "$ROOT/venv"
# CPU-only torch (no CUDA downloads) from PyTorch's index; AUTOGRADER_TORCH_INDEX="" leaves it out.
TORCH_INDEX="${AUTOGRADER_TORCH_INDEX-https://download.pytorch.org/whl/cpu}"
if [ -d wheels ]; then
    source=(--no-index --find-links wheels)
elif [ -n "$TORCH_INDEX" ]; then
    source=(--extra-index-url "$TORCH_INDEX")
else
    source=()
fi
"$ROOT/venv/bin/pip" install --quiet --disable-pip-version-check ${source[@]+"${source[@]}"} -r requirements.txt -c constraints.txt
"$ROOT/venv/bin/python" -c "import numpy, torch, nbgrader"
command -v bwrap >/dev/null 2>&1 || echo "setup.sh: bubblewrap is missing; learner code will run in a plain subprocess"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for every submission: grade /autograder/submission/*.ipynb with the course's
# trusted grader and write /autograder/results/results.json. AUTOGRADER_GRADESCOPE_ROOT moves the
# root, AUTOGRADER_GRADESCOPE_PYTHON the interpreter (default: the one setup.sh installed).
ROOT="${AUTOGRADER_GRADESCOPE_ROOT:-/autograder}"
PYTHON="${AUTOGRADER_GRADESCOPE_PYTHON:-$ROOT/venv/bin/python}"
cd "$ROOT/source/course" || exit 1
export AUTOGRADER_GRADESCOPE_ROOT="$ROOT"
PYTHONPATH="$ROOT/source/course" exec "$PYTHON" -m autograder.authoring.gradescope
"""


class GradescopeError(RuntimeError):
    pass


# ---------------------------------------------------------------------------- the zip
def trusted_notebook(source: nbformat.NotebookNode, release: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The release notebook with every test cell's source taken from the source notebook: all its
    check declarations, hidden ones included, and not one solution."""
    tests = {nbgrader_meta(c).get("grade_id"): c.source for c in source.cells
             if is_test_cell(c.cell_type, nbgrader_meta(c).get("grade"), nbgrader_meta(c).get("solution"))}
    found = set()
    for cell in release.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in tests:
            cell.source = tests[grade_id]
            found.add(grade_id)
    if found != set(tests):
        raise GradescopeError(f"release notebook lacks test cells {sorted(set(tests) - found)}: run `autograder build`")
    return release


def grader_requirements(course_dir: Path) -> str:
    """requirements.txt's pins without the test-only packages (and without its comments)."""
    lines = ["# The course's pins (requirements.txt) that the grader needs; constraints.txt pins the rest."]
    for line in (course_dir / "requirements.txt").read_text().splitlines():
        name = re.match(r"^\s*([A-Za-z0-9_.-]+)", line)
        if name and name.group(1).lower() not in TEST_ONLY:
            lines.append(line.strip())
    return "\n".join(lines) + "\n"


def package_files(root: Path = ROOT) -> list[Path]:
    """Every file of the course package (the grader included), relative to ``root``."""
    return sorted(p.relative_to(root) for p in (root / "autograder").rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def zip_contents(assignment: str, course_dir: Path, visibility: str = "visible") -> dict[str, bytes]:
    """Name in the zip -> bytes, for one assignment of the course."""
    if visibility not in VISIBILITIES:
        raise GradescopeError(f"visibility must be one of {', '.join(VISIBILITIES)}, not {visibility!r}")
    source_dir, release_dir = course_dir / "source" / assignment, course_dir / "release" / assignment
    if not source_dir.is_dir():
        raise GradescopeError(f"no assignment {assignment} in {course_dir / 'source'}")
    if not release_dir.is_dir():
        raise GradescopeError(f"release/{assignment}/ does not exist: run `autograder build {assignment}` first")
    names = [p.stem for p in notebooks(release_dir)]
    if len(names) != 1:
        raise GradescopeError(f"{assignment} has {len(names)} notebooks; a Gradescope autograder grades one")
    name = names[0]
    files = {"setup.sh": SETUP_SH.encode(), "run_autograder": RUN_AUTOGRADER.encode(),
             "requirements.txt": grader_requirements(course_dir).encode(),
             "constraints.txt": (course_dir / "constraints.txt").read_bytes()}
    for rel in package_files(ROOT):
        files[f"course/{rel}"] = (ROOT / rel).read_bytes()
    files["course/nbgrader_config.py"] = (course_dir / "nbgrader_config.py").read_bytes()
    trusted = trusted_notebook(nbformat.read(source_dir / f"{name}.ipynb", as_version=4),
                               nbformat.read(release_dir / f"{name}.ipynb", as_version=4))
    files[f"course/source/{assignment}/{name}.ipynb"] = nbformat.writes(trusted).encode()
    for path in sorted(p for p in release_dir.rglob("*") if p.is_file() and p.suffix != ".ipynb"
                       and ".ipynb_checkpoints" not in p.parts):       # data files the notebook reads
        files[f"course/source/{assignment}/{path.relative_to(release_dir)}"] = path.read_bytes()
    files[f"course/{MANIFEST}"] = json.dumps({"assignment": assignment, "notebook": name,
                                              "visibility": visibility}, indent=1).encode()
    return files


def write_zip(assignment: str, course_dir: Path, out: Path, visibility: str = "visible") -> list[str]:
    """Write ``out`` (autograder.zip); return the names it holds."""
    files = zip_contents(assignment, course_dir, visibility)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))   # the same bytes every build
            mode = 0o755 if name in ("setup.sh", "run_autograder") else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return list(files)


# ---------------------------------------------------------------------------- grading one submission
def find_notebook(submission: Path, name: str) -> tuple[Path | None, str | None]:
    """(the submitted notebook, None), or (None, why there is none to grade)."""
    found = sorted(p for p in submission.rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts and not p.name.startswith(".")) if submission.is_dir() else []
    named = [p for p in found if p.name == f"{name}.ipynb"]
    if len(named) == 1 or (not named and len(found) == 1):
        return (named or found)[0], None
    if not found:
        return None, messages.GRADESCOPE_NO_NOTEBOOK.format(notebook=name)
    shown = ", ".join(str(p.relative_to(submission)) for p in found[:5])
    return None, messages.GRADESCOPE_MANY.format(found=shown, notebook=name)


def results_from_report(report, notebook: str, visibility: str = "visible") -> dict:
    """Gradescope's results.json from a ``SingleNotebookReport``: a test per test cell with its
    points; a failing hidden case's details in a test of its own, shown once grades are published."""
    tests = []
    for n, cell in enumerate(report.auto, 1):
        passed = cell.score is not None and cell.score >= cell.max_points
        test = {"name": cell.grade_id, "number": str(n), "score": float(cell.score or 0),
                "max_score": float(cell.max_points), "status": "passed" if passed else "failed",
                "visibility": "visible"}
        if passed:
            test["output"] = messages.GRADESCOPE_PASSED
        elif cell.hidden:
            details = messages.GRADESCOPE_HIDDEN_NAME.format(grade_id=cell.grade_id)
            test["output"] = messages.GRADESCOPE_HIDDEN.format(name=details)
        else:
            test["output"] = cell.message or cell.status
        tests.append(test)
        if cell.hidden and not passed:
            tests.append({"name": details, "number": f"{n}.1", "score": 0.0, "max_score": 0.0, "status": "failed",
                          "output": cell.message or cell.status, "visibility": "after_published"})
    output = messages.GRADESCOPE_SUMMARY.format(score=report.score, max_score=report.max_score, notebook=notebook)
    if report.manual_points:
        output += messages.GRADESCOPE_WRITTEN.format(points=report.manual_points)
    if report.problem:
        output = messages.GRADESCOPE_UNGRADABLE.format(why=report.problem) + "\n\n" + output
    return {"score": float(report.score), "output": output, "visibility": visibility,
            "stdout_visibility": "hidden", "test_output_format": "text", "tests": tests,
            "extra_data": {"notebook": notebook, "sandbox": report.sandbox, "problem": report.problem}}


def ungradable(why: str, visibility: str = "visible") -> dict:
    return {"score": 0.0, "output": why, "visibility": visibility, "stdout_visibility": "hidden", "tests": []}


def gradescope_student(root: Path) -> str:
    """The submitter as Gradescope names them in submission_metadata.json (the first user of a
    group): their student id (``sid``), else their e-mail, else Gradescope's user id."""
    try:
        user = json.loads((root / "submission_metadata.json").read_text())["users"][0]
        return str(user.get("sid") or user.get("email") or user["id"])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return "you"


def grade_submission(root: Path, course: Path) -> dict:
    """results.json's content for the submission under ``root`` (Gradescope's layout)."""
    from ..grade.notebook import grade_notebook
    from ..grade.options import GraderError
    manifest = json.loads((course / MANIFEST).read_text())
    name, visibility = manifest["notebook"], manifest.get("visibility", "visible")
    path, why = find_notebook(root / "submission", name)
    student = gradescope_student(root)
    if path is None:
        return ungradable(why, visibility)
    with tempfile.TemporaryDirectory(prefix="gradescope-") as tmp:
        # named as the assignment's notebook, so that single-notebook mode finds its trusted copy
        copy = Path(tmp) / f"{name}.ipynb"
        shutil.copyfile(path, copy)
        try:
            report = grade_notebook(copy, [course], student=student)
        except GraderError as e:
            return ungradable(messages.GRADESCOPE_UNGRADABLE.format(why=e), visibility)
    if report.sandbox_warning:
        print(report.sandbox_warning)          # stdout: the instructor's eyes only (stdout_visibility)
    for note in report.notes:
        print(note)
    results = results_from_report(report, name, visibility)
    results["extra_data"]["student"] = student
    return results


def run(root: Path, course: Path) -> dict:
    """Grade, write results/results.json (whatever happens), return what was written."""
    started = time.monotonic()
    try:
        results = grade_submission(root, course)
    except Exception as e:                     # the grader's own failure: still a results.json
        traceback.print_exc(file=sys.stdout)
        results = ungradable(messages.GRADESCOPE_FAILED.format(why=type(e).__name__))
    results["execution_time"] = round(time.monotonic() - started, 3)
    out = root / "results" / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return results


def main() -> int:
    root = Path(os.environ.get(ROOT_ENV, GRADESCOPE_ROOT))
    results = run(root, ROOT)          # ROOT: the course/ folder this package was unpacked in
    print(f"{results['score']:g} points; results in {root / 'results' / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
