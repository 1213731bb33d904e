"""The verdicts: every test cell's outputs, as stock ``nbgrader autograde`` would record them.

From what the sandbox returned, and with ``checks.api``'s own comparison, mistake naming and
``checks.messages``' sentences, ``judge_notebook`` writes for each test cell a stdout stream
such as ``"rnn_forward: 5 cases passed"`` when every check passes, or an ``error`` output
carrying the learner-facing message. nbgrader then scores those outputs itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import nbformat

from ..checks import api, messages
from ..checks.follow import lendable
from .assignment import CaseRef, TestCell, TrustedAssignment
from .decode import Unreadable, decode, fingerprint

@dataclass
class CellVerdict:
    grade_id: str
    max_points: float
    passed: bool
    outputs: list                    # nbformat outputs for the test cell
    message: str | None = None       # the first problem, for reports
    status: str = "passed"           # passed | failed | error | not run | not gradable
    hidden: bool = False             # the failing check is a hidden one (every public check passed)
    function: str | None = None      # the graded function checked (the failing check's), for the class report
    mistakes: tuple = ()             # the catalogued mistakes the failing check's wrong outputs equal

    @property
    def error(self) -> str | None:
        """The error output's name (AssertionError, TimeoutError, CrashError, ...), if any."""
        return next((o.get("ename") for o in self.outputs if o.get("output_type") == "error"), None)


@dataclass
class NotebookOutcome:
    notebook: str
    tests: dict[str, CellVerdict] = field(default_factory=dict)
    cell_outputs: dict[str, list] = field(default_factory=dict)
    problem: str | None = None       # the notebook as a whole (unreadable, crashed, ...)
    sandbox: dict = field(default_factory=dict)


# Outputs are built as nbformat nodes directly: ``nbformat.v4.new_output`` validates each one
# against the schema (a millisecond apiece, hundreds per batch), and nbgrader validates the
# whole notebook when it writes it anyway.
def _stream(name: str, text: str):
    return nbformat.NotebookNode(output_type="stream", name=name, text=text)


def _error(ename: str, evalue: str, traceback: list[str] | None = None):
    tb = list(traceback) if traceback else [f"{ename}: {evalue}"]
    return nbformat.NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=tb)


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
    reason, sig = end.get("reason"), end.get("signal")
    if reason == "timeout":
        return messages.NOTEBOOK_TIMEOUT.format(seconds=limits["notebook_timeout"]) + messages.NEVER_RAN
    if reason == "output":
        return messages.OUTPUT_CAP + messages.NEVER_RAN
    if sig == 24:
        return messages.CPU_LIMIT.format(seconds=limits["notebook_timeout"]) + messages.NEVER_RAN
    if sig:
        return messages.KILLED.format(signal=sig) + messages.NEVER_RAN
    return messages.STOPPED_EARLY


def judge_test(test: TestCell, record: tuple | None, memo: dict, limits: dict, stopped: str) -> CellVerdict:
    """The outputs stock nbgrader would record for this test cell, from the sandbox's results."""
    if test.problem:
        return CellVerdict(test.grade_id, test.points, False, [_error("GraderError", test.problem)],
                           test.problem, "not gradable")
    if record is None:
        return CellVerdict(test.grade_id, test.points, False, [_error("NotRunError", stopped)], stopped, "not run")
    header, arrays = record
    calls = _calls_by_case(header)
    stdout, stderr = [], []
    error = message = None
    named: list[str] = []            # catalogued mistakes of the failing check, filled by _verdict
    function = test.declarations[0].exercise if test.declarations else None
    for d, (decl, refs) in enumerate(zip(test.declarations, test.cases)):
        error, message = _judge_declaration(d, decl, refs, calls, arrays, memo, limits,
                                            stopped, header.get("timed_out"), stdout, stderr, named)
        if error is not None:
            function = decl.exercise
            break
        stdout.append(messages.cases_passed(decl.exercise, len(refs)))
    outputs = []
    if "".join(stdout):
        outputs.append(_stream("stdout", "".join(stdout)))
    if "".join(stderr):
        outputs.append(_stream("stderr", "".join(stderr)))
    if error is not None:
        outputs.append(error)
        return CellVerdict(test.grade_id, test.points, False, outputs, message,
                           "failed" if error.ename == "AssertionError" else "error", hidden=decl.hidden,
                           function=function, mistakes=tuple(dict.fromkeys(named)))
    return CellVerdict(test.grade_id, test.points, True, outputs, function=function)


