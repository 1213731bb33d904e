"""A warm grader: ``autograder warm`` imports nbgrader's stack once (most of a second of every
``autograder grade``'s start-up) and then forks a fresh process for each ``autograder grade`` of
the same user, which hands it its arguments, working directory, environment and terminal.

    autograder warm &                # or under systemd / tmux; exits after 30 idle minutes
    autograder grade ps1_rnn_forward # the same command as ever, now without the start-up
    autograder warm --stop

Each request runs in its own child, forked from the server before anything was graded, so no
state passes from one run to the next; the server itself never opens a gradebook or runs learner
code. It listens on a socket in a folder only its user can enter (``socket_path``) and checks the
peer's uid; a client whose package code differs from the server's (``course.code_digest``:
the server was started before an upgrade) is refused and grades in its own process.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import stat
import struct
import sys
import threading
import time
from pathlib import Path

MESSAGE = 1 << 20            # one request: argv, cwd and the environment
IDLE_MINUTES = 30.0


def socket_path(create: bool = False) -> Path | None:
    """The server's socket, in a folder of this user's with mode 0700; None when that folder is
    missing (and not ``create``) or is not exactly that (someone else's, a link, open to others)."""
    base = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
    folder = Path(base) / f"autograder-warm-{os.getuid()}"
    if create:
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            pass
    try:
        st = os.lstat(folder)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) != 0o700:
        return None
    return folder / "grade.sock"


def _digest() -> str:
    from ..course import code_digest
    return f"{code_digest()}:{sys.prefix}:{os.path.realpath(sys.executable)}:{sys.version}"


# ------------------------------------------------------------------------------------- client

def delegate(argv: list[str]) -> int | None:
    """Run ``autograder grade ARGV`` in the warm server, if one of this user's answers and runs
    this very code; its exit status, or None (then the caller grades in its own process)."""
    path = socket_path()
    if path is None or not path.exists():
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        conn.settimeout(2.0)
        conn.connect(str(path))
        request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "umask": _umask(),
                   "digest": _digest()}
        socket.send_fds(conn, [json.dumps(request).encode()], [0, 1, 2])
        answer = json.loads(conn.recv(MESSAGE) or b"{}")
    except (OSError, ValueError):
        conn.close()
        return None
    if not answer.get("accepted"):
        print(f"autograder: the warm grader refused this run ({answer.get('why', 'no answer')}); "
              "grading here instead", file=sys.stderr)
        conn.close()
        return None
    conn.settimeout(None)
    previous = signal.signal(signal.SIGINT, lambda *_: _send(conn, b"int"))   # Ctrl-C reaches the run
    try:
        while True:
            data = conn.recv(MESSAGE)
            if not data:
                return 1        # the run's process is gone without a word (killed)
            done = json.loads(data)
            if "exit" in done:
                return int(done["exit"])
    finally:
        signal.signal(signal.SIGINT, previous)
        conn.close()


def stop() -> bool:
    """Ask this user's warm server to end; whether one answered."""
    path = socket_path()
    if path is None or not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
        try:
            conn.settimeout(5.0)
            conn.connect(str(path))
            conn.send(json.dumps({"stop": True}).encode())
            return json.loads(conn.recv(MESSAGE) or b"{}").get("stopped", False)
        except (OSError, ValueError):
            return False


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _send(conn, data: bytes) -> None:
    try:
        conn.send(data)
    except OSError:
        pass


# ------------------------------------------------------------------------------------- server

def serve(idle_minutes: float = IDLE_MINUTES, log=print) -> int:
    """Import, listen, and fork one child per request until ``idle_minutes`` pass without one or
    ``stop()`` asks. Exit status 1 when another server of this user already answers."""
    path = socket_path(create=True)
    if path is None:
        log("autograder warm: the socket's folder is not a private folder of this user's")
        return 2
    if path.exists() and _alive(path):
        log(f"autograder warm: a warm grader already answers on {path}")
        return 1
    path.unlink(missing_ok=True)
    _preload()
    digest = _digest()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    server.bind(str(path))
    os.chmod(path, 0o600)
    server.listen(16)
    # children are reaped here, once a second (SIGCHLD stays as it is: ignoring it would be
    # inherited by bubblewrap, which then never learns that its own child ended)
    server.settimeout(1.0)
    spare = [_spare()]
    log(f"autograder warm: pid {os.getpid()} on {path}; ends after {idle_minutes:g} idle minutes "
        "or `autograder warm --stop`")
    idle_until = time.monotonic() + idle_minutes * 60
    try:
        while True:
            _reap()
            try:
                conn, _ = server.accept()
            except socket.timeout:
                if time.monotonic() > idle_until:
                    log("autograder warm: idle, ending")
                    return 0
                continue
            idle_until = time.monotonic() + idle_minutes * 60
            with conn:
                if _answer(conn, server, digest, log, spare) == "stop":
                    log("autograder warm: stopped")
                    return 0
    finally:
        server.close()
        path.unlink(missing_ok=True)
        if spare[0]:
            spare[0][1].close()


