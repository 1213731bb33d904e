"""The trusted side of ``autograder grade``: what to run, and the verdicts.

Everything in this module runs in the grader's own process, never in a process where learner
code ran. It

* reads the check declarations from the grader's own copy of the test cells (the gradebook's
  source cells, or ``source/`` for a single notebook), never from the submission;
* builds every case's inputs and computes the PyTorch reference once per assignment
  (``TrustedAssignment.prepare``), to be reused for every student;
* turns a submitted notebook into a job for the sandbox (``plan_job``): the learner's code cells
  in order, demos skipped, locked cells restored from the trusted copy as nbgrader's
  ``OverwriteCells`` does, and at each test cell's place a list of calls to make;
* reads back what the learner's functions returned (plain data: exact ndarrays from
  ``np.load(..., allow_pickle=False)``, numbers, strings, containers; anything else becomes an
  inert placeholder named after its class) and judges it with ``autograder.check``'s own
  comparison and mistake naming (``judge_notebook``), producing for every test cell the outputs
  stock ``nbgrader autograde`` would have recorded: a stdout stream such as
  ``"rnn_forward: 5 cases passed"`` when every check passes, an ``error`` output carrying the
  learner-facing message otherwise. nbgrader then scores those outputs itself.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import numpy as np

from . import registry
from .cells import DEMO_TAG, nbgrader_meta
from .declarations import Declaration, DeclarationError, parse

# the module (the package re-exports the function ``check`` under the same name)
checks = importlib.import_module("autograder.check")


# ----------------------------------------------------------------------------- trusted copy

@dataclass
class TrustedCell:
    grade_id: str
    cell_type: str
    locked: bool
    source: str
    points: float | None = None     # graded cells only
    solution: bool = False

    @property
    def is_test(self) -> bool:
        """An autograded test cell: graded code that is not a solution (nbgrader's view)."""
        return self.points is not None and self.cell_type == "code" and not self.solution


@dataclass
class CaseRef:
    key: str                        # the inputs' name in the sandbox
    exercise: registry.Exercise
    case: dict
    inputs: dict                    # exactly what the learner's function receives
    expected: Any = None            # float64 PyTorch reference (None for "expect" cases)


@dataclass
class TestCell:
    grade_id: str
    points: float
    declarations: list[Declaration] = field(default_factory=list)
    cases: list[list[CaseRef]] = field(default_factory=list)
    problem: str | None = None      # why this cell cannot be graded here


@dataclass
class TrustedNotebook:
    name: str
    cells: list[TrustedCell]        # nbgrader's source cells, in the gradebook's order
    tests: dict[str, TestCell] = field(default_factory=dict)

    @property
    def by_id(self) -> dict[str, TrustedCell]:
        return {c.grade_id: c for c in self.cells}


class TrustedAssignment:
    """An assignment's test cells, case inputs and references, read from a trusted copy."""

    def __init__(self, name: str, notebooks: list[TrustedNotebook], origin: str):
        self.name, self.origin = name, origin
        self.notebooks = {nb.name: nb for nb in notebooks}
        self.prepared = False
        self._memo: dict = {}
        self.timings: dict[str, float] = {}

    # -- loading
    @classmethod
    def from_gradebook(cls, db_url: str, course_id: str, assignment: str) -> "TrustedAssignment":
        """The cells nbgrader itself restores into submissions (written by generate_assignment)."""
        from nbgrader.api import Gradebook
        notebooks = []
        with Gradebook(db_url, course_id) as gb:
            for nb in gb.find_assignment(assignment).notebooks:
                points = {c.name: float(c.max_score) for c in nb.grade_cells}
                solutions = {c.name for c in nb.solution_cells}
                cells = [TrustedCell(c.name, c.cell_type, bool(c.locked), c.source or "", points.get(c.name),
                                     c.name in solutions) for c in nb.source_cells]
                notebooks.append(TrustedNotebook(nb.name, cells))
        return cls(assignment, sorted(notebooks, key=lambda n: n.name), f"gradebook {db_url}")

    @classmethod
    def from_source(cls, course_dir: Path, assignment: str) -> "TrustedAssignment":
        """The instructor's source notebooks (for grading one notebook without a gradebook)."""
        folder = Path(course_dir) / "source" / assignment
        notebooks = []
        for path in sorted(folder.glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            cells = []
            for cell in nb.cells:
                m = nbgrader_meta(cell)
                if not m.get("grade_id"):
                    continue
                points = float(m["points"]) if m.get("grade") else None
                cells.append(TrustedCell(m["grade_id"], cell.cell_type, bool(m.get("locked")), cell.source,
                                         points, bool(m.get("solution"))))
            notebooks.append(TrustedNotebook(path.stem, cells))
        if not notebooks:
            raise FileNotFoundError(f"no source notebooks in {folder}")
        return cls(assignment, notebooks, f"source {folder}")

    # -- references, once per assignment
    def prepare(self) -> None:
        """Parse every test cell's declarations, build the case inputs and compute the references."""
        import time
        started = time.perf_counter()
        for nb in self.notebooks.values():
            for cell in nb.cells:
                if cell.is_test:
                    nb.tests[cell.grade_id] = self._test_cell(nb.name, cell)
        self.prepared = True
        self.timings["references"] = time.perf_counter() - started

    def _test_cell(self, notebook: str, cell: TrustedCell) -> TestCell:
        test = TestCell(cell.grade_id, float(cell.points))
        try:
            test.declarations = parse(cell.source)
        except DeclarationError as e:
            test.problem = (f"test cell {cell.grade_id} is not made of check(...) declarations ({e}); "
                            "it cannot be graded by `autograder grade` (use `nbgrader autograde`)")
            return test
        if not test.declarations:
            test.problem = f"test cell {cell.grade_id} declares no checks"
            return test
        for d, decl in enumerate(test.declarations):
            refs = []
            try:
                ex = registry.get(decl.exercise)
                for c, case in enumerate(decl.cases):
                    inputs = checks.case_inputs(ex, case)
                    expect = case.get("expect")
                    if expect and expect != "ValueError":
                        raise ValueError(f"unsupported expectation {expect!r}")
                    expected = None if expect else checks.expected_output(ex, case, inputs)
                    refs.append(CaseRef(f"{notebook}/{cell.grade_id}/{d}/{c}", ex, case, inputs, expected))
            except Exception as e:
                test.problem = f"the grader could not prepare {cell.grade_id} ({type(e).__name__}: {e})"
                return test
            test.cases.append(refs)
        return test

    def sandbox_inputs(self) -> tuple[dict, dict]:
        """Every case's inputs as the sandbox gets them: descriptions and one dict of arrays."""
        calls, arrays = {}, {}
        for nb in self.notebooks.values():
            for test in nb.tests.values():
                for refs in test.cases:
                    for ref in refs:
                        calls[ref.key] = [_describe_input(v, arrays) for v in ref.inputs.values()]
        return calls, arrays

    def memo(self) -> dict:
        return self._memo


def _describe_input(value, arrays: dict):
    if isinstance(value, np.ndarray):
        key = f"i{len(arrays)}"
        arrays[key] = value
        return {"t": "nd", "k": key}
    if value is None:
        return {"t": "none"}
    if isinstance(value, bool):
        return {"t": "bool", "v": value}
    if isinstance(value, (int, np.integer)):
        return {"t": "int", "v": int(value)}
    if isinstance(value, (float, np.floating)):
        return {"t": "float", "v": repr(float(value))}
    if isinstance(value, str):
        return {"t": "str", "v": value}
    if isinstance(value, (list, tuple)):
        return {"t": "tuple" if isinstance(value, tuple) else "list",
                "items": [_describe_input(v, arrays) for v in value]}
    if isinstance(value, dict):
        return {"t": "dict", "items": [[_describe_input(k, arrays), _describe_input(v, arrays)]
                                       for k, v in value.items()]}
    raise TypeError(f"cannot send an input of type {type(value).__name__} to the sandbox")


# ----------------------------------------------------------------------------- the job

_TRANSFORMER = None


_IPYTHON_SYNTAX = re.compile(r"^\s*[%!]|^\s*[\w.,\s]+=\s*[%!]|\?\s*$", re.MULTILINE)


def ipython_to_python(source: str) -> str:
    """Turn IPython syntax (``%matplotlib inline``, ``!pip ...``, ``x = !ls``, ``obj?``) into plain
    Python, as a kernel would."""
    global _TRANSFORMER
    if not _IPYTHON_SYNTAX.search(source):
        return source
    try:
        if _TRANSFORMER is None:
            from IPython.core.inputtransformer2 import TransformerManager
            _TRANSFORMER = TransformerManager()
        return _TRANSFORMER.transform_cell(source)
    except Exception:
        return source


def cell_key(cell, index: int) -> str:
    return f"{index}:{cell.get('id', '')}"


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
    order = {c.grade_id: i for i, c in enumerate(trusted.cells)}
    last = {}
    for i, cell in enumerate(nb.cells):
        m = nbgrader_meta(cell)
        if m.get("grade_id") and (m.get("grade") or m.get("solution") or m.get("locked")):
            last[m["grade_id"]] = i
    placed = {gid: i for gid, i in last.items() if gid in by_id}      # trusted cell -> its cell index

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
        steps.append({"kind": "code", "key": cell_key(cell, i), "source": ipython_to_python(source)})
    for gid in anchored.get(None, []):
        steps.append(_test_step(trusted, gid))
    return steps


def _test_step(trusted: TrustedNotebook, grade_id: str) -> dict:
    test = trusted.tests.get(grade_id)
    calls = []
    if test is not None and test.problem is None:
        for decl, refs in zip(test.declarations, test.cases):
            calls.append({"function": decl.function,
                          "cases": [{"input": r.key, "expect": r.case.get("expect")} for r in refs]})
    return {"kind": "test", "grade_id": grade_id, "calls": calls}


# ----------------------------------------------------------------------------- decoding

class Unreadable(Exception):
    pass


_CLASSES: dict = {}


def _placeholder(mod: str, name: str, ndarray: bool = False):
    """An inert instance of a class named like the learner's (for messages); no learner code."""
    mod, name = str(mod)[:200], str(name)[:200]
    key = (mod, name, ndarray)
    if key not in _CLASSES:
        bases = (np.ndarray,) if ndarray else ()
        cls = type(name.rsplit(".", 1)[-1] or "object", bases, {"__module__": mod, "__qualname__": name})
        _CLASSES[key] = cls
    cls = _CLASSES[key]
    return np.zeros(0).view(cls) if ndarray else cls()


_NP_SCALARS = {"b1": np.bool_, "i1": np.int8, "i2": np.int16, "i4": np.int32, "i8": np.int64, "u1": np.uint8,
               "u2": np.uint16, "u4": np.uint32, "u8": np.uint64, "f2": np.float16, "f4": np.float32,
               "f8": np.float64}


def decode(desc, arrays: dict, depth: int = 0):
    """Rebuild a returned value from its plain description (learner-written data: checked)."""
    if depth > 40 or not isinstance(desc, dict):
        raise Unreadable("malformed value")
    t = desc.get("t")
    if t == "nd":
        arr = arrays.get(desc.get("k"))
        if type(arr) is not np.ndarray:
            raise Unreadable("a returned array could not be read")
        return arr
    if t == "ndobj":
        shape = tuple(int(s) for s in desc.get("shape", ()))
        if any(s < 0 for s in shape) or int(np.prod(shape, dtype=np.float64)) > 1_000_000:
            return _placeholder("numpy", "ndarray-of-objects")
        return np.empty(shape, dtype=object)
    if t == "ndsub":
        return _placeholder(desc.get("mod", "?"), desc.get("name", "?"), ndarray=True)
    if t == "obj":
        return _placeholder(desc.get("mod", "?"), desc.get("name", "?"))
    if t == "none":
        return None
    if t == "bool":
        return bool(desc["v"]) if isinstance(desc.get("v"), bool) else _bad()
    if t == "int":
        v = desc.get("v")
        return int(v) if isinstance(v, int) and not isinstance(v, bool) else _bad()
    if t == "float":
        return float(str(desc.get("v"))[:64])
    if t == "np":
        kind = _NP_SCALARS.get(desc.get("dtype"))
        v = desc.get("v")
        if kind is None or not isinstance(v, (bool, int, float, str)):
            _bad()
        return kind(float(str(v)[:64]) if isinstance(v, str) else v)
    if t == "str":
        return str(desc.get("v"))
    if t in ("list", "tuple"):
        items = desc.get("items")
        if not isinstance(items, list):
            _bad()
        values = [decode(d, arrays, depth + 1) for d in items]
        return tuple(values) if t == "tuple" else values
    if t == "dict":
        items = desc.get("items")
        if not isinstance(items, list):
            _bad()
        out = {}
        for pair in items:
            if not isinstance(pair, list) or len(pair) != 2:
                _bad()
            key = decode(pair[0], arrays, depth + 1)
            try:
                hash(key)
            except TypeError:
                key = repr(key)
            out[key] = decode(pair[1], arrays, depth + 1)
        return out
    _bad()


def _bad():
    raise Unreadable("malformed value")


def _digest(desc, arrays: dict) -> str:
    """A fingerprint of a returned value (for reusing verdicts on identical outputs)."""
    h = hashlib.sha1(json.dumps(desc, sort_keys=True).encode())
    for key in sorted(_array_keys(desc)):
        a = arrays.get(key)
        if isinstance(a, np.ndarray):
            h.update(f"{key}{a.dtype.str}{a.shape}".encode())
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _array_keys(desc) -> set:
    found = set()
    stack = [desc]
    while stack:
        d = stack.pop()
        if isinstance(d, dict):
            if d.get("t") == "nd":
                found.add(d.get("k"))
            stack.extend(d.values())
        elif isinstance(d, list):
            stack.extend(d)
    return found


# ----------------------------------------------------------------------------- verdicts

@dataclass
class CellVerdict:
    grade_id: str
    max_points: float
    passed: bool
    outputs: list                    # nbformat outputs for the test cell
    message: str | None = None       # the first problem, for reports
    status: str = "passed"           # passed | failed | error | not run | not gradable


@dataclass
class NotebookOutcome:
    notebook: str
    tests: dict[str, CellVerdict] = field(default_factory=dict)
    cell_outputs: dict[str, list] = field(default_factory=dict)
    problem: str | None = None       # the notebook as a whole (unreadable, crashed, ...)
    sandbox: dict = field(default_factory=dict)


def _stream(name: str, text: str):
    return nbformat.v4.new_output("stream", name=name, text=text)


def _error(ename: str, evalue: str, traceback: list[str] | None = None):
    tb = list(traceback) if traceback else [f"{ename}: {evalue}"]
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=tb)


def _learner_error(err: dict, note: str | None = None):
    if not isinstance(err, dict):
        err = {}
    ename, evalue = str(err.get("ename", "Exception"))[:200], str(err.get("evalue", ""))
    tb = [str(l) for l in err.get("traceback", []) if isinstance(l, str)][:100]
    if note:
        tb.append(note)
    return _error(ename, evalue, tb or None)


def cell_outputs_from_run(info: dict) -> list:
    outs = []
    if info.get("stdout"):
        outs.append(_stream("stdout", str(info["stdout"])))
    if info.get("stderr"):
        outs.append(_stream("stderr", str(info["stderr"])))
    if info.get("error"):
        outs.append(_learner_error(info["error"]))
    return outs


def why_stopped(end: dict | None, limits: dict) -> str:
    """A sentence for test cells that never ran because the notebook's run ended early."""
    end = end or {}
    reason = end.get("reason")
    if reason == "timeout":
        return f"the notebook did not finish within {limits['notebook_timeout']:g} s, so this check never ran"
    if reason == "output":
        return "the notebook produced more output than the grader accepts, so this check never ran"
    sig = end.get("signal")
    if sig == 24:
        return f"the notebook used more than {limits['notebook_timeout']:g} s of CPU time, so this check never ran"
    if sig:
        return f"the notebook's process was killed by signal {sig} (out of memory or a crash), so this check never ran"
    return "the notebook stopped before this check ran"


def judge_test(test: TestCell, record: tuple | None, memo: dict, limits: dict, stopped: str) -> CellVerdict:
    """The outputs stock nbgrader would record for this test cell, from the sandbox's results."""
    if test.problem:
        return CellVerdict(test.grade_id, test.points, False, [_error("GraderError", test.problem)],
                           test.problem, "not gradable")
    if record is None:
        return CellVerdict(test.grade_id, test.points, False, [_error("NotRunError", stopped)], stopped, "not run")
    header, arrays = record
    calls = {}
    for rec in header.get("calls", []) if isinstance(header.get("calls"), list) else []:
        if isinstance(rec, dict) and isinstance(rec.get("decl"), int) and isinstance(rec.get("case"), int):
            calls.setdefault((rec["decl"], rec["case"]), rec)
    stdout, stderr, error, message = [], [], None, None
    for d, (decl, refs) in enumerate(zip(test.declarations, test.cases)):
        name = decl.exercise
        first = calls.get((d, 0))
        if first is not None and first.get("status") == "missing":
            error = _error("NameError", f"name '{decl.function}' is not defined")
            message = f"NameError: name '{decl.function}' is not defined"
            break
        if first is not None and first.get("status") == "notcallable":
            message = f"{name} should be a function, got {str(first.get('type'))[:100]}."
            error = _error("AssertionError", message)
            break
        failures = []
        for c, ref in enumerate(refs):
            rec = calls.get((d, c))
            if rec is None:
                why = ("the check stopped here: the cell ran out of time" if header.get("timed_out") else stopped)
                error, message = _error("NotRunError", why), why
                break
            stdout.append(str(rec.get("stdout", "")))
            stderr.append(str(rec.get("stderr", "")))
            status = rec.get("status")
            where = checks.describe_case(ref.exercise, ref.case, ref.inputs)
            if status == "timeout":
                message = f"{name} did not finish within {limits['cell_timeout']:g} s on {where}"
                error = _error("TimeoutError", message)
                break
            if status == "raised":
                err = rec.get("error") if isinstance(rec.get("error"), dict) else {}
                if ref.case.get("expect") == "ValueError" and err.get("is_value_error") is True:
                    continue
                note = f"(raised by {name} on {where})"
                error = _learner_error(err, note)
                message = f"{err.get('ename', 'Exception')}: {err.get('evalue', '')} {note}"
                break
            if status != "returned":
                message = f"the grader could not read the result of {name} on {where}"
                error = _error("GraderError", message)
                break
            problem = _verdict(ref, rec, arrays, memo, name, where)
            if problem:
                failures.append(problem)
        if error is not None:
            break
        if failures:
            more = (f"\n\n({len(failures)} of {len(refs)} cases failed; the first is shown.)"
                    if len(failures) > 1 else "")
            message = failures[0] + more
            error = _error("AssertionError", message)
            break
        stdout.append(f"{name}: {len(refs)} case{'s' if len(refs) != 1 else ''} passed\n")
    outputs = []
    if "".join(stdout):
        outputs.append(_stream("stdout", "".join(stdout)))
    if "".join(stderr):
        outputs.append(_stream("stderr", "".join(stderr)))
    if error is not None:
        outputs.append(error)
        return CellVerdict(test.grade_id, test.points, False, outputs, message,
                           "failed" if error.ename == "AssertionError" else "error")
    return CellVerdict(test.grade_id, test.points, True, outputs)


def _verdict(ref: CaseRef, rec: dict, arrays: dict, memo: dict, name: str, where: str) -> str | None:
    """``check.run_case``'s decision for one returned value, with a memo over identical outputs."""
    value, after = rec.get("value"), rec.get("after")
    try:
        key = (ref.key, _digest(value, arrays), _digest(after, arrays))
    except Exception:
        key = None
    if key is not None and key in memo:
        return memo[key]
    try:
        got = decode(value, arrays)
        given_after = decode(after, arrays)
    except (Unreadable, ValueError, TypeError, OverflowError) as e:
        return f"{name} returned something the grader could not read on {where} ({e})."
    ex = ref.exercise
    if ref.case.get("expect"):
        result = (f"{name} should raise ValueError on {where}\n"
                  f"  (the contract: invalid arguments raise ValueError with a message naming the problem), "
                  f"but it returned {type(got).__name__}.")
    else:
        after_args = dict(zip(ex.args, given_after)) if isinstance(given_after, list) and \
            len(given_after) == len(ex.args) else {a: None for a in ex.args}
        try:
            changed = checks._modified_inputs(ref.inputs, after_args)
        except Exception:
            changed = list(ex.args)
        if changed:
            result = (f"{name} modified its argument(s) {changed} in place on {where}.\n"
                      "  The contract says functions never modify their inputs: work on copies "
                      "(e.g. h = h_prev.copy() or h = h + ..., not h += ...).")
        else:
            result = checks.judge(ex, ref.case, ref.inputs, ref.expected, got)
    if key is not None:
        memo[key] = result
    return result


def judge_notebook(trusted: TrustedAssignment, notebook: str, result, limits: dict, steps: list | None = None,
                   problem: str | None = None) -> NotebookOutcome:
    """Every test cell's verdict for one notebook, from the sandbox's ``RunResult`` (or a problem
    that kept it from running at all)."""
    nb = trusted.notebooks[notebook]
    outcome = NotebookOutcome(notebook)
    frames = result.frames if result is not None else None
    crashed = {}
    if result is not None and steps:
        for index, how in result.crashed_steps.items():
            if 0 <= index < len(steps):
                crashed[index] = how
    if problem:
        stopped = problem
    elif result is None:
        stopped = "the notebook was not run"
    elif result.crash:
        stopped = f"the grading sandbox stopped unexpectedly ({result.crash}), so this check never ran"
    elif frames.fatal:
        stopped = f"the sandbox refused to run learner code: {frames.fatal}"
    elif frames.problem and not frames.done:
        stopped = frames.problem + ", so this check never ran"
    else:
        stopped = why_stopped(result.end, limits)
    if frames is not None:
        for key, info in frames.cells.items():
            if isinstance(info, dict):
                outcome.cell_outputs[key] = cell_outputs_from_run(info)
    crashed_tests = {}
    for index, how in crashed.items():
        step = steps[index]
        if step["kind"] == "test":
            crashed_tests[step["grade_id"]] = how
        else:
            outcome.cell_outputs[step["key"]] = [_error("CrashError", f"this cell crashed the notebook: {how}; "
                                                        "it was skipped and the notebook run again without it")]
    for gid, test in nb.tests.items():
        record = frames.tests.get(gid) if frames is not None else None
        if record is None and gid in crashed_tests:
            message = (f"{crashed_tests[gid]} while these checks ran; the checks after this cell were run "
                       "again in a fresh process")
            outcome.tests[gid] = CellVerdict(gid, test.points, False, [_error("CrashError", message)], message,
                                             "error")
            continue
        outcome.tests[gid] = judge_test(test, record, trusted.memo(), limits, stopped)
    if problem:
        outcome.problem = problem
    elif result is not None and (result.crash or not frames.done):
        outcome.problem = stopped.removesuffix(", so this check never ran")
    if result is not None:
        outcome.sandbox = dict(result.end, wall=result.seconds, cpu=result.cpu, runs=len(result.ends))
    return outcome
