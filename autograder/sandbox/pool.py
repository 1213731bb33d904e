"""The warm pool: zygotes that have imported numpy and matplotlib, one per worker thread.

``SandboxPool`` keeps warm *zygotes* (see ``learner_runner``): fresh interpreters that fork one
child per submitted notebook. The first one starts while the trusted parent is still computing
its references, so start-up is paid once per run, in parallel, and no learner ever runs in a
process another learner used.
"""
from __future__ import annotations

import io
import itertools
import json
import os
import queue
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import Future

from . import learner_runner
from .channel import ChannelBudget, ChannelLimits, RawRun, RunResult
from .command import SandboxCommand, SandboxError

# Seconds a sandbox may take to start, or to take the inputs (a set-up problem beyond this)
START_TIMEOUT = 120.0
# Seconds beyond the notebook's own limit that the zygote may take to report its end
END_GRACE = 30.0
# The zygote's own frames (it relays the child's stream in 64 KB pieces): anything larger is a fault
ZYGOTE_HEADER, ZYGOTE_PAYLOAD = 1 << 20, 4 << 20
_DATA = {"type": "data"}


def _zygote_header(raw: bytes):
    """A zygote frame's header; the "data" header (most frames, always the same bytes) is
    recognised without a JSON parser."""
    return _DATA if raw == learner_runner.DATA_HEADER else json.loads(raw.decode("utf-8"))