def _reap() -> None:
    """Collect the runs (and handed-over sandboxes) that have ended."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _alive(path: Path) -> bool:
    """Whether something answers on ``path`` (a live server; a stale socket refuses)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
        try:
            conn.settimeout(1.0)
            conn.connect(str(path))
            return True
        except OSError:
            return False


def _answer(conn, server, digest: str, log, spare: list) -> str | None:
    """One request; ``spare[0]``: the (command, zygote) the next run starts with, replaced once
    a run has taken it."""
    global _handed
    conn.settimeout(5.0)
    uid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
    fds: list[int] = []
    try:
        if uid != os.getuid():
            return None
        data, fds, _, _ = socket.recv_fds(conn, MESSAGE, 3)
        request = json.loads(data or b"{}")
        if request.get("stop"):
            conn.send(json.dumps({"stopped": True}).encode())
            return "stop"
        if request.get("digest") != digest or len(fds) != 3:
            why = "it runs other code: restart it" if len(fds) == 3 else "no terminal was passed"
            conn.send(json.dumps({"accepted": False, "why": why}).encode())
            return None
        if os.fork() == 0:                                # the run: never returns
            code = 70
            try:
                server.close()
                _handed = spare[0]
                code = _run(conn, request, fds)
            finally:
                os._exit(code)
        if spare[0]:
            spare[0][1].release()
        spare[0] = _spare()
        log(f"autograder warm: graded {' '.join(request['argv'])} in {request['cwd']}")
    except (OSError, ValueError, KeyError) as e:
        log(f"autograder warm: a request failed ({e})")
    finally:
        for fd in fds:
            os.close(fd)
    return None


def _spare():
    """A zygote for the next run, warming up now (under bubblewrap only, as ``early_sandbox``)."""
    from .command import early_sandbox
    try:
        return early_sandbox()
    except Exception:
        return None


def handed():
    """In a run: the (command, zygote) the server started for it, once; else None."""
    global _handed
    got, _handed = _handed, None
    if got and not got[1].alive():
        got[1].close()
        return None
    return got


_handed = None


def _run(conn, request: dict, fds: list[int]) -> int:
    """In the forked child: become the client's process (its terminal, folder, environment,
    umask), run the command, report its exit status."""
    code = 70
    try:
        for target, fd in zip((0, 1, 2), fds):
            os.dup2(fd, target)
            os.close(fd)
        _own_streams()
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.umask(int(request["umask"]))
        conn.settimeout(None)
        conn.send(json.dumps({"accepted": True}).encode())
        threading.Thread(target=_interrupts, args=(conn,), daemon=True).start()
        from ..cli import run
        try:
            code = run(list(request["argv"]))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 2
        except KeyboardInterrupt:
            code = 130
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        _send(conn, json.dumps({"exit": code}).encode())
    return code


def _own_streams() -> None:
    """sys.stdin/stdout/stderr afresh on the client's descriptors (the server's were buffered
    for wherever its own output went)."""
    import io
    sys.stdin = io.TextIOWrapper(open(0, "rb", closefd=False), encoding="utf-8")
    for fd, name in ((1, "stdout"), (2, "stderr")):
        stream = io.TextIOWrapper(open(fd, "wb", buffering=0, closefd=False), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True, write_through=True)
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def _interrupts(conn) -> None:
    """The client's Ctrl-C (or its end) interrupts the run, as it would a run in its own process."""
    try:
        while conn.recv(16):
            os.kill(os.getpid(), signal.SIGINT)
    except OSError:
        pass
    time.sleep(0.1)
    os.kill(os.getpid(), signal.SIGINT)


def _preload() -> None:
    """What every `autograder grade` imports, once: nbgrader's apps, converters and gradebook,
    nbconvert, SQLAlchemy, rich, and this package's grader (not torch: a warm cache never needs it)."""
    import nbgrader.apps.autogradeapp  # noqa: F401
    import rich.console  # noqa: F401
    import rich.progress  # noqa: F401
    import rich.table  # noqa: F401

    from . import batch, command, converter, notebook  # noqa: F401
