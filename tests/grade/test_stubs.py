"""The trusted parent answers a sandbox's follow-through stub only during the call it was made for,
reading the child's stream as a strict state machine (grade/stubs.py, sandbox/channel.py)."""
from __future__ import annotations

import numpy as np

from autograder.checks import messages
from autograder.exercises import registry
from autograder.grade.stubs import StubAnswers, StubBudget
from autograder.sandbox.channel import parse_stream
from autograder.sandbox.learner_runner import Blobs, build, encode, frame_at, frame_bytes

SOFTMAX = ["masked_softmax", 2]
STEPS = [
    {"kind": "code", "key": "0:a", "source": ""},
    {"kind": "test", "grade_id": "test_masked_softmax", "calls": [
        {"function": "masked_softmax", "exercise": "masked_softmax", "integration": False, "stubs": [], "cases": []}]},
    {"kind": "test", "grade_id": "test_attend", "calls": [
        {"function": "attend", "exercise": "attend", "integration": False, "stubs": [SOFTMAX], "cases": []}]},
    {"kind": "test", "grade_id": "test_attend_integration", "calls": [
        {"function": "attend", "exercise": "attend", "integration": True, "stubs": [], "cases": []}]},
]
SCORES = np.array([[1.0, 2.0, 3.0], [0.5, 0.5, -1.0]], dtype=np.float32)


def _request(where, rid=1, name="masked_softmax", exercise="attend") -> bytes:
    blobs = Blobs()
    args = encode([SCORES, None], blobs, np)
    return frame_bytes({"type": "request", "id": rid, "name": name, "for": where, "exercise": exercise,
                        "args": args, "arrays": blobs.index}, blobs.payload())


def _answers(stream: bytes, max_calls: int = 100) -> list[dict]:
    """The answers, decoded as the child decodes them: (header, value or None)."""
    out = []
    for frame in StubAnswers(STEPS, StubBudget(max_calls, 1 << 20), {}).feed(stream):
        header, payload, _ = frame_at(frame)
        value = None
        if header.get("ok"):
            arrays = {k: np.frombuffer(bytes(payload), dtype=d, count=n, offset=o).reshape(shape)
                      for k, (o, n, d, shape) in header["arrays"].items()}
            value = build(header["value"], arrays)
        out.append((header, value))
    return out


def _start(step):
    return frame_bytes({"type": "start", "step": step})


def _case(step, decl=0, case=0):
    return frame_bytes({"type": "case", "step": step, "decl": decl, "case": case})


def test_answered_during_its_own_call_in_the_inputs_dtype():
    ((header, value),) = _answers(_start(2) + _case(2) + _request([2, 0, 0]))
    assert header["ok"] is True and header["id"] == 1
    expected = registry.get("masked_softmax").reference(scores=SCORES.astype(np.float64), mask=None)
    assert value.dtype == np.float32 and np.allclose(value, expected, atol=1e-6)


def test_refused_everywhere_else():
    stashed = messages.stashed_reference("masked_softmax", "attend")
    cases = {
        "a code cell": _start(0) + _request([2, 0, 0]),
        "another case": _start(2) + _case(2, 0, 1) + _request([2, 0, 0]),
        "its own function's check": _start(1) + _case(1) + _request([1, 0, 0]),
        "an integration check": _start(3) + _case(3) + _request([3, 0, 0]),
        "after its check's result": _start(2) + _case(2) + frame_bytes({"type": "test", "step": 2}) + _request([2, 0, 0]),
        "a function the check may not lean on": _start(2) + _case(2) + _request([2, 0, 0], name="attend"),
        "a step that went backwards": _start(2) + _start(1) + _case(1) + _request([1, 0, 0]),
    }
    for where, stream in cases.items():
        ((header, _),) = _answers(stream)
        assert header["ok"] is False and header["error"] == "RuntimeError", where
    ((header, _),) = _answers(_start(0) + _request([2, 0, 0]))
    assert header["message"] == stashed


