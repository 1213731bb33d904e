"""One set of limits: TrustedGrader's defaults, the course's nbgrader_config.py, then the flags."""
from __future__ import annotations

import argparse
import shutil

import pytest

from autograder.course import ROOT
from autograder.grade.options import GraderError, TrustedGrader, course_config, grader_options, help_all


def _flags(**given):
    base = dict(timeout=None, notebook_timeout=None, memory=None, jobs=None, require_sandbox=False)
    return argparse.Namespace(**dict(base, **given))


def test_defaults_then_course_config_then_flags(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\nc.Execute.timeout = 77\nc.TrustedGrader.memory_mb = 1000\nc.TrustedGrader.jobs = 3\n")
    cfg = course_config(tmp_path)
    options = grader_options(cfg)
    limits = options.limits(cfg.Execute.timeout)
    assert (limits.cell_timeout, limits.memory_mb, limits.notebook_timeout) == (77, 1000, 300)
    assert options.effective_jobs() == 3
    options = grader_options(cfg, _flags(timeout=5.0, memory=64, jobs=1, require_sandbox=True))
    limits = options.limits(cfg.Execute.timeout)
    assert (limits.cell_timeout, limits.memory_mb, limits.require_seccomp) == (5, 64, True)
    assert options.effective_jobs() == 1


def test_this_course_uses_nbgraders_execute_timeout():
    cfg = course_config(ROOT)
    assert grader_options(cfg).limits(cfg.Execute.timeout).cell_timeout == cfg.Execute.timeout == 120


def test_a_broken_config_is_an_error_not_an_empty_config(tmp_path):
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    with (tmp_path / "nbgrader_config.py").open("a") as f:
        f.write("\nc.CourseDirectory.ignore = [\n")
    with pytest.raises(GraderError, match="nbgrader_config.py cannot be loaded"):
        course_config(tmp_path)
    assert course_config(tmp_path / "nowhere") == {}


def test_help_all_lists_every_limit():
    text = help_all()
    for trait in TrustedGrader.class_trait_names(config=True):
        assert f"TrustedGrader.{trait}" in text
