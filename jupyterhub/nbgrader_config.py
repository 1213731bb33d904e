"""nbgrader configuration for every user of a JupyterHub machine: copy to /etc/jupyter/nbgrader_config.py.

Students' nbgrader (fetch_assignment, submit, fetch_feedback, the Assignments tab) reads only this
file: it says where the exchange is and which course they take. The instructor's course
directory adds its own nbgrader_config.py on top (README: "Running a class on JupyterHub").
"""
c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

# The exchange: one directory on the machine that every user can reach. The hub admin creates
# it world-writable (mode 777); nbgrader creates rnn-course/ inside it when the instructor first
# releases, with inbound/ writable but not readable by students (no one sees another's work).
c.Exchange.root = "/srv/nbgrader/exchange"
c.CourseDirectory.course_id = "rnn-course"
