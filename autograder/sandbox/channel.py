"""The result channel: the child's frames, read without trusting them, and one notebook's run.

The child writes its frames (``learner_runner``'s wire format) on a pipe the zygote relays;
``parse_stream`` reads whatever arrived, keeping what is readable, and ``RunResult`` merges the
runs of one notebook when a crash made the pool run it again.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

from . import learner_runner


@dataclass
class ChannelLimits:
    """What the trusted parent reads from one notebook's sandbox, counted over all the runs of that
    notebook (a crashed run is resumed: caps per run would multiply). Learner code can write any
    bytes on the child's pipe, so each cap holds here, in the parent, whatever the sandbox did."""

    total_bytes: int = 64 << 20        # the child's stream (= TrustedGrader.output_bytes)
    frames: int = 200_000              # frames parsed (an honest notebook sends a few thousand)
    header_bytes: int = 2 << 20        # one frame's JSON header (refused before it is read)
    headers_bytes: int = 8 << 20       # all JSON headers parsed (JSON grows ~25 times in memory)
    frame_bytes: int = 32 << 20        # one frame, header and payload (refused before it is read)
    text_chars: int = 100_000          # printed text kept per cell or call (= stream_chars)

    @classmethod
    def from_limits(cls, limits: dict) -> "ChannelLimits":
        return cls(**{name: int(limits[key]) for name, key in (
            ("total_bytes", "output_bytes"), ("frames", "channel_frames"), ("header_bytes", "header_bytes"),
            ("headers_bytes", "headers_bytes"), ("frame_bytes", "frame_bytes"), ("text_chars", "stream_chars"))
            if key in limits})


class ChannelBudget:
    """One notebook's use of its ``ChannelLimits``, over all its runs; ``over`` says which cap was
    reached (a learner-facing sentence), and once set the notebook is over."""

    def __init__(self, limits: ChannelLimits | None = None):
        self.limits = limits or ChannelLimits()
        self.bytes = self.frames = self.headers = 0
        self.over: str | None = None

    def take_bytes(self, n: int) -> bool:
        self.bytes += n
        if self.bytes > self.limits.total_bytes and self.over is None:
            self.over = f"the notebook sent more than {self.limits.total_bytes >> 20} MB of results"
        return self.over is None

    def take_frame(self, header_len: int) -> bool:
        self.frames += 1
        self.headers += header_len
        if self.over is None and self.frames > self.limits.frames:
            self.over = f"the notebook sent more than {self.limits.frames} messages to the grader"
        elif self.over is None and self.headers > self.limits.headers_bytes:
            self.over = f"the notebook sent more than {self.limits.headers_bytes >> 20} MB of result descriptions"
        return self.frames <= self.limits.frames and self.headers <= self.limits.headers_bytes

    def frame_at(self, buf, pos: int = 0, header=learner_runner.UNREAD, loads=None):
        """``learner_runner.frame_at`` with this notebook's caps on one frame (``header``: these
        bytes' header as read before; the caps are checked all the same)."""
        return learner_runner.frame_at(buf, pos, max_header=self.limits.header_bytes,
                                       max_payload=self.limits.frame_bytes, header=header, loads=loads)


# Terminal control sequences (CSI: ESC [ parameters intermediates final) and any other ESC. Learner
# text reaches nbconvert's ANSI-to-HTML filter in feedback, whose work grows with the square of
# the number of sequences; without ESC it is one linear scan. The classes are disjoint, so this
# pattern never backtracks.
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]?|\x1b")


def bounded_text(value, cap: int) -> str:
    """Learner text as the parent keeps it: a string, at most ``cap`` characters, no escapes."""
    text = value if isinstance(value, str) else str(value) if value is not None else ""
    if len(text) > cap:
        text = text[:cap] + "\n... output truncated by the grader ...\n"
    return _CONTROL.sub("", text) if "\x1b" in text else text


def bounded_error(err, cap: int):
    """A learner's exception record with bounded, inert text (as the child makes it: at most 200
    traceback lines of 2,000 characters), or None."""
    if not isinstance(err, dict):
        return None
    out = dict(err)
    for key in ("ename", "emod"):
        out[key] = bounded_text(err.get(key, ""), 200)
    out["evalue"] = bounded_text(err.get("evalue", ""), min(cap, learner_runner.MAX_STR))
    lines = err.get("traceback") if isinstance(err.get("traceback"), list) else []
    out["traceback"] = [bounded_text(l, 2000) for l in lines[:200]]
    return out


def _bounded_record(rec, cap: int):
    """A cell frame or a test call's record with its printed text and error bounded."""
    if not isinstance(rec, dict):
        return rec
    rec = dict(rec)
    for key in ("stdout", "stderr"):
        if key in rec:
            rec[key] = bounded_text(rec[key], cap)
    if "error" in rec:
        rec["error"] = bounded_error(rec["error"], cap)
    return rec

@dataclass
class RawRun:
    """What came back from running one notebook: the child's byte stream and how it ended."""

    stream: bytes
    end: dict
    sandbox_seconds: float
    known: dict | None = None        # headers read while it ran (``parse_stream``'s ``known``)


