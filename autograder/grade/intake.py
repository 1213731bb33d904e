"""The intake: each submission copied into the grader's private working area as plain data,
once, before nbgrader or the grading session reads anything of it.

``submitted/`` is written by learners (through the exchange, or by hand), so nothing in it is
trusted to be what it looks like. The copy follows no link (``O_NOFOLLOW``, ``scandir`` without
following), opens every file relative to its folder's descriptor, and takes only regular files
with one link: symbolic and hard links, fifos, sockets and devices are left out with a recorded
reason. Sizes are read from ``fstat`` before a byte is read, against ``TrustedGrader``'s caps.
A student folder whose name could reach nbgrader's comma-joined exclusion list, its path regular
expressions, the gradebook or an exported row as anything but a plain id is graded under a
mapped id (``student_id_for``). Each notebook is parsed, normalised and validated (nbformat's
schema, then every cell's nbgrader metadata, ``steps.check_cell_metadata.cell_problem``) and
written back: a cell with invalid metadata gets the assignment's own metadata back (a test cell is
then scored 0, with the reason) or made an ordinary cell; a notebook nbformat rejects makes the
submission not gradable. nbgrader then grades the working area (``submitted_directory``) and
sees only what this module wrote.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.v4.nbjson import BytesEncoder
from nbformat.v4.rwbase import strip_transient

from ..checks import messages
from .plan import planned_part
from .steps.check_cell_metadata import cell_problem

SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_DIR = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC
_KINDS = {stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket", stat.S_IFCHR: "character device",
          stat.S_IFBLK: "block device"}


@dataclass
class Caps:
    """How much of a submission the intake copies (``TrustedGrader``'s intake_* options)."""
    total_bytes: int = 256 << 20
    entries: int = 500
    depth: int = 16


@dataclass
class Submission:
    """One student folder of ``submitted/``, as the intake took it in."""
    folder: str                          # the folder's name in submitted/, as found
    student: str                         # the id it is graded under
    path: Path                           # its working copy: <work>/<student>/<assignment>
    notes: list[str] = field(default_factory=list)      # files left out, a mapped name, repaired cells
    refused: list[str] = field(default_factory=list)    # why it cannot be graded at all
    voided: dict[str, dict[str, str]] = field(default_factory=dict)   # notebook -> test grade_id -> why
    parsed: dict = field(default_factory=dict)   # notebook -> what plan_job reads of the notebook written
    nodes: dict = field(default_factory=dict)    # the written file's path -> the validated notebook in it


def student_id_for(folder: str) -> str:
    """The id a student folder is graded under: its own name when that is a safe id, else a
    fixed id made from it (safe ids never start with "_", so no folder can take another's)."""
    if SAFE_ID.fullmatch(folder):
        return folder
    return "_unsafe_" + hashlib.sha256(folder.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def shown(name: str) -> str:
    """A name as reports show it: quoted, ASCII, bounded."""
    text = ascii(name)
    return text if len(text) <= 80 else text[:77] + "..."


NODES_KEPT = 256     # parsed notebooks kept for the converter per batch (about 150 KB each until converted)


def take_in_all(submitted: Path, work: Path, assignment: str, trusted, caps: Caps,
                wanted: set[str] | None = None) -> list[Submission]:
    """Every student folder of ``submitted/`` that holds ``assignment`` (only those graded as
    ``wanted`` ids, when given), copied into ``work``."""
    try:
        top = os.open(submitted, _DIR)
    except OSError:
        return []
    try:
        with os.scandir(top) as it:
            names = sorted(e.name for e in it if e.is_dir(follow_symlinks=False) or e.is_symlink())
        if wanted is not None:
            names = [n for n in names if student_id_for(n) in wanted]
        taken, kept = [], 0
        for name in names:
            sub = take_in(top, name, work, assignment, trusted, caps)
            if sub is None:
                continue
            kept += len(sub.nodes)
            if kept > NODES_KEPT:           # beyond these the converter reads the file again
                sub.nodes.clear()
            taken.append(sub)
        return taken
    finally:
        os.close(top)


def take_in(top: int, folder: str, work: Path, assignment: str, trusted, caps: Caps) -> Submission | None:
    """One student folder (``folder`` in the directory ``top``): None when it holds no
    ``assignment`` at all (not a submission of it), else what was taken in and why not."""
    student = student_id_for(folder)
    sub = Submission(folder, student, work / student / assignment)
    if student != folder:
        sub.notes.append(messages.MAPPED_NAME.format(name=shown(folder), student=student))
    try:
        student_fd = os.open(folder, _DIR, dir_fd=top)
    except OSError as e:
        return _refused_folder(sub, folder, e, assignment, top)
    try:
        try:
            fd = os.open(assignment, _DIR, dir_fd=student_fd)
        except OSError as e:
            return _refused_folder(sub, f"{folder}/{assignment}", e, assignment, student_fd)
        try:
            sub.path.mkdir(parents=True, mode=0o700)
            _copy_tree(fd, sub.path, "", sub, caps, [0, 0], 0)
        finally:
            os.close(fd)
    finally:
        os.close(student_fd)
    _check_timestamp(sub)
    _take_notebooks(sub, trusted)
    return sub


def _refused_folder(sub: Submission, name: str, error: OSError, assignment: str, parent: int):
    """A student or assignment folder that cannot be opened as a plain folder: a link, or gone."""
    if error.errno == errno.ENOENT:
        return None                                     # no such assignment here: not a submission of it
    if error.errno in (errno.ELOOP, errno.ENOTDIR):
        base = name.rsplit("/", 1)[-1]
        try:
            is_link = stat.S_ISLNK(os.stat(base, dir_fd=parent, follow_symlinks=False).st_mode)
        except OSError:
            is_link = False
        if not is_link and name.endswith("/" + assignment):
            return None                                 # a plain file named like the assignment
        why = messages.REFUSED_LINK if is_link else "not a folder"
    else:
        why = error.strerror
    sub.refused.append(messages.FOLDER_REFUSED.format(name=shown(name), why=why))
    sub.path.mkdir(parents=True, mode=0o700, exist_ok=True)
    return sub


def _copy_tree(fd: int, dest: Path, rel: str, sub: Submission, caps: Caps, used: list, depth: int) -> None:
    """Copy the folder open as ``fd`` into ``dest``: regular files with one link, and folders,
    within ``caps`` (``used`` = [bytes, entries] so far); everything else left out with why."""
    with os.scandir(fd) as it:
        names = sorted(e.name for e in it)
    for name in names:
        shown_name = shown(rel + name)
        used[1] += 1
        if used[1] > caps.entries:
            sub.notes.append(messages.REFUSED_FILE.format(name=shown_name,
                                                          why=messages.REFUSED_COUNT.format(count=caps.entries)))
            return
        why = _copy_entry(fd, name, dest, rel, sub, caps, used, depth)
        if why:
            sub.notes.append(messages.REFUSED_FILE.format(name=shown_name, why=why))


def _copy_entry(fd: int, name: str, dest: Path, rel: str, sub: Submission, caps: Caps, used: list,
                depth: int) -> str | None:
    """Copy one entry; the reason it was left out, or None."""
    if _CONTROL.search(name):
        return messages.REFUSED_NAME
    try:
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except OSError as e:
        return e.strerror
    if stat.S_ISLNK(st.st_mode):
        return messages.REFUSED_LINK
    if stat.S_ISDIR(st.st_mode):
        if depth + 1 >= caps.depth:
            return messages.REFUSED_DEPTH.format(depth=caps.depth)
        try:
            child = os.open(name, _DIR, dir_fd=fd)
        except OSError as e:
            return messages.REFUSED_LINK if e.errno == errno.ELOOP else e.strerror
        try:
            (dest / name).mkdir(mode=0o700)
            _copy_tree(child, dest / name, f"{rel}{name}/", sub, caps, used, depth + 1)
        finally:
            os.close(child)
        return None
    if not stat.S_ISREG(st.st_mode):
        return messages.REFUSED_SPECIAL.format(kind=_KINDS.get(stat.S_IFMT(st.st_mode), "special file"))
    if st.st_nlink > 1:
        return messages.REFUSED_HARD_LINK
    if used[0] + st.st_size > caps.total_bytes:
        return messages.REFUSED_SIZE.format(mb=st.st_size / 2**20, limit=caps.total_bytes / 2**20)
    data = _read_regular(fd, name, st)
    if data is None:
        return messages.REFUSED_CHANGED
    used[0] += len(data)
    out = os.open(dest / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(out, view):]
    finally:
        os.close(out)
    os.utime(dest / name, ns=(st.st_atime_ns, st.st_mtime_ns))
    return None


def _read_regular(fd: int, name: str, st: os.stat_result) -> bytes | None:
    """The bytes of a regular file, opened without following links; None if what was opened is
    not the file that was looked at (replaced meanwhile) or grew beyond its size."""
    try:
        f = os.open(name, _READ, dir_fd=fd)
    except OSError:
        return None
    try:
        now = os.fstat(f)
        if not stat.S_ISREG(now.st_mode) or (now.st_ino, now.st_dev) != (st.st_ino, st.st_dev) \
                or now.st_nlink > 1 or now.st_size != st.st_size:
            return None
        chunks, left = [], st.st_size + 1
        while left > 0:
            chunk = os.read(f, min(left, 1 << 24))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        return data if len(data) == st.st_size else None
    finally:
        os.close(f)


def _check_timestamp(sub: Submission) -> None:
    """nbgrader stops a whole batch on a timestamp.txt it cannot parse: here it is this
    submission's problem."""
    path = sub.path / "timestamp.txt"
    if not path.is_file():
        return
    from nbgrader.utils import parse_utc
    text = path.read_bytes()[:200].decode("utf-8", "replace").strip()
    if not text:
        return
    try:
        parse_utc(text)
    except Exception:
        sub.refused.append(messages.BAD_TIMESTAMP)
        path.unlink()                   # nbgrader reads it again (init_destination) and would stop


def _take_notebooks(sub: Submission, trusted) -> None:
    """Validate and normalise each assignment notebook of the copy, in place. Each is parsed and
    validated once (``read_submission``, whose schema validation also repairs duplicate cell ids)
    and written back; the part the plan reads is kept for the session (``sub.parsed``), and the
    notebook itself for the converter (``sub.nodes``), which would otherwise parse the same file
    again."""
    from .session import read_submission
    for name, tnb in trusted.notebooks.items():
        path = sub.path / f"{name}.ipynb"
        if not path.is_file():
            continue
        invalid: dict = {}
        nb, problem = read_submission(path, invalid)
        if problem is None and invalid:
            why = str(invalid["ValidationError"].message)[:160]        # nbformat's schema rejects it
            problem = messages.INVALID_NOTEBOOK.format(name=path.name, why=why)
        if problem:
            sub.refused.append(problem)
            continue
        notes: list[str] = []
        voided = _repair_cells(nb, tnb, notes, name)
        try:
            text = _notebook_json(nb)
            data = (text if text.endswith("\n") else text + "\n").encode("utf-8")
        except UnicodeEncodeError:                  # JSON may escape a lone surrogate; UTF-8 cannot hold it
            sub.refused.append(messages.INVALID_NOTEBOOK.format(name=path.name, why=messages.NOT_UNICODE))
            continue
        except Exception as e:                      # too deeply nested to encode (RecursionError)
            sub.refused.append(messages.INVALID_NOTEBOOK.format(name=path.name, why=type(e).__name__))
            continue
        sub.notes.extend(notes)
        if voided:
            sub.voided[name] = voided
        path.write_bytes(data)
        sub.parsed[name] = planned_part(nb)
        sub.nodes[os.path.abspath(path)] = nb


def _notebook_json(nb) -> str:
    """The notebook for nbgrader to read back, without ``nbformat.write``'s deep copy and second
    validation (done once, when read), and compact: nobody reads this working copy but nbgrader,
    and without an indent the C encoder writes it, several times faster (the autograded notebook
    nbgrader writes from it is indented as usual)."""
    strip_transient(nb)
    return json.dumps(nb, cls=BytesEncoder, sort_keys=True, ensure_ascii=False)


def _repair_cells(nb, trusted_nb, notes: list[str], notebook: str) -> dict[str, str]:
    """Give every cell with invalid nbgrader metadata its trusted metadata (when its grade_id
    names a cell of the assignment) or none; return the test cells so restored, with why."""
    by_id = trusted_nb.by_id
    voided = {}
    for index, cell in enumerate(nb.cells):
        why = cell_problem(cell)
        if why is None:
            continue
        meta = cell.metadata.get("nbgrader")
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        known = by_id.get(gid) if isinstance(gid, str) else None
        label = shown(gid) if isinstance(gid, str) else f"#{index + 1}"
        if known is None:
            del cell.metadata["nbgrader"]
            then = messages.METADATA_DROPPED
        else:
            cell.metadata["nbgrader"] = nbformat.from_dict(_trusted_meta(known))
            then = messages.METADATA_VOIDED if known.is_test else messages.METADATA_RESTORED
            if known.is_test:
                voided[known.grade_id] = why
        notes.append(messages.INVALID_METADATA_NOTE.format(notebook=notebook, cell=label, why=why, then=then))
    return voided


def _trusted_meta(cell) -> dict:
    meta = {"schema_version": 3, "grade_id": cell.grade_id, "grade": cell.points is not None,
            "solution": bool(cell.solution), "locked": bool(cell.locked), "task": False}
    if cell.points is not None:
        meta["points"] = float(cell.points)
    return meta
