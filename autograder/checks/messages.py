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
BUILDS_ON = "  If your function calls {others}, make sure those checks pass first."
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

# ---------------------------------------------------------------- only the trusted grader says these
CASE_TIMEOUT = "{name} did not finish within {seconds:g} s on {where}"
CELL_RAN_OUT = "the check stopped here: the cell ran out of time"
UNREADABLE_RESULT = "the grader could not read the result of {name} on {where}"
UNREADABLE_VALUE = "{name} returned something the grader could not read on {where} ({why})."
PASSED_BUT_STDERR = "the checks passed, but your code wrote to stderr during them (nbgrader gives 0)"

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


def builds_on(others: tuple[str, ...]) -> str:
    return BUILDS_ON.format(others=" or ".join(others))


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
