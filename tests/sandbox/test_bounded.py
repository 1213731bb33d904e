"""Issue 18, classes 5-7: what the trusted parent reads from a sandbox is capped in the parent
(over all the runs of a notebook), learner text is worked on in linear time, and one learner's
job leaves nothing for the next. Fast: parsing on forged streams, and two short sandbox runs."""
from __future__ import annotations

import os
import re
import stat
import struct

import pytest

from autograder.grade.options import TrustedGrader
from autograder.grade.plan import needs_ipython
from autograder.grade.stubs import StubAnswers, StubBudget
from autograder.sandbox import channel, command, learner_runner
from autograder.sandbox.channel import ChannelBudget, ChannelLimits, RawRun, RunResult, parse_stream
from autograder.sandbox.pool import SandboxPool

frame = learner_runner.frame_bytes
TEST_STEPS = [{"kind": "code", "key": "0", "source": ""}, {"kind": "test", "grade_id": "test_f", "calls": []},
              {"kind": "code", "key": "2", "source": ""}]


def _claim(header_len: int = 2, payload_len: int = 0) -> bytes:
    """The first bytes of a frame that declares these lengths (its body never comes)."""
    return struct.pack("<I", header_len) + b"{}"[:header_len] + struct.pack("<Q", payload_len)


# ------------------------------------------------------------------ class 5: bounded in the parent

def test_a_frame_too_large_is_refused_from_its_lengths_alone():
    budget = ChannelBudget(ChannelLimits(header_bytes=1 << 10, frame_bytes=1 << 20))
    with pytest.raises(ValueError, match="payload"):
        budget.frame_at(_claim(2, 1 << 60))                # 14 bytes that claim an exabyte
    with pytest.raises(ValueError, match="header"):
        budget.frame_at(struct.pack("<I", 1 << 30))        # a gigabyte of JSON, announced
    frames = parse_stream(frame({"type": "start", "step": 0}) + _claim(2, 1 << 60), budget=budget)
    assert frames.started == [0] and "could not be read" in frames.problem


def test_frame_count_and_header_bytes_are_capped():
    flood = b"".join(frame({"type": "case", "step": 1, "decl": 0, "case": i}) for i in range(1000))
    budget = ChannelBudget(ChannelLimits(frames=100))
    parse_stream(flood, budget=budget)
    assert budget.frames == 101 and "more than 100 messages" in budget.over
    budget = ChannelBudget(ChannelLimits(headers_bytes=4000))
    parse_stream(flood, budget=budget)
    assert "result descriptions" in budget.over and budget.headers < 4100


def test_caps_are_counted_over_resumed_runs():
    """A crashed run is resumed with the crashed step skipped; its caps must not start afresh."""
    limits = TrustedGrader(cell_timeout=5, notebook_timeout=30).limits().as_dict()
    job = {"type": "job", "steps": TEST_STEPS, "limits": dict(limits, channel_frames=60)}
    budget = ChannelBudget(ChannelLimits.from_limits(job["limits"]))
    crashed = {"reason": "exit", "signal": 11}
    junk = b"".join(frame({"type": "case", "step": 9, "decl": 0, "case": i}) for i in range(40))
    result = RunResult(job_steps=3)
    first = frame({"type": "start", "step": 0}) + junk           # cell 0 floods, then segfaults
    resumed = result.add(RawRun(first, crashed, 1.0), job, budget)
    assert resumed is not None and resumed["resume"]["skip"] == [0]
    second = frame({"type": "start", "step": 2}) + junk          # cell 2 does the same
    assert result.add(RawRun(second, crashed, 1.0), resumed, budget) is None
    assert result.over and "60 messages" in result.over and budget.frames == 61


