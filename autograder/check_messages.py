"""The learner-facing sentences of follow-through marking and integration checks, written once.

(Kept apart until the check API's messages have one home of their own; both graders use these.)
"""
from __future__ import annotations

CHECKED_WITH = ("  While it was checked, `{name}` called the reference {others} in place of yours "
                "(each function is graded on its own work), so the problem is in `{name}` itself.")
INTEGRATION = ("  This check runs your own functions together (an integration check): "
               "if {others} fails its own checks, fix that first.")
STASHED_REFERENCE = ("this `{name}` is the course's reference, lent to `{checked}` only while its check "
                     "calls it; it was kept and called later, so it refuses to answer.")
REFERENCE_REJECTED = ("the reference `{name}` (standing in for yours while `{checked}` is checked) "
                      "rejected these arguments: {why}")


def _names(names) -> str:
    quoted = [f"`{n}`" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def checked_with(name: str, others) -> str:
    """After a failure while references stood in for other graded functions."""
    return CHECKED_WITH.format(name=name, others=_names(others))


def integration(others) -> str:
    """After a failure of an integration check (the learner's own functions, no stand-ins)."""
    return INTEGRATION.format(others=" or ".join(f"`{n}`" for n in others))


def stashed_reference(name: str, checked: str) -> str:
    return STASHED_REFERENCE.format(name=name, checked=checked)


def reference_rejected(name: str, checked: str, why) -> str:
    return REFERENCE_REJECTED.format(name=name, checked=checked, why=why)
