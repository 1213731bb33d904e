"""In a real kernel (ipykernel, IPython, as in JupyterLab and under nbgrader), a failing check shows
its message first and a learner's own error shows the learner's frames, never the check's."""
from __future__ import annotations

import re

import nbformat
import pytest
from nbclient import NotebookClient

ANSI = re.compile(r"\x1b\[[0-9;]*m")
CASE = "[{'B': 2, 'D': 3, 'H': 4, 'seed': 1}]"
CELLS = [
    "from autograder import check\nimport numpy as np",
    "def no_bias(x_t, h_prev, W_xh, W_hh, b_h, nonlinearity='tanh'):\n"
    "    return np.tanh(x_t @ W_xh + h_prev @ W_hh)\n"
    "def crashes(x_t, h_prev, W_xh, W_hh, b_h, nonlinearity='tanh'):\n"
    "    return helper(x_t)\n"
    "def helper(x):\n"
    "    return x[10]",
    f"check(no_bias, 'rnn_step_forward', cases={CASE})",
    f"check(crashes, 'rnn_step_forward', cases={CASE})",
]
MODES = ["Context", "Verbose", "Plain", "Minimal", "Docs"]
for _mode in MODES:
    CELLS += [f"%xmode {_mode}", CELLS[2], CELLS[3]]


@pytest.fixture(scope="module")
def errors():
    """(cell source, plain traceback text) of every error, in order, from one kernel run."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True).execute()
    return [(c.source, ANSI.sub("", "\n".join(o.traceback)))
            for c in nb.cells for o in c.outputs if o.output_type == "error"]


def test_every_failing_check_is_one_message_first(errors):
    failed = [tb for src, tb in errors if "no_bias" in src]
    assert len(failed) == 1 + len(MODES)
    for tb in failed:
        assert tb.startswith("AssertionError: rnn_step_forward is wrong on case"), tb[:300]
        assert "Likely mistake: bias forgotten" in tb
        assert "Traceback" not in tb and "check.py" not in tb


def test_learner_errors_show_the_learners_frames_not_the_checks(errors):
    crashed = [tb for src, tb in errors if "crashes" in src]
    assert len(crashed) == 1 + len(MODES)
    for mode, tb in zip(["Context"] + MODES, crashed):
        assert "IndexError: index 10 is out of bounds" in tb, (mode, tb)
        assert "raised by rnn_step_forward on case" in tb, (mode, tb)
        for ours in ("check.py", "run_case", "skipping hidden", "autograder"):
            assert ours not in tb, (mode, ours, tb)
        if mode not in ("Minimal", "Docs"):         # the modes that print frames at all
            assert "return x[10]" in tb and "return helper(x_t)" in tb, (mode, tb)
