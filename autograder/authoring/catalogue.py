"""How hard the declared checks bite: run every catalogued mistake through the declared cases.

``autograder catalogue`` prints, for every graded function, which of its catalogued mistakes the
public cases alone reject and which the hidden cases alone reject, whether the message names the
mistake, the per-function rate of visible rejection, and the justified exceptions (mistakes the
visible cases cannot reject, with the reason stored on the mistake). The tests assert the same facts.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..checks import messages
from ..checks.api import cast_floats, run_case
from ..checks.declarations import Declaration, from_notebook
from ..course import ROOT, notebooks
from ..exercises import registry


def declarations(assignment: str, course_dir: Path = ROOT) -> dict[str, list[Declaration]]:
    """exercise name -> its declarations in the assignment's source notebooks."""
    found: dict[str, list[Declaration]] = {}
    for path in notebooks(course_dir / "source" / assignment):
        for _, d in from_notebook(path):
            found.setdefault(d.exercise, []).append(d)
    return found


def mistake_as_function(ex: registry.Exercise, mistake: registry.Mistake, like: Callable | None = None):
    """A learner function that makes this mistake: it returns the mistake's output in the inputs' dtype.

    It takes its arguments the way ``like`` (a correct implementation) does, keywords and defaults
    included, so other functions can call it as they call the learner's; without ``like``, the
    contract's parameters, all required.
    """
    sig = inspect.signature(like) if like is not None else inspect.Signature(
        [inspect.Parameter(a, inspect.Parameter.POSITIONAL_OR_KEYWORD) for a in ex.args])

    def fn(*args, **kwargs):
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        inputs = dict(zip(ex.args, bound.arguments.values()))
        floats = [v.dtype for v in inputs.values() if isinstance(v, np.ndarray) and v.dtype.kind == "f"]
        out = mistake.outputs(**cast_floats(inputs, np.float64))
        return cast_floats(out, floats[0]) if floats else out
    fn.__name__ = f"{ex.name}__{mistake.name}"
    fn.__signature__ = sig
    return fn


@dataclass
class Outcome:
    exercise: str
    mistake: str
    public_rejects: bool
    hidden_rejects: bool
    rejects: bool        # rejected by some declared case (public or hidden)
    named: bool          # some rejecting message names the mistake
    exception: str = ""  # why the public cases may miss it (Mistake.public_exception)


def _verdict(ex, fn, case) -> str | None:
    try:
        return run_case(ex, fn, case)
    except Exception as err:          # a crash is a rejection too (the cell errors)
        return f"raised {type(err).__name__}"


def outcomes(assignment: str, course_dir: Path = ROOT) -> list[Outcome]:
    rows = []
    decls = declarations(assignment, course_dir)
    for ex in registry.all_exercises(assignment):
        public = [c for d in decls.get(ex.name, []) if not d.hidden for c in d.cases]
        hidden = [c for d in decls.get(ex.name, []) if d.hidden for c in d.cases]
        for mistake in ex.mistakes:
            fn = mistake_as_function(ex, mistake)
            pub = [_verdict(ex, fn, c) for c in public]
            hid = [_verdict(ex, fn, c) for c in hidden]
            said = [m for m in pub + hid if m]
            rows.append(Outcome(ex.name, mistake.name, any(pub), any(hid), bool(said),
                                any(messages.likely_mistake(mistake.name, mistake.hint) in m for m in said),
                                mistake.public_exception))
    return rows


def visible_rates(rows: list[Outcome]) -> dict[str, tuple[int, int]]:
    """function -> (mistakes the public cases reject, mistakes catalogued)."""
    rates: dict[str, tuple[int, int]] = {}
    for r in rows:
        hit, total = rates.get(r.exercise, (0, 0))
        rates[r.exercise] = (hit + r.public_rejects, total + 1)
    return rates


def print_report(assignment: str, course_dir: Path = ROOT) -> list[Outcome]:
    from rich.console import Console
    from rich.table import Table

    rows = outcomes(assignment, course_dir)
    rates = visible_rates(rows)
    table = Table(title=f"{assignment}: catalogued mistakes against the declared checks")
    for col in ("function", "mistake", "public cases reject", "hidden cases reject", "named in feedback"):
        table.add_column(col)
    yes = lambda b: "yes" if b else "[red]no[/red]"
    for r in rows:
        table.add_row(r.exercise, r.mistake, yes(r.public_rejects), yes(r.hidden_rejects), yes(r.named))
    console = Console(width=160)
    console.print(table)
    per_function = Table(title=f"{assignment}: share of each function's mistakes the visible cases reject")
    for col in ("function", "public cases reject", "rate"):
        per_function.add_column(col)
    for name, (hit, total) in rates.items():
        per_function.add_row(name, f"{hit}/{total}", f"{100 * hit / total:.0f}%")
    console.print(per_function)
    exceptions = [r for r in rows if r.exception]
    console.print(f"Justified exceptions (mistakes the visible cases may miss): {len(exceptions) or 'none'}")
    for r in exceptions:
        console.print(f"  {r.exercise}: {r.mistake}: {r.exception}")
    console.print(f"{len(rows)} mistakes; public cases reject {sum(r.public_rejects for r in rows)}, "
                  f"hidden cases reject {sum(r.hidden_rejects for r in rows)}, "
                  f"all cases reject {sum(r.rejects for r in rows)}, named {sum(r.named for r in rows)}")
    return rows
