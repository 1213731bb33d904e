"""Read the check declarations of a test cell without running it.

A test cell holds only calls ``check(fn, "name", cases=[{...}, ...])`` whose cases are literals,
optionally with ``integration=True`` (the learner's own functions together, no follow-through
stand-ins), optionally between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``. Programs (the lint
test, the trusted grader) read them here; anything else in a test cell is an error.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


class DeclarationError(ValueError):
    pass


@dataclass(frozen=True)
class Declaration:
    function: str        # the name the learner's function is looked up by
    exercise: str        # the registry entry
    cases: tuple         # tuple of case dicts
    hidden: bool
    integration: bool = False   # run the learner's own functions together (no follow-through)


def hidden_lines(source: str, strict: bool = True) -> set[int]:
    """The numbers (from 1) of the lines between the hidden-tests markers.

    ``strict`` (reading declarations) raises DeclarationError on unbalanced markers; otherwise
    (scrubbing feedback) a marker simply opens or closes the region.
    """
    hidden, inside = set(), False
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if stripped == BEGIN_HIDDEN:
            if inside and strict:
                raise DeclarationError("nested BEGIN HIDDEN TESTS")
            inside = True
        elif stripped == END_HIDDEN:
            if not inside and strict:
                raise DeclarationError("END HIDDEN TESTS without BEGIN")
            inside = False
        elif inside:
            hidden.add(number)
    if inside and strict:
        raise DeclarationError("BEGIN HIDDEN TESTS is never closed")
    return hidden


def parse(source: str) -> list[Declaration]:
    """The declarations of one test cell, in order; DeclarationError if it holds anything else."""
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise DeclarationError(f"test cell is not valid Python: {err}") from None
    hidden = hidden_lines(source)
    found = []
    for stmt in tree.body:
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "check"):
            raise DeclarationError(f"line {stmt.lineno}: a test cell may only call check(...)")
        keywords = {k.arg: k.value for k in call.keywords}
        if (len(call.args) != 2 or not isinstance(call.args[0], ast.Name)
                or not isinstance(call.args[1], ast.Constant) or not isinstance(call.args[1].value, str)
                or [k.arg for k in call.keywords] not in (["cases"], ["cases", "integration"])):
            raise DeclarationError(f'line {stmt.lineno}: expected check(function, "exercise", cases=[...])'
                                   ' or check(function, "exercise", cases=[...], integration=True)')
        try:
            cases = ast.literal_eval(keywords["cases"])
        except ValueError:
            raise DeclarationError(f"line {stmt.lineno}: cases must be a literal list of dicts") from None
        integration = keywords.get("integration", ast.Constant(False))
        if not (isinstance(integration, ast.Constant) and isinstance(integration.value, bool)):
            raise DeclarationError(f"line {stmt.lineno}: integration must be True or False")
        if not isinstance(cases, list) or not cases or not all(isinstance(c, dict) for c in cases):
            raise DeclarationError(f"line {stmt.lineno}: cases must be a non-empty list of dicts")
        lines = set(range(stmt.lineno, stmt.end_lineno + 1))
        if lines & hidden and not lines <= hidden:
            raise DeclarationError(f"line {stmt.lineno}: a check straddles a hidden-tests marker")
        found.append(Declaration(call.args[0].id, call.args[1].value, tuple(cases), bool(lines & hidden),
                                 integration.value))
    return found


def from_notebook(path) -> list[tuple[str, Declaration]]:
    """(test cell grade_id, declaration) for every declaration in a notebook's test cells."""
    import nbformat

    from .cells import grade_id, is_test

    nb = nbformat.read(path, as_version=4)
    return [(grade_id(cell), d) for cell in nb.cells if is_test(cell) for d in parse(cell.source)]
