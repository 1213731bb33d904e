"""Class 5: the trusted parent believes the sandbox's output.

Learner code finds the child's result pipe among its file descriptors and writes frames of its
own on it: frames that claim an exabyte, a gigabyte of JSON, floods of tiny frames or of large
descriptions, crashes that make the grader resume the notebook (once per crash) to multiply
per-run caps, and forged results for test cells. Every cap holds in the parent, over all the
runs of a notebook; going over one ends that notebook with the reason, and the checks that ran
before keep their points. The helpers here (a notebook with cells added, the forging code) are
shared with ``regex.py`` and ``shared.py``.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import nbformat

from autograder.authoring.samples import fill, read_sample
from autograder.course import ROOT

from . import Attack

# The code a submission needs to write on the grader's channel: every pipe it holds, whole frames.
FORGE = '''
import os as _os, stat as _stat, struct as _struct, json as _json
def _pipes():
    for fd in range(3, 64):
        try:
            if _stat.S_ISFIFO(_os.fstat(fd).st_mode):
                yield fd
        except OSError:
            pass
def _frame(header, payload=b""):
    h = _json.dumps(header).encode()
    return _struct.pack("<I", len(h)) + h + _struct.pack("<Q", len(payload)) + payload
def forge(data):
    for fd in _pipes():
        try:
            view = memoryview(data)
            while view:
                view = view[_os.write(fd, view):]
        except OSError:
            pass
'''


def release(assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "release" / assignment / f"{assignment}.ipynb", as_version=4)


@lru_cache(maxsize=None)
def full_points(assignment: str) -> float:
    """The autograded points of an assignment (what its correct sample earns)."""
    return float(sum(c.metadata["nbgrader"].get("points", 0) for c in release(assignment).cells
                     if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"))


def correct(assignment: str) -> dict:
    return read_sample(ROOT / "samples" / assignment / "sample_correct.py")


def submission(assignment: str, code: list[str] | None = None, markdown: list[str] | None = None,
               answers: dict | None = None, first: bool = False):
    """build(course_dir, student): the release filled with ``answers`` (the correct sample by
    default), with code cells (and markdown cells) added at the end, or at the top (``first``)."""
    def build(course_dir: Path, student: str) -> None:
        nb = fill(release(assignment), correct(assignment) if answers is None else answers)
        added = [nbformat.v4.new_code_cell(c) for c in code or []] + \
                [nbformat.v4.new_markdown_cell(m) for m in markdown or []]
        nb.cells = added + nb.cells if first else nb.cells + added
        steps = 0
        for i, cell in enumerate(nb.cells):      # what a forging cell needs to aim: its step and key
            if cell.cell_type == "code":
                cell.source = cell.source.replace("__STEP__", str(steps)).replace("__KEY__", f"{i}:{cell.get('id', '')}")
                steps += "demo" not in cell.metadata.get("tags", [])
        folder = course_dir / "submitted" / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / f"{assignment}.ipynb")
    return build


def forged_cell(code: str) -> str:
    return FORGE + code


def _forged_results(assignment: str) -> str:
    """Frames that claim every test step ran and returned zeros (a "returned" record per case)."""
    return forged_cell(
        "import io as _io, numpy as _np\n"
        "_buf = _io.BytesIO()\n_np.save(_buf, _np.zeros(1))\n_blob = _buf.getvalue()\n"
        "for _step in range(400):\n"
        "    forge(_frame({'type': 'start', 'step': _step}))\n"
        "    _calls = [{'decl': d, 'case': c, 'status': 'returned', 'value': {'t': 'nd', 'k': 'a0'},"
        " 'after': {'t': 'list', 'items': []}, 'stdout': '', 'stderr': ''} for d in range(4) for c in range(12)]\n"
        "    forge(_frame({'type': 'test', 'step': _step, 'grade_id': 'x', 'calls': _calls, 'timed_out': False,"
        " 'arrays': {'a0': [0, len(_blob)]}}, _blob))\n"
        "forge(_frame({'type': 'done'}))\n")


ATTACKS = [
    Attack("channel_exabyte_frame", 5, "ps1_rnn_forward",
           "after its checks, writes a frame header that declares 2**60 bytes of payload on the result pipe",
           submission("ps1_rnn_forward", [forged_cell(
               "forge(_struct.pack('<I', 2) + b'{}' + _struct.pack('<Q', 1 << 60) + b'x' * (1 << 20))")]),
           full_points("ps1_rnn_forward"), reason="could not be read"),
    Attack("channel_gigabyte_header", 5, "ps2_bptt",
           "after its checks, announces a 1 GB JSON header and sends 40 MB of it",
           submission("ps2_bptt", [forged_cell(
               "forge(_struct.pack('<I', 1 << 30) + b'[' + b'[],' * ((40 << 20) // 3))")]),
           full_points("ps2_bptt"), reason="could not be read"),
    Attack("channel_tiny_frame_flood", 5, "ps3_birnn",
           "after its checks, floods the pipe with 400,000 tiny frames",
           submission("ps3_birnn", [forged_cell("forge(_frame({'type': 'case'}) * 400_000)")]),
           full_points("ps3_birnn"), reason="messages to the grader"),
    Attack("channel_description_flood", 5, "ps4_attention",
           "after its checks, sends frames with 1.9 MB JSON headers of empty lists, again and again",
           submission("ps4_attention", [forged_cell(
               "_big = _frame({'type': 'junk', 'v': [[]] * 450_000})\nfor _ in range(20):\n    forge(_big)")]),
           full_points("ps4_attention"), reason="result descriptions"),
    Attack("channel_crash_resume_multiplier", 5, "ps5_pointer",
           "four cells after its checks each send 40 MB and kill their process: the grader resumes the "
           "notebook after each crash, and a per-run cap would allow 64 MB every time",
           submission("ps5_pointer", [forged_cell("forge(_frame({'type': 'junk'}, b'x' * (20 << 20)) * 2)\n"
                                                  "_os._exit(3)")] * 4),
           full_points("ps5_pointer"), reason="64 MB of results"),
    Attack("channel_forged_results", 5, "ps6_dynamics",
           "an untouched release whose first cell forges a passing-looking result for 400 steps and 'done'",
           submission("ps6_dynamics", [_forged_results("ps6_dynamics")], answers={}, first=True), 0.0),
    Attack("channel_forged_results_late", 5, "ps7_memory",
           "an untouched release whose last cell forges results for every later step and 'done'",
           submission("ps7_memory", [_forged_results("ps7_memory")], answers={}), 0.0),
]
