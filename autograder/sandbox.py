"""Start learner processes with limits: bubblewrap when present, a plain subprocess otherwise.

``SandboxPool`` keeps warm *zygotes* (see ``learner_runner``): fresh interpreters that have
already imported numpy and matplotlib and fork one child per submitted notebook. The first one
starts while the trusted parent is still computing its references, so start-up is paid once per
run, in parallel, and no learner ever runs in a process another learner used.

In bubblewrap the zygote sees: the system libraries (/usr), the Python installation, a copy of
the virtual environment's site-packages *without* torch (nor the course package), the runner
script, an empty /tmp, and nothing else: no course directory, no ``source/``, no gradebook, no
other submissions, no network, no other processes. Without bubblewrap (``--require-sandbox``
refuses this) the zygote is a plain subprocess: the same rlimits and seccomp filter apply, torch
is merely left off ``sys.path``, and the learner's code runs with your user's file access.
"""
from __future__ import annotations

import io
import json
import os
import queue
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import learner_runner

RUNNER = Path(learner_runner.__file__).resolve()

# site-packages entries the sandbox never gets: PyTorch (the references) and the course package
# (the registry with references and mistake catalogues).
HIDDEN_SITE_ENTRIES = re.compile(
    r"^(torch|torchgen|functorch|triton|nvidia|autograder|rnn_course_autograder.*|__editable__.*|"
    r".*\.pth|torch-.*|functorch-.*|triton-.*|nvidia_.*|_distutils_hack)$")

THREAD_ENV = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                     "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS")}


TMP_BYTES = 512 << 20        # the sandbox's /tmp (RAM): a disk filler stops here


class SandboxError(RuntimeError):
    """The sandbox could not be started (not a learner's fault)."""


@dataclass
class Limits:
    """Limits for one submitted notebook."""

    cell_timeout: float = 30.0          # seconds per code cell and per test cell (nbgrader's Execute.timeout)
    notebook_timeout: float = 300.0     # wall seconds for the whole notebook; also its CPU seconds
    memory_mb: int = 2048               # address space on top of numpy + matplotlib
    file_mb: int = 64                   # largest file learner code may write
    output_bytes: int = 64 << 20        # everything the notebook sends back
    stream_chars: int = 100_000         # printed text kept per cell
    require_seccomp: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


_BWRAP_STATUS: dict = {}


def bwrap_status() -> tuple[bool, str]:
    """Whether bubblewrap is installed and can create namespaces here, and if not, why."""
    if "ok" not in _BWRAP_STATUS:
        path = bwrap_path()
        if not path:
            _BWRAP_STATUS.update(ok=False, why="bubblewrap (bwrap) is not installed "
                                               "(Debian/Ubuntu: apt-get install bubblewrap)")
        else:
            try:
                r = subprocess.run([path, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent",
                                    "true"], capture_output=True, text=True, timeout=20)
                ok = r.returncode == 0
                why = "" if ok else f"bwrap cannot create a sandbox here: {r.stderr.strip() or r.returncode}"
            except (OSError, subprocess.TimeoutExpired) as e:
                ok, why = False, f"bwrap failed to start: {e}"
            _BWRAP_STATUS.update(ok=ok, why=why)
    return _BWRAP_STATUS["ok"], _BWRAP_STATUS["why"]


def _site_dirs() -> list[Path]:
    dirs = []
    for key in ("purelib", "platlib"):
        p = Path(sysconfig.get_paths()[key]).resolve()
        if p.is_dir() and p not in dirs:
            dirs.append(p)
    return dirs


def _visible_entries(site: Path) -> list[Path]:
    return sorted(p for p in site.iterdir() if not HIDDEN_SITE_ENTRIES.match(p.name) and p.name != "__pycache__")


