"""`autograder warm`: a warm grader that `autograder grade` hands its runs to. The same rows and
report as a run in its own process; a request from other code, or through a folder others could
enter, is not taken; `--stop` ends it and removes its socket."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from autograder.authoring.samples import submit_samples
from autograder.authoring.scores import score_rows
from autograder.course import tool_env
from autograder.grade import warm

AUTOGRADER = str(Path(sys.executable).with_name("autograder"))
A = "ps1_rnn_forward"


def _run(course: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([AUTOGRADER, *args], cwd=course, env=env, capture_output=True, text=True, timeout=600)


def _cells(report: Path) -> list:
    data = json.loads(report.read_text())
    return sorted((s["student"], c["grade_id"], c["score"], c["message"] or "")
                  for s in data["students"] for n in s["notebooks"] for c in n["cells"])


def test_a_warm_grader_grades_as_a_fresh_process_does(built_course, tmp_path, monkeypatch):
    course = tmp_path / "course"
    shutil.copytree(built_course, course)
    submit_samples(A, course)
    runtime = tmp_path / "run"
    runtime.mkdir()
    env = {**tool_env(), "XDG_RUNTIME_DIR": str(runtime)}
    alone = _run(course, {**env, "XDG_RUNTIME_DIR": str(tmp_path / "none")}, "grade", A, "--quiet",
                 "--json", str(tmp_path / "alone.json"))
    assert alone.returncode == 0, alone.stderr
    rows = score_rows(A, course)

    server = subprocess.Popen([AUTOGRADER, "warm", "--idle", "5"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
        for _ in range(600):
            path = warm.socket_path()
            if path is not None and path.exists():
                break
            time.sleep(0.05)
        assert server.stdout.readline().startswith("autograder warm: pid")

        result = _run(course, env, "grade", A, "--force", "--json", str(tmp_path / "warm.json"))
        assert result.returncode == 0, result.stderr
        assert "sample_buggy" in result.stdout and "37 / 100" in result.stdout     # its table, in our terminal
        assert f"graded grade {A} --force" in server.stdout.readline()
        assert _cells(tmp_path / "warm.json") == _cells(tmp_path / "alone.json")
        assert score_rows(A, course) == rows
        assert _run(course, env, "grade", "ps9_nothing").returncode == 2       # its exit status comes back
        server.stdout.readline()

        # a request from other code (the server was started before an upgrade) is refused
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
            conn.connect(str(path))
            socket.send_fds(conn, [json.dumps({"argv": ["grade", A], "digest": "other"}).encode()], [0, 1, 2])
            answer = json.loads(conn.recv(1 << 16))
        assert answer["accepted"] is False and "other code" in answer["why"]

        # a socket folder that others could enter is not used: the client grades in its own process
        os.chmod(path.parent, 0o755)
        assert warm.socket_path() is None and warm.delegate(["grade", A]) is None
        os.chmod(path.parent, 0o700)

        stopped = _run(course, env, "warm", "--stop")
        assert stopped.returncode == 0 and "stopped" in stopped.stdout
        assert server.wait(timeout=30) == 0
        assert not path.exists()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
