"""Class 7: learners share state.

The warm pool's zygote forks one child per notebook; all of them ran as the same user with the
same /tmp, where the job folders had predictable names (``/tmp/autograder-jobs/job{n}``). These
submissions prepare the next jobs' folders, fill /tmp and /dev/shm, turn the folders into links,
make them unwritable and poison matplotlib's config folder. Job folders now have names from the
kernel's randomness, mode 0700, made by ``mkdir`` (which fails on anything already there), and
the zygote empties /tmp and /dev/shm after every job, so the next learner (the runner's witness,
or any other entry on the same sandbox) never sees any of it.
"""
from __future__ import annotations

from . import Attack
from .channel import full_points, submission

PREPARE = """
import os
base = os.path.dirname(os.getcwd())
for root in (base, '/tmp', '/tmp/autograder-jobs', '/dev/shm'):
    try:
        os.makedirs(root, exist_ok=True)
        for n in range(2000):
            os.makedirs(os.path.join(root, f'job{n}'), exist_ok=True)
    except OSError:
        pass
"""

FILL = """
import os
for root in ('/tmp', '/dev/shm', os.getcwd()):
    n = 0
    try:
        while n < 100:
            with open(os.path.join(root, f'fill{n}'), 'wb') as f:
                f.write(b'x' * (32 << 20))
            n += 1
    except OSError:
        pass
"""

LINKS = """
import os
base = os.path.dirname(os.getcwd())
for name in ('autograder-jobs', 'matplotlib', 'job-next', 'tmp'):
    path = os.path.join(base, name)
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            os.rename(path, path + '.old')
        os.symlink('/proc/self/cwd' if name != 'matplotlib' else '/', path)
    except OSError:
        pass
locked = os.path.join(base, 'locked')
os.makedirs(os.path.join(locked, 'inner'), exist_ok=True)
open(os.path.join(locked, 'inner', 'f'), 'w').close()
os.chmod(os.path.join(locked, 'inner'), 0)
os.chmod(locked, 0)
try:
    os.chmod(base, 0o500)
except OSError:
    pass
"""

POISON = """
import os, tempfile
mpl = os.environ.get('MPLCONFIGDIR', '/tmp/matplotlib')
os.makedirs(mpl, exist_ok=True)
for name in os.listdir(mpl):
    with open(os.path.join(mpl, name), 'w') as f:
        f.write('{not json')
with open(os.path.join(mpl, 'matplotlibrc'), 'w') as f:
    f.write('backend: no_such_backend\\n')
for root in ('/tmp', tempfile.gettempdir()):
    with open(os.path.join(root, 'numpy.py'), 'w') as f:
        f.write('raise ImportError("poisoned")\\n')
"""

ATTACKS = [
    Attack("shared_next_job_folders", 7, "ps1_rnn_forward",
           "after its checks, creates job0 ... job1999 in the jobs folder, /tmp and /dev/shm",
           submission("ps1_rnn_forward", [PREPARE]), full_points("ps1_rnn_forward")),
    Attack("shared_fill_tmp", 7, "ps2_bptt",
           "after its checks, fills /tmp, /dev/shm and its own folder until the disk is full",
           submission("ps2_bptt", [FILL]), full_points("ps2_bptt")),
    Attack("shared_symlinked_job_dirs", 7, "ps3_birnn",
           "after its checks, replaces the jobs folder and matplotlib's by links, leaves folders of mode 0 "
           "and makes /tmp read-only",
           submission("ps3_birnn", [LINKS]), full_points("ps3_birnn")),
    Attack("shared_poisoned_tmp", 7, "ps4_attention",
           "after its checks, breaks matplotlib's cache and rc file and leaves numpy.py in /tmp for the next learner",
           submission("ps4_attention", [POISON]), full_points("ps4_attention")),
    Attack("shared_fill_tmp_first", 7, "ps7_memory",
           "fills /tmp and /dev/shm before anything else runs (its own notebook may fail; nobody else's)",
           submission("ps7_memory", [FILL], first=True), full_points("ps7_memory"), exact=False),
]
