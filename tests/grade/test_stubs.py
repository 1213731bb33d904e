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
