"""The program that runs learner code INSIDE the grading sandbox (``autograder grade``).

Nothing here decides a grade. This file runs in a fresh interpreter (``python -I -S``) that
``autograder.sandbox`` starts inside bubblewrap (or, without it, as a plain subprocess), and it
imports only the standard library and numpy (and, for cells with magics, IPython's input
transformer, whose time grows faster than its input: here it runs within the learner's limits).
The sandbox has neither torch nor the ``autograder`` package, and sees none of the course's files. Its only job is to execute a
learner's code cells and to call the learner's functions on case inputs the trusted parent
sent, then to hand back what they returned as plain data (JSON, and arrays as ``.npy`` bytes
that the parent opens with ``np.load(..., allow_pickle=False)``; never pickles). Whatever
learner code does to this process (replace ``np.allclose``, patch ``builtins`` or this module,
write garbage on its pipe) can only change what comes back for that same learner, and the
parent judges that with code and references the sandbox never sees.

Shape of the process (a "zygote", so that numpy and matplotlib are imported once, not once per
learner):

    zygote   reads the case inputs once, imports numpy and matplotlib, then for every job (one
             submitted notebook) forks a child, relays the child's output to the parent in its
             own frames, kills the child at the time limit, and reports how it ended. The
             zygote never runs learner code, is not dumpable (no ptrace, no /proc/<pid>/mem),
             and a child has no handle on the zygote's pipes, so one learner cannot touch the
             next one's run or results.
    child    closes the zygote's pipes, moves into a fresh empty directory (with the
             submission's and the assignment's data files; named from the kernel's randomness,
             mode 0700, its TMPDIR too; the zygote empties every folder a child can write to
             after each job, so nothing one learner leaves reaches the next), lowers its limits (address space,
             CPU, file size, open files), installs a seccomp filter (no new processes or
             programs, no sockets, no signals to other processes, no ptrace), and only then
             runs learner code: the job's steps in order, code cells and, at each test cell's
             place, the calls of its checks.

Wire format (both directions): a frame is ``u32 length + JSON header + u64 length + payload``.

    parent -> zygote   {"type": "inputs", "calls": {key: [arg, ...]}} + npz   (once, trusted)
                       {"type": "job", "steps": [...], "limits": {...},
                        "files": [[name, offset, length]], "resume": {...}} + file bytes
                       {"type": "quit"}
                       {"type": "answer", "id": n, "ok": ..., "value": ...,
                        "arrays": {key: [offset, count, dtype, shape]}} + raw bytes   (during a job)
    zygote -> parent   {"type": "ready", ...} | {"type": "inputs-ok"}
                       {"type": "data"} + raw bytes of the child's stream     (repeated; held up to
                           RELAY_HOLD seconds unless they complete a stub's request)
                       {"type": "end", "reason": ..., "cpu": ..., ...}        (per job)
    child stream       {"type": "start", "step": i}
                       {"type": "cell", "step": i, "stdout", "stderr", "error"}
                       {"type": "case", "step": i, "decl": d, "case": c}      (before each call)
                       {"type": "request", "id": n, "name": ..., "for": [i, d, c], "args": ...,
                        "arrays": {key: [offset, length]}} + the .npy blobs   (a follow-through stub)
                       {"type": "test", "step": i, "calls": [...], "arrays": {key: [offset, length]}}
                           + the .npy blobs
                       {"type": "done"}
    zygote -> child    the parent's "answer" frames, as they are, on the child's answer pipe

Follow-through marking: while a check runs, the other graded functions it may lean on (the job
lists them per check as "stubs") are replaced in the learner's namespace by stubs that send their
arguments to the trusted parent and return its answer, computed with the reference there (this
process never holds reference code). The parent answers only during the very call a stub was made
for; anything else gets a refusal, raised inside learner code.

A value crossing the wire is described by ``encode`` below: ``{"t": "nd", "k": key}`` for an
exact ``numpy.ndarray`` of numbers, booleans or strings, plain JSON for scalars, strings and
containers, and only a module and class name for anything else. When a child dies without
"done" (a segfault, ``os._exit``), the parent runs the notebook again with the step that was
running skipped ("resume"), so a crash costs only that step.
"""
from __future__ import annotations

import ctypes
import io
import json
import linecache
import os
import platform
import resource
import select
import shutil
import signal
import struct
import sys
import time
import traceback
import types
import builtins as _real_builtins

# Every function below resolves builtins (isinstance, type, len, ...) in this private copy, taken
# before any learner code runs: learner code that patches ``builtins`` changes its own world, not
# the code that describes its results. Learner code itself gets the real ``builtins`` module.
__builtins__ = dict(_real_builtins.__dict__)

# ----------------------------------------------------------------------------- framing

MAX_HEADER = 64 << 20