SIGNALS = {4: "illegal instruction", 6: "abort", 7: "bus error", 8: "floating-point exception",
           9: "killed", 11: "segmentation fault", 24: "CPU time limit", 25: "file size limit", 31: "bad system call"}


def describe_end(end: dict) -> str:
    """How a notebook's process ended, for a learner."""
    if end.get("signal"):
        sig = end["signal"]
        return f"the process died (signal {sig}: {SIGNALS.get(sig, 'unknown')})"
    return f"the process exited (exit code {end.get('exit_code')}) before finishing"


class StepTracker:
    """Where the child is in its job, from the frames it sends, trusting none of them: steps only
    go forward, and a step's result counts only while that step is the current one. Learner code
    can write frames of its own, but all a forged "start" can do is move the run forward, which
    discards the results of the steps it skipped (``autograder grade``'s follow-through answers
    rely on this: see ``grade.stubs``)."""

    def __init__(self):
        self.step, self.open, self.case = -1, False, None

    def start(self, step) -> bool:
        if type(step) is not int or step <= self.step:
            return False
        self.step, self.open, self.case = step, True, None
        return True

    def enter_case(self, step, decl, case) -> bool:
        where = (decl, case)
        if (not self.open or step != self.step or not all(type(v) is int for v in where)
                or (self.case is not None and where <= self.case)):
            return False
        self.case = where
        return True

    def finish(self, step) -> bool:
        """Whether a result for ``step`` counts (then the step is over)."""
        if not self.open or step != self.step:
            return False
        self.open, self.case = False, None
        return True


@dataclass
class ChildFrames:
    """The child's frames, parsed without trusting them: cells, test results (their arrays read
    with ``np.load(allow_pickle=False)``), which steps started and finished, and any problem."""

    cells: dict = field(default_factory=dict)
    tests: dict = field(default_factory=dict)        # grade_id -> (header, arrays dict)
    started: list = field(default_factory=list)       # step indices, in order
    finished: set = field(default_factory=set)
    discarded: set = field(default_factory=set)       # test grade_ids whose results came out of order
    done: bool = False
    fatal: str | None = None
    problem: str | None = None


def read_blobs(index, payload, limit: int) -> tuple[dict, int]:
    """The .npy blobs a frame's header locates in its payload (``{key: [offset, length]}``), read
    with ``np.load(allow_pickle=False)``, at most ``limit`` bytes; unreadable ones are left out
    (the verdict says so). Returns (arrays, bytes used)."""
    import numpy as np
    arrays, total = {}, 0
    for key, where in (index.items() if isinstance(index, dict) else ()):
        try:
            off, length = int(where[0]), int(where[1])
            total += length
            if off < 0 or length < 0 or off + length > len(payload) or total > limit:
                continue
            blob = payload[off:off + length]
            arr = _npy_fast(blob, np)
            if arr is None:        # not the child's own layout: numpy's reader, which checks everything
                arr = np.load(io.BytesIO(blob), allow_pickle=False)
            if type(arr) is np.ndarray:
                arrays[str(key)] = arr
        except Exception:
            continue
    return arrays, total


# The header ``learner_runner.npy_bytes`` writes, and nothing else: a plain dtype, C order, a shape
_NPY_HEADER = re.compile(rb"\{'descr': '([<>|][biufc][0-9]{1,2})', 'fortran_order': False, "
                         rb"'shape': \(((?:[0-9]{1,12},){0,32})\), \} *\n")


def _npy_fast(blob, np):
    """An .npy blob in the child's own layout, read without ``np.load`` (whose header parser,
    ``ast.literal_eval``, costs 50 us per array: a thousand follow-through calls of ten arrays
    each made it most of a notebook's time); None for any other layout."""
    if len(blob) < 10:
        return None
    end = 10 + (blob[8] | blob[9] << 8)
    header = bytes(blob[:end])                 # magic, version, length and header: one key
    layout = _LAYOUTS.get(header)
    if layout is None:
        m = _NPY_HEADER.fullmatch(header, 10) if header[:8] == b"\x93NUMPY\x01\x00" else None
        if m is None:
            return None
        dtype = np.dtype(m.group(1).decode())
        shape = tuple(int(n) for n in m.group(2).split(b",")[:-1])
        count = 1
        for n in shape:
            count *= n
        if len(_LAYOUTS) >= 4096:
            _LAYOUTS.clear()
        layout = _LAYOUTS[header] = (dtype, shape, count)
    dtype, shape, count = layout
    if count * dtype.itemsize != len(blob) - end:
        return None
    return np.frombuffer(blob, dtype=dtype, count=count, offset=end).reshape(shape).copy()


# .npy headers already matched by _NPY_HEADER -> (dtype, shape, count): the same few recur
_LAYOUTS: dict = {}


# The kinds of frame parse_stream reads; a header of any other kind is kept as {} (see ``kept``)
READ_KINDS = ("start", "case", "cell", "test", "done", "fatal")