def mpl_cache_dirs() -> list[Path]:
    """Where the matplotlib font cache may live: inside this Python environment (kept out of the
    grading user's home), else the user's cache directory."""
    return [Path(sys.prefix) / "share" / "rnn-course-autograder" / "matplotlib",
            Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rnn-course-autograder" / "matplotlib"]


def ensure_mpl_cache() -> Path | None:
    """A matplotlib font cache built once outside the sandbox (without one, every sandbox would
    spend seconds scanning fonts); the sandbox gets a read-only copy."""
    for target in mpl_cache_dirs():
        if any(target.glob("fontlist*.json")):
            return target
    for target in mpl_cache_dirs():
        try:
            target.mkdir(parents=True, exist_ok=True)
            if os.access(target, os.W_OK):
                break
        except OSError:
            continue
    else:
        return None
    try:
        env = dict(os.environ, MPLCONFIGDIR=str(target), MPLBACKEND="Agg", **THREAD_ENV)
        subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env,
                       capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return target if any(target.glob("fontlist*.json")) else None


@dataclass
class SandboxCommand:
    """How to start one zygote: the argv and environment, with or without bubblewrap."""

    use_bwrap: bool
    argv: list[str] = field(default_factory=list)
    env: dict = field(default_factory=dict)
    cleanup: list[str] = field(default_factory=list)
    bwrap_args: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return "bubblewrap" if self.use_bwrap else "subprocess (NOT sandboxed)"


def sandbox_command(require_sandbox: bool = False) -> tuple[SandboxCommand, str | None]:
    """The zygote's command, and a warning when bubblewrap cannot be used."""
    ok, why = bwrap_status()
    if not ok and require_sandbox:
        raise SandboxError(f"--require-sandbox: {why}")
    interpreter = Path(sys.executable).resolve()
    mpl_cache = ensure_mpl_cache()
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "MPLBACKEND": "Agg",
           "NBGRADER_EXECUTION": "autograde", **THREAD_ENV}
    if ok:
        return _bwrap_command(interpreter, mpl_cache, env), None
    return _plain_command(interpreter, mpl_cache, env), why


def _bind_python(args: list[str], interpreter: Path) -> None:
    base = Path(sys.base_prefix).resolve()
    roots = [base]
    if not str(interpreter).startswith(str(base) + os.sep):
        roots.append(interpreter.parent)
    for root in roots:
        if str(root).startswith("/usr/") or str(root) == "/usr":
            continue
        args += ["--ro-bind", str(root), str(root)]
    # the base installation's own site-packages (not on sys.path under -S, but visible): hide it
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    global_site = stdlib / "site-packages"
    if global_site.is_dir() and not str(global_site).startswith("/usr/"):
        args += ["--tmpfs", str(global_site)]


