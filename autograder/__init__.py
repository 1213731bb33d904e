"""Autograder for the RNN course: the check API, the exercise registry and the graders."""
from .checks.api import case_inputs, check, expected_output

__all__ = ["check", "case_inputs", "expected_output"]
