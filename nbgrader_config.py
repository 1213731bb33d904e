"""nbgrader configuration for the RNN course (this directory is the course directory)."""
import os
import sys

import nbgrader

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

# nbgrader creates a new gradebook by running the `alembic` program found on PATH. Put the
# scripts of the interpreter running nbgrader first, so that `.venv/bin/nbgrader ...` works
# without activating the virtual environment.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

c.CourseDirectory.course_id = "rnn-course"
# The exchange (where release_assignment, submit and collect meet) is the machine's, not the
# course's: jupyterhub/nbgrader_config.py, copied to /etc/jupyter/, sets it for every user.
c.CourseDirectory.solution_directory = "solutions"

# Each test cell runs a handful of small cases against PyTorch: seconds, not minutes. The
# limit only stops a runaway cell (an infinite loop) from holding up the class.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True

# `autograder grade` (the course's trusted grader) takes its limits from TrustedGrader; its cell
# timeout is Execute.timeout above unless set here. `autograder grade --help-all` lists them all,
# with their defaults; command-line flags override them.
# c.TrustedGrader.cell_timeout = 120
# c.TrustedGrader.notebook_timeout = 300
# c.TrustedGrader.memory_mb = 2048
# c.TrustedGrader.jobs = 0          # 0: one sandbox per core

# nbgrader gives 0 to a test cell with anything on stderr. A numpy or PyTorch warning (an
# overflow in a learner's intermediate, a deprecation) must not zero a correct answer.
# nbgrader applies the pattern with re.search to learner text: "Warning" ending a word is found
# exactly where the older r"\w*Warning\b" was (a leading \w* can always match nothing), but
# in one scan: \w* tried at every start of 100,000 word characters took 16 s.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"Warning\b"

# A submission whose test cells were deleted gets them back from the gradebook.
c.OverwriteCells.add_missing_cells = True

# Preprocessors are named by import string, not class: Formgrader shows this configuration as
# JSON on its "Manage Assignments" page, and classes would make it unserialisable.
#
# Solutions for self-paced learners: code filled in, hidden tests removed, no outputs (so that
# regenerating is deterministic and demos are not run by the build).
c.GenerateSolution.preprocessors = ["nbgrader.preprocessors.LockCells", "nbgrader.preprocessors.ClearOutput",
                                    "nbgrader.preprocessors.ClearHiddenTests"]

# Feedback shows each check's outcome (the failing case, what differs, the likely mistake) but not
# the hidden test code: nbgrader's feedback would print it verbatim (jupyter/nbgrader#917).
c.GenerateFeedback.preprocessors = ["nbgrader.preprocessors.GetGrades", "autograder.authoring.feedback.HideHiddenTests",
                                    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor"]

# Issue 18: nbconvert's markdown and highlighting filters take time that grows faster than their
# input on crafted text; feedback shows each learner cell's source on a capped prefix.
c.GenerateFeedback.preprocessors.append("autograder.authoring.feedback_limits.CapLearnerText")

# The paired text forms (NAME.pct.py) hold solutions: never copy them into release/.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.pct.py", "jupytext.toml"]

# Maths without the internet. nbgrader's feedback and Formgrader templates load MathJax from a CDN
# (their macro ignores HTMLExporter.mathjax_url); templates/ replaces that macro: feedback inlines
# a packaged MathJax (it must render from a student's disk), Formgrader loads the copy its Jupyter
# server serves. nbgrader's own templates stay on the path after ours.
c.HTMLExporter.extra_template_basedirs = [
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates"),
    os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader", "templates"),
]
c.HTMLExporter.filters = {"package_files": "importlib.resources.files"}
