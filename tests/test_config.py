"""The course configuration is readable where nbgrader shows it: Formgrader's "Manage Assignments"
page prints ``json.dumps(formgrader.config)`` (and logs "Formgrader config is not serializable",
showing classes as ``[, , ]``, when that fails). The routine commands' silence is checked by
test_exchange.py, which runs them all."""
from __future__ import annotations

import json
import logging

import pytest

from nbgrader.server_extensions.formgrader.formgrader import FormgradeExtension
from traitlets.config import Config
from traitlets.utils.importstring import import_item

from autograder.course import ROOT


def test_formgrader_config_serialises_and_names_its_preprocessors(monkeypatch):
    monkeypatch.chdir(ROOT)               # Formgrader reads the nbgrader_config.py of its directory
    formgrader = FormgradeExtension()
    formgrader.root_dir = str(ROOT)
    formgrader.initialize([])
    shown = json.loads(json.dumps(formgrader.config, indent=2))   # what ManageAssignmentsHandler does
    assert shown["CourseDirectory"]["course_id"] == "rnn-course"
    feedback = shown["GenerateFeedback"]["preprocessors"]
    assert "autograder.authoring.feedback.HideHiddenTests" in feedback
    for name in feedback + shown["GenerateSolution"]["preprocessors"]:
        import_item(name)                 # every import string names a real class


@pytest.mark.parametrize("step", ["autograder.authoring.feedback.HideHiddenTests", "nbgrader.preprocessors.GetGrades"])
def test_feedback_steps_take_the_exporters_configuration(step, caplog):
    """nbconvert's HTMLExporter configures NbConvertBase.display_data_priority for every
    preprocessor; nbgrader printed "Config option `display_data_priority` not recognized by
    `HideHiddenTests`" on every generate_feedback until our step declared that option as GetGrades does."""
    from nbconvert.exporters import HTMLExporter
    with caplog.at_level(logging.WARNING):
        made = import_item(step)(config=Config(HTMLExporter().default_config))
    assert not [r for r in caplog.records if "not recognized" in r.getMessage()]
    assert made.display_data_priority[0] == "application/vnd.jupyter.widget-view+json"   # the exporter's, taken


def test_the_warning_was_real(caplog):
    """Stock nbgrader's ClearHiddenTests (which HideHiddenTests extends) does warn: the cause above."""
    from nbconvert.exporters import HTMLExporter
    with caplog.at_level(logging.WARNING):
        import_item("nbgrader.preprocessors.ClearHiddenTests")(config=Config(HTMLExporter().default_config))
    assert [r for r in caplog.records if "display_data_priority" in r.getMessage()]


def test_instructor_config_points_formgrader_at_the_course(tmp_path, monkeypatch):
    """jupyterhub/instructor_nbgrader_config.py as ~/.jupyter/nbgrader_config.py: Formgrader,
    started in the home directory, finds the course at ~/rnn-course with its configuration."""
    home = tmp_path / "instructor"
    (home / ".jupyter").mkdir(parents=True)
    (home / "rnn-course").mkdir()
    (home / "rnn-course" / "nbgrader_config.py").write_text((ROOT / "nbgrader_config.py").read_text())
    (home / ".jupyter" / "nbgrader_config.py").write_text(
        (ROOT / "jupyterhub" / "instructor_nbgrader_config.py").read_text())
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("JUPYTER_CONFIG_DIR", raising=False)
    monkeypatch.chdir(home)
    formgrader = FormgradeExtension()
    formgrader.root_dir = str(home)
    formgrader.initialize([])
    assert formgrader.coursedir.root == str(home / "rnn-course")
    assert formgrader.url_prefix == "rnn-course"
    shown = json.loads(json.dumps(formgrader.config))
    assert "autograder.authoring.feedback.HideHiddenTests" in shown["GenerateFeedback"]["preprocessors"]
