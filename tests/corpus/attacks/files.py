"""Class 1: the submission folder is trusted as plain files.

Links into the course, the gradebook or host files, hard links, special files that hang a
reader, a sparse file that exhausts one, a directory loop, and folders that are links. Each is
left out with its reason; the honest work beside it keeps every point.
"""
from __future__ import annotations

import contextlib
import os
import socket
import stat
from pathlib import Path

from corpus.attacks import Attack
from corpus.building import folder, full, honest_in

A1, A2, A3, A4, A5, A6, A7 = ("ps1_rnn_forward", "ps2_bptt", "ps3_birnn", "ps4_attention", "ps5_pointer",
                              "ps6_dynamics", "ps7_memory")


def _notebook_link_to_source(a):
    def build(course: Path, student: str):
        os.symlink(course / "source" / a / f"{a}.ipynb", folder(course, student, a) / f"{a}.ipynb")
    return build


def _notebook_hard_link_to_source(a):
    def build(course: Path, student: str):
        os.link(course / "source" / a / f"{a}.ipynb", folder(course, student, a) / f"{a}.ipynb")
    return build


def _assignment_folder_link(a):
    def build(course: Path, student: str):
        (course / "submitted" / student).mkdir(parents=True)
        os.symlink(course / "source" / a, course / "submitted" / student / a)
    return build


def _student_folder_link(course: Path, student: str):
    """submitted/<student> -> source/: source/<a>/<a>.ipynb is exactly a student folder's shape."""
    (course / "submitted").mkdir(exist_ok=True)
    os.symlink(course / "source", course / "submitted" / student)


def _beside_honest(a, make):
    """Honest work, with ``make(folder, course)`` adding something hostile beside it."""
    def build(course: Path, student: str):
        make(honest_in(course, student, a), course)
    return build


def _fifo(path: Path, course: Path):
    os.mkfifo(path / "data.txt")


def _fifo_notebook(a):
    def build(course: Path, student: str):
        os.mkfifo(folder(course, student, a) / f"{a}.ipynb")
    return build


def _socket(path: Path, course: Path):
    s = socket.socket(socket.AF_UNIX)
    with contextlib.chdir(path):             # a relative name: a socket's path is limited to 107 bytes
        s.bind("pipe.sock")
    s.close()


def _device(path: Path, course: Path):
    os.mknod(path / "zero.bin", stat.S_IFCHR | 0o600, os.makedev(1, 5))      # /dev/zero's numbers


def _sparse(path: Path, course: Path):
    with open(path / "weights.npy", "wb") as f:
        f.truncate(64 << 30)                                                  # 64 GiB, no blocks


def _many_files(path: Path, course: Path):
    extra = path / "scratch"
    extra.mkdir()
    for i in range(600):
        (extra / f"f{i}.txt").write_bytes(b"")


def _deep(path: Path, course: Path):
    deep = path
    for i in range(40):
        deep = deep / "d"
    deep.mkdir(parents=True)
    (deep / "bottom.txt").write_text("deep")


def _timestamp(path: Path, course: Path):
    (path / "timestamp.txt").write_text("not a time at all")


def _links(*pairs):
    def make(path: Path, course: Path):
        for name, target in pairs:
            target = target(course) if callable(target) else target
            os.symlink(target, path / name)
    return make


def _hard_link_config(path: Path, course: Path):
    os.link(course / "nbgrader_config.py", path / "config.py")


LINK = "symbolic link"
ATTACKS = [
    Attack("link_notebook_to_source", 1, A1, "the notebook is a symbolic link to source/ (the solutions)",
           _notebook_link_to_source(A1), 0, reason=LINK),
    Attack("hard_link_notebook_to_source", 1, A4, "the notebook is a hard link to the source notebook",
           _notebook_hard_link_to_source(A4), 0, reason="hard link"),
    Attack("link_assignment_folder", 1, A3, "submitted/<student>/<a> is a symbolic link to source/<a>",
           _assignment_folder_link(A3), 0, reason=LINK),
    Attack("link_student_folder", 1, A2, "submitted/<student> is a symbolic link to source/",
           _student_folder_link, 0, reason=LINK),
    Attack("link_to_passwd", 1, A2, "a data file that is a symbolic link to /etc/passwd",
           _beside_honest(A2, _links(("data.txt", "/etc/passwd"))), full(A2), reason=LINK),
    Attack("link_to_gradebook", 1, A3, "symbolic links to the gradebook and the course config",
           _beside_honest(A3, _links(("notes.db", lambda c: c / "gradebook.db"),
                                     ("config.py", lambda c: c / "nbgrader_config.py"))), full(A3), reason=LINK),
    Attack("hard_link_to_config", 1, A4, "a hard link to the course's nbgrader_config.py",
           _beside_honest(A4, _hard_link_config), full(A4), reason="hard link"),
    Attack("fifo_notebook", 1, A5, "the notebook is a fifo (a reader waits forever)", _fifo_notebook(A5), 0,
           reason="fifo"),
    Attack("fifo_beside", 1, A7, "a fifo beside honest work", _beside_honest(A7, _fifo), full(A7), reason="fifo"),
    Attack("socket_beside", 1, A1, "a unix socket beside honest work", _beside_honest(A1, _socket), full(A1),
           reason="socket"),
    Attack("link_to_dev_zero", 1, A6, "a symbolic link to /dev/zero (endless bytes)",
           _beside_honest(A6, _links(("zeros.npy", "/dev/zero"))), full(A6), reason=LINK),
    Attack("device_node", 1, A6, "a character device node with /dev/zero's numbers", _beside_honest(A6, _device),
           full(A6), reason="character device"),
    Attack("sparse_64_gib", 1, A7, "a 64 GiB sparse file", _beside_honest(A7, _sparse), full(A7), reason="MB"),
    Attack("directory_loop", 1, A7, "a folder link to itself and one to /", _beside_honest(
        A7, _links(("loop", "."), ("root", "/"))), full(A7), reason=LINK),
    Attack("many_files", 1, A1, "600 files in a scratch folder", _beside_honest(A1, _many_files), full(A1),
           reason="more than"),
    Attack("deep_folders", 1, A2, "folders nested 40 deep", _beside_honest(A2, _deep), full(A2),
           reason="folders deep"),
    Attack("bad_timestamp", 1, A3, "a timestamp.txt nbgrader cannot parse (stock stops the batch)",
           _beside_honest(A3, _timestamp), 0, reason="timestamp"),
]