class Zygote:

    def __init__(self, command: SandboxCommand):
        self.command = command
        self.stderr = tempfile.TemporaryFile()
        argv, pass_fds, args_file = command.argv, (), None
        if command.bwrap_args:             # bwrap reads its mount list from a file descriptor
            args_file = tempfile.TemporaryFile()
            args_file.write(b"".join(a.encode() + b"\0" for a in command.bwrap_args))
            args_file.seek(0)
            argv = [command.argv[0], "--args", str(args_file.fileno()), *command.argv[1:]]
            pass_fds = (args_file.fileno(),)
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=self.stderr, env=command.env, start_new_session=True,
                                         close_fds=True, pass_fds=pass_fds)
        finally:
            if args_file:
                args_file.close()
        self.in_fd, self.out_fd = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        # whether it lives, asked of the kernel, not of waitpid: a zygote the warm grader started
        # (grade/warm.py) belongs to the process it forked for a run, but is not its child
        try:
            self.pidfd = os.pidfd_open(self.proc.pid)
        except (AttributeError, OSError):
            self.pidfd = None
        self.pending, self.pos = b"", 0         # bytes read from the zygote, and where its next frame starts
        self.inputs_version = None
        self.ready: dict | None = None

    def wait_ready(self) -> dict:
        if self.ready is None:
            header, _ = self._read_frame(time.monotonic() + START_TIMEOUT)
            if header.get("type") != "ready":
                raise SandboxError(f"unexpected first frame from the sandbox: {header}")
            self.ready = header
        return self.ready

    def diagnostics(self) -> str:
        try:
            self.stderr.seek(0)
            return self.stderr.read().decode("utf-8", "replace")[-4000:]
        except Exception:
            return ""

    def _fill(self, n: int, deadline: float) -> None:
        """Read until at least ``n`` bytes from ``self.pos`` are in ``self.pending``."""
        while len(self.pending) - self.pos < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the sandbox did not answer in time")
            ready, _, _ = select.select([self.out_fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.out_fd, 1 << 20)
            if not chunk:
                raise EOFError("the sandbox process ended")
            self.pending, self.pos = self.pending[self.pos:] + chunk, 0    # usually: just the chunk

    def _read_frame(self, deadline: float) -> tuple[dict, memoryview]:
        """The zygote's next frame; its payload is a view of the bytes read (not copied)."""
        try:
            while isinstance(got := learner_runner.frame_at(memoryview(self.pending), self.pos, ZYGOTE_HEADER,
                                                            ZYGOTE_PAYLOAD, loads=_zygote_header), int):
                self._fill(got, deadline)
        except (EOFError, TimeoutError, ValueError) as e:
            detail = self.diagnostics().strip()
            raise SandboxError(f"{e}" + (f"; its last words: {detail}" if detail else "")) from None
        header, payload, self.pos = got
        return header, payload

    def send(self, data: bytes) -> None:
        """One ``os.write`` on the pipe for a frame that fits in it (nothing is buffered)."""
        try:
            learner_runner.write_all(self.in_fd, data)
        except (BrokenPipeError, OSError) as e:
            raise SandboxError(f"the sandbox process is gone ({e}): {self.diagnostics().strip()}") from None

    def set_inputs(self, version, frame: bytes) -> None:
        if self.inputs_version == version:
            return
        self.wait_ready()
        self.send(frame)
        header, _ = self._read_frame(time.monotonic() + START_TIMEOUT)
        if header.get("type") != "inputs-ok":
            raise SandboxError(f"the sandbox did not accept the inputs: {header}")
        self.inputs_version = version

    def run(self, job: dict, payload: bytes = b"", answers=None, budget: ChannelBudget | None = None) -> RawRun:
        """Run one job; ``answers`` (``grade.stubs.StubAnswers``) reads the child's stream as it
        arrives and gives the frames that answer its follow-through stubs. ``budget`` (the
        notebook's, over all its runs) caps the bytes kept: beyond it the zygote is told to stop
        the child, and what still arrives is dropped."""
        self.wait_ready()
        started = time.monotonic()
        self.send(learner_runner.frame_bytes(job, payload, encode=json.dumps))
        deadline = started + float(job["limits"]["notebook_timeout"]) + END_GRACE
        parts, stopped = [], False          # the stream's pieces, joined once at the end
        while True:
            header, payload = self._read_frame(deadline)
            if header is _DATA or header.get("type") == "data":
                if stopped:
                    continue
                if budget is not None and not budget.take_bytes(len(payload)):
                    self.send(learner_runner.frame_bytes({"type": "stop"}))
                    stopped = True
                    continue
                parts.append(payload)
                for answer in answers.feed(payload) if answers is not None else ():
                    self.send(answer)
            elif header.get("type") == "end":
                return RawRun(b"".join(parts), header, time.monotonic() - started,
                              known=answers.known if answers is not None else None)

    def alive(self) -> bool:
        if self.pidfd is None:
            return self.proc.poll() is None
        return not select.select([self.pidfd], [], [], 0)[0]

    def release(self) -> None:
        """Let go of a zygote handed to another process (the warm grader's run): close this
        process's ends of its pipes, and nothing else."""
        for f in (self.proc.stdin, self.proc.stdout, self.stderr):
            f.close()
        if self.pidfd is not None:
            os.close(self.pidfd)
        self.proc.returncode = 0          # not ours to wait for any more

    def close(self) -> None:
        try:
            if self.alive():
                self.proc.stdin.write(learner_runner.frame_bytes({"type": "quit"}))
                self.proc.stdin.close()
                self.proc.wait(timeout=2)
        except Exception:
            pass
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
            self.proc.wait()
        self.stderr.close()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


def inputs_frame(calls: dict, arrays: dict) -> tuple:
    """(version, frame): the inputs frame a zygote takes (``learner_runner``'s "inputs")."""
    import numpy as np
    buf = io.BytesIO()
    if arrays:
        np.savez(buf, **arrays)
    frame = learner_runner.frame_bytes({"type": "inputs", "calls": calls}, buf.getvalue())
    return next(_INPUTS_VERSIONS), frame      # never id(frame): a freed frame's id comes back


_INPUTS_VERSIONS = itertools.count()


class SandboxPool:
    """Up to ``jobs`` worker threads, each driving its own zygote; ``submit`` returns a Future of
    RunResult. The first sandbox starts at once; the others start when the grader finds itself
    waiting for a notebook while more wait in the queue (``hurry``), so that a batch whose
    bottleneck is nbgrader's bookkeeping does not spend a core warming sandboxes it never needs.
    """

    def __init__(self, command: SandboxCommand, jobs: int, first: Zygote | None = None):
        """``first``: a zygote already started with ``command`` (``Zygote(command)``), so that
        the first sandbox warms up while the grader still imports and reads its configuration."""
        self.command = command
        self.first = first
        self.jobs = max(1, int(jobs))
        self.queue: queue.Queue = queue.Queue()
        self.inputs: tuple | None = None
        self.inputs_ready = threading.Event()
        self.started = time.monotonic()
        self.ready_seconds: list[float] = []
        self.prewarm: list[dict] = []
        self.lock = threading.Lock()
        self.started_one = threading.Event()
        self.demand = threading.Event()
        self.closing = False
        self.start_errors: list[str] = []
        self.threads = [threading.Thread(target=self._work, args=(i,), name=f"sandbox-{i}", daemon=True)
                        for i in range(self.jobs)]
        for t in self.threads:
            t.start()

    def set_inputs(self, calls: dict, arrays: dict) -> None:
        self.inputs = inputs_frame(calls, arrays)
        self.inputs_ready.set()

    def submit(self, job: dict, payload: bytes = b"", answers=None, inputs: tuple | None = None) -> Future:
        """Run one notebook's job; the Future gives a ``RunResult``. ``answers()`` makes the
        follow-through answerer of each run (a resumed run reads a fresh stream). ``inputs``
        (calls, arrays), when given, replace the pool's inputs for this job (one student's own
        hidden variants)."""
        future: Future = Future()
        # the inputs now, not when a thread takes the job: the next assignment may have set its own
        self.queue.put((job, payload, answers, future, inputs_frame(*inputs) if inputs else self.inputs))
        return future

    def _start(self, zygote: Zygote | None = None) -> Zygote:
        zygote = zygote or Zygote(self.command)
        try:
            ready = zygote.wait_ready()
        except Exception:
            zygote.close()
            raise
        with self.lock:
            self.ready_seconds.append(time.monotonic() - self.started)
            self.prewarm.append(ready)
        self.started_one.set()
        return zygote

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Return once one sandbox is up; raise SandboxError if none can start (a set-up problem,
        reported before anything is graded, never as zeros for the learners)."""
        deadline = time.monotonic() + timeout
        while not self.started_one.wait(0.05):
            with self.lock:
                if len(self.start_errors) >= self.jobs:
                    raise SandboxError("the grading sandbox cannot start: " + self.start_errors[0])
            if time.monotonic() > deadline:
                raise SandboxError(f"the grading sandbox did not start within {timeout:g} s")

    def backlog(self) -> int:
        return self.queue.qsize()

    def hurry(self) -> None:
        """The grader is waiting for a notebook still in the queue: start the other sandboxes."""
        self.demand.set()

    def _work(self, index: int) -> None:
        zygote = None
        if index > 0:
            while not self.demand.wait(0.1):
                if self.closing:
                    return
        try:                                  # pre-warm at once, while the parent computes references
            zygote = self._start(self.first if index == 0 else None)
        except Exception as e:                # reported by wait_ready, and to a job that needs it
            with self.lock:
                self.start_errors.append(str(e))
        while True:
            item = self.queue.get()
            if item is None:
                break
            job, payload, answers, future, job_inputs = item
            if not future.set_running_or_notify_cancel():
                continue
            result = RunResult(job_steps=len(job["steps"]))
            budget = ChannelBudget(ChannelLimits.from_limits(job["limits"]))    # one per notebook, over its runs
            try:
                while True:
                    if zygote is None or not zygote.alive():
                        if zygote is not None:
                            zygote.close()
                        zygote = self._start()
                    self.inputs_ready.wait()
                    zygote.set_inputs(*(job_inputs or self.inputs))
                    try:
                        raw = zygote.run(job, payload, answers() if answers is not None else None, budget)
                    except SandboxError as e:
                        # the zygote died or hung (learner code may have killed it): start afresh
                        zygote.close()
                        zygote = None
                        result.crash = str(e)
                        break
                    job = result.add(raw, job, budget)
                    if job is None:
                        break
                future.set_result(result)
            except BaseException as e:      # a sandbox that cannot start, or a bug: never hang the batch
                future.set_exception(e)
        if zygote is not None:
            zygote.close()

    def close(self) -> None:
        self.closing = True
        for _ in self.threads:
            self.queue.put(None)
        for t in self.threads:
            t.join(timeout=10)
        for path in self.command.cleanup:
            shutil.rmtree(path, ignore_errors=True)

