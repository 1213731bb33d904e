"""How a submission is turned into sandbox steps, and how returned values are read back."""
from __future__ import annotations

import nbformat
import numpy as np
import pytest

from autograder.course import ROOT, notebooks
from autograder.grade.assignment import TrustedAssignment
from autograder.grade.decode import decode
from autograder.grade.plan import plan_job


def _trusted(a="ps1_rnn_forward") -> TrustedAssignment:
    t = TrustedAssignment.from_source(ROOT, a)
    t.prepare()
    return t


def _release(a="ps1_rnn_forward"):
    return nbformat.read(next(iter(notebooks(ROOT / "release" / a))), as_version=4)


def _kinds(steps):
    return [s["grade_id"] if s["kind"] == "test" else "code" for s in steps]


def test_plan_runs_code_in_order_tests_as_calls_and_skips_demos():
    t = _trusted()
    nb = _release()
    steps = plan_job(t.notebooks["ps1_rnn_forward"], nb)
    tests = [s for s in steps if s["kind"] == "test"]
    assert [s["grade_id"] for s in tests] == list(t.notebooks["ps1_rnn_forward"].tests)
    assert all(s["calls"] for s in tests)
    code = "\n".join(s["source"] for s in steps if s["kind"] == "code")
    assert "check(" not in code and "if not GRADING" not in code        # no test cells, no demos
    assert "from autograder import check" in code                       # the setup cell runs


def test_plan_restores_locked_cells_and_ignores_moved_or_deleted_tests():
    t = _trusted()
    nb = _release()
    honest = _kinds(plan_job(t.notebooks["ps1_rnn_forward"], nb))
    setup = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    setup.source = "raise SystemExit('tampered')"
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("test_")]
    nb.cells = [c for c in nb.cells if c not in tests] + tests[3:][::-1]    # 3 deleted, the rest moved
    steps = plan_job(t.notebooks["ps1_rnn_forward"], nb)
    assert _kinds(steps) == honest
    assert not any("tampered" in s.get("source", "") for s in steps)


def test_decode_builds_only_plain_values():
    assert decode({"t": "ndsub", "mod": "evil", "name": "Agree"}, {}).__class__.__name__ == "Agree"
    sub = decode({"t": "ndsub", "mod": "evil", "name": "Agree"}, {})
    assert isinstance(sub, np.ndarray) and type(sub) is not np.ndarray and sub.size == 0
    assert type(decode({"t": "obj", "mod": "os", "name": "system"}, {})).__module__ == "os"
    assert decode({"t": "tuple", "items": [{"t": "float", "v": "nan"}, {"t": "none"}]}, {})[1] is None
    with pytest.raises(Exception):
        decode({"t": "nd", "k": "missing"}, {})


def test_array_keys_are_found_at_any_depth_as_the_general_walk_finds_them():
    """decode._array_keys (a recursive walk with the encoder's leaves taken inline, iterative past
    depth 40) finds every "nd" node's key, however a hostile child nests them."""
    from autograder.grade.decode import _array_keys
    deep = {"t": "nd", "k": "z"}
    for _ in range(200):
        deep = {"t": "list", "items": [deep, {"t": "str", "v": "x"}]}
    desc = {"t": "tuple", "items": [{"t": "nd", "k": "a0"}, {"t": "dict", "items": [[{"t": "str", "v": "W"},
            {"t": "nd", "k": "a1"}]]}, {"t": "str", "v": {"t": "nd", "k": "a2"}}, {"t": "nd"}, deep,
            {"t": "obj", "k": {"t": "nd", "k": "a3"}}, {"t": "none", "items": [{"t": "nd", "k": "a4", "x": 1}]}]}
    assert _array_keys(desc) == {"a0", "a1", "a2", None, "z", "a3", "a4"}