def _calls_by_case(header: dict) -> dict:
    """(declaration, case) -> the sandbox's record of that call (the first one, if repeated)."""
    calls = {}
    for rec in header.get("calls", []) if isinstance(header.get("calls"), list) else []:
        if isinstance(rec, dict) and isinstance(rec.get("decl"), int) and isinstance(rec.get("case"), int):
            calls.setdefault((rec["decl"], rec["case"]), rec)
    return calls


def _judge_declaration(d, decl, refs, calls, arrays, memo, limits, stopped, timed_out, stdout, stderr,
                       named=None):
    """(error output, message) for one check(...) call of a test cell, or (None, None) when every
    case passed; the cases' printed text is appended to ``stdout`` and ``stderr``, the names of
    the catalogued mistakes its wrong outputs equal to ``named``."""
    name = decl.exercise
    first = calls.get((d, 0))
    if first is not None and first.get("status") == "missing":
        evalue = messages.not_defined(decl.function)
        return _error("NameError", evalue), f"NameError: {evalue}"
    if first is not None and first.get("status") == "notcallable":
        message = messages.not_a_function(name, str(first.get("type"))[:100])
        return _error("AssertionError", message), message
    failures = []
    for c, ref in enumerate(refs):
        rec = calls.get((d, c))
        if rec is None:
            why = messages.CELL_RAN_OUT if timed_out else stopped
            return _error("NotRunError", why), why
        stdout.append(str(rec.get("stdout", "")))
        stderr.append(str(rec.get("stderr", "")))
        problem = _judge_call(ref, rec, arrays, memo, limits, decl.integration, named)
        if isinstance(problem, tuple):            # the call did not return: the check stops here
            return problem
        if problem:
            failures.append(problem)
    if failures:
        message = failures[0] + messages.cases_failed(len(failures), len(refs))
        return _error("AssertionError", message), message
    return None, None


def _judge_call(ref: CaseRef, rec: dict, arrays: dict, memo: dict, limits: dict, integration: bool = False,
                named: list | None = None):
    """None when one call's result is right, its message when wrong, or (error output, message)
    when the call timed out, raised, or left no readable record."""
    name = ref.exercise.name
    status = rec.get("status")
    if status == "timeout":
        message = messages.case_timeout(name, limits["cell_timeout"], _where(ref))
        return _error("TimeoutError", message), message
    if status == "case-timeout" and ref.limit:
        message = messages.case_time_limit(name, ref.limit, _where(ref))
        return _error("TimeoutError", message), message
    if status == "raised":
        err = rec.get("error") if isinstance(rec.get("error"), dict) else {}
        if ref.case.get("expect") == "ValueError" and err.get("is_value_error") is True:
            return None
        note = messages.raised_by(name, _where(ref))
        lent = _lent(rec, ref)
        if lent:
            note += "\n" + messages.checked_with(name, lent).strip()
        return _learner_error(err, note), f"{err.get('ename', 'Exception')}: {err.get('evalue', '')} {note}"
    if status != "returned":
        message = messages.unreadable_result(name, _where(ref))
        return _error("GraderError", message), message
    return _verdict(ref, rec, arrays, memo, name, integration, named)


def _where(ref: CaseRef) -> str:
    """The case as messages describe it (only a message needs it: most calls pass)."""
    return api.describe_case(ref.exercise, ref.case, ref.inputs)


def _lent(rec: dict, ref: CaseRef) -> tuple[str, ...]:
    """The references the sandbox's stubs returned during this call, as the child reports them
    (only the message's wording depends on it)."""
    lent = rec.get("lent")
    if not lent or not isinstance(lent, list):
        return ()
    allowed = {e.name for e in lendable(ref.exercise)}
    return tuple(dict.fromkeys(n for n in lent if isinstance(n, str) and n in allowed))


