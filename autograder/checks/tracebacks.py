"""Learners' tracebacks without the check's own frames, so that the message comes first.

IPython leaves out frames that set ``__tracebackhide__`` only in some exception modes: in
JupyterLab 4 (ipykernel 7, IPython 9) and in the kernel nbgrader runs, the default "Context" mode
and "Verbose" skip them but still print "[... skipping hidden 2 frame]", "Plain" (``%xmode Plain``)
prints them all, "Docs" hides the learner's own frames too. What IPython asks in every mode, before
formatting anything, is the exception's own ``_render_traceback_()`` (the protocol
IPython.parallel uses for remote errors), and nbgrader stores whatever the kernel sends, so its
feedback HTML shows the same. So:

* a failed check (``message_first``) renders as its message alone, ``AssertionError: ...``: the
  same single line ``autograder grade`` records, whatever the mode;
* an exception raised inside the learner's function (``hide_check_frames``) renders with IPython's
  formatter in the current mode, from a traceback with every frame that sets
  ``__tracebackhide__`` (``check``, ``run_case``, the follow-through stand-ins) removed, so the
  learner sees the test cell's line, then their own code, then the error.

Outside IPython (plain Python, pytest) nothing changes: pytest honours ``__tracebackhide__``.
"""
from __future__ import annotations

import types


def message_first(err: BaseException) -> BaseException:
    """``err`` rendered in IPython as its message alone (no frames: the message says it all)."""
    err._render_traceback_ = lambda: [f"{type(err).__name__}: {err}"]
    return err


def _without_hidden_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    kept = []
    while tb is not None:
        if tb.tb_frame.f_locals.get("__tracebackhide__") is not True:   # IPython marks its own bottom frame with a string
            kept.append(tb)
        tb = tb.tb_next
    trimmed = None
    for entry in reversed(kept):
        trimmed = types.TracebackType(trimmed, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return trimmed


def _render_without_check_frames(err: BaseException) -> list[str]:
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:        # not called outside IPython; be safe anyway
        import traceback
        return traceback.format_exception(err)
    return shell.InteractiveTB.structured_traceback(type(err), err, _without_hidden_frames(err.__traceback__))


def hide_check_frames(err: BaseException) -> BaseException:
    """``err`` (raised by learner code under ``check``) rendered in IPython without our frames."""
    try:
        err._render_traceback_ = lambda: _render_without_check_frames(err)
    except AttributeError:     # an exception type without a __dict__: keep IPython's rendering
        pass
    return err
