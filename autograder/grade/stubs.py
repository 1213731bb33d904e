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

This runs in the trusted parent's reader threads, whose every microsecond is taken from the main
thread (one GIL), so a request is worked on once: its header is parsed once (``parse_stream`` gets
the headers read here), read from its bytes without a JSON parser when it is in the child's own
encoding with arguments seen before (``read_header``), and answered from the memo with frame bytes
made once per entry. None of that trusts the child more: the bytes decide nothing that their JSON
would not.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
import struct
from dataclasses import dataclass, field

import numpy as np

from ..checks import messages
from ..checks.follow import cast_floats, first_float_dtype
from ..exercises import registry
from ..sandbox import learner_runner
from ..sandbox.channel import ChannelBudget, StepTracker, kept, read_blobs
from .assignment import describe_input
from .decode import Unreadable, decode


MEMO_ENTRIES = 50_000          # answers kept per assignment (small arrays: a few MB)
SEEN_BYTES = 64 << 20          # requests' argument bytes remembered as well-formed, per process
DIGEST_BYTES = 64 << 20        # requests' bytes remembered with their digest, per process


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
    """Reads one run's child stream as it arrives and answers the follow-through requests in it.
    ``known`` (offset -> ``channel.kept`` header) is what it read, handed to ``parse_stream`` so
    that the stream's JSON is parsed once."""

    def __init__(self, steps: list, budget: StubBudget, memo: dict):
        self.steps, self.budget, self.memo = steps, budget, memo
        self.tracker = StepTracker()
        self.buffer, self.broken = bytearray(), False
        self.offset = 0                               # where ``buffer`` starts in the stream
        self.known: dict[int, object] = {}
        self.lendable: tuple = (None,)                # ((step, case), [step, *case], names)
        self.encoded: dict = {}                       # (name, caller) -> their JSON, as the child writes it
        self.last_test: dict[str, int] = {}          # exercise -> index of its last test step
        for i, step in enumerate(steps):
            for call in step.get("calls", []) if step.get("kind") == "test" else []:
                self.last_test[call.get("exercise")] = i

    def feed(self, chunk: bytes) -> list[bytes]:
        """The answer frames for the requests completed by ``chunk``, in order."""
        if self.broken:
            return []
        if self.buffer:                  # a frame's start came before: read on from it
            self.buffer += chunk
            buf = self.buffer
        else:                            # the usual case: whole frames, read where they are
            buf = chunk
        answers, pos = [], 0
        channel, known = self.budget.channel, self.known
        try:
            while pos < len(buf) and not isinstance(got := channel.frame_at(buf, pos, loads=read_header), int):
                if not channel.take_frame(got[2] - pos - len(got[1])):
                    self.broken = True
                    break
                start = pos
                header, payload, pos = got
                known[self.offset + start] = kept(header)
                if isinstance(header, dict):
                    answer = self._follow(header, buf, start, payload)
                    if answer is not None:
                        answers.append(answer)
        except Exception:          # an unreadable stream: nothing more is answered (stubs time out)
            self.broken = True
        self.buffer = bytearray(buf[pos:])     # what is left of a frame still to come
        self.offset += pos
        return answers

    def _follow(self, header: dict, buf, start: int, payload) -> bytes | None:
        kind, step = header.get("type"), header.get("step")
        if kind == "start":
            self.tracker.start(step)
        elif kind == "case":
            self.tracker.enter_case(step, header.get("decl"), header.get("case"))
        elif kind in ("cell", "test"):
            self.tracker.finish(step)
        elif kind == "request":
            if type(header) is _Request:
                return self._answer(header, bytes(payload))
            raw = bytes(buf[start + 4:start + 4 + int.from_bytes(buf[start:start + 4], "little")])
            return self._answer(header, bytes(payload), raw)
        return None

    def _lendable_now(self, header: dict) -> bool:
        t = self.tracker
        if not t.open or t.case is None:
            return False
        if self.lendable[0] != (t.step, t.case):        # worked out once per case, not per call
            self.lendable = ((t.step, t.case), [t.step, *t.case], self._lendable_in(t.step, t.case[0]))
        _, where, names = self.lendable
        return header.get("for") == where and header.get("name") in names

    def _lendable_in(self, index: int, decl: int) -> tuple:
        """The functions the check ``decl`` of step ``index`` may lean on (a tuple: a request's
        name is compared, never hashed)."""
        step = self.steps[index] if 0 <= index < len(self.steps) else {}
        calls = step.get("calls", []) if step.get("kind") == "test" else []
        if not 0 <= decl < len(calls) or calls[decl].get("integration"):
            return ()
        return tuple(s[0] for s in calls[decl].get("stubs", []) if self.last_test.get(s[0], -1) < index)

    def _answer(self, header: dict, payload: bytes, raw: bytes = b"") -> bytes:
        """``raw``: the header's own bytes (the memo's key is made of them when they are the
        child's own encoding)."""
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
            fast = type(header) is _Request
            key = (name, _request_digest(header, payload, header.rest if fast else self._raw_arguments(header, raw)))
            answer = self.memo.get(key)
            if answer is None:
                args, index = _two_values(header.rest) if fast else (header.get("args"), header.get("arrays"))
                arrays, _ = read_blobs(index, payload, self.budget.max_bytes)
                answer = _reference(registry.get(name), decode(args, arrays), made_for)
                if len(self.memo) >= MEMO_ENTRIES:
                    self.memo.clear()
                self.memo[key] = answer
        except (Unreadable, ValueError, TypeError, OverflowError, KeyError) as e:
            return refuse(messages.reference_rejected(name, made_for, e), "ValueError")
        if answer[2] is not None:
            return refuse(answer[2], "ValueError")
        if type(answer) is not _Answer:          # computed now, or read from the reference cache
            answer = self.memo[key] = _Answer(answer)
        return answer.frame(rid)

    def _raw_arguments(self, header: dict, raw: bytes) -> bytes | None:
        """The bytes of a request's header after ``"args":`` when all before it is what the
        child's encoder (``learner_runner.dumps``) writes for this header's type, id, name, case
        and caller; else None."""
        rid, name, where, made_for = header.get("id"), header.get("name"), header.get("for"), header.get("exercise")
        if (type(rid) is not int or type(name) is not str or type(made_for) is not str or type(where) is not list
                or not all(type(v) is int for v in where)):
            return None
        names = self.encoded.get((name, made_for))
        if names is None:
            if len(self.encoded) > 100:
                self.encoded.clear()
            names = self.encoded[name, made_for] = tuple(learner_runner.dumps(v).encode("utf-8")
                                                         for v in (name, made_for))
        prefix = b'{"type":"request","id":%d,"name":%b,"for":[%b],"exercise":%b,"args":' % (
            rid, names[0], b",".join(b"%d" % v for v in where), names[1])
        return raw[len(prefix):] if raw.startswith(prefix) else None