def kept(header):
    """What parse_stream needs of a header read earlier from the stream (``grade.stubs`` reads
    it while the job runs): the header itself, or ``{}`` for a kind it ignores (the stubs'
    requests, the bulk of a stream, are not held until the run ends), or False (not an object)."""
    if not isinstance(header, dict):
        return False
    return header if header.get("type") in READ_KINDS else _IGNORED


_IGNORED: dict = {}        # shared, never written: thousands of requests hold nothing until the run ends


def parse_stream(stream: bytes, out: ChildFrames | None = None, max_array_bytes: int = 256 << 20,
                 test_ids: dict | None = None, budget: ChannelBudget | None = None,
                 known: dict | None = None) -> ChildFrames:
    """``test_ids`` (step index -> grade_id of the job's test steps): a test frame is filed under
    the grade_id of the step it came in, whatever it claims. ``budget``: the notebook's caps,
    counted over its runs (a fresh one when not given); parsing stops at the first one reached.
    ``known``: offset -> ``kept`` header of the frames already read from this very stream (their
    JSON is not parsed again; their lengths are checked against the caps all the same)."""
    out = out if out is not None else ChildFrames()
    out.done, out.problem = False, None
    budget = budget if budget is not None else ChannelBudget()
    cap = budget.limits.text_chars
    view, pos, total = memoryview(stream), 0, 0
    steps = StepTracker()
    known = known or {}
    try:
        while pos < len(view):
            got = budget.frame_at(view, pos, known.get(pos, learner_runner.UNREAD))
            if isinstance(got, int):
                raise ValueError("truncated frame")
            if not budget.take_frame(got[2] - pos - len(got[1])):
                break
            header, payload, pos = got
            if not isinstance(header, dict):
                raise ValueError("frame header is not an object")
            kind, step = header.get("type"), header.get("step")
            if kind == "start":
                if steps.start(step):
                    out.started.append(step)
            elif kind == "case":
                steps.enter_case(step, header.get("decl"), header.get("case"))
            elif kind in ("cell", "test") and not steps.finish(step):
                if kind == "test" and test_ids is not None and step in test_ids:
                    out.discarded.add(test_ids[step])   # out of order: a later step had started
            elif kind == "cell":
                out.cells.setdefault(str(header.get("key"))[:200], _bounded_record(header, cap))
                out.finished.add(step)
            elif kind == "test":
                arrays, used = read_blobs(header.get("arrays"), payload, max_array_bytes - total)
                total += used
                grade_id = str(header.get("grade_id")) if test_ids is None else test_ids.get(step)
                if grade_id is not None and grade_id not in out.tests:
                    calls = header.get("calls") if isinstance(header.get("calls"), list) else []
                    header = dict(header, calls=[_bounded_record(c, cap) for c in calls])
                    out.tests[grade_id] = (header, arrays)
                out.finished.add(step)
            elif kind == "done":
                out.done = True
            elif kind == "fatal":
                out.fatal = str(header.get("message"))[:2000]
    except Exception as e:        # whatever the learner wrote on the pipe: keep what was readable
        out.problem = f"the notebook's results could not be read after byte {pos} ({e})"
    return out


@dataclass
class RunResult:
    """One notebook's run, possibly resumed after crashes: merged frames and how each run ended.

    When learner code kills its own process (a segfault, ``os._exit``), the notebook is run again
    from the top with the step that crashed skipped and the checks already done not repeated, so
    a crash costs only the check (or cell) that caused it, as long as time is left.
    """

    job_steps: int = 0
    frames: ChildFrames = field(default_factory=ChildFrames)
    ends: list = field(default_factory=list)
    crashed_steps: dict = field(default_factory=dict)   # step index -> how the process ended there
    crash: str | None = None                              # the sandbox itself failed
    over: str | None = None                               # a cap of ChannelLimits was reached
    seconds: float = 0.0
    cpu: float = 0.0

    @property
    def end(self) -> dict:
        return self.ends[-1] if self.ends else {}

    def add(self, raw: RawRun, job: dict, budget: ChannelBudget | None = None) -> dict | None:
        """Merge one run; return the job that resumes after a crash, or None when finished.
        ``budget`` is the notebook's, shared by all its runs: a resumed run does not get new caps."""
        self.ends.append(raw.end)
        self.seconds += raw.sandbox_seconds
        self.cpu += float(raw.end.get("cpu") or 0.0)
        parse_stream(raw.stream, self.frames, budget=budget, known=raw.known,
                     test_ids={i: s["grade_id"] for i, s in enumerate(job["steps"]) if s.get("kind") == "test"})
        f = self.frames
        if budget is not None and budget.over:
            self.over = budget.over
            return None
        if f.done or f.fatal or f.problem or raw.end.get("reason") != "exit":
            return None
        pending = [s for s in f.started if s not in f.finished and s not in self.crashed_steps]
        if not pending:
            return None
        crashed = pending[-1]
        self.crashed_steps[crashed] = describe_end(raw.end)
        left = float(job["limits"]["notebook_timeout"]) - self.seconds
        if left < 1.0 or len(self.crashed_steps) > 10:
            return None
        resumed = dict(job, limits=dict(job["limits"], notebook_timeout=left),
                       resume={"skip": sorted(self.crashed_steps), "replay_until": crashed + 1})
        return resumed