def _verdict(ref: CaseRef, rec: dict, arrays: dict, memo: dict, name: str,
             integration: bool = False, named: list | None = None) -> str | None:
    """``api.run_case``'s decision for one returned value, with a memo over identical outputs;
    the names of the catalogued mistakes it equals are appended to ``named``."""
    value, after = rec.get("value"), rec.get("after")
    called = _lent(rec, ref)
    try:
        key = (ref.key, fingerprint([value, after], arrays), called, integration)
    except Exception:
        key = None
    if key is not None and key in memo:
        result, found = memo[key]
        if named is not None:
            named.extend(found)
        return result
    try:
        got = decode(value, arrays)
        given_after = decode(after, arrays)
    except (Unreadable, ValueError, TypeError, OverflowError) as e:
        return messages.unreadable_value(name, _where(ref), e)
    ex = ref.exercise
    found: list[str] = []
    if ref.case.get("expect"):
        result = messages.should_raise(name, _where(ref), got)
    else:
        after_args = dict(zip(ex.args, given_after)) if isinstance(given_after, list) and \
            len(given_after) == len(ex.args) else {a: None for a in ex.args}
        try:
            changed = api.modified_inputs(ref.inputs, after_args)
        except Exception:
            changed = list(ex.args)
        if changed:
            result = messages.modified_inputs(name, changed, _where(ref))
        else:
            result = api.judge(ex, ref.case, ref.inputs, ref.expected, got, called, integration, found,
                               ref.mistakes)
    if named is not None:
        named.extend(found)
    if key is not None:
        memo[key] = (result, tuple(found))
    return result


def why_run_ended(result, problem: str | None, limits: dict) -> str:
    """Why test cells without results never ran: the notebook's run ended early, or never began."""
    if problem:
        return problem
    if result is None:
        return messages.NOT_RUN
    frames = result.frames
    if getattr(result, "over", None):
        return messages.CHANNEL_CAP.format(why=result.over) + messages.NEVER_RAN
    if result.crash:
        return messages.SANDBOX_CRASH.format(crash=result.crash) + messages.NEVER_RAN
    if frames.fatal:
        return messages.SANDBOX_REFUSED.format(why=frames.fatal)
    if frames.problem and not frames.done:
        return frames.problem + messages.NEVER_RAN
    return why_stopped(result.end, limits)


def judge_notebook(trusted: TrustedAssignment, notebook: str, result, limits: dict, steps: list | None = None,
                   problem: str | None = None) -> NotebookOutcome:
    """Every test cell's verdict for one notebook, from the sandbox's ``RunResult`` (or a problem
    that kept it from running at all)."""
    outcome = NotebookOutcome(notebook)
    stopped = why_run_ended(result, problem, limits)
    frames = result.frames if result is not None else None
    if frames is not None:
        for key, info in frames.cells.items():
            if isinstance(info, dict):
                outcome.cell_outputs[key] = cell_outputs_from_run(info)
    crashed_tests = _crashed_steps(result, steps, outcome)
    for gid, test in trusted.notebooks[notebook].tests.items():
        record = frames.tests.get(gid) if frames is not None else None
        if record is None and frames is not None and gid in frames.discarded:
            outcome.tests[gid] = CellVerdict(gid, test.points, False, [_error("NotRunError", messages.OUT_OF_ORDER)],
                                             messages.OUT_OF_ORDER, "not run")
            continue
        if record is None and gid in crashed_tests:
            message = messages.CRASHED_CHECKS.format(how=crashed_tests[gid])
            outcome.tests[gid] = CellVerdict(gid, test.points, False, [_error("CrashError", message)], message,
                                             "error")
            continue
        outcome.tests[gid] = judge_test(test, record, trusted.memo, limits, stopped)
    if problem:
        outcome.problem = problem
    elif result is not None and (result.crash or not frames.done or getattr(result, "over", None)):
        outcome.problem = stopped.removesuffix(messages.NEVER_RAN)
    if result is not None:
        outcome.sandbox = dict(result.end, wall=result.seconds, cpu=result.cpu, runs=len(result.ends))
    return outcome


def _crashed_steps(result, steps: list | None, outcome: NotebookOutcome) -> dict:
    """Test grade_id -> how the process died while its checks ran; a code cell that crashed the
    process gets an error output in ``outcome`` instead."""
    crashed_tests = {}
    if result is None or not steps:
        return crashed_tests
    for index, how in result.crashed_steps.items():
        if not 0 <= index < len(steps):
            continue
        step = steps[index]
        if step["kind"] == "test":
            crashed_tests[step["grade_id"]] = how
        else:
            outcome.cell_outputs[step["key"]] = [_error("CrashError", messages.CRASHED_CELL.format(how=how))]
    return crashed_tests