# A request's header as the child's encoder writes it, up to its arguments, with plain names and
# numbers only: what it says is read from these bytes (see ``read_header``)
_REQUEST = re.compile(rb'\{"type":"request","id":(0|[1-9][0-9]{0,17}),"name":"([A-Za-z_][A-Za-z0-9_]{0,99})",'
                      rb'"for":\[((?:0|[1-9][0-9]{0,17})(?:,(?:0|[1-9][0-9]{0,17})){0,7})\],'
                      rb'"exercise":"([A-Za-z0-9_]{0,100})","args":')
_DECODER = json.JSONDecoder()        # json.loads's own


class _Request(dict):
    """A stub's request read by ``read_header`` without a JSON parser: all but its arguments, and
    ``rest``, their bytes (``ARGS,"arrays":INDEX}``, read before and found well-formed)."""

    __slots__ = ("rest",)


class _Remembered:
    """Byte strings -> what was worked out from them once, shared by a process's answerers (the
    same calls recur across notebooks); at most ``cap`` bytes of keys, then it starts afresh."""

    def __init__(self, cap: int):
        self.items, self.size, self.cap = {}, 0, cap

    def get(self, key):
        return self.items.get(key)

    def put(self, key, value, size: int) -> None:
        if self.size + size > self.cap:
            self.items, self.size = {}, 0
        self.items[key] = value
        self.size += size


