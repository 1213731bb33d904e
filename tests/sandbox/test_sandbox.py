"""The sandbox's own guarantees: what learner code cannot see or do, its limits, and the
fallback without bubblewrap."""
from __future__ import annotations

import shutil

import nbformat
import pytest

from autograder.authoring.samples import fill, read_sample
from autograder.course import ROOT, notebooks
from autograder.grade.options import TrustedGrader
from autograder.sandbox import channel, command
from autograder.sandbox.pool import SandboxPool


def _release(a="ps1_rnn_forward"):
    return nbformat.read(next(iter(notebooks(ROOT / "release" / a))), as_version=4)


def _run_cells(*sources: str, limits: dict | None = None) -> channel.ChildFrames:
    how, _ = command.sandbox_command()
    pool = SandboxPool(how, 1)
    try:
        pool.set_inputs({}, {})
        job = {"type": "job", "steps": [{"kind": "code", "key": str(i), "source": s} for i, s in enumerate(sources)],
               "limits": dict(TrustedGrader(cell_timeout=5, notebook_timeout=30).limits().as_dict(), **(limits or {}))}
        return pool.submit(job).result(timeout=120).frames
    finally:
        pool.close()


def _error(frames, key):
    return (frames.cells[key].get("error") or {}).get("evalue", "")


needs_bwrap = pytest.mark.skipif(not command.bwrap_status()[0], reason="bubblewrap is not available here")


@needs_bwrap
def test_sandbox_hides_torch_course_files_network_and_processes():
    frames = _run_cells(
        "import torch",
        "import importlib; importlib.import_module('torch')",
        f"open({str(ROOT / 'nbgrader_config.py')!r})",
        "import socket; socket.create_connection(('127.0.0.1', 9), timeout=1)",
        "import subprocess; subprocess.run(['true'])",
        "import os; print(os.getuid(), sorted(os.listdir('/')))",
        "import numpy as np, matplotlib.pyplot as plt; from autograder import check; print(check(1, 'x', []))",
    )
    assert "torch" in _error(frames, "0") and "torch" in _error(frames, "1")
    assert "No such file" in _error(frames, "2")
    assert _error(frames, "3") and _error(frames, "4")
    assert "work" not in frames.cells["5"]["stdout"]
    assert frames.cells["6"]["stdout"] == "None\n" and not frames.cells["6"]["error"]


def test_sandbox_limits_time_memory_and_output():
    frames = _run_cells("while True: pass",
                        "x = bytearray(8 * 2**30)",
                        "while True: print('spam' * 1000)",
                        "print('still here')",
                        limits={"cell_timeout": 1, "memory_mb": 512, "stream_chars": 10_000})
    assert "did not finish within 1 s" in _error(frames, "0")
    assert frames.cells["1"]["error"]["ename"] == "MemoryError"
    assert "truncated" in frames.cells["2"]["stdout"] and len(frames.cells["2"]["stdout"]) < 20_000
    assert frames.cells["3"]["stdout"] == "still here\n"


def test_require_sandbox_refuses_without_bubblewrap(monkeypatch, tmp_path):
    monkeypatch.setattr(command, "_BWRAP_STATUS", {"ok": False, "why": "bubblewrap is not installed"})
    with pytest.raises(command.SandboxError, match="require-sandbox"):
        command.sandbox_command(require_sandbox=True)
    how, warning = command.sandbox_command()
    assert not how.use_bwrap and "not installed" in warning
    for path in how.cleanup:
        shutil.rmtree(path, ignore_errors=True)


def test_fallback_subprocess_still_grades_and_warns(monkeypatch, tmp_path):
    """Without bubblewrap: a plain subprocess with limits and a loud warning, same verdicts."""
    from autograder.grade.notebook import grade_notebook
    monkeypatch.setattr(command, "_BWRAP_STATUS", {"ok": False, "why": "bubblewrap is not installed"})
    a = "ps1_rnn_forward"
    nb = fill(_release(a), read_sample(ROOT / "samples" / a / "sample_correct.py"))
    path = tmp_path / f"{a}.ipynb"
    nbformat.write(nb, path)
    report = grade_notebook(path, [ROOT])
    assert report.sandbox_warning and "NOT sandboxed" in report.sandbox
    assert report.score == report.max_score > 0
