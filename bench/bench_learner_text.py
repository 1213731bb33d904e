"""Issue 18, classes 5 and 6: the parent's work on crafted learner text and forged frames.

For each path that applies a pattern, tokenizer or parser to learner text outside the sandbox,
the seconds it takes on a crafted input before and after the change, and the parent's peak
memory (tracemalloc) on the worst forged streams a notebook can send within its caps.

    .venv/bin/python bench/bench_learner_text.py [--text | --memory]
"""
from __future__ import annotations

import re
import time
import tracemalloc

from nbconvert.filters.ansi import ansi2html
from nbconvert.filters.markdown import markdown2html
from nbgrader.preprocessors import IgnorePattern

from autograder.authoring.feedback_limits import CapLearnerText
from autograder.grade.plan import needs_ipython
from autograder.grade.stubs import StubAnswers, StubBudget
from autograder.sandbox.channel import ChannelBudget, ChannelLimits, bounded_text, parse_stream
from autograder.sandbox.learner_runner import frame_bytes
from autograder.course import ROOT
from autograder.grade.options import course_config

OLD_SYNTAX = re.compile(r"^\s*[%!]|^\s*[\w.,\s]+=\s*[%!]|\?\s*$", re.MULTILINE)


def seconds(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def ignore(pattern: str, text: str) -> None:
    import nbformat
    cell = nbformat.v4.new_code_cell(outputs=[nbformat.v4.new_output("stream", name="stderr", text=text)])
    IgnorePattern(pattern=pattern, enabled=True).preprocess_cell(cell, {}, 0)


def capped_markdown(text: str) -> None:
    import nbformat
    cell, _ = CapLearnerText().preprocess_cell(nbformat.v4.new_markdown_cell(text), {}, 0)
    markdown2html(cell.source)


def text_paths() -> None:
    configured = course_config(ROOT).IgnorePattern.pattern
    words = "a" * 100_000
    ansi = "\x1b[1mx" * 200_000
    dollars = "$$" * 400_000
    rows = [
        ("IgnorePattern on 100,000 word characters (stderr)", lambda: ignore(r"\w*Warning\b", words),
         lambda: ignore(configured, words)),
        ("plan: IPython-syntax pattern on 1,000 newlines", lambda: OLD_SYNTAX.search("\n" * 1000),
         lambda: needs_ipython("\n" * 1000)),
        ("ansi2html on 200,000 colour codes (learner stdout)", lambda: ansi2html(ansi),
         lambda: ansi2html(bounded_text(ansi, 100_000))),
        ("markdown2html on 800,000 characters of $$ (feedback)", lambda: markdown2html(dollars),
         lambda: capped_markdown(dollars)),
    ]
    for name, before, after in rows:
        print(f"{name:55s} before {seconds(before):8.2f} s   after {seconds(after):6.3f} s", flush=True)
    from IPython.core.inputtransformer2 import TransformerManager
    magics = "%time x\n" * 2000
    print(f"{'IPython transformer on 2,000 magic lines (now in the sandbox)':55s} "
          f"{seconds(TransformerManager().transform_cell, magics):8.2f} s in the parent before, 0 after")


def peak(name: str, stream: bytes, tests: int = 0) -> None:
    """The parent's peak traced memory reading ``stream`` as a notebook's run, within the caps;
    ``tests``: how many test steps the job has (their results are kept)."""
    chunk = 1 << 16
    tracemalloc.start()
    budget = ChannelBudget(ChannelLimits())
    taken = bytearray()
    for i in range(0, len(stream), chunk):             # what Zygote.run keeps, piece by piece
        if not budget.take_bytes(len(stream[i:i + chunk])):
            break
        taken += stream[i:i + chunk]
    answers = StubAnswers([], StubBudget(100, 1 << 20), {})
    for i in range(0, len(taken), chunk):              # the follow-through answerer reads it too
        answers.feed(bytes(taken[i:i + chunk]))
    frames = parse_stream(taken, budget=budget, test_ids={i: f"test_{i}" for i in range(tests)})
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{name:55s} stream {len(stream) / (1 << 20):5.1f} MB  peak {top / (1 << 20):7.1f} MB  "
          f"kept {len(frames.tests)} tests  ({budget.over or frames.problem or 'read'})", flush=True)


def forged_streams() -> None:
    lists = [[]] * ((2 << 20) // 3 - 20)                # a 2 MB header (the cap) of empty lists
    kept = b"".join(frame_bytes({"type": "start", "step": i}) + frame_bytes({"type": "test", "step": i, "calls": lists})
                    for i in range(8))
    peak("a header claiming 1 EB of payload", (2).to_bytes(4, "little") + b"{}" + (1 << 60).to_bytes(8, "little"))
    peak("test results of 2 MB JSON of empty lists, to the 8 MB cap", kept, tests=8)
    peak("a 64 MB flood of tiny frames", frame_bytes({"type": "case"}) * ((64 << 20) // 27))
    peak("one 60 MB payload frame", frame_bytes({"type": "junk"}, b"\0" * (60 << 20)))


if __name__ == "__main__":
    import sys
    if "--memory" not in sys.argv:
        text_paths()
    if "--text" not in sys.argv:
        forged_streams()