def _bwrap_command(interpreter: Path, mpl_cache: Path | None, env: dict) -> SandboxCommand:
    args = [bwrap_path(), "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--uid", "65534", "--gid", "65534", "--hostname", "grader",
            "--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        top = Path("/") / name
        if top.is_symlink():
            args += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            args += ["--ro-bind", str(top), str(top)]
    for etc in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime"):
        args += ["--ro-bind-try", etc, etc]
    args += ["--proc", "/proc", "--dev", "/dev", "--size", str(TMP_BYTES), "--tmpfs", "/tmp"]
    _bind_python(args, interpreter)
    sites = []
    for i, site in enumerate(_site_dirs()):
        target = f"/sandbox/site{i}"
        args += ["--dir", target]
        for entry in _visible_entries(site):
            args += ["--ro-bind", str(entry), f"{target}/{entry.name}"]
        sites.append(target)
    args += ["--ro-bind", str(RUNNER), "/sandbox/runner/learner_runner.py"]
    env = dict(env, HOME="/tmp", TMPDIR="/tmp", MPLCONFIGDIR="/tmp/matplotlib")
    if mpl_cache:
        args += ["--ro-bind", str(mpl_cache), "/sandbox/mplcache"]
        env["AUTOGRADER_MPL_CACHE"] = "/sandbox/mplcache"
    args += ["--chdir", "/tmp", "--", str(interpreter), "-I", "-S", "/sandbox/runner/learner_runner.py", "zygote",
             *sites]
    # The mount list goes through a pipe (bwrap --args FD), so that learner code reading
    # /proc/1/cmdline sees "bwrap --args 3", not the host's paths.
    split = args.index("--")
    return SandboxCommand(True, [args[0], *args[split:]], env, bwrap_args=args[1:split])


def _plain_command(interpreter: Path, mpl_cache: Path | None, env: dict) -> SandboxCommand:
    tmp = tempfile.mkdtemp(prefix="autograder-sandbox-")
    sites = []
    for i, site in enumerate(_site_dirs()):       # a view of site-packages without torch
        view = Path(tmp) / f"site{i}"
        view.mkdir()
        for entry in _visible_entries(site):
            (view / entry.name).symlink_to(entry)
        sites.append(str(view))
    work = Path(tmp) / "tmp"
    work.mkdir()
    env = dict(env, HOME=str(work), TMPDIR=str(work), MPLCONFIGDIR=str(work / "matplotlib"))
    if mpl_cache:
        env["AUTOGRADER_MPL_CACHE"] = str(mpl_cache)
    args = [str(interpreter), "-I", "-S", str(RUNNER), "zygote", *sites]
    return SandboxCommand(False, args, env, cleanup=[tmp])


# ----------------------------------------------------------------------------- one zygote

@dataclass
class RawRun:
    """What came back from running one notebook: the child's byte stream and how it ended."""

    stream: bytes
    end: dict
    sandbox_seconds: float


class Zygote:
    READY_TIMEOUT = 120.0

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
        self.out_fd = self.proc.stdout.fileno()
        self.buffer = bytearray()
        self.inputs_version = None
        self.ready: dict | None = None

    def wait_ready(self) -> dict:
        if self.ready is None:
            header, _ = self._read_frame(time.monotonic() + self.READY_TIMEOUT)
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
        while len(self.buffer) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the sandbox did not answer in time")
            ready, _, _ = select.select([self.out_fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.out_fd, 1 << 20)
            if not chunk:
                raise EOFError("the sandbox process ended")
            self.buffer += chunk

    def _take(self, n: int) -> bytes:
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    def _read_frame(self, deadline: float) -> tuple[dict, bytes]:
        try:
            self._fill(4, deadline)
            (hlen,) = struct.unpack("<I", self.buffer[:4])
            self._fill(4 + hlen + 8, deadline)
            header = json.loads(bytes(self.buffer[4:4 + hlen]).decode("utf-8"))
            (plen,) = struct.unpack("<Q", self.buffer[4 + hlen:12 + hlen])
            self._fill(12 + hlen + plen, deadline)
        except (EOFError, TimeoutError) as e:
            detail = self.diagnostics().strip()
            raise SandboxError(f"{e}" + (f"; its last words: {detail}" if detail else "")) from None
        self._take(12 + hlen)
        return header, self._take(plen)

    def send(self, data: bytes) -> None:
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise SandboxError(f"the sandbox process is gone ({e}): {self.diagnostics().strip()}") from None

    def set_inputs(self, version, frame: bytes) -> None:
        if self.inputs_version == version:
            return
        self.wait_ready()
        self.send(frame)
        header, _ = self._read_frame(time.monotonic() + 120)
        if header.get("type") != "inputs-ok":
            raise SandboxError(f"the sandbox did not accept the inputs: {header}")
        self.inputs_version = version

    def run(self, job: dict, payload: bytes = b"") -> RawRun:
        self.wait_ready()
        started = time.monotonic()
        self.send(learner_runner.frame_bytes(job, payload))
        deadline = started + float(job["limits"]["notebook_timeout"]) + 30.0
        stream = bytearray()
        while True:
            header, payload = self._read_frame(deadline)
            if header.get("type") == "data":
                stream += payload
            elif header.get("type") == "end":
                return RawRun(bytes(stream), header, time.monotonic() - started)

    def alive(self) -> bool:
        return self.proc.poll() is None

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


# ----------------------------------------------------------------------------- the pool

class SandboxPool:
    """Up to ``jobs`` worker threads, each driving its own zygote; ``submit`` returns a Future of
    RunResult. The first sandbox starts at once; the others start when the grader finds itself
    waiting for a notebook while more wait in the queue (``hurry``), so that a batch whose
    bottleneck is nbgrader's bookkeeping does not spend a core warming sandboxes it never needs.
    """

    def __init__(self, command: SandboxCommand, jobs: int):
        self.command = command
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
        import numpy as np
        buf = io.BytesIO()
        if arrays:
            np.savez(buf, **arrays)
        frame = learner_runner.frame_bytes({"type": "inputs", "calls": calls}, buf.getvalue())
        self.inputs = (id(frame), frame)
        self.inputs_ready.set()

    def submit(self, job: dict, payload: bytes = b"") -> Future:
        """Run one notebook's job; the Future gives a ``RunResult``."""
        future: Future = Future()
        self.queue.put((job, payload, future))
        return future

    def _start(self) -> Zygote:
        zygote = Zygote(self.command)
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

    def wait_ready(self, timeout: float = 120.0) -> None:
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
        try:
            zygote = self._start()            # pre-warm at once, while the parent computes references
        except Exception as e:                # reported by wait_ready, and to a job that needs it
            with self.lock:
                self.start_errors.append(str(e))
        while True:
            item = self.queue.get()
            if item is None:
                break
            job, payload, future = item
            if not future.set_running_or_notify_cancel():
                continue
            result = RunResult(job_steps=len(job["steps"]))
            try:
                while True:
                    if zygote is None or not zygote.alive():
                        if zygote is not None:
                            zygote.close()
                        zygote = self._start()
                    self.inputs_ready.wait()
                    zygote.set_inputs(*self.inputs)
                    try:
                        raw = zygote.run(job, payload)
                    except SandboxError as e:
                        # the zygote died or hung (learner code may have killed it): start afresh
                        zygote.close()
                        zygote = None
                        result.crash = str(e)
                        break
                    job = result.add(raw, job)
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


# ----------------------------------------------------------------------------- reading a run

SIGNALS = {4: "illegal instruction", 6: "abort", 7: "bus error", 8: "floating-point exception",
           9: "killed", 11: "segmentation fault", 24: "CPU time limit", 25: "file size limit", 31: "bad system call"}


def describe_end(end: dict) -> str:
    """How a notebook's process ended, for a learner."""
    if end.get("signal"):
        sig = end["signal"]
        return f"the process died (signal {sig}: {SIGNALS.get(sig, 'unknown')})"
    return f"the process exited (exit code {end.get('exit_code')}) before finishing"


@dataclass
class ChildFrames:
    """The child's frames, parsed without trusting them: cells, test results (their arrays read
    with ``np.load(allow_pickle=False)``), which steps started and finished, and any problem."""

    cells: dict = field(default_factory=dict)
    tests: dict = field(default_factory=dict)        # grade_id -> (header, arrays dict)
    started: list = field(default_factory=list)       # step indices, in order
    finished: set = field(default_factory=set)
    done: bool = False
    fatal: str | None = None
    problem: str | None = None


def parse_stream(stream: bytes, out: ChildFrames | None = None, max_array_bytes: int = 256 << 20) -> ChildFrames:
    import numpy as np
    out = out if out is not None else ChildFrames()
    out.done, out.problem = False, None
    view, pos, total = memoryview(stream), 0, 0
    try:
        while pos < len(view):
            if pos + 4 > len(view):
                raise ValueError("truncated frame")
            (hlen,) = struct.unpack("<I", view[pos:pos + 4])
            if hlen > learner_runner.MAX_HEADER or pos + 4 + hlen + 8 > len(view):
                raise ValueError("truncated or oversized frame")
            header = json.loads(bytes(view[pos + 4:pos + 4 + hlen]).decode("utf-8"))
            (plen,) = struct.unpack("<Q", view[pos + 4 + hlen:pos + 12 + hlen])
            start = pos + 12 + hlen
            if start + plen > len(view):
                raise ValueError("truncated frame payload")
            payload = view[start:start + plen]
            pos = start + plen
            if not isinstance(header, dict):
                raise ValueError("frame header is not an object")
            kind, step = header.get("type"), header.get("step")
            if kind == "start" and isinstance(step, int):
                out.started.append(step)
            elif kind == "cell":
                out.cells.setdefault(str(header.get("key")), header)
                if isinstance(step, int):
                    out.finished.add(step)
            elif kind == "test":
                arrays = {}
                index = header.get("arrays") if isinstance(header.get("arrays"), dict) else {}
                for key, where in index.items():
                    try:
                        off, length = int(where[0]), int(where[1])
                        total += length
                        if off < 0 or length < 0 or off + length > plen or total > max_array_bytes:
                            continue
                        arr = np.load(io.BytesIO(payload[off:off + length]), allow_pickle=False)
                        if type(arr) is np.ndarray:
                            arrays[str(key)] = arr
                    except Exception:       # unreadable: left out, the verdict says so
                        continue
                out.tests.setdefault(str(header.get("grade_id")), (header, arrays))
                if isinstance(step, int):
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
    seconds: float = 0.0
    cpu: float = 0.0

    @property
    def end(self) -> dict:
        return self.ends[-1] if self.ends else {}

    def add(self, raw: RawRun, job: dict) -> dict | None:
        """Merge one run; return the job that resumes after a crash, or None when finished."""
        self.ends.append(raw.end)
        self.seconds += raw.sandbox_seconds
        self.cpu += float(raw.end.get("cpu") or 0.0)
        parse_stream(raw.stream, self.frames)
        f = self.frames
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
