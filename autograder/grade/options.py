"""One set of limits and defaults for ``autograder grade``, configurable like nbgrader.

``TrustedGrader`` is a traitlets ``Configurable`` read from the course's ``nbgrader_config.py``
(``c.TrustedGrader.cell_timeout = 60``); command-line flags override it, and
``autograder grade --help-all`` lists it. Both modes (a batch and one notebook) take their
limits from here, nowhere else.
"""
from __future__ import annotations

import os
from pathlib import Path

from traitlets import Bool, Float, Integer
from traitlets.config import Config, Configurable

from ..sandbox.command import Limits


class GraderError(RuntimeError):
    """Grading cannot start (no such assignment, a broken configuration, no sandbox under
    --require-sandbox, ...)."""


class TrustedGrader(Configurable):
    """Limits and defaults of `autograder grade` (the course's trusted grader)."""

    cell_timeout = Float(None, allow_none=True, help=(
        "Seconds a code cell or a test cell may run. Default: nbgrader's Execute.timeout from "
        "the same configuration (as stock `nbgrader autograde` uses)")).tag(config=True)
    notebook_timeout = Float(300.0, help="Seconds (wall and CPU) a whole notebook may run").tag(config=True)
    memory_mb = Integer(2048, help="Memory (MB) a notebook may use on top of numpy and matplotlib").tag(config=True)
    file_mb = Integer(64, help="Largest file (MB) learner code may write").tag(config=True)
    output_bytes = Integer(64 << 20, help="Bytes a notebook's run may send back in all").tag(config=True)
    stream_chars = Integer(100_000, help="Printed characters kept per cell").tag(config=True)
    files_bytes = Integer(64 << 20, help=(
        "Bytes of extra files (the submission's and the assignment's data files) a notebook gets "
        "beside it; a file beyond this is left out and the report says so")).tag(config=True)
    jobs = Integer(0, help="Sandboxes running at once (0: one per core)").tag(config=True)
    stub_calls = Integer(20_000, help=(
        "Follow-through calls (a check's learner code calling another graded function, answered "
        "with the reference by this process) answered per notebook")).tag(config=True)
    stub_bytes = Integer(16 << 20, help="Bytes of arguments one follow-through call may send").tag(config=True)
    require_sandbox = Bool(False, help="Refuse to run learner code without bubblewrap").tag(config=True)

    # What this process reads back from a notebook's sandbox, counted over all the runs of that
    # notebook (output_bytes above included): going over one ends that notebook, with the reason.
    channel_frames = Integer(200_000, help="Messages a notebook's sandbox may send back").tag(config=True)
    header_bytes = Integer(2 << 20, help="Bytes of one message's description (JSON)").tag(config=True)
    headers_bytes = Integer(8 << 20, help="Bytes of all of a notebook's message descriptions (JSON)").tag(config=True)
    frame_bytes = Integer(32 << 20, help="Bytes of one message (description and arrays)").tag(config=True)

    def effective_jobs(self) -> int:
        return self.jobs or os.cpu_count() or 1

    def limits(self, execute_timeout: float | None = None) -> Limits:
        """The sandbox's limits; ``execute_timeout`` is nbgrader's Execute.timeout, used when no
        cell_timeout is configured."""
        from nbgrader.preprocessors import Execute
        cell = self.cell_timeout or execute_timeout or Execute.timeout.default_value
        return Limits(cell_timeout=float(cell), notebook_timeout=self.notebook_timeout, memory_mb=self.memory_mb,
                      file_mb=self.file_mb, output_bytes=self.output_bytes, stream_chars=self.stream_chars,
                      require_seccomp=self.require_sandbox, stub_calls=self.stub_calls, stub_bytes=self.stub_bytes,
                      channel_frames=self.channel_frames, header_bytes=self.header_bytes,
                      headers_bytes=self.headers_bytes, frame_bytes=self.frame_bytes)


# command-line flag -> TrustedGrader trait it overrides
FLAGS = {"timeout": "cell_timeout", "notebook_timeout": "notebook_timeout", "memory": "memory_mb",
         "jobs": "jobs", "require_sandbox": "require_sandbox"}


def course_config(course_dir: Path) -> Config:
    """The course's nbgrader_config.py, read as nbgrader reads it; an empty Config when there is
    none. A file that fails to load is an error, never an empty configuration."""
    from traitlets.config.loader import PyFileConfigLoader
    path = Path(course_dir) / "nbgrader_config.py"
    if not path.exists():
        return Config()
    try:
        return PyFileConfigLoader(path.name, path=str(path.parent)).load_config()
    except Exception as e:
        raise GraderError(f"{path} cannot be loaded ({type(e).__name__}: {e})") from None


def grader_options(config: Config, args=None) -> TrustedGrader:
    """TrustedGrader from the configuration, with the flags given on the command line on top."""
    options = TrustedGrader(config=config)
    for flag, trait in FLAGS.items():
        value = getattr(args, flag, None) if args is not None else None
        if value not in (None, False):
            setattr(options, trait, value)
    return options


def help_all() -> str:
    """What `autograder grade --help-all` adds: every TrustedGrader option, as nbgrader shows its own."""
    return ("Options of the trusted grader. Set them in the course's nbgrader_config.py, e.g.\n"
            "    c.TrustedGrader.cell_timeout = 60\n"
            "(the --TrustedGrader.* names below are their names there; the flags above override them):\n\n"
            + TrustedGrader.class_get_help())
