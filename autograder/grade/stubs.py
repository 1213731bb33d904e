"""Follow-through answers: the trusted parent's side of the sandbox's stubs.

While a check of ``attend`` runs in the sandbox, the learner's ``masked_softmax`` is a stub (see
``sandbox/learner_runner.py``) that sends its arguments here and returns what the reference
computes, so ``attend`` is judged on its own work; the sandbox never holds reference code.
``StubAnswers`` reads the child's stream while the job runs (the pool's worker thread feeds it)
and answers a request only when the stream, read in order and trusted in nothing, says that the
call comes during the very case of a check that may lean on that function:

* the current step is a test step that started and has not finished (``StepTracker``: steps only
  go forward, so a forged "start" only discards the results of the steps it skips);
* the request names the current (step, check, case), and that check is not an integration check
  and lists the function among its stubs (``checks.follow.lendable``: never the checked function,
  never one built on it, never one whose own tests come later);
* the notebook is within its budget of calls and bytes.

Everything else gets a refusal, which the stub raises inside learner code. Answers are plain data
(``assignment.describe_input`` and the arrays' raw bytes with their dtype and shape, never
pickles) and are memoised across the notebooks of an assignment: honest submissions make the same
calls.
"""
from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from ..checks import messages
from ..checks.follow import cast_floats, first_float_dtype
from ..exercises import registry
from ..sandbox import learner_runner
from ..sandbox.channel import ChannelBudget, StepTracker, read_blobs
from .assignment import describe_input
from .decode import Unreadable, decode


MEMO_ENTRIES = 50_000          # answers kept per assignment (small arrays: a few MB)


@dataclass
class StubBudget:
    """How many stub calls one notebook may make (over all its runs) and how large each may be."""

    max_calls: int
    max_bytes: int
    calls: int = 0
    # the frames this answerer reads (its own count, over the notebook's runs): one frame's size is
    # checked before its bytes are waited for, and beyond the caps nothing more is read
    channel: ChannelBudget = field(default_factory=ChannelBudget)


class StubAnswers:
    """Reads one run's child stream as it arrives and answers the follow-through requests in it."""

    def __init__(self, steps: list, budget: StubBudget, memo: dict):
        self.steps, self.budget, self.memo = steps, budget, memo
        self.tracker = StepTracker()
        self.buffer, self.broken = bytearray(), False
        self.last_test: dict[str, int] = {}          # exercise -> index of its last test step
        for i, step in enumerate(steps):
            for call in step.get("calls", []) if step.get("kind") == "test" else []:
                self.last_test[call.get("exercise")] = i

    def feed(self, chunk: bytes) -> list[bytes]:
        """The answer frames for the requests completed by ``chunk``, in order."""
        if self.broken:
            return []
        self.buffer += chunk
        answers, pos = [], 0
        channel = self.budget.channel
        try:
            while not isinstance(got := channel.frame_at(self.buffer, pos), int):
                if not channel.take_frame(got[2] - pos - len(got[1])):
                    self.broken = True
                    break
                header, payload, pos = got
                if isinstance(header, dict):
                    answer = self._follow(header, bytes(payload))
                    if answer is not None:
                        answers.append(answer)
        except Exception:          # an unreadable stream: nothing more is answered (stubs time out)
            self.broken = True
        del self.buffer[:pos]
        return answers

    def _follow(self, header: dict, payload: bytes) -> bytes | None:
        kind, step = header.get("type"), header.get("step")
        if kind == "start":
            self.tracker.start(step)
        elif kind == "case":
            self.tracker.enter_case(step, header.get("decl"), header.get("case"))
        elif kind in ("cell", "test"):
            self.tracker.finish(step)
        elif kind == "request":
            return self._answer(header, payload)
        return None

    def _lendable_now(self, header: dict) -> bool:
        t = self.tracker
        if not t.open or t.case is None or header.get("for") != [t.step, *t.case]:
            return False
        step = self.steps[t.step] if 0 <= t.step < len(self.steps) else {}
        calls = step.get("calls", []) if step.get("kind") == "test" else []
        if not 0 <= t.case[0] < len(calls):
            return False
        call, name = calls[t.case[0]], header.get("name")
        return (not call.get("integration") and any(s[0] == name for s in call.get("stubs", []))
                and self.last_test.get(name, -1) < t.step)

    def _answer(self, header: dict, payload: bytes) -> bytes:
        rid, name = header.get("id"), str(header.get("name"))[:100]
        made_for = str(header.get("exercise"))[:100]

        def refuse(message: str, error: str = "RuntimeError") -> bytes:
            return learner_runner.frame_bytes({"type": "answer", "id": rid, "ok": False, "error": error,
                                               "message": message}, encode=json.dumps)

        if not self._lendable_now(header):
            return refuse(messages.stashed_reference(name, made_for))
        self.budget.calls += 1
        if self.budget.calls > self.budget.max_calls or len(payload) > self.budget.max_bytes:
            return refuse(messages.stub_budget(self.budget.max_calls, self.budget.max_bytes))
        try:
            # keyed by the request's own bytes: the same bytes decode to the same values, so a
            # repeated call (honest notebooks make the same thousand) is answered without reading it
            key = (name, _request_digest(header, payload))
            answer = self.memo.get(key)
            if answer is None:
                arrays, _ = read_blobs(header.get("arrays"), payload, self.budget.max_bytes)
                answer = _reference(registry.get(name), decode(header.get("args"), arrays), made_for)
                if len(self.memo) >= MEMO_ENTRIES:
                    self.memo.clear()
                self.memo[key] = answer
        except (Unreadable, ValueError, TypeError, OverflowError, KeyError) as e:
            return refuse(messages.reference_rejected(name, made_for, e), "ValueError")
        described, data, error = answer
        if error is not None:
            return refuse(error, "ValueError")
        return learner_runner.frame_bytes({"type": "answer", "id": rid, "ok": True, **described}, data,
                                          encode=json.dumps)


def _request_digest(header: dict, payload: bytes) -> str:
    h = hashlib.sha1(json.dumps([header.get("args"), header.get("arrays")], sort_keys=True).encode())
    h.update(payload)
    return h.hexdigest()


def _reference(ex: registry.Exercise, args, made_for: str) -> tuple:
    """({"value": description, "arrays": index}, raw array bytes, None) of the reference on the
    stub's arguments, in the arguments' float dtype; or (None, b"", the refusal) when the reference
    rejects them."""
    if not isinstance(args, list) or len(args) != len(ex.args):
        raise ValueError(f"{len(ex.args)} arguments expected")
    values = dict(zip(ex.args, args))
    dtype = first_float_dtype(values)
    try:
        out = ex.reference(**cast_floats(copy.deepcopy(values), np.float64))
    except Exception as err:          # the contract: invalid arguments raise ValueError
        return None, b"", messages.reference_rejected(ex.name, made_for, err)
    out = cast_floats(out, dtype) if dtype is not None else out
    arrays: dict = {}
    value = describe_input(out, arrays)
    index, parts, size = {}, [], 0
    for key, arr in arrays.items():          # raw bytes: the child rebuilds them with np.frombuffer
        arr = np.ascontiguousarray(arr)
        index[key] = [size, int(arr.size), arr.dtype.str, [int(n) for n in arr.shape]]
        parts.append(arr.tobytes())
        size += arr.nbytes
    return {"value": value, "arrays": index}, b"".join(parts), None
