"""The trusted parent of ``autograder grade``: learner code runs in ``..sandbox``; everything
here runs in the grader's own process. See docs/DESIGN.md for the path of one submission.

    options     one set of limits and defaults (the TrustedGrader configurable)
    assignment  the trusted copy of an assignment's test cells, case inputs and references
    plan        a submitted notebook -> the steps the sandbox runs
    decode      what came back -> plain values, never trusted
    judge       the verdicts: each test cell's outputs, as stock nbgrader would record them
    session     submissions sent to the sandbox pool, and their judged outcomes
    converter   nbgrader's Autograde with the steps of steps/ (one class per file)
    steps/      TrustedExecute, FastCheckCellMetadata, FixedOverwriteCells, BatchedSaveAutoGrades
    gradebook   one shared database engine for nbgrader's steps during a batch
    submissions which submissions a batch grades; the ungradable ones; the report from the gradebook
    batch       grade every submission of an assignment into the gradebook
    notebook    grade one notebook, no gradebook (self-paced learners)
    report      the typed results both modes return
    command     the `autograder grade` command: run a mode, print its report
"""
import sys


def quiet_imports() -> None:
    """jsonschema compiles a large lark grammar at import when ``rfc3987_syntax`` is installed
    (a second or more); nbformat and nbgrader never validate that format, so skip it here."""
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)


quiet_imports()
