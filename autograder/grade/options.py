"""One set of limits and defaults for ``autograder grade``, configurable like nbgrader.

``TrustedGrader`` is a traitlets ``Configurable`` read from the course's ``nbgrader_config.py``
(``c.TrustedGrader.cell_timeout = 60``); command-line flags override it, and
``autograder grade --help-all`` lists it. Both modes (a batch and one notebook) take their
limits from here, nowhere else.
"""
from __future__ import annotations

import os
from pathlib import Path

from traitlets import Bool, Float, Integer, Unicode, default
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

    # ---- per-student hidden variants (checks/variants.py; README, "Per-student hidden variants")
    variant_secret_file = Unicode(help=(
        "A file, outside the course directory and readable by the instructor only, holding the secret "
        "from which every student's hidden cases get their own seeds and sizes (left empty, the hidden "
        "cases as declared, the same for everybody). Default: the environment variable "
        "AUTOGRADER_VARIANT_SECRET_FILE, which stock `nbgrader autograde`'s kernels read too")).tag(config=True)

    @default("variant_secret_file")
    def _variant_secret_file_default(self):
        from ..checks.variants import SECRET_ENV
        return os.environ.get(SECRET_ENV, "")

    def variant_secret(self) -> bytes | None:
        """The secret of per-student variants, or None when none is configured."""
        from ..checks.variants import VariantError, read_secret
        if not self.variant_secret_file:
            return None
        try:
            return read_secret(self.variant_secret_file)
        except VariantError as e:
            raise GraderError(str(e)) from None

    # issue 16: a cheap start and hangs that cost seconds
    case_timeout = Float(2.0, help=(
        "Seconds a graded function's call on one case may take at least; the limit of a case is "
        "the larger of this and case_timeout_factor times the reference's own time on it (its "
        "cell then scores 0, the other functions are still graded). 0: no limit per case, only "
        "the cell's")).tag(config=True)
    case_timeout_factor = Float(50.0, help=(
        "How many times the reference's own time on a case the learner's call may take, when "
        "that is more than case_timeout")).tag(config=True)
    reference_cache = Bool(True, help=(
        "Keep the case inputs and PyTorch references on disk, so that a repeat run computes "
        "nothing and imports no torch (invalidated when the test cells, the exercise modules or "
        "the numpy and torch versions change)")).tag(config=True)
    cache_dir = Unicode("", help=(
        "Where the reference cache lives (relative paths: to the course directory). Default: "
        "the course directory's .autograder-cache/ (it holds hidden cases' answers: keep it "
        "private)")).tag(config=True)

    def cache_path(self, course_dir: Path) -> Path | None:
        if not self.reference_cache:
            return None
        return Path(course_dir) / (self.cache_dir or ".autograder-cache")

    # the intake (issue 18): what of a submission folder the grader copies at all
    intake_mb = Integer(256, help=(
        "Megabytes of a submission folder the grader copies (sizes are read before any byte); a file "
        "beyond this is left out and the report says so")).tag(config=True)
    intake_entries = Integer(500, help="Files and folders of a submission folder the grader copies").tag(config=True)
    intake_depth = Integer(16, help="Folders deep the grader copies a submission folder").tag(config=True)

    def intake_caps(self):
        from .intake import Caps
        return Caps(total_bytes=self.intake_mb << 20, entries=self.intake_entries, depth=self.intake_depth)

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
                      case_timeout=self.case_timeout, case_timeout_factor=self.case_timeout_factor,
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
