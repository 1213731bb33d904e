"""Autograder for the RNN course: the check API, the exercise registry and the graders."""

__all__ = ["check", "case_inputs", "expected_output"]


def __getattr__(name: str):
    """The check API on first use (it imports numpy, which the command line mostly does not need)."""
    if name in __all__:
        from .checks import api
        return getattr(api, name)
    raise AttributeError(f"module 'autograder' has no attribute {name!r}")
