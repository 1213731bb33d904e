"""The results of ``autograder grade``, typed: what both modes return, print and write as --json.

``to_dict`` gives the --json form (the same keys as the fields). The batch report is read back
from nbgrader's gradebook (the scores nbgrader recorded), with the verdicts' messages beside them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class CellReport:
    grade_id: str
    kind: str                        # "test" (autograded) or "written" (graded by hand)
    max_points: float
    score: float | None              # None while it waits for manual grading
    status: str                      # passed | failed | error | not run | not gradable | manual | test | written
    message: str | None = None       # the first problem, as the learner reads it
    hidden: bool = False             # that problem is in a hidden case (single-notebook mode says so)


@dataclass
class NotebookReport:
    notebook: str
    score: float
    max_score: float
    cells: list[CellReport] = field(default_factory=list)
    problem: str | None = None       # the notebook as a whole (missing, unreadable, crashed, ...)
    sandbox: dict | None = None      # wall, cpu, reason, runs, maxrss_kb


@dataclass
class StudentReport:
    student: str
    status: str                      # graded | not gradable | error
    notebooks: list[NotebookReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    score: float | None = None
    max_score: float | None = None
    late_penalty: float = 0.0
    needs_manual_grade: bool = False


@dataclass
class BatchReport:
    assignment: str
    course_dir: str
    trusted_copy: str
    students: list[StudentReport]
    nbgrader_errors: list[str]
    sandbox: str = ""
    gradebook: str = ""              # where the scores are (a SQLite path, or a URL without password)
    sandbox_warning: str | None = None
    jobs: int = 1
    nbgrader_exit_code: int = 0
    limits: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    sandbox_prewarm: list = field(default_factory=list)
    references: dict = field(default_factory=dict)   # the reference cache; whether torch was imported

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def ungraded(self) -> list[StudentReport]:
        return [s for s in self.students if s.status != "graded"]


@dataclass
class SingleNotebookReport:
    assignment: str
    notebook: str
    trusted_copy: str
    sandbox: str
    sandbox_warning: str | None
    problem: str | None
    cells: list[CellReport]
    notes: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)

    @property
    def auto(self) -> list[CellReport]:
        return [c for c in self.cells if c.status != "manual"]

    @property
    def score(self) -> float:
        return sum(c.score or 0 for c in self.auto)

    @property
    def max_score(self) -> float:
        return sum(c.max_points for c in self.auto)

    @property
    def manual_points(self) -> float:
        return sum(c.max_points for c in self.cells if c.status == "manual")

    def to_dict(self) -> dict:
        return dict(asdict(self), score=self.score, max_score=self.max_score, manual_points=self.manual_points)
