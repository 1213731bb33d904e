"""nbgrader configuration for the RNN course (this directory is the course directory)."""
import os
import sys

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

# nbgrader gives 0 to a test cell with anything on stderr. A numpy or PyTorch warning (an
# overflow in a learner's intermediate, a deprecation) must not zero a correct answer.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"\w*Warning\b"

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
c.GenerateFeedback.preprocessors = ["nbgrader.preprocessors.GetGrades", "autograder.feedback.HideHiddenTests",
                                    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor"]

# The paired text forms (NAME.pct.py) hold solutions: never copy them into release/.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.pct.py", "jupytext.toml"]