_SEEN = _Remembered(SEEN_BYTES)           # argument bytes -> True: found well-formed (_two_values)
_DIGESTS = _Remembered(DIGEST_BYTES)      # (argument bytes, payload) -> their digest (_request_digest)


def read_header(raw: bytes):
    """A child frame's header, as ``json.loads`` reads it. A stub's request (most frames) in the
    child's own encoding whose argument bytes were seen before is read without parsing them
    again: its prefix holds nothing but plain names and numbers, and the rest is exactly
    ``ARGS,"arrays":INDEX}``, so the bytes say the same as the JSON parser would; the arguments
    are parsed only if the memo does not hold the answer."""
    m = _REQUEST.match(raw)
    if m is not None and _SEEN.get(rest := raw[m.end():]):
        header = _Request({"type": "request", "id": int(m[1]), "name": m[2].decode(),
                           "for": [int(v) for v in m[3].split(b",")], "exercise": m[4].decode()})
        header.rest = rest
        return header
    header = json.loads(raw.decode("utf-8"))          # raises on a malformed one, as ever
    if m is not None and _two_values(rest) is not None:
        _SEEN.put(rest, True, len(rest))
    return header


def _two_values(rest: bytes) -> tuple | None:
    """(args, index) when ``rest`` is exactly ``ARGS,"arrays":INDEX}`` (two JSON values, as the
    child writes them), else None."""
    try:
        text = rest.decode("utf-8")
        args, end = _DECODER.raw_decode(text)
        if not text.startswith(',"arrays":', end):
            return None
        index, end = _DECODER.raw_decode(text, end + 10)
    except (ValueError, RecursionError):
        return None
    return (args, index) if text[end:] == "}" else None


class _Answer(tuple):
    """A memo entry, (description, raw array bytes, None): what ``reference_cache`` stores, and
    the answer frame's bytes after its id, encoded once (``json.dumps`` of the whole header
    gives the same bytes)."""

    def __init__(self, entry):
        described, data, _ = self
        self.tail = (json.dumps(described)[1:]).encode("utf-8")
        self.size = struct.pack("<Q", len(data))

    def frame(self, rid) -> bytes:
        rid = b"%d" % rid if type(rid) is int else json.dumps(rid).encode("utf-8")
        head = b'{"type": "answer", "id": ' + rid + b', "ok": true, ' + self.tail
        return b"".join((struct.pack("<I", len(head)), head, self.size, self[1]))


def _request_digest(header: dict, payload: bytes, rest: bytes | None) -> str:
    """The memo's key for a request's arguments: a digest of their bytes as the child wrote them
    (``rest``: the header's bytes after ``"args":``, when all before them is in the child's own
    encoding), or of their canonical JSON. Different arguments never share a key: the same bytes
    after the same kind of prefix parse to the same values."""
    if rest is None:
        h = hashlib.sha256(b"j" + json.dumps([header.get("args"), header.get("arrays")], sort_keys=True).encode())
        h.update(payload)
        return h.hexdigest()
    digest = _DIGESTS.get((rest, payload))        # a dict of the bytes themselves: exact, and cheaper
    if digest is None:
        h = hashlib.sha256(b"r" + len(rest).to_bytes(8, "little"))
        h.update(rest)
        h.update(payload)
        digest = h.hexdigest()
        _DIGESTS.put((rest, payload), digest, len(rest) + len(payload))
    return digest


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
