"""Attacks on `autograder grade` itself (its sandbox, its pipe, its forked processes), in the style
of tests/corpus: each entry is a ps1 submission and the points it deserves."""
from __future__ import annotations

from corpus.entries import BUGGY, BUGGY_SCORE, CORRECT, FULL, Entry, notebook, write_nb

# sample_buggy's spectral_radius (the largest singular value) is right for a 1x1 W and earns
# spectral_radius_edges (2 points); an attack that replaces spectral_radius loses them.
BUGGY_WITHOUT_SPECTRAL = BUGGY_SCORE - 2.0


def _after(name, what, code, answers=None, after="rnn_step_forward", deserved=BUGGY_SCORE, exact=True):
    return Entry(name, "attack on the grader", what,
                 write_nb(lambda: notebook(BUGGY if answers is None else answers, cells_after={after: code})),
                 deserved, exact=exact)


FRAME = (
    "import json, os, struct\n"
    "def frame(h, p=b''):\n"
    "    b = json.dumps(h).encode()\n"
    "    return struct.pack('<I', len(b)) + b + struct.pack('<Q', len(p)) + p\n"
)

ENTRIES = [
    # forged result frames on every file descriptor: the pipe is the learner's own, so at worst
    # this spoils the learner's own results (never above what the work earns)
    _after("forge_frames", "write forged 'all passed' result frames on every open file descriptor",
           FRAME + "fake = b''.join(frame({'type': 'test', 'step': i, 'grade_id': g, 'calls': []})\n"
           "    for i, g in enumerate(['test_rnn_forward_core', 'test_lstm_cell_forward_core', 'test_spectral_radius_core']))\n"
           "fake += frame({'type': 'done'})\n"
           "for fd in range(3, 256):\n    try:\n        os.write(fd, fake)\n    except OSError:\n        pass\n",
           exact=False),
    _after("lying_class", "a result whose __class__ claims to be numpy.ndarray",
           "import numpy as np\nclass Liar:\n    __class__ = property(lambda self: np.ndarray)\n"
           "    def __eq__(self, other): return True\n    def __array__(self, *a, **k): return np.zeros(1)\n"
           "def spectral_radius(W):\n    return Liar()\n", after="spectral_radius",
           deserved=BUGGY_WITHOUT_SPECTRAL),
    _after("signal_the_zygote", "signal every process in sight (the sandbox's init, its zygote)",
           "import os, signal\nfor pid in range(1, 64):\n    for sig in (signal.SIGKILL, signal.SIGSTOP):\n"
           "        try:\n            os.kill(pid, sig)\n        except OSError:\n            pass\n"),
    _after("peek_at_zygote", "read the zygote's memory, file descriptors and environment through /proc",
           "import os\nleaks = []\nfor pid in range(1, 64):\n    for what in ('mem', 'environ', 'fd', 'maps'):\n"
           "        try:\n            p = f'/proc/{pid}/{what}'\n"
           "            leaks.append(os.listdir(p) if what == 'fd' else open(p, 'rb').read(64))\n"
           "        except OSError:\n            pass\n"),
    _after("deep_nesting", "return a list nested 100000 levels deep",
           "def spectral_radius(W):\n    x = []\n    for _ in range(100000):\n        x = [x]\n    return x\n",
           after="spectral_radius", deserved=BUGGY_WITHOUT_SPECTRAL),
    _after("fill_tmp", "fill /tmp with 64 MB files until the disk refuses",
           "import os\nfor i in range(100):\n    try:\n        with open(f'/tmp/fill{i}', 'wb') as f:\n"
           "            f.write(b'0' * 2**26)\n    except OSError:\n        break\n"),
    # state left behind for the next learner graded by the same warm sandbox
    _after("poison_next", "patch numpy and leave files and variables behind for the next learner",
           "import numpy as np, os, builtins\nnp.tanh = lambda z: 0 * z\nnp.exp = lambda z: 0 * z\n"
           "os.environ['POISON'] = '1'\nbuiltins.len = lambda x: 0\nopen('/tmp/poison', 'w').write('x')\n",
           exact=False),
    Entry("poison_next_victim", "attack on the grader", "a correct submission graded right after poison_next",
          write_nb(lambda: notebook(CORRECT)), FULL),
]