def test_a_notebook_has_a_budget():
    stream = _start(2) + _case(2) + _request([2, 0, 0], rid=1) + _request([2, 0, 0], rid=2)
    first, second = _answers(stream, max_calls=1)
    assert first[0]["ok"] is True
    assert second[0]["ok"] is False and "at most 1 calls" in second[0]["message"]


def test_results_that_arrive_after_a_later_step_started_are_discarded():
    test_ids = {1: "test_masked_softmax", 2: "test_attend"}
    result = frame_bytes({"type": "test", "step": 1, "grade_id": "test_attend", "calls": [], "arrays": {}})
    frames = parse_stream(_start(2) + result, test_ids=test_ids)        # a forged start ran ahead
    assert frames.tests == {} and frames.discarded == {"test_masked_softmax"}
    frames = parse_stream(_start(1) + result, test_ids=test_ids)        # in order: filed by its step
    assert set(frames.tests) == {"test_masked_softmax"}


# ------------------------------------------------------------------ the stream is read once, exactly

def _frames_of(frames) -> tuple:
    """A ChildFrames as comparable data (arrays by dtype, shape and bytes)."""
    tests = {g: (h, {k: (a.dtype.str, a.shape, a.tobytes()) for k, a in arrays.items()})
             for g, (h, arrays) in frames.tests.items()}
    return (frames.cells, tests, frames.started, frames.finished, frames.discarded, frames.done,
            frames.fatal, frames.problem)


def _raw(header: dict) -> bytes:
    """A header's bytes as the child's encoder writes them."""
    return frame_bytes(header)[4:-8]


def test_parse_stream_reads_what_the_answerer_read_as_it_would_have_itself():
    """The answerer hands the headers it parsed to parse_stream (``known``); whatever the stream
    holds, the result is the one parse_stream gets on its own, problems and their byte included."""
    import struct

    from autograder.sandbox.channel import ChannelBudget, ChannelLimits
    test_ids = {1: "test_masked_softmax", 2: "test_attend", 3: "test_attend_integration"}
    blobs = Blobs()
    calls = [{"decl": 0, "case": 0, "status": "returned", "value": encode(SCORES, blobs, np), "stdout": "x" * 50}]
    result = frame_bytes({"type": "test", "step": 2, "grade_id": "test_attend", "calls": calls,
                          "arrays": blobs.index}, blobs.payload())
    honest = (_start(0) + frame_bytes({"type": "cell", "step": 0, "key": "0:a", "stdout": "hi", "error": None})
              + _start(2) + _case(2) + _request([2, 0, 0]) + _request([2, 0, 0], rid=2) + result
              + frame_bytes({"type": "done"}))
    forged = _raw({"type": "request", "id": 3, "name": "masked_softmax", "for": [2, 0, 0]})
    streams = {
        "honest": honest,
        "junk after a request": _start(2) + _case(2) + _request([2, 0, 0]) + b"\x05\x00\x00\x00{oops" + result,
        "a header that is not an object": _start(2) + frame_bytes([1, 2]) + result,
        "a frame too large, announced": _start(2) + _request([2, 0, 0]) + struct.pack("<I", 1 << 30),
        "a request with another key order": _start(2) + _case(2) + frame_bytes(
            {"id": 1, "type": "request", "name": "masked_softmax", "for": [2, 0, 0], "exercise": "attend",
             "args": {"t": "none"}, "arrays": {}}) + result,
        "a request whose arguments repeat a key": _start(2) + _case(2) + struct.pack("<I", len(forged) + 40)
            + forged[:-1] + b',"args":{"t":"none"},"arrays":{},"id":9}' + struct.pack("<Q", 0) + result,
        "truncated": honest[:-7],
    }
    for limits in (ChannelLimits(), ChannelLimits(frames=5), ChannelLimits(header_bytes=200)):
        for where, stream in streams.items():
            for _ in range(2):          # the second time, the requests' arguments have been seen
                answers = StubAnswers(STEPS, StubBudget(100, 1 << 20, channel=ChannelBudget(limits)), {})
                for i in range(0, len(stream), 7):                    # as it arrives, in pieces
                    answers.feed(stream[i:i + 7])
                budgets = [ChannelBudget(limits), ChannelBudget(limits)]
                once = parse_stream(stream, test_ids=test_ids, budget=budgets[0], known=answers.known)
                twice = parse_stream(stream, test_ids=test_ids, budget=budgets[1])
                assert _frames_of(once) == _frames_of(twice), where
                assert vars(budgets[0]) | {"limits": 0} == vars(budgets[1]) | {"limits": 0}, where


