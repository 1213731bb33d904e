"""Every sentence a learner reads about a check, written once.

Both graders build their feedback here: ``checks.api`` in the learner's kernel (JupyterLab,
``nbgrader validate``, stock ``nbgrader autograde``) and ``grade.judge`` in the trusted parent of
``autograder grade``, so the two say the same thing by construction. The templates are
``str.format`` strings; tests/checks/test_messages.py fails when a fragment of one of them is
written as a literal anywhere else in the package. (Only ``sandbox/learner_runner.py`` is
exempt: it runs inside the sandbox, where this package does not exist.)

What differs in an output (type, shape, dtype, values) is worded in ``checks.compare``, the one
module that compares.
"""
from __future__ import annotations

import json

# ---------------------------------------------------------------- one case
WRONG_ON = "{name} is wrong on {where}:"
LIKELY_MISTAKE = "  Likely mistake: {mistake}. {hint}"
REPRODUCE = "  Reproduce it: from autograder import case_inputs; inputs = case_inputs({name!r}, {case})"
CASE = "case {case}\n  (inputs: {args})"
SHOULD_RAISE = ("{name} should raise ValueError on {where}\n"
                "  (the contract: invalid arguments raise ValueError with a message naming the problem), "
                "but it returned {got}.")
MODIFIED_INPUTS = ("{name} modified its argument(s) {changed} in place on {where}.\n"
                   "  The contract says functions never modify their inputs: work on copies "
                   "(e.g. h = h_prev.copy() or h = h + ..., not h += ...).")
RAISED_BY = "(raised by {name} on {where})"
WRONG_TUPLE = "{name} should return a tuple ({outputs}), got {what}."
NOT_A_FUNCTION = "{name} should be a function, got {kind}."
NOT_DEFINED = "name '{function}' is not defined"

# ---------------------------------------------------------------- one check (several cases)
CASES_FAILED = "\n\n({failed} of {total} cases failed; the first is shown.)"
CASES_PASSED = "{name}: {count} case{plural} passed\n"

# ---------------------------------------------------------------- follow-through marking
CHECKED_WITH = ("  While it was checked, `{name}` called the reference {others} in place of yours "
                "(each function is graded on its own work), so the problem is in `{name}` itself.")
INTEGRATION = ("  This check runs your own functions together (an integration check): "
               "if {others} fails its own checks, fix that first.")
STASHED_REFERENCE = ("this `{name}` is the course's reference, lent to `{checked}` only while its check "
                     "calls it; it was kept and called later, so it refuses to answer.")
STUB_BUDGET = ("the grader answers at most {calls} calls of the course's references per notebook, "
               "each at most {mb:g} MB of arguments; this call is beyond that")
OUT_OF_ORDER = ("the results of this check arrived after a later step of the notebook had started, "
                "so the grader discarded them")
REFERENCE_REJECTED = ("the reference `{name}` (standing in for yours while `{checked}` is checked) "
                      "rejected these arguments: {why}")

# ---------------------------------------------------------------- only the trusted grader says these
CASE_TIMEOUT = "{name} did not finish within {seconds:g} s on {where}"
CELL_RAN_OUT = "the check stopped here: the cell ran out of time"
UNREADABLE_RESULT = "the grader could not read the result of {name} on {where}"
UNREADABLE_VALUE = "{name} returned something the grader could not read on {where} ({why})."
PASSED_BUT_STDERR = "the checks passed, but your code wrote to stderr during them (nbgrader gives 0)"

# ---------------------------------------------------------------- the intake (issue 18): what a submission held
REFUSED_FILE = "{name} was left out: {why}"
REFUSED_LINK = "it is a symbolic link (submit the file or folder itself)"
REFUSED_HARD_LINK = "it is a hard link to a file elsewhere (submit a copy)"
REFUSED_SPECIAL = "it is a {kind}, not a file"
REFUSED_SIZE = "it is {mb:.0f} MB; the grader takes at most {limit:.0f} MB per submission"
REFUSED_NAME = "its name holds control characters or undecodable bytes"
REFUSED_DEPTH = "it is nested more than {depth} folders deep"
REFUSED_COUNT = "the submission holds more than {count} files and folders"
REFUSED_CHANGED = "it changed while the grader read it"
FOLDER_REFUSED = "the submission folder {name} is not a plain folder: {why}"
MAPPED_NAME = ("the folder name {name} is not a safe student id (letters, digits and . _ @ + - only, "
               "at most 64, starting with a letter or digit): graded as {student}")
