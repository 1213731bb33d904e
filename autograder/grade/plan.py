"""Turn a submitted notebook into the steps the sandbox runs (``plan_job``).

The learner's code cells run in the submission's order, demos skipped, locked cells restored
from the trusted copy as nbgrader's ``OverwriteCells`` does; at each test cell's place the job
holds the calls of its checks (the test cell itself never runs anywhere).
"""
from __future__ import annotations

import re

import nbformat

from ..checks.cells import DEMO_TAG, nbgrader_meta
from ..checks.follow import lendable
from .assignment import TrustedNotebook

# Lines a kernel would transform: ``%magic`` or ``!shell`` at a line's start, ``x = %magic`` or
# ``x = !cmd``, ``obj?`` at a line's end. Learner text: each part looks at one line only and no
# two of its repeats can split the same characters, so it runs in time linear in the cell.
_IPYTHON_SYNTAX = re.compile(r"^[ \t]*[%!]|^[ \t]*[\w.,][\w., \t]*=[ \t]*[%!]|\?[ \t]*$", re.MULTILINE)


def needs_ipython(source: str) -> bool:
    """Whether a code cell holds IPython syntax. IPython's own transformer, whose time grows
    faster than the cell (thousands of magics: minutes), runs in the sandbox on such cells,
    within the learner's limits, never here."""
    return bool(_IPYTHON_SYNTAX.search(source))


def cell_key(cell, index: int) -> str:
    return f"{index}:{cell.get('id', '')}"


def planned_part(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """What ``plan_job`` reads of a notebook: each cell's type, id, source, nbgrader metadata and
    tags (the intake keeps this of every notebook it writes, for the session; outputs stay out)."""
    cells = []
    for cell in nb.cells:
        part = {key: cell[key] for key in ("cell_type", "id", "source") if key in cell}
        meta = cell.get("metadata", {})
        part["metadata"] = {key: meta[key] for key in ("nbgrader", "tags") if key in meta}
        cells.append(part)
    return nbformat.NotebookNode(cells=cells)


def plan_job(trusted: TrustedNotebook, nb: nbformat.NotebookNode) -> list[dict]:
    """The steps the sandbox runs for one submitted notebook.

    Code cells run in the submission's order. A repeated grade_id keeps its metadata only on its
    last cell (nbgrader's ``DeduplicateIds``); a cell whose grade_id is in the trusted copy gets
    the trusted cell type, and its trusted source when locked (``OverwriteCells``). Cells tagged
    ``demo`` are skipped. A test cell never runs: its checks become calls, made where the test
    cell stands when it stands between the cells around it in the source notebook (always, for
    honest work). A test cell that was deleted, renamed, or moved elsewhere is checked just
    before the next cell that follows it in the source notebook (or at the end), so moving test
    cells around changes nothing.
    """
    by_id = trusted.by_id
    last = {}
    for i, cell in enumerate(nb.cells):
        m = nbgrader_meta(cell)
        if m.get("grade_id") and (m.get("grade") or m.get("solution") or m.get("locked")):
            last[m["grade_id"]] = i
    anchored, in_place = _place_tests(trusted, {gid: i for gid, i in last.items() if gid in by_id})
    steps = []
    for i, cell in enumerate(nb.cells):
        for gid in anchored.get(i, []):
            steps.append(_test_step(trusted, gid))
        gid = nbgrader_meta(cell).get("grade_id")
        tc = by_id.get(gid) if gid and last.get(gid) == i else None
        if tc is not None and tc.is_test:
            if gid in in_place:
                steps.append(_test_step(trusted, gid))
            continue
        cell_type = tc.cell_type if tc is not None else cell.get("cell_type")
        if cell_type != "code" or DEMO_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        source = tc.source if tc is not None and tc.locked else cell.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        step = {"kind": "code", "key": cell_key(cell, i), "source": source}
        if needs_ipython(source):
            step["ipython"] = True
        steps.append(step)
    for gid in anchored.get(None, []):
        steps.append(_test_step(trusted, gid))
    return _lend_after_own_checks(steps)


def _lend_after_own_checks(steps: list[dict]) -> list[dict]:
    """A check's follow-through stubs: the functions ``checks.follow.lendable`` allows whose own
    checks (integration included) all come before it, so a reference never answers while results
    of its own function can still come in (``grade.stubs`` refuses any other call)."""
    last = {}
    for i, step in enumerate(steps):
        for call in step.get("calls", []) if step["kind"] == "test" else []:
            last[call["exercise"]] = i
    for i, step in enumerate(steps):
        for call in step.get("calls", []) if step["kind"] == "test" else []:
            call["stubs"] = [stub for stub in call["stubs"] if last.get(stub[0], -1) < i]
    return steps


def _place_tests(trusted: TrustedNotebook, placed: dict) -> tuple[dict, set]:
    """Where each test cell's checks run: (cell index, or None for the end -> the grade_ids
    checked just before it; the grade_ids checked where their own cell stands). ``placed`` maps
    each trusted cell found in the submission to its cell index."""
    order = {c.grade_id: i for i, c in enumerate(trusted.cells)}

    def neighbour(gid, step):
        """The nearest placed non-test trusted cell before (step -1) or after (+1) gid in the source."""
        k = order[gid] + step
        while 0 <= k < len(trusted.cells):
            other = trusted.cells[k]
            if not other.is_test and other.grade_id in placed:
                return placed[other.grade_id]
            k += step
        return None

    anchored: dict = {}                     # cell index (or None: the end) -> test grade_ids checked there
    in_place = set()
    for cell in trusted.cells:
        if not cell.is_test:
            continue
        gid, at = cell.grade_id, placed.get(cell.grade_id)
        before, after = neighbour(gid, -1), neighbour(gid, +1)
        if at is not None and (before is None or before < at) and (after is None or at < after):
            in_place.add(gid)
        else:
            anchored.setdefault(after, []).append(gid)
    return anchored, in_place


def _test_step(trusted: TrustedNotebook, grade_id: str) -> dict:
    test = trusted.tests.get(grade_id)
    calls = []
    if test is not None and test.problem is None:
        for decl, refs in zip(test.declarations, test.cases):
            stubs = [] if decl.integration or not refs else \
                [[e.name, len(e.args)] for e in lendable(refs[0].exercise)]
            calls.append({"function": decl.function, "exercise": decl.exercise, "integration": decl.integration,
                          "stubs": stubs, "cases": [{"input": r.key, "expect": r.case.get("expect"), "limit": r.limit}
                                    for r in refs]})
    return {"kind": "test", "grade_id": grade_id, "calls": calls}

