"""The instructor's own nbgrader configuration on a JupyterHub: copy to ~/.jupyter/nbgrader_config.py.

JupyterLab starts in the home directory, so Formgrader would not find the course's own
nbgrader_config.py there: this file points nbgrader at the course directory and loads that
configuration (feedback without hidden tests, the solutions folder, ...) from it.
"""
import os

COURSE = os.path.expanduser("~/rnn-course")       # where the course repository is checked out

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)
load_subconfig(os.path.join(COURSE, "nbgrader_config.py"))  # noqa: F821 (provided by traitlets too)
c.CourseDirectory.root = COURSE