BAD_TIMESTAMP = "timestamp.txt does not hold a time nbgrader can read"
INVALID_NOTEBOOK = "{name} is not a valid notebook ({why}): re-save it in Jupyter"
NOT_UNICODE = "it holds text that is not valid Unicode, a lone surrogate"
INVALID_METADATA = ("the nbgrader metadata of cell {cell} is invalid ({why}), so this test cell scores 0; "
                    "do not edit nbgrader's cell metadata")
INVALID_METADATA_NOTE = "{notebook}: the nbgrader metadata of cell {cell} is invalid ({why}): {then}"
METADATA_RESTORED = "restored from the assignment"
METADATA_VOIDED = "restored from the assignment; this test cell scores 0"
METADATA_DROPPED = "graded as an ordinary cell"

# ---------------------------------------------------------------- why a check never ran
NEVER_RAN = ", so this check never ran"
NOTEBOOK_TIMEOUT = "the notebook did not finish within {seconds:g} s"
OUTPUT_CAP = "the notebook produced more output than the grader accepts"
CPU_LIMIT = "the notebook used more than {seconds:g} s of CPU time"
KILLED = "the notebook's process was killed by signal {signal} (out of memory or a crash)"
STOPPED_EARLY = "the notebook stopped before this check ran"
NOT_RUN = "the notebook was not run"
SANDBOX_CRASH = "the grading sandbox stopped unexpectedly ({crash})"
SANDBOX_REFUSED = "the sandbox refused to run learner code: {why}"
CRASHED_CHECKS = ("{how} while these checks ran; the checks after this cell were run "
                  "again in a fresh process")
CRASHED_CELL = "this cell crashed the notebook: {how}; it was skipped and the notebook run again without it"


def wrong_on(name: str, where: str) -> str:
    return WRONG_ON.format(name=name, where=where)


def likely_mistake(mistake: str, hint: str) -> str:
    return LIKELY_MISTAKE.format(mistake=mistake, hint=hint)


def reproduce(name: str, case: dict) -> str:
    return REPRODUCE.format(name=name, case=json.dumps(case))


def case_description(case: dict, args: str) -> str:
    return CASE.format(case=json.dumps(case), args=args)


def should_raise(name: str, where: str, got) -> str:
    return SHOULD_RAISE.format(name=name, where=where, got=type(got).__name__)


def modified_inputs(name: str, changed: list[str], where: str) -> str:
    return MODIFIED_INPUTS.format(name=name, changed=changed, where=where)


def raised_by(name: str, where: str) -> str:
    return RAISED_BY.format(name=name, where=where)


def wrong_tuple(name: str, outputs: tuple[str, ...], what: str) -> str:
    return WRONG_TUPLE.format(name=name, outputs=", ".join(outputs), what=what)


def not_a_function(name: str, kind: str) -> str:
    return NOT_A_FUNCTION.format(name=name, kind=kind)


def not_defined(function: str) -> str:
    return NOT_DEFINED.format(function=function)


def cases_failed(failed: int, total: int) -> str:
    """The note after the first failure, when more than one case failed."""
    return CASES_FAILED.format(failed=failed, total=total) if failed > 1 else ""


def cases_passed(name: str, count: int) -> str:
    """The line a passing check prints (nbgrader records it as the cell's stdout)."""
    return CASES_PASSED.format(name=name, count=count, plural="s" if count != 1 else "")


