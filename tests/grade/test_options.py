"""One set of limits: TrustedGrader's defaults, the course's nbgrader_config.py, then the flags."""
from __future__ import annotations

import argparse
import shutil

import pytest

from traitlets.config import Config

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


def test_this_course_gives_the_trusted_grader_its_own_cell_limit():
    """Stock nbgrader keeps 120 s a cell; a hanging top-level cell costs the trusted grader 10 s
    (issue 16), and a call on one case at least 2 s."""
    cfg = course_config(ROOT)
    limits = grader_options(cfg).limits(cfg.Execute.timeout)
    assert (cfg.Execute.timeout, limits.cell_timeout, limits.case_timeout) == (120, 10, 2.0)
    assert grader_options(Config()).limits(77).cell_timeout == 77      # unset: nbgrader's Execute.timeout


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