def test_learner_text_is_capped_and_made_inert():
    ansi = "\x1b[1;31mred\x1b[0m" + "\x1b[" + "0;" * 50_000 + "m" + "\x1b]0;title\x07"
    stream = (frame({"type": "start", "step": 0})
              + frame({"type": "cell", "step": 0, "key": "0", "stdout": "x" * 500_000, "stderr": ansi,
                       "error": {"ename": "E" * 10_000, "evalue": "v" * 200_000,
                                 "traceback": ["\x1b[" + "0;" * 1500] * 300}})
              + frame({"type": "start", "step": 1})
              + frame({"type": "test", "step": 1, "grade_id": "test_f", "calls": [{"decl": 0, "case": 0, "stdout": "y" * 500_000}]}))
    frames = parse_stream(stream, budget=ChannelBudget(ChannelLimits(text_chars=1000)))
    cell = frames.cells["0"]
    assert len(cell["stdout"]) < 1100 and "truncated" in cell["stdout"]
    assert "\x1b" not in cell["stderr"] and cell["stderr"].startswith("red")
    err = cell["error"]
    assert len(err["ename"]) <= 250 and len(err["evalue"]) < 1100
    assert len(err["traceback"]) == 200 and all(len(l) < 2100 and "\x1b" not in l for l in err["traceback"])
    assert len(frames.tests["test_f"][0]["calls"][0]["stdout"]) < 1100


def test_stub_answers_stop_reading_at_the_caps():
    big = StubAnswers(TEST_STEPS, StubBudget(10, 1 << 20, channel=ChannelBudget(ChannelLimits(frame_bytes=1 << 20))), {})
    assert big.feed(_claim(2, 1 << 40)) == [] and big.broken           # refused before its bytes come
    many = StubAnswers(TEST_STEPS, StubBudget(10, 1 << 20, channel=ChannelBudget(ChannelLimits(frames=10))), {})
    many.feed(b"".join(frame({"type": "case", "step": 1, "decl": 0, "case": i}) for i in range(50)))
    assert many.broken and many.budget.channel.frames == 11


def test_limits_reach_the_parent_from_the_configuration():
    limits = TrustedGrader(output_bytes=1 << 20, channel_frames=77, header_bytes=1000).limits().as_dict()
    caps = ChannelLimits.from_limits(limits)
    assert (caps.total_bytes, caps.frames, caps.header_bytes) == (1 << 20, 77, 1000)


# ------------------------------------------------------------------ class 6: linear text work

OLD_IGNORE = r"\w*Warning\b"


def _configured_ignore_pattern() -> str:
    from autograder.course import ROOT
    from autograder.grade.options import course_config
    return course_config(ROOT).IgnorePattern.pattern


@pytest.mark.parametrize("text", [
    "RuntimeWarning: overflow encountered in exp\n", "/x.py:3: DeprecationWarning: old\n  y()\n",
    "UserWarning", "warnings.warn(...)\nFutureWarning:", "Warnings\n", "NoWarning_here\n", "Warning\n",
    "ValueError: bad\n", "WarningWarning", "x Warning: y", "", "a" * 1000, "éWarning.", "_Warning "])
def test_ignore_pattern_means_what_the_old_one_meant(text):
    """nbgrader's IgnorePattern uses re.search; the new pattern matches exactly the same stderr."""
    assert bool(re.search(_configured_ignore_pattern(), text)) == bool(re.search(OLD_IGNORE, text))


def test_ipython_syntax_is_recognised_as_before():
    for source in ("%matplotlib inline\n", "x = 1\n!pip install foo\n", "files = !ls\n", "a, b = %time f()\n",
                   "np.zeros?\n", "  %%time\n", "x.y = %env HOME\n"):
        assert needs_ipython(source), source
    for source in ("x = 1 % 2\n", "print('!')\n", "a = b\n", "# 50 %\n", "\n" * 10_000, " " * 10_000):
        assert not needs_ipython(source), source


def test_feedback_shows_learner_cells_on_a_capped_prefix():
    import nbformat
    from autograder.authoring.feedback_limits import CapLearnerText
    step = CapLearnerText(markdown_chars=100, code_chars=200)
    md, _ = step.preprocess_cell(nbformat.v4.new_markdown_cell("$$" * 1000), {}, 0)
    code, _ = step.preprocess_cell(nbformat.v4.new_code_cell("a(" * 1000), {}, 0)
    short, _ = step.preprocess_cell(nbformat.v4.new_markdown_cell("An answer."), {}, 0)
    assert md.source.startswith("$$" * 50) and "1900 more characters" in md.source and len(md.source) < 200
    assert code.source.splitlines()[-1].startswith("# [... 1800 more") and short.source == "An answer."


