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
# timeout is Execute.timeout above unless set here (it is, below). `autograder grade --help-all` lists them all,
# with their defaults; command-line flags override them.
# c.TrustedGrader.cell_timeout = 120
# c.TrustedGrader.notebook_timeout = 300
# c.TrustedGrader.memory_mb = 2048
# c.TrustedGrader.jobs = 0          # 0: one sandbox per core

# Hangs cost seconds (issue 16): a graded function's call on one case is stopped after the larger
# of case_timeout and case_timeout_factor times the reference's own time on it (that test cell
# scores 0, the other functions are still graded). A cell that hangs at top level costs the cell
# limit, so the trusted grader's is 10 s, not stock nbgrader's 120: its cells run learner numpy
# only (demos skip themselves), in milliseconds.
c.TrustedGrader.cell_timeout = 10
# c.TrustedGrader.case_timeout = 2.0
# c.TrustedGrader.case_timeout_factor = 50.0
# The case inputs and references are cached in .autograder-cache/ (private: hidden answers).
# c.TrustedGrader.reference_cache = True
# c.TrustedGrader.cache_dir = ""

# Per-student hidden variants (README, "Per-student hidden variants"): every student's hidden cases
# get their own seeds and sizes, derived from a secret. The secret lives in a file OUTSIDE this
# directory (never in git, release/, the exchange or a bundle), readable by the instructor only;
# this variable names it for both graders: `autograder grade` reads it in its trusted parent, and
# stock `nbgrader autograde` passes it on to the kernels it starts (they inherit its environment).
# os.environ["AUTOGRADER_VARIANT_SECRET_FILE"] = os.path.expanduser("~/.rnn-course-secrets/variant_secret")

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
# Learner content is shown inert, in the feedback and in Formgrader alike: every markdown cell,
# written answer, attachment and output is sanitised (autograder/authoring/inert.py), scripts and
# widgets in outputs are dropped, SVG is shown as an image, and the feedback page carries a
# Content-Security-Policy that lets only its own MathJax run (templates/feedback/mathjax.html.j2).
c.HTMLExporter.sanitize_html = True
c.HTMLExporter.filters = {"package_files": "importlib.resources.files",
                          "markdown2html": "autograder.authoring.inert.InertMarkdown",
                          "clean_html": "autograder.authoring.inert.clean_html",
                          "feedback_csp": "autograder.authoring.inert.feedback_csp"}

# Canvas: `nbgrader export` can write the CSV Canvas's Grades > Import reads instead of grades.csv
# (autograder/authoring/canvas.py; README, "Grading on Gradescope, grades into Canvas").
# c.ExportApp.plugin_class = "autograder.authoring.canvas.CanvasExportPlugin"
# c.CanvasExportPlugin.roster = "canvas_roster.csv"      # the gradebook exported from the Canvas course
# c.CanvasExportPlugin.columns = "total"                 # or "questions": one column per graded cell