def _read_exact(fd: int, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError("pipe closed")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


UNREAD = object()


def frame_at(buf, pos: int = 0, max_header: int = MAX_HEADER, max_payload: int | None = None,
             header=UNREAD, loads=None):
    """The frame that starts at ``pos`` in ``buf`` as (header, payload, end), or, while ``buf``
    ends before the frame does, how many bytes from ``pos`` the frame needs at least. The one
    frame parser: the zygote reads its orders with it, the parent its answers and the child's
    stream (``sandbox.pool``, ``sandbox.channel``). A frame that declares a header or payload
    beyond ``max_header`` or ``max_payload`` is refused (ValueError) as soon as its lengths are
    read, before anything waits for its bytes. ``header``: what an earlier reading of these very
    bytes made of the header (the parent reads the child's stream twice: it is parsed once);
    ``loads``: the header's bytes -> header (``json.loads`` of their UTF-8 by default)."""
    if len(buf) < pos + 4:
        return 4
    (hlen,) = struct.unpack_from("<I", buf, pos)
    if hlen > max_header:
        raise ValueError(f"a frame header of {hlen} bytes (at most {max_header})")
    if len(buf) < pos + 12 + hlen:
        return 12 + hlen
    (plen,) = struct.unpack_from("<Q", buf, pos + 4 + hlen)
    if max_payload is not None and plen > max_payload:
        raise ValueError(f"a frame payload of {plen} bytes (at most {max_payload})")
    if len(buf) < pos + 12 + hlen + plen:
        return 12 + hlen + plen
    if header is UNREAD:
        raw = bytes(buf[pos + 4:pos + 4 + hlen])
        header = loads(raw) if loads is not None else json.loads(raw.decode("utf-8"))
    return header, buf[pos + 12 + hlen:pos + 12 + hlen + plen], pos + 12 + hlen + plen


def read_frame(fd: int, whole: bool = False) -> tuple:
    """The next frame on ``fd`` as (header, payload), read exactly (nothing after it is taken);
    ``whole``: (header, payload, the frame's bytes)."""
    buf = b""
    while True:
        got = frame_at(buf)
        if not isinstance(got, int):
            return (got[0], got[1], buf) if whole else (got[0], got[1])
        buf += _read_exact(fd, got - len(buf))


def frame_bytes(header: dict, payload: bytes = b"", encode=None) -> bytes:
    """``encode``: the trusted parent passes ``json.dumps`` (its C encoder, several times faster);
    in the sandbox, learner code may have patched the json module, so ``dumps`` below is used."""
    try:
        head = (encode or dumps)(header).encode("utf-8")
    except UnicodeEncodeError:          # a lone surrogate in learner text: escaped
        head = py_dumps(header).encode("utf-8")
    return struct.pack("<I", len(head)) + head + struct.pack("<Q", len(payload)) + payload


_ESCAPES = {ord('"'): '\\"', ord("\\"): "\\\\", ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"}
_ESCAPES.update({c: "\\u%04x" % c for c in list(range(0x20)) + list(range(0xD800, 0xE000)) if c not in _ESCAPES})


def _dump_str(s: str) -> str:
    return '"' + str.translate(s, _ESCAPES) + '"'


try:                        # json's C encoder, made now, before any learner code runs
    import _json
    _C_ENCODE = _json.make_encoder(None, lambda o: f"<{type(o).__name__}>", _json.encode_basestring,
                                   None, ":", ",", False, False, True)
except Exception:           # noqa: BLE001  (an interpreter without it: the Python encoder below)
    _C_ENCODE = None


def dumps(obj) -> str:
    """JSON for the plain data this module builds (dict, list, str, int, float, bool, None): with
    json's C encoder as it was when this module was imported (learner code may patch the json
    module, not an encoder made before it ran), else with ``py_dumps``. Text is written as UTF-8
    as ``py_dumps`` writes it, but for lone surrogates (``frame_bytes`` then uses ``py_dumps``,
    which escapes them) and \\b, \\f (two bytes here, six there)."""
    if _C_ENCODE is not None:
        try:
            return "".join(_C_ENCODE(obj, 0))
        except Exception:   # noqa: BLE001  (a key that is not a string: the Python encoder says str(key))
            pass
    return py_dumps(obj)


def py_dumps(obj) -> str:
    """``dumps`` written in Python, with this module's own builtins."""
    dumps = py_dumps
    t = type(obj)
    if obj is None:
        return "null"
    if t is bool:
        return "true" if obj else "false"
    if t is int:
        return int.__repr__(obj)
    if t is float:
        if obj != obj:
            return "NaN"
        if obj in (float("inf"), float("-inf")):
            return "Infinity" if obj > 0 else "-Infinity"
        return float.__repr__(obj)
    if t is str:
        return _dump_str(obj)
    if t is list or t is tuple:
        return "[" + ",".join(dumps(v) for v in obj) + "]"
    if t is dict:
        return "{" + ",".join(_dump_str(str(k)) + ":" + dumps(v) for k, v in obj.items()) + "}"
    return _dump_str(f"<{t.__name__}>")


def npy_bytes(arr) -> bytes:
    """An exact ndarray in .npy format (read back with ``np.load(..., allow_pickle=False)``), built
    from C-level attributes only."""
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")
    header = "{'descr': %s, 'fortran_order': False, 'shape': %s, }" % (
        str.__repr__(arr.dtype.str), "(" + "".join(f"{int(n)}," for n in arr.shape) + ")")
    pad = 64 - (10 + len(header) + 1) % 64
    header = (header + " " * pad + "\n").encode("latin-1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + arr.tobytes()


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


# ----------------------------------------------------------------------------- values

MAX_DEPTH, MAX_ITEMS, MAX_STR = 32, 100_000, 20_000
_PLAIN_KINDS = "biufcUS"
_SCALAR_CODES = ("b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8")


def _name_of(t) -> tuple[str, str]:
    try:
        return str(type.__getattribute__(t, "__module__"))[:200], str(type.__getattribute__(t, "__qualname__"))[:200]
    except Exception:
        return "?", "?"


class Blobs:
    """Arrays to send: each one an .npy blob in the frame's payload, located by offset."""

    def __init__(self):
        self.parts, self.index, self.size = [], {}, 0

    def add(self, arr) -> str:
        key = f"a{len(self.index)}"
        data = npy_bytes(arr)
        self.index[key] = [self.size, len(data)]
        self.parts.append(data)
        self.size += len(data)
        return key

    def payload(self) -> bytes:
        return b"".join(self.parts)


def encode(value, blobs: Blobs, np, depth: int = 0, budget: list | None = None):
    """A plain description of ``value``; exact ndarrays go into ``blobs``."""
    budget = budget if budget is not None else [MAX_ITEMS]
    budget[0] -= 1
    t = type(value)
    if depth > MAX_DEPTH or budget[0] < 0:
        return {"t": "obj", "mod": "builtins", "name": "too-large-or-deeply-nested-value"}
    if t is np.ndarray:
        kind = value.dtype.kind
        if kind not in _PLAIN_KINDS:
            return {"t": "ndobj", "shape": [int(n) for n in value.shape], "dtype": str(value.dtype.str)[:40]}
        return {"t": "nd", "k": blobs.add(value)}
    if issubclass(t, np.ndarray):
        mod, name = _name_of(t)
        return {"t": "ndsub", "mod": mod, "name": name}
    if value is None:
        return {"t": "none"}
    if t is bool:
        return {"t": "bool", "v": value}
    if issubclass(t, np.generic):
        code = value.dtype.str[1:]
        if value.dtype.kind in "biuf" and code in _SCALAR_CODES:
            item = value.item()
            return {"t": "np", "dtype": code, "v": float.__repr__(item) if type(item) is float else item}
        mod, name = _name_of(t)
        return {"t": "obj", "mod": mod, "name": name}
    if issubclass(t, int):
        v = int.__index__(value)
        if v.bit_length() > 63:
            return {"t": "obj", "mod": "builtins", "name": "int-out-of-range"}
        return {"t": "int", "v": v}
    if issubclass(t, float):
        return {"t": "float", "v": float.__repr__(float.__float__(value))}
    if issubclass(t, str):
        return {"t": "str", "v": str.__str__(value)[:MAX_STR]}
    if issubclass(t, (list, tuple)):
        items = list.__iter__(value) if issubclass(t, list) else tuple.__iter__(value)
        out = []
        for v in items:
            if len(out) >= MAX_ITEMS:
                break
            out.append(encode(v, blobs, np, depth + 1, budget))
        return {"t": "tuple" if issubclass(t, tuple) else "list", "items": out}
    if issubclass(t, dict):
        out = []
        for k, v in dict.items(value):
            if len(out) >= MAX_ITEMS:
                break
            out.append([encode(k, blobs, np, depth + 1, budget), encode(v, blobs, np, depth + 1, budget)])
        return {"t": "dict", "items": out}
    mod, name = _name_of(t)
    return {"t": "obj", "mod": mod, "name": name}


def build(desc, arrays: dict):
    """Rebuild the parent's case inputs (trusted data) from their description: fresh copies."""
    t = desc["t"]
    if t == "nd":
        return arrays[desc["k"]].copy()
    if t == "none":
        return None
    if t in ("bool", "int", "str"):
        return desc["v"]
    if t == "float":
        return float(desc["v"])
    if t == "list":
        return [build(d, arrays) for d in desc["items"]]
    if t == "tuple":
        return tuple(build(d, arrays) for d in desc["items"])
    if t == "dict":
        return {build(k, arrays): build(v, arrays) for k, v in desc["items"]}
    raise ValueError(f"cannot build input of kind {t!r}")


# ----------------------------------------------------------------------------- isolation

def _libc():
    return ctypes.CDLL(None, use_errno=True)


PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 4, 38, 22, 2

# Syscall numbers the filter refuses, per architecture: new processes and programs, ptrace and
# friends, pidfds, sockets (no network, no IPC through abstract sockets), System V IPC,
# namespaces, mounts, keyrings, BPF, io_uring, scheduling of other processes. ``clone`` is
# allowed only for threads; the signal-sending calls (kill, tkill, tgkill, rt_sigqueueinfo,
# rt_tgsigqueueinfo) only towards the process itself; prlimit64 only on itself.
_ARCH = {
    "x86_64": dict(audit=0xC000003E, clone=56, clone3=435, self_only=[62, 200, 234, 129, 297], prlimit=302, deny=[
        57, 58, 59, 322,            # fork vfork execve execveat
        101, 310, 311, 312,         # ptrace process_vm_readv/writev kcmp
        424, 434, 438, 440,         # pidfd_send_signal pidfd_open pidfd_getfd process_madvise
        41, 53,                     # socket socketpair
        29, 64, 68, 240,            # shmget semget msgget mq_open
        272, 308, 165, 166,         # unshare setns mount umount2
        248, 249, 250, 321, 323, 298, 425, 426, 427, 155, 161,   # keys bpf userfaultfd perf io_uring pivot_root chroot
        141, 203, 144,              # setpriority sched_setaffinity sched_setscheduler (on others: same uid)
    ]),
    "aarch64": dict(audit=0xC00000B7, clone=220, clone3=435, self_only=[129, 130, 131, 138, 240], prlimit=261, deny=[
        221, 281,                   # execve execveat
        117, 270, 271, 272,         # ptrace process_vm_readv/writev kcmp
        424, 434, 438, 440,         # pidfd_send_signal pidfd_open pidfd_getfd process_madvise
        198, 199,                   # socket socketpair
        194, 190, 186, 180,         # shmget semget msgget mq_open
        97, 268, 40, 39,            # unshare setns mount umount2
        217, 218, 219, 280, 282, 241, 425, 426, 427, 41, 51,
        140, 122, 119,              # setpriority sched_setaffinity sched_setscheduler
    ]),
}


def seccomp_program(arch: str, own_pid: int) -> bytes:
    """A classic-BPF seccomp program (see the table above) as the kernel's sock_filter array."""
    a = _ARCH[arch]
    ALLOW, EPERM, ENOSYS = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38
    LD, JEQ, JSET, JGE, RET = 0x20, 0x15, 0x45, 0x35, 0x06
    prog: list = []       # entries: (code, jt, jf, k) with jt/jf either ints or labels

    def emit(code, k, jt=0, jf=0):
        prog.append([code, jt, jf, k])

    emit(LD, 4)                                          # arch
    emit(JEQ, a["audit"], 0, "deny")
    emit(LD, 0)                                          # syscall number
    emit(JGE, 0x40000000, "deny", 0)                     # x32 ABI
    emit(JEQ, a["clone3"], "nosys", 0)                   # glibc falls back to clone for threads
    for nr in a["deny"]:
        emit(JEQ, nr, "deny", 0)
    emit(JEQ, a["clone"], "clone", 0)
    for nr in a["self_only"]:
        emit(JEQ, nr, "self", 0)
    emit(JEQ, a["prlimit"], "prlimit", 0)
    emit(RET, ALLOW)
    labels = {}
    labels["clone"] = len(prog)
    emit(LD, 16)                                         # args[0]: clone flags (low 32 bits)
    emit(JSET, 0x00010000, "allow", "deny")              # CLONE_THREAD
    labels["prlimit"] = len(prog)
    emit(LD, 16)                                         # args[0]: pid, 0 meaning itself
    emit(JEQ, 0, "allow", 0)
    labels["self"] = len(prog)
    emit(LD, 16)                                         # args[0]: target pid
    emit(JEQ, own_pid & 0xFFFFFFFF, "allow", "deny")
    labels["allow"] = len(prog)
    emit(RET, ALLOW)
    labels["deny"] = len(prog)
    emit(RET, EPERM)
    labels["nosys"] = len(prog)
    emit(RET, ENOSYS)
    out = b""
    for i, (code, jt, jf, k) in enumerate(prog):
        jt = labels[jt] - i - 1 if isinstance(jt, str) else jt
        jf = labels[jf] - i - 1 if isinstance(jf, str) else jf
        out += struct.pack("<HBBI", code, jt, jf, k)
    return out


def install_seccomp() -> str | None:
    """Install the filter in this process; return None, or why it could not be installed."""
    arch = platform.machine()
    if arch not in _ARCH:
        return f"no seccomp filter for architecture {arch}"
    prog = seccomp_program(arch, os.getpid())
    buf = ctypes.create_string_buffer(prog, len(prog))

    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = Fprog(len(prog) // 8, ctypes.addressof(buf))
    libc = _libc()
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        return f"PR_SET_NO_NEW_PRIVS failed (errno {ctypes.get_errno()})"
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        return f"seccomp filter refused (errno {ctypes.get_errno()})"
    return None


def not_dumpable() -> None:
    try:
        libc = _libc()
        libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except Exception:
        pass


def _vm_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except Exception:
        return 1 << 30


def set_limits(limits: dict) -> None:
    def lower(kind, value):
        soft, hard = resource.getrlimit(kind)
        value = int(value)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(kind, (value, value))

    lower(resource.RLIMIT_CORE, 0)
    lower(resource.RLIMIT_CPU, max(1, int(limits["notebook_timeout"]) + 2))
    lower(resource.RLIMIT_AS, _vm_bytes() + int(limits["memory_mb"]) * (1 << 20))
    lower(resource.RLIMIT_FSIZE, int(limits["file_mb"]) * (1 << 20))
    lower(resource.RLIMIT_NOFILE, 256)


class _TorchBlocker:
    """A nicer message than "No module named 'torch'" (in bubblewrap torch is simply absent;
    without it this finder is all there is, which is why that mode is only a fallback)."""

    BLOCKED = ("torch", "torchgen", "functorch")

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.BLOCKED:
            raise ModuleNotFoundError(
                f"No module named {name!r}: PyTorch is not available while grading "
                "(solutions are written in numpy only)", name=name)
        return None


def _stand_in_autograder() -> types.ModuleType:
    """The setup cell does ``from autograder import check``; here that ``check`` does nothing
    (the trusted parent runs the checks, with its own copy of the test cells)."""
    mod = types.ModuleType("autograder")
    mod.__doc__ = "Stand-in for the course package inside the grading sandbox."

    def check(*args, **kwargs):
        return None

    def case_inputs(*args, **kwargs):
        raise RuntimeError("autograder.case_inputs is not available while grading")

    mod.check, mod.case_inputs, mod.expected_output = check, case_inputs, case_inputs
    mod.__all__ = ["check", "case_inputs", "expected_output"]
    return mod


class _FakeShell:
    """Just enough of IPython's shell for transformed magics (``%matplotlib inline``,
    ``%%time``, ``!pip ...``) in learner cells to run or do nothing, as they would in a kernel."""

    def __init__(self, ns):
        self.user_ns = ns
        self.input_transformers_cleanup, self.input_transformers_post, self.ast_transformers = [], [], []

    def run_line_magic(self, name, line, _stack_depth=1):
        if name in ("time", "timeit") and line.strip():
            code = compile(line, "<magic>", "exec")
            exec(code, self.user_ns)
        return None

    def run_cell_magic(self, name, line, cell):
        if name in ("time", "timeit", "capture", "prun", "python", "python3"):
            exec(compile(cell, "<cell magic>", "exec"), self.user_ns)
        elif name == "writefile":
            path = line.split()[-1] if line.split() else "untitled.txt"
            with open(path, "a" if "-a" in line.split() else "w") as f:
                f.write(cell)
        else:
            print(f"(cell magic %%{name} does nothing while grading)", file=sys.stderr)
        return None

    def system(self, cmd):
        print("(shell commands do not run while grading)", file=sys.stderr)

    getoutput = system

    def magic(self, line):
        return self.run_line_magic(*(line.split(" ", 1) + [""])[:2])

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


# ----------------------------------------------------------------------------- the child

class CellTimeout(BaseException):
    pass


class _Capture(io.TextIOBase):
    def __init__(self, cap: int):
        self.cap, self.parts, self.size, self.cut = cap, [], 0, False

    def write(self, s):
        s = str(s)
        if self.size < self.cap:
            take = s[: self.cap - self.size]
            self.parts.append(take)
            self.size += len(take)
        if len(s) and self.size >= self.cap:
            self.cut = True
        return len(s)

    def writable(self):
        return True

    def flush(self):
        pass

    def isatty(self):
        return False

    @property
    def encoding(self):
        return "utf-8"

    def text(self) -> str:
        return "".join(self.parts) + ("\n... output truncated by the grader ...\n" if self.cut else "")


def _format_traceback(err: BaseException, tb, keep: int = 12, walk: int = 100_000) -> list[str]:
    """The traceback's first and last ``keep`` frames (a runaway recursion has millions)."""
    head, tail, count = [], [], 0
    while tb is not None and count < walk:
        (head if count < keep else tail).append(tb)
        if len(tail) > keep:
            del tail[0]
        count += 1
        tb = tb.tb_next
    extract = lambda tbs: traceback.StackSummary.extract((t.tb_frame, t.tb_lineno) for t in tbs).format()
    parts = ["Traceback (most recent call last):\n", *extract(head)]
    if count > 2 * keep or tb is not None:
        more = f"{count - 2 * keep}" if tb is None else f"more than {walk - 2 * keep}"
        parts.append(f"  ... {more} frames left out ...\n")
    parts += extract(tail) + traceback.format_exception_only(type(err), err)
    lines = "".join(parts).splitlines()
    return [str(l)[:2000] for l in lines[:200]]


def _exception(err: BaseException) -> dict:
    mod, name = _name_of(type(err))
    try:
        value = str(err)[:MAX_STR]
    except BaseException:
        value = "<unprintable exception>"
    try:
        tb = err.__traceback__
        if tb is not None and tb.tb_next is not None:      # drop this runner's own frame
            tb = tb.tb_next
        lines = _format_traceback(err, tb)
    except BaseException:
        lines = [f"{name}: {value}"]
    return {"ename": name, "emod": mod, "evalue": value, "traceback": lines,
            "is_value_error": isinstance(err, ValueError)}


def _safe_encode(value, blobs: Blobs, np):
    try:
        return encode(value, blobs, np)
    except CellTimeout:            # the time limit stands: never swallowed as a value's fault
        raise
    except BaseException as e:     # a value whose own methods fight back: describe it by name
        mod, name = _name_of(type(value))
        return {"t": "obj", "mod": mod, "name": name, "why": str(type(e).__name__)}


class Child:
    """Runs one notebook's steps in order: code cells, and calls at each test cell's place."""

    def __init__(self, job: dict, inputs: dict, out_fd: int, np, answer_fd: int = -1):
        self.job, self.inputs, self.out_fd, self.np = job, inputs, out_fd, np
        self.answer_fd, self.requests, self.answered = answer_fd, 0, []
        self.answer_buf = b""
        self.limits = job["limits"]
        self.cell_timeout = float(self.limits["cell_timeout"])
        self.cell_deadline, self.case_limited = 0.0, False     # the test cell's end; a case's own limit runs
        self.stream_cap = int(self.limits["stream_chars"])
        resume = job.get("resume") or {}
        self.skip = set(resume.get("skip", []))            # steps that crashed the process before
        self.replay_until = int(resume.get("replay_until", 0))   # earlier tests already have results
        self.module = types.ModuleType("__main__")
        self.ns = self.module.__dict__
        self.ns["__builtins__"] = _real_builtins
        sys.modules["__main__"] = self.module
        shell = _FakeShell(self.ns)
        self.ns["get_ipython"] = lambda: shell
        self.ns["display"] = lambda *objs, **kw: print(*objs)

    def send(self, header: dict, payload: bytes = b"") -> None:
        write_all(self.out_fd, frame_bytes(header, payload))

    def _timer(self, seconds: float) -> None:
        signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001) if seconds else 0)

    def _case_timer(self, case: dict) -> None:
        """Arm the timer for one call: the case's own limit, or what is left of the cell's if
        that is less; ``self.case_limited`` says which one a CellTimeout stands for."""
        left = self.cell_deadline - time.monotonic()
        limit = case.get("limit")
        self.case_limited = isinstance(limit, (int, float)) and 0 < limit < left
        self._timer(limit if self.case_limited else max(left, 0.001))

    def _cell_timer(self) -> None:
        self.case_limited = False
        self._timer(max(self.cell_deadline - time.monotonic(), 0.001))

    def _pause_case(self) -> float | None:
        """While a stub waits for the parent, only the cell's limit runs: the learner's case is
        not charged for the parent's time. Returns the case's time left (None: no case limit)."""
        if not self.case_limited:
            return None
        left = signal.getitimer(signal.ITIMER_REAL)[0]
        self._cell_timer()
        return left

    def _resume_case(self, left: float) -> None:
        if 0 < left < self.cell_deadline - time.monotonic():
            self.case_limited = True
            self._timer(left)

    def run(self) -> None:
        def on_alarm(signum, frame):
            raise CellTimeout()
        signal.signal(signal.SIGALRM, on_alarm)
        for index, step in enumerate(self.job["steps"]):
            if index in self.skip:
                continue
            if step["kind"] == "code":
                self.run_code(index, step, quiet=index < self.replay_until)
            elif index >= self.replay_until:
                self.send({"type": "start", "step": index})
                self.run_test(index, step)
        self.send({"type": "done"})

    def run_code(self, index: int, step: dict, quiet: bool = False) -> None:
        out, err = _Capture(self.stream_cap), _Capture(self.stream_cap)
        error, started = None, time.perf_counter()
        if not quiet:
            self.send({"type": "start", "step": index})
        filename = f"<cell {step['key']}>"
        linecache.cache[filename] = (len(step["source"]), None, step["source"].splitlines(True), filename)
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        try:
            self._timer(self.cell_timeout)
            source = step["source"]
            if step.get("ipython") and _ipython_transformer() is not None:
                source = _ipython_transformer().transform_cell(source)     # within the cell's limit
                linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            exec(compile(source, filename, "exec"), self.ns)
        except CellTimeout:
            error = {"ename": "TimeoutError", "emod": "builtins", "traceback": [], "is_value_error": False,
                     "evalue": f"the cell did not finish within {self.cell_timeout:g} s"}
        except BaseException as e:     # SystemExit and KeyboardInterrupt too: the notebook goes on
            error = _exception(e)
        finally:
            self._timer(0)
            sys.stdout, sys.stderr = saved
        if not quiet:
            self.send({"type": "cell", "step": index, "key": step["key"], "stdout": out.text(),
                       "stderr": err.text(), "error": error, "seconds": time.perf_counter() - started})

    def run_test(self, index: int, step: dict) -> None:
        blobs = Blobs()
        calls: list = []
        started = time.perf_counter()
        saved = sys.stdout, sys.stderr
        timed_out = False
        self.cell_deadline = time.monotonic() + self.cell_timeout
        self._cell_timer()
        try:
            for d, decl in enumerate(step["calls"]):
                fn = self.ns.get(decl["function"], _MISSING)
                if fn is _MISSING:
                    calls.append({"decl": d, "case": 0, "status": "missing"})
                    break
                if not callable(fn):
                    mod, name = _name_of(type(fn))
                    calls.append({"decl": d, "case": 0, "status": "notcallable", "type": name})
                    break
                stop = False
                for c, case in enumerate(decl["cases"]):
                    record = self._run_case(fn, decl, case, [index, d, c], blobs)
                    calls.append(record)
                    timed_out = timed_out or record["status"] == "timeout"
                    stop = record["status"] in ("timeout", "case-timeout") or (record["status"] == "raised" and not (
                        case.get("expect") == "ValueError" and record["error"]["is_value_error"]))
                    if stop:
                        break
                if stop:
                    break
        except CellTimeout:
            timed_out = True
            calls.append({"decl": len(step["calls"]), "case": 0, "status": "timeout"})
        finally:
            self._timer(0)
            sys.stdout, sys.stderr = saved
        self.send({"type": "test", "step": index, "grade_id": step["grade_id"], "calls": calls,
                   "timed_out": timed_out, "arrays": blobs.index, "seconds": time.perf_counter() - started},
                  blobs.payload())


    def _run_case(self, fn, decl: dict, case: dict, where: list, blobs: Blobs) -> dict:
        """Call the learner's function on one case, within the case's own time limit."""
        index, d, c = where
        args = [build(a, self.inputs["arrays"]) for a in self.inputs["calls"][case["input"]]]
        out, err = _Capture(self.stream_cap), _Capture(self.stream_cap)
        record = {"decl": d, "case": c}
        self.send({"type": "case", "step": index, "decl": d, "case": c})
        lent = self._lend(fn, decl, where)
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        try:
            self._case_timer(case)
            got = fn(*args)
            self._timer(0)       # encoding is the grader's work: an alarm between a blob's index and
            record["status"] = "returned"        # its bytes would corrupt every blob after it
            record["value"] = _safe_encode(got, blobs, self.np)
            record["after"] = _safe_encode(args, blobs, self.np)
            self._cell_timer()
        except CellTimeout:          # the case's own limit, or the cell's: the cell stops here
            record["status"] = "case-timeout" if self.case_limited else "timeout"
            self._cell_timer()
        except BaseException as e:
            record["status"] = "raised"
            record["error"] = _exception(e)
        finally:
            sys.stdout, sys.stderr = saved
            self.ns.update(lent)
        record["stdout"], record["stderr"] = out.text(), err.text()
        record["lent"], self.answered = self.answered, []
        return record

    # -- follow-through stubs
    def _lend(self, fn, decl: dict, where: list) -> dict:
        """Put stubs in the namespace for the graded functions this check may lean on; return the
        learner's own functions they replace (put back after the call)."""
        originals = {}
        for name, nargs in decl.get("stubs", []):
            original = self.ns.get(name, _MISSING)
            if original is _MISSING or original is fn or not callable(original):
                continue
            sig = _positional_signature(original, nargs)
            if sig is not None:
                originals[name] = original
                self.ns[name] = self._stub(name, sig, where, str(decl.get("exercise", "")))
        return originals

    def _stub(self, name: str, sig, where: list, exercise: str):
        child = self

        def stub(*args, **kwargs):
            values = sig.bind(args, kwargs)         # a call that would not fit the learner's own raises TypeError
            blobs = Blobs()
            desc = _safe_encode(values, blobs, child.np)
            child.requests += 1
            rid = child.requests
            child.send({"type": "request", "id": rid, "name": name, "for": where, "exercise": exercise,
                        "args": desc, "arrays": blobs.index}, blobs.payload())
            paused = child._pause_case()
            try:
                while True:                             # the cell's time limit still runs
                    header, payload = child._next_answer()
                    stale = header.get("id")
                    if not (type(stale) is int and stale < rid):   # an answer to a call the time limit cut off
                        break
            finally:
                if paused is not None:
                    child._resume_case(paused)
            return child._answer(name, rid, header, payload)

        stub.__name__ = stub.__qualname__ = name
        return stub

    def _next_answer(self) -> tuple[dict, bytes]:
        """The next frame on the answer pipe, read in as few reads as it takes (what comes after
        it, an answer the parent sent later, waits in ``answer_buf``)."""
        while isinstance(got := frame_at(self.answer_buf), int):
            chunk = os.read(self.answer_fd, max(got - len(self.answer_buf), 1 << 16))
            if not chunk:
                raise EOFError("pipe closed")
            self.answer_buf += chunk
        header, payload, end = got
        self.answer_buf = self.answer_buf[end:]
        return header, payload

    def _answer(self, name: str, rid: int, header: dict, payload: bytes):
        if header.get("id") != rid:
            raise RuntimeError("the grader's answer to this call was lost")
        if header.get("ok") is not True:
            kind = ValueError if header.get("error") == "ValueError" else RuntimeError
            raise kind(str(header.get("message", "")))
        arrays = {}          # raw bytes, not np.load: learner code may have patched what it relies on
        for key, (offset, count, dtype, shape) in dict.items(header.get("arrays") or {}):
            flat = self.np.frombuffer(payload, dtype=self.np.dtype(dtype), count=count, offset=offset)
            arrays[key] = flat.reshape(tuple(shape)).copy()
        if name not in self.answered:
            self.answered.append(name)
        return build(header["value"], arrays)


class _Params:
    """A learner function's parameters, read from its code object, and ``bind`` like
    ``inspect.Signature.bind`` + ``apply_defaults`` with its error messages (inspect itself is
    not used: learner code may have patched what it relies on, such as ``builtins.isinstance``)."""

    def __init__(self, names: tuple, defaults: tuple):
        self.names, self.defaults = names, defaults

    def bind(self, args: tuple, kwargs: dict) -> list:
        names, first_default = self.names, len(self.names) - len(self.defaults)
        if len(args) > len(names):
            raise TypeError("too many positional arguments")
        values = list(args)
        for given in kwargs:
            if given not in names:
                raise TypeError(f"got an unexpected keyword argument {given!r}")
            if names.index(given) < len(args):
                raise TypeError(f"multiple values for argument {given!r}")
        for i in range(len(args), len(names)):
            if names[i] in kwargs:
                values.append(kwargs[names[i]])
            elif i >= first_default:
                values.append(self.defaults[i - first_default])
            else:
                raise TypeError(f"missing a required argument: {names[i]!r}")
        return values


def _positional_signature(fn, nargs: int):
    """The parameters of ``fn`` if it is a plain function with exactly the contract's ``nargs``
    positional parameters (the rule of ``checks.follow`` in a learner's kernel), else None."""
    if type(fn) is not types.FunctionType:
        return None
    code = fn.__code__
    if code.co_argcount != nargs or code.co_kwonlyargcount or code.co_flags & 0x0C:   # *args, **kwargs
        return None
    defaults = fn.__defaults__
    return _Params(tuple(code.co_varnames[:nargs]), tuple(defaults) if type(defaults) is tuple else ())


_MISSING = object()


def _write_files(job: dict, payload: bytes, workdir: str) -> None:
    """The submission's other files and the assignment's data files, as nbgrader's autograded/ has them."""
    for name, offset, length in job.get("files", []):
        parts = [p for p in str(name).split("/") if p not in ("", ".", "..")]
        if not parts:
            continue
        path = os.path.join(workdir, *parts)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(payload[int(offset):int(offset) + int(length)])
        except OSError:
            pass


def child_main(job: dict, payload: bytes, inputs: dict, out_fd: int, close_fds: list, workdir: str, np,
               answer_fd: int = -1) -> None:
    for fd in close_fds:
        try:
            os.close(fd)
        except OSError:
            pass
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    os.chdir(workdir)
    os.environ["HOME"] = os.environ["TMPDIR"] = workdir      # this job's private folder, wiped after it
    import tempfile
    tempfile.tempdir = None
    _write_files(job, payload, workdir)
    set_limits(job["limits"])
    problem = install_seccomp()
    if problem and job["limits"].get("require_seccomp"):
        write_all(out_fd, frame_bytes({"type": "fatal", "message": problem}))
        return
    Child(job, inputs, out_fd, np, answer_fd).run()


# ----------------------------------------------------------------------------- the zygote

def _prewarm(stats: dict):
    started = time.perf_counter()
    import numpy as np
    stats["numpy_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot  # noqa: F401  (the setup cell imports it)
    except Exception as e:        # a course without matplotlib still grades
        stats["matplotlib"] = f"not prewarmed: {e!r}"
    stats["matplotlib_seconds"] = time.perf_counter() - started
    return np


def _seed_mpl_cache() -> None:
    """matplotlib's font cache in its config folder (copied from the read-only seed), so that no
    sandbox scans fonts; put back after every job's folders are wiped."""
    mpl_dir = os.environ.get("MPLCONFIGDIR")
    seed = os.environ.get("AUTOGRADER_MPL_CACHE")
    if mpl_dir and seed and os.path.isdir(seed):
        try:
            os.makedirs(mpl_dir, exist_ok=True)
            for name in os.listdir(seed):
                if name.startswith("fontlist"):
                    shutil.copy(os.path.join(seed, name), os.path.join(mpl_dir, name))
        except OSError:
            pass


def zygote_main(site_dirs: list[str]) -> None:
    in_fd, out_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    not_dumpable()
    started = time.perf_counter()
    sys.path[:] = [p for p in sys.path if p] + site_dirs
    sys.meta_path.insert(0, _TorchBlocker())
    sys.modules["autograder"] = _stand_in_autograder()
    _seed_mpl_cache()
    stats: dict = {}
    np = _prewarm(stats)
    stats["startup_seconds"] = time.perf_counter() - started
    write_all(out_fd, frame_bytes({"type": "ready", "pid": os.getpid(), **stats}))

    inputs = {"calls": {}, "arrays": {}}
    private = private_dirs()
    while True:
        try:
            header, payload = read_frame(in_fd)
        except EOFError:
            os._exit(0)
        kind = header.get("type")
        if kind == "quit":            # nothing to flush or keep: skip the interpreter's tear-down
            os._exit(0)
        if kind == "inputs":
            arrays = {}
            if payload:
                with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
                    arrays = {k: npz[k] for k in npz.files}
            inputs = {"calls": header["calls"], "arrays": arrays}
            write_all(out_fd, frame_bytes({"type": "inputs-ok", "count": len(inputs["calls"])}))
            continue
        if kind != "job":
            continue
        if any(step.get("ipython") for step in header.get("steps", [])):
            _ipython_transformer()             # imported here once, outside any learner's time
        try:
            workdir = job_dir(private)
        except OSError as e:                   # nothing a learner left survives wipe(), so: the host
            write_all(out_fd, frame_bytes({"type": "data"}, frame_bytes(
                {"type": "fatal", "message": f"the grader could not make this notebook's folder ({e})"})))
            write_all(out_fd, frame_bytes({"type": "end", "reason": "setup", "seconds": 0.0, "cpu": 0.0}))
            continue
        try:
            run_forked(header, payload, inputs, workdir, in_fd, out_fd, np)
        finally:
            wipe(private)                      # the next learner finds these folders empty
            _seed_mpl_cache()


def private_dirs() -> list[str]:
    """The folders learner code can write to, which belong to one job at a time: the sandbox's own
    /tmp and /dev/shm under bubblewrap (``sandbox.command`` sets them), the zygote's private
    folder without it. Nothing else in them is the zygote's but its matplotlib cache."""
    listed = os.environ.get("AUTOGRADER_PRIVATE_DIRS") or os.environ.get("TMPDIR", "/tmp")
    return [p for p in listed.split(os.pathsep) if p]


def job_dir(private: list[str]) -> str:
    """A fresh folder for one job, named from the kernel's randomness (a name learner code could
    compute from this process's state, as ``tempfile``'s would be, is predictable to the child
    before) and made by ``mkdir`` with mode 0700, which fails on anything already there."""
    import secrets
    root = private[0]
    try:
        return _mkdir_job(root, secrets.token_hex(16))
    except OSError:                            # a folder gone or a /tmp full: clear it, once more
        wipe(private)
        os.makedirs(root, mode=0o700, exist_ok=True)
        return _mkdir_job(root, secrets.token_hex(16))


def _mkdir_job(root: str, name: str) -> str:
    path = os.path.join(root, f"job-{name}")
    os.mkdir(path, 0o700)
    if not os.path.isdir(path) or os.path.islink(path):
        raise OSError(f"{path} is not a new folder")
    return path


def wipe(private: list[str]) -> None:
    """Remove everything in the private folders (never following a link), whatever its mode:
    files, folders made unwritable, links, thousands of levels deep."""
    for root in private:
        try:
            os.chmod(root, 0o700)
        except OSError:
            pass
        stack = [(root, False)]
        while stack:
            path, listed = stack.pop()
            if listed:
                if path != root:
                    _quietly(os.rmdir, path)
                continue
            stack.append((path, True))
            try:
                os.chmod(path, 0o700)
                entries = list(os.scandir(path))
            except OSError:
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, False))
                else:
                    _quietly(os.unlink, entry.path)


def _quietly(fn, path: str) -> None:
    try:
        fn(path)
    except OSError:
        pass


_TRANSFORMER: list = []


def _ipython_transformer():
    """IPython's input transformer (``%magic``, ``!shell``, ``obj?`` into Python), or None. Its
    work can grow faster than its input, so it runs here, within the learner's own limits,
    never in the trusted parent."""
    if not _TRANSFORMER:
        try:
            from IPython.core.inputtransformer2 import TransformerManager
            _TRANSFORMER.append(TransformerManager())
        except Exception:
            _TRANSFORMER.append(None)
    return _TRANSFORMER[0]


def run_forked(job: dict, payload: bytes, inputs: dict, workdir: str, in_fd: int, out_fd: int, np) -> None:
    limits = job["limits"]
    r, w = os.pipe()
    answer_r, answer_w = os.pipe()                 # the parent's answers to the child's stubs
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:                                   # the child: never returns
        code = 0
        try:
            child_main(job, payload, inputs, w, [in_fd, out_fd, r, answer_w], workdir, np, answer_r)
        except BaseException:
            code = 70
        finally:
            os._exit(code)
    os.close(w)
    os.close(answer_r)
    deadline = started + float(limits["notebook_timeout"])
    total, reason = _relay(r, answer_w, in_fd, out_fd, deadline, int(limits["output_bytes"]))
    status = usage = None
    if reason == "exit":                           # the pipe closed: give the child a moment to end
        while time.perf_counter() < deadline:
            done, st, us = os.wait4(pid, os.WNOHANG)
            if done:
                status, usage = st, us
                break
            time.sleep(0.002)
        else:
            reason = "timeout"
    if status is None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, status, usage = os.wait4(pid, 0)
    info = {"type": "end", "reason": reason, "seconds": time.perf_counter() - started, "bytes": total}
    if os.WIFSIGNALED(status):
        info["signal"] = os.WTERMSIG(status)
    elif os.WIFEXITED(status):
        info["exit_code"] = os.WEXITSTATUS(status)
    info["cpu"], info["maxrss_kb"] = usage.ru_utime + usage.ru_stime, usage.ru_maxrss
    write_all(out_fd, frame_bytes(info))


# Seconds the zygote may hold the child's frames before relaying them, unless a stub's request is
# among them (the parent answers it at once): frames that travel together wake the parent once
RELAY_HOLD = 0.002
RELAY_CHUNK = 1 << 16


class _FrameWalk:
    """Follows the frame boundaries of the child's stream as it is relayed, to tell when a stub's
    request has come whole. Learner code can write anything on the stream: what this makes of it
    decides only when bytes are relayed (at most ``RELAY_HOLD`` later), never which."""

    REQUEST = b'{"type":"request"'

    def __init__(self):
        self.stage, self.left, self.part, self.head, self.request = 0, 4, b"", b"", False

    def request_ends_in(self, data: bytes) -> bool:
        """Whether a request frame ends in ``data`` (the stream's next bytes)."""
        ended, pos, n = False, 0, len(data)
        while True:
            if self.left == 0:                 # a part of the frame is complete: the next one
                if self.stage == 0:            # the header's length was read: its bytes next
                    self.stage, self.left, self.head = 1, int.from_bytes(self.part, "little"), b""
                elif self.stage == 1:          # the header: its first bytes say what it is
                    self.request = self.head == self.REQUEST
                    self.stage, self.left, self.part = 2, 8, b""
                elif self.stage == 2:          # the payload's length
                    self.stage, self.left = 3, int.from_bytes(self.part, "little")
                else:                          # the payload: the frame is whole
                    ended = ended or self.request
                    self.stage, self.left, self.part = 0, 4, b""
                continue
            if pos >= n:
                return ended
            take = min(self.left, n - pos)
            if self.stage in (0, 2):
                self.part += data[pos:pos + take]
            elif self.stage == 1 and len(self.head) < len(self.REQUEST):
                self.head += data[pos:pos + min(take, len(self.REQUEST) - len(self.head))]
            pos += take
            self.left -= take


DATA_HEADER = b'{"type":"data"}'


def data_frame(data) -> bytes:
    """``frame_bytes({"type": "data"}, data)``, without encoding the same header each time."""
    return b"".join((struct.pack("<I", len(DATA_HEADER)), DATA_HEADER, struct.pack("<Q", len(data)), data))


def _relay(r: int, answer_w: int, in_fd: int, out_fd: int, deadline: float, cap: int) -> tuple[int, str]:
    """Relay the child's stream to the parent in "data" frames and the parent's answers to the
    child's answer pipe (without blocking on a child that does not read them), until the child
    closes its stream, the time is up or the output exceeds ``cap``. Closes both pipes. The
    child's bytes go on at once when they complete a stub's request, else after at most
    ``RELAY_HOLD`` seconds with whatever else came meanwhile (the parent wakes once for them)."""
    os.set_blocking(answer_w, False)
    answers = bytearray()                          # answer frames not yet taken by the child
    held, hold_until, walk = bytearray(), None, _FrameWalk()
    total, reason = 0, "exit"
    while True:
        now = time.perf_counter()
        left = deadline - now
        if left <= 0:
            reason = "timeout"
            break
        if hold_until is not None and now >= hold_until:
            write_all(out_fd, data_frame(held))
            held, hold_until = bytearray(), None
        wait = left if hold_until is None else min(left, hold_until - now)
        ready, writable, _ = select.select([r, in_fd], [answer_w] if answers and answer_w >= 0 else [], [], wait)
        if writable:
            answer_w = _relay_answers(answer_w, answers)
        if in_fd in ready:
            header, _, raw = read_frame(in_fd, whole=True)     # the parent writes whole frames
            if header.get("type") == "stop":       # the parent's caps on what it reads were reached
                reason = "output"
                break
            if header.get("type") == "answer" and answer_w >= 0:
                answers += raw                     # the parent's bytes, as they came
        if r not in ready:
            continue
        data = os.read(r, RELAY_CHUNK)
        if not data:
            break
        total += len(data)
        if total > cap:
            reason = "output"
            break
        held += data
        if walk.request_ends_in(data) or len(held) >= RELAY_CHUNK:
            write_all(out_fd, data_frame(held))
            held, hold_until = bytearray(), None
        elif hold_until is None:
            hold_until = time.perf_counter() + RELAY_HOLD
    if held:                                       # what came before the end: relayed as ever
        write_all(out_fd, data_frame(held))
    os.close(r)
    if answer_w >= 0:
        os.close(answer_w)
    return total, reason


def _relay_answers(fd: int, pending: bytearray) -> int:
    """Write what the child's answer pipe takes now; -1 once the child has closed it."""
    try:
        n = os.write(fd, pending[:1 << 16])
    except BlockingIOError:
        return fd
    except OSError:                                # the child is gone: drop its answers
        pending.clear()
        os.close(fd)
        return -1
    del pending[:n]
    return fd


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "zygote":
        zygote_main(sys.argv[2:])
    else:
        print("usage: learner_runner.py zygote SITE_DIR ... (started by autograder.sandbox)", file=sys.stderr)
        sys.exit(2)