def test_placeholder_classes_are_bounded():
    from autograder.grade import decode
    for i in range(decode.MAX_CLASSES + 50):
        decode._placeholder("learner", f"Class{i}")
    assert len(decode._CLASSES) <= decode.MAX_CLASSES + 1


# ------------------------------------------------------------------ class 7: private jobs

def test_wipe_removes_whatever_a_job_left_without_following_links(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("keep")
    root = tmp_path / "tmp"
    deep = root / "a"
    deep.mkdir(parents=True)
    path = deep
    for _ in range(300):
        path = path / "d"
    os.makedirs(path)
    (deep / "f").write_text("x")
    (root / "link").symlink_to(outside)
    (root / "job-next").mkdir()
    os.chmod(deep, 0)                       # unreadable and unwritable
    learner_runner.wipe([str(root)])
    assert os.listdir(root) == [] and (outside / "keep").read_text() == "keep"
    job = learner_runner.job_dir([str(root)])
    assert stat.S_IMODE(os.stat(job).st_mode) == 0o700 and len(os.path.basename(job)) == len("job-") + 32
    assert learner_runner.job_dir([str(root)]) != job
    learner_runner.wipe([str(root)])
    os.rmdir(root)                          # a missing folder: made again
    assert os.path.isdir(learner_runner.job_dir([str(root)]))


def _pool_jobs(*jobs_sources: list[str], limits: dict | None = None) -> list[RunResult]:
    """Run each list of code cells as one job, one after the other, on one zygote."""
    how, _ = command.sandbox_command()
    pool = SandboxPool(how, 1)
    base = dict(TrustedGrader(cell_timeout=10, notebook_timeout=30).limits().as_dict(), **(limits or {}))
    try:
        pool.set_inputs({}, {})
        futures = [pool.submit({"type": "job", "limits": base,
                                "steps": [{"kind": "code", "key": str(i), "source": s} for i, s in enumerate(sources)]})
                   for sources in jobs_sources]
        return [f.result(timeout=120) for f in futures]
    finally:
        pool.close()
        for path in how.cleanup:
            import shutil
            shutil.rmtree(path, ignore_errors=True)


FORGE = """
import os, stat, struct, json
def forge(data):
    for fd in range(3, 40):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.write(fd, data)
        except OSError:
            pass
def frame(header, payload=b""):
    h = json.dumps(header).encode()
    return struct.pack("<I", len(h)) + h + struct.pack("<Q", len(payload)) + payload
"""


def test_an_attackers_leftovers_never_reach_the_next_job_and_floods_end_only_the_flooder():
    attacker = ["import os, tempfile\n"
                "base = tempfile.gettempdir()\n"
                "for root in ('/tmp', '/dev/shm', os.path.dirname(os.getcwd())):\n"
                "    for i in range(50):\n"
                "        try: os.makedirs(os.path.join(root, f'job{i}'), exist_ok=True)\n"
                "        except OSError: pass\n"
                "    try: os.symlink('/', os.path.join(root, 'autograder-jobs'))\n"
                "    except OSError: pass\n"
                "n = 0\n"
                "try:\n"
                "    while True:\n"
                "        with open(os.path.join(os.path.dirname(os.getcwd()), f'fill{n}'), 'wb') as f:\n"
                "            f.write(b'x' * (32 << 20))\n"
                "        n += 1\n"
                "except OSError: pass\n"
                "os.chmod(os.getcwd(), 0)\n",
                FORGE + "forge(frame({'type': 'case', 'step': 0, 'decl': 0, 'case': 0}) * 100000)"]
    innocent = ["import os, tempfile\n"
                "print(sorted(os.listdir(os.path.dirname(os.getcwd()))), os.listdir('.'))\n"
                "with open('mine.txt', 'w') as f: f.write('x' * 1000)\n"
                "with tempfile.NamedTemporaryFile() as f: f.write(b'y' * 1000)\n"
                "print(oct(os.stat('.').st_mode & 0o777), tempfile.gettempdir() == os.getcwd())"]
    flooded, clean = _pool_jobs(attacker, innocent, limits={"channel_frames": 1000})
    assert flooded.over and "1000 messages" in flooded.over
    cell = clean.frames.cells["0"]
    assert not cell["error"], cell
    listing, mode = cell["stdout"].splitlines()
    assert "fill" not in listing and "job0" not in listing and "autograder-jobs" not in listing
    assert mode == "0o700 True"


def test_crash_and_resume_cannot_multiply_the_bytes_cap():
    cell = FORGE + "forge(frame({'type': 'junk'}, b'x' * 600_000))\nos._exit(3)"
    result, = _pool_jobs([cell, cell, cell, cell, "print('end')"], limits={"output_bytes": 1 << 20})
    assert result.over and "1 MB" in result.over
    assert len(result.ends) == 2             # the second run went over; no third


def test_arrays_in_the_childs_layout_read_as_numpy_reads_them():
    """read_blobs reads the child's own .npy layout without np.load (speed); any other layout,
    forged or not, still goes through np.load, which refuses pickles."""
    import io

    import numpy as np
    arrays = [np.arange(12.).reshape(3, 4), np.array(2.5), np.zeros((0, 3)), np.array([True, False]),
              np.arange(6, dtype=">i4").reshape(2, 3).T, np.ones(3, np.complex64), np.array(["ab", "c"])]
    blobs = learner_runner.Blobs()
    keys = [blobs.add(a) for a in arrays]
    got, _ = channel.read_blobs(blobs.index, blobs.payload(), 1 << 20)
    for key, a in zip(keys, arrays):
        assert got[key].dtype == a.dtype and got[key].shape == a.shape and np.array_equal(got[key], a)
        assert got[key].flags.writeable
    short = learner_runner.npy_bytes(np.arange(4.))[:-8]                 # fewer bytes than the shape says
    pickled = io.BytesIO()
    np.save(pickled, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    fortran = io.BytesIO()
    np.save(fortran, np.asfortranarray(np.arange(6.).reshape(2, 3)))
    index, payload = {}, b""
    for key, data in (("short", short), ("pickled", pickled.getvalue()), ("fortran", fortran.getvalue())):
        index[key] = [len(payload), len(data)]
        payload += data
    got, _ = channel.read_blobs(index, payload, 1 << 20)
    assert set(got) == {"fortran"} and np.array_equal(got["fortran"], np.arange(6.).reshape(2, 3))


def test_the_zygote_sees_where_requests_end_however_the_stream_is_cut():
    """The zygote holds the child's frames a moment (they travel together) unless a stub's request
    is complete among them; learner bytes can only change when that happens, never what is sent."""
    import random
    frames = [frame({"type": "case", "step": 1}), frame({"type": "request", "id": 1}, b"x" * 100),
              frame({"type": "test"}), frame({"type": "request", "id": 2}), frame({}), frame({"type": "request"})]
    stream = b"".join(frames)
    ends, pos = [], 0
    for f in frames:
        pos += len(f)
        ends.append((pos, f[4:21] == b'{"type":"request"'))
    rng = random.Random(7)
    for _ in range(300):
        walk = learner_runner._FrameWalk()
        cuts = sorted(rng.sample(range(1, len(stream)), rng.randint(0, 25)))
        for a, b in zip([0] + cuts, cuts + [len(stream)]):
            assert walk.request_ends_in(stream[a:b]) == any(r for e, r in ends if a < e <= b)
    walk = learner_runner._FrameWalk()                          # garbage: lengths of exabytes
    assert not walk.request_ends_in(_claim(2, 1 << 60) + stream)


def test_the_childs_encoder_writes_what_its_python_encoder_writes():
    """The child encodes with json's C encoder made before learner code runs; its frames say what
    the Python encoder's say (control characters, surrogates, NaN, non-ASCII), never in more bytes."""
    import json
    values = [None, True, -(10 ** 20), 0.1, -0.0, float("nan"), float("inf"), 5e-324, "", "plain",
              "\x00\x08\x0c\t\n\r\"\\\x1f\x7f é \u2028 \U0001f600", "\ud800 lone", [1, (2, 3)],
              {"k": {"é": [None]}}, object()]
    for v in values + [values]:
        fast, slow = frame({"type": "cell", "v": v}), frame({"type": "cell", "v": v}, encode=learner_runner.py_dumps)
        assert json.dumps(learner_runner.frame_at(fast)[0]) == json.dumps(learner_runner.frame_at(slow)[0])
        assert len(fast) <= len(slow)
