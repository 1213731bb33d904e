"""``autograder bundle DIR``: what students and self-paced learners get, and nothing more.

The bundle holds the release notebooks (release/<assignment>/), the learner side of the check
package (the ``check`` their test cells call, with what it needs to compute references and name
mistakes), its requirements, and a README for students. Nothing from source/ or solutions/, no
hidden test, and not the trusted grader: solutions are a separate, later hand-out.

The package keeps its import name ``autograder``, so the release notebooks' ``from autograder
import check`` works unchanged once the bundle is installed (``pip install .`` in it).
"""
from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

from ..course import ROOT, assignments

# The learner side of the check package: every file a learner's kernel imports for a test cell.
# Paths are relative to the checkout; a trailing "/" takes the folder's *.py files. Adjust this
# list when modules move: tests/test_bundle.py fails when something in it imports a module left out.
LEARNER_MODULES = [
    "autograder/__init__.py",     # exports check, case_inputs, expected_output
    "autograder/checks/__init__.py",
    "autograder/checks/api.py",       # check(fn, "name", cases=[...]), case_inputs
    "autograder/checks/messages.py",  # every learner-facing sentence of a check
    "autograder/checks/compare.py",   # what differs, where, by how much
    "autograder/checks/follow.py",    # follow-through: other graded functions are references during a check
    "autograder/checks/tracebacks.py",  # a failed check shows its message first
    "autograder/checks/variants.py",  # per-student hidden variants (only under autograde, with the secret)
    "autograder/exercises/",      # the exercise registry: inputs, references, tolerances, mistakes
]

# What a learner installs: the packages the release notebooks and the check package import, and
# JupyterLab with nbgrader's extension for the Validate button. Versions come from requirements.txt.
LEARNER_REQUIREMENTS = ["numpy", "torch", "matplotlib", "jupyterlab", "notebook", "nbgrader"]
# What the check package itself needs (the bundle's pyproject.toml).
CHECK_DEPENDENCIES = ["numpy", "torch"]

STUDENT_README = ROOT / "docs" / "students.md"


class BundleError(RuntimeError):
    pass


def _pins(root: Path) -> dict[str, str]:
    pins = {}
    for line in (root / "requirements.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", line.strip())
        if m:
            pins[m.group(1).lower()] = m.group(2)
    return pins


def _pinned(names: list[str], root: Path) -> list[str]:
    pins = _pins(root)
    missing = [n for n in names if n not in pins]
    if missing:
        raise BundleError(f"requirements.txt pins no version of {', '.join(missing)}")
    return [f"{n}=={pins[n]}" for n in names]


def learner_files(root: Path = ROOT) -> list[Path]:
    """The package files of LEARNER_MODULES, relative to ``root``."""
    files = []
    for entry in LEARNER_MODULES:
        path = root / entry
        if entry.endswith("/"):
            found = sorted(p for p in path.glob("*.py"))
            if not (path / "__init__.py").exists():
                raise BundleError(f"{entry} is not a package (no __init__.py)")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise BundleError(f"{entry} (in LEARNER_MODULES) does not exist")
    return [f.relative_to(root) for f in files]


def _pyproject(root: Path, packages: list[str]) -> str:
    version = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    deps = ", ".join(f'"{d}"' for d in _pinned(CHECK_DEPENDENCIES, root))
    return (
        "[build-system]\n"
        'requires = ["setuptools"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        "[project]\n"
        'name = "rnn-course-checks"\n'
        f'version = "{version}"\n'
        'description = "The checks of the RNN course\'s notebooks (learner side)"\n'
        'requires-python = ">=3.11"\n'
        f"dependencies = [{deps}]\n\n"
        "[tool.setuptools]\n"
        f"packages = [{', '.join(repr(p).replace(chr(39), chr(34)) for p in packages)}]\n"
    )


def write_bundle(target: Path, chosen: list[str] | None = None, root: Path = ROOT, force: bool = False) -> list[Path]:
    """Write the student bundle into ``target``; return the files written (relative to it)."""
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        if not force:
            raise BundleError(f"{target} is not empty (use --force to replace it)")
        shutil.rmtree(target)
    chosen = chosen or assignments(root)
    written: list[Path] = []

    def put(rel: Path | str, text: str | None = None, source: Path | None = None) -> None:
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source is not None:
            shutil.copyfile(source, dest)
        else:
            dest.write_text(text, encoding="utf-8")
        written.append(Path(rel))

    for a in chosen:
        release = root / "release" / a
        if not release.is_dir():
            raise BundleError(f"release/{a}/ does not exist: run `autograder build {a}` first")
        for path in sorted(p for p in release.rglob("*") if p.is_file()):
            if ".ipynb_checkpoints" not in path.parts:
                put(Path(a) / path.relative_to(release), source=path)
    files = learner_files(root)
    for rel in files:
        put(rel, source=root / rel)
    packages = sorted({str(f.parent).replace("/", ".") for f in files})
    put("pyproject.toml", _pyproject(root, packages))
    put("requirements.txt", "# What the notebooks need, pinned as in the course (README.md: how to install).\n"
        + "\n".join(_pinned(LEARNER_REQUIREMENTS, root)) + "\n")
    put("README.md", STUDENT_README.read_text(encoding="utf-8").replace("{assignments}", "\n".join(
        f"- `{a}/{a}.ipynb`" for a in chosen)))
    return written