def test_requests_read_from_their_bytes_say_what_json_says():
    """A request in the child's own encoding whose arguments' bytes were seen before is read
    without a JSON parser, its arguments only when the memo lacks the answer (``_two_values``)."""
    import json

    from autograder.grade.stubs import _Request, _two_values, read_header
    request = {"type": "request", "id": 12, "name": "masked_softmax", "for": [2, 0, 1], "exercise": "attend",
               "args": {"t": "list", "items": [{"t": "nd", "k": "a0"}, {"t": "none"}]}, "arrays": {"a0": [0, 152]}}
    raws = [_raw(request), _raw(dict(request, id=13)), _raw(dict(request, name="é")),
            _raw(dict(request, id=-1)), _raw(dict(request, **{"for": [2, True, 0]})),
            _raw(request)[:-1] + b',"id":99}', _raw(request)[:-1] + b',"name":"attend"}',
            _raw(request) + b" ", _raw(dict(request, args={"t": "str", "v": '"arrays":{}}'}))]
    own = {raws[0], raws[1], raws[-1]}  # the child's own encoding, plain names
    for round in range(2):              # the second round: every argument's bytes have been seen
        for raw in raws:
            header = read_header(raw)
            if round == 1 or raw not in own:
                assert (type(header) is _Request) == (raw in own), raw
            if type(header) is _Request:
                header = dict(header, **dict(zip(("args", "arrays"), _two_values(header.rest))))
            assert header == json.loads(raw.decode()), raw


def test_answers_are_the_frames_json_would_make_and_keys_tell_arguments_apart():
    import json

    from autograder.grade.stubs import _Answer
    described = {"value": {"t": "nd", "k": "a0"}, "arrays": {"a0": [0, 3, "<f8", [3]]}}
    for rid in (1, 10 ** 20, True, None, 1.5, "x", [1, {"a": 2}]):
        assert _Answer((described, b"\0" * 24, None)).frame(rid) == frame_bytes(
            {"type": "answer", "id": rid, "ok": True, **described}, b"\0" * 24, encode=json.dumps)
    memo = {}
    stream = _start(2) + _case(2)
    for rid, scores in enumerate([SCORES, SCORES * 2, SCORES, SCORES[:1]], start=1):
        blobs = Blobs()
        args = encode([scores, None], blobs, np)
        stream += frame_bytes({"type": "request", "id": rid, "name": "masked_softmax", "for": [2, 0, 0],
                               "exercise": "attend", "args": args, "arrays": blobs.index}, blobs.payload())
    frames = StubAnswers(STEPS, StubBudget(100, 1 << 20), memo).feed(stream)
    assert len(memo) == 3                                   # the same call twice: one entry
    reference = registry.get("masked_softmax").reference
    for frame, scores in zip(frames, [SCORES, SCORES * 2, SCORES, SCORES[:1]]):
        header, payload, _ = frame_at(frame)
        arrays = {k: np.frombuffer(bytes(payload), dtype=d, count=n, offset=o).reshape(shape)
                  for k, (o, n, d, shape) in header["arrays"].items()}
        got = build(header["value"], arrays)
        assert np.allclose(got, reference(scores=scores.astype(np.float64), mask=None), atol=1e-6)
