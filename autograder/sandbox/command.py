"""How a learner process is started: bubblewrap when present, a plain subprocess otherwise.

In bubblewrap the zygote (see ``learner_runner``) sees: the system libraries (/usr), the Python
installation, a view of the virtual environment's site-packages *without* torch (nor the course
package), the runner script, an empty /tmp, and nothing else: no course directory, no
``source/``, no gradebook, no other submissions, no network, no other processes. Without
bubblewrap (``--require-sandbox`` refuses this) the zygote is a plain subprocess: the same
rlimits and seccomp filter apply, torch is merely left off ``sys.path``, and the learner's code
runs with your user's file access.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import learner_runner

RUNNER = Path(learner_runner.__file__).resolve()

HIDDEN_SITE_ENTRIES = re.compile(
    r"^(torch|torchgen|functorch|triton|nvidia|autograder|rnn_course_autograder.*|__editable__.*|"
    r".*\.pth|torch-.*|functorch-.*|triton-.*|nvidia_.*|_distutils_hack)$")


THREAD_ENV = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                     "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS")}


TMP_BYTES = 512 << 20        # the sandbox's /tmp (RAM): a disk filler stops here
SHM_BYTES = 64 << 20         # the sandbox's /dev/shm (RAM; bubblewrap's own /dev would take half the RAM)


class SandboxError(RuntimeError):
    """The sandbox could not be started (not a learner's fault)."""


@dataclass
class Limits:
    """Limits for one submitted notebook (their defaults and documentation: ``grade.options``)."""

    cell_timeout: float             # seconds per code cell and per test cell
    notebook_timeout: float         # wall seconds for the whole notebook; also its CPU seconds
    memory_mb: int                  # address space on top of numpy + matplotlib
    file_mb: int                    # largest file learner code may write
    output_bytes: int               # everything the notebook sends back
    stream_chars: int               # printed text kept per cell
    require_seccomp: bool = False
    stub_calls: int = 20_000        # follow-through calls answered per notebook (by the parent)
    stub_bytes: int = 16 << 20      # arguments of one follow-through call
    case_timeout: float = 2.0       # seconds a call on one case may take at least (0: none; per case: the plan)
    case_timeout_factor: float = 50.0    # ... or this many times the reference's own time
    # what the trusted parent reads back, over all the runs of one notebook (``channel.ChannelLimits``)
    channel_frames: int = 200_000   # frames
    header_bytes: int = 2 << 20     # one frame's JSON header
    headers_bytes: int = 8 << 20    # all JSON headers
    frame_bytes: int = 32 << 20     # one frame

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
    # /tmp and /dev/shm are the only places learner code can write; both are size-limited, private
    # to this sandbox, and emptied by the zygote after every job (/dev itself is read-only)
    args += ["--proc", "/proc", "--dev", "/dev", "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm",
             "--remount-ro", "/dev", "--size", str(TMP_BYTES), "--tmpfs", "/tmp"]
    _bind_python(args, interpreter)
    sites = []
    for i, site in enumerate(_site_dirs()):
        target = f"/sandbox/site{i}"
        args += ["--dir", target]
        for entry in _visible_entries(site):
            args += ["--ro-bind", str(entry), f"{target}/{entry.name}"]
        sites.append(target)
    args += ["--ro-bind", str(RUNNER), "/sandbox/runner/learner_runner.py"]
    env = dict(env, HOME="/tmp", TMPDIR="/tmp", MPLCONFIGDIR="/tmp/matplotlib", AUTOGRADER_PRIVATE_DIRS="/tmp:/dev/shm")
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
    env = dict(env, HOME=str(work), TMPDIR=str(work), MPLCONFIGDIR=str(work / "matplotlib"),
               AUTOGRADER_PRIVATE_DIRS=str(work))
    if mpl_cache:
        env["AUTOGRADER_MPL_CACHE"] = str(mpl_cache)
    args = [str(interpreter), "-I", "-S", str(RUNNER), "zygote", *sites]
    return SandboxCommand(False, args, env, cleanup=[tmp])