def _names(names) -> str:
    quoted = [f"`{n}`" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def checked_with(name: str, others) -> str:
    """After a failure while references stood in for other graded functions (follow-through)."""
    return CHECKED_WITH.format(name=name, others=_names(others))


def integration(others) -> str:
    """After a failure of an integration check (the learner's own functions, no stand-ins)."""
    return INTEGRATION.format(others=" or ".join(f"`{n}`" for n in others))


def stashed_reference(name: str, checked: str) -> str:
    return STASHED_REFERENCE.format(name=name, checked=checked)


def stub_budget(calls: int, max_bytes: int) -> str:
    return STUB_BUDGET.format(calls=calls, mb=max_bytes / (1 << 20))


def reference_rejected(name: str, checked: str, why) -> str:
    return REFERENCE_REJECTED.format(name=name, checked=checked, why=why)


def case_timeout(name: str, seconds: float, where: str) -> str:
    return CASE_TIMEOUT.format(name=name, seconds=seconds, where=where)


def unreadable_result(name: str, where: str) -> str:
    return UNREADABLE_RESULT.format(name=name, where=where)


def unreadable_value(name: str, where: str, why) -> str:
    return UNREADABLE_VALUE.format(name=name, where=where, why=why)


def summary(message: str | None) -> str:
    """One line of a check's message for a table: the named mistake, else what differs, else
    the first line (an exception, a timeout)."""
    if not message:
        return "failed"
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    mistake = LIKELY_MISTAKE.split("{")[0].strip()          # "Likely mistake:"
    for line in lines:
        if line.startswith(mistake):
            return line.split(".")[0].replace(mistake, mistake[0].lower() + mistake[1:])
    if WRONG_ON.format(name="\0", where="\0").split("\0")[1] in lines[0] and len(lines) > 2:
        return lines[2][:80]
    return lines[0][:80]


# ---------------------------------------------------------------- Gradescope's results page (authoring/gradescope.py)
GRADESCOPE_PASSED = "Every case of this check passed."
GRADESCOPE_HIDDEN = ("Every visible case of this check passed, but a hidden case failed. What differs and the "
                     "likely mistake are shown under \"{name}\" once the grades are published.")
GRADESCOPE_HIDDEN_NAME = "{grade_id}: the hidden case"
GRADESCOPE_SUMMARY = "{score:g} of {max_score:g} points from the autograded checks of {notebook}.ipynb."
GRADESCOPE_WRITTEN = " The written answers ({points:g} points) are graded by hand, not here."
GRADESCOPE_NO_NOTEBOOK = ("No notebook (.ipynb file) was found in your submission. Upload {notebook}.ipynb, "
                          "the notebook you worked in.")
GRADESCOPE_MANY = ("Your submission holds several notebooks ({found}) and the grader cannot tell which is "
                   "your work: upload only the notebook you worked in, named {notebook}.ipynb.")
GRADESCOPE_UNGRADABLE = "Your submission could not be graded: {why}"
GRADESCOPE_FAILED = ("The autograder itself failed on your submission ({why}); your instructor can see the "
                     "details. Nothing is wrong with your work on that account: ask them to regrade it.")

# ---------------------------------------------------------------- per-student hidden variants
VARIANT_SECRET = ("the grader could not run this student's hidden cases: {why}. Grading is set up "
                  "wrongly (the instructor's variant secret), not the submission: fix it and grade again.")


def variant_secret_unusable(why) -> str:
    return VARIANT_SECRET.format(why=why)

# ---------------------------------------------------------------- issue 16: a call's own time limit
CASE_TIME_LIMIT = ("`{name}` did not return within {seconds:g} s on {where}. The grader stopped it there "
                   "(an infinite loop, a sleep, or far more work than the case needs?); this test cell "
                   "scores 0, your other functions are still graded.")


def case_time_limit(name: str, seconds: float, where: str) -> str:
    return CASE_TIME_LIMIT.format(name=name, seconds=seconds, where=where)

# issue 18: the trusted parent's caps on what it reads from a notebook's sandbox (sandbox/channel.py)
CHANNEL_CAP = "the grader stopped reading this notebook's results ({why}; learner code wrote on the grader's channel)"
