"""Per-student hidden variants: each student's hidden cases get their own seed and, where the
exercise declares shapes free, their own sizes, derived from a secret the instructor keeps.

A variant of a declared hidden case is the case with these keys replaced, taken from

    HMAC-SHA256(secret, student + assignment + exercise + the case as canonical JSON)

so it is the same at every regrading, different for every student, and unknowable without the
secret. It is still a plain case (data): ``case_inputs(name, variant)`` rebuilds its inputs
anywhere, without the secret, which is what the feedback's reproduce line prints. Visible cases
never vary. Only the seed and the sizes the exercise lists in ``variant_shapes`` change; a size of
1 stays 1 (an edge case stays an edge case), a case that must raise keeps all its sizes, and every
other key (options, dtype, flags, "expect") is kept. An exercise with ``fixed_hidden`` keeps its
hidden cases as declared.

Both graders use this module: the trusted parent of ``autograder grade`` (``grade.assignment``),
and ``checks.api.check`` in the kernel of stock ``nbgrader autograde``, which finds the secret
through the environment variable ``SECRET_ENV`` (set in the course's nbgrader_config.py) and the
student in its working directory ``autograded/<student>/<assignment>/``.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import linecache
import os
from dataclasses import dataclass, field
from pathlib import Path

SECRET_ENV = "AUTOGRADER_VARIANT_SECRET_FILE"
MIN_SECRET_BYTES = 16


class VariantError(RuntimeError):
    """The variant secret is configured but cannot be used."""


def read_secret(path: str | os.PathLike) -> bytes:
    """The secret held in ``path`` (surrounding whitespace ignored); VariantError when unusable."""
    path = Path(path).expanduser()
    try:
        secret = path.read_bytes().strip()
    except OSError as e:
        raise VariantError(f"the variant secret file {path} cannot be read ({e.strerror})") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise VariantError(f"the variant secret in {path} is shorter than {MIN_SECRET_BYTES} bytes; make one with "
                           f"python -c 'import secrets; print(secrets.token_hex(32))' > {path}")
    return secret


def size_range(value: int) -> tuple[int, int]:
    """The sizes a declared size may become: about a third either side, never below 2."""
    spread = max(1, value // 3)
    return max(2, value - spread), value + spread


@dataclass(frozen=True)
class Variants:
    """The variants of one student's hidden cases in one assignment."""

    secret: bytes = field(repr=False)
    student: str
    assignment: str

    def digest(self, exercise: str, case: dict) -> bytes:
        message = "\x1f".join([self.student, self.assignment, exercise, json.dumps(case, sort_keys=True)])
        return hmac.new(self.secret, message.encode("utf-8"), hashlib.sha256).digest()

    def case(self, exercise, case: dict) -> dict:
        """This student's variant of a hidden ``case`` of ``exercise`` (a registry.Exercise)."""
        if exercise.fixed_hidden:
            return case
        digest = self.digest(exercise.name, case)
        varied = dict(case, seed=int.from_bytes(digest[:4], "big") % 1_000_000_000)
        if "expect" in case:       # an invalid case may be invalid by its sizes (k > H): keep them
            return varied
        free = sorted(k for k in exercise.variant_shapes if _is_size(case.get(k)) and case[k] > 1)
        for i, key in enumerate(free):
            lo, hi = size_range(case[key])
            varied[key] = lo + digest[4 + i] % (hi - lo + 1)
        return varied


def _is_size(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ---------------------------------------------------------------- stock nbgrader autograde's kernel
def autograde_secret_file() -> str | None:
    """The secret file when this kernel runs under stock ``nbgrader autograde`` with a variant
    secret configured; None anywhere else (JupyterLab, ``nbgrader validate``, no secret)."""
    if os.environ.get("NBGRADER_EXECUTION") != "autograde":
        return None
    return os.environ.get(SECRET_ENV) or None


def declared_hidden(frame) -> bool:
    """Whether the call running in ``frame`` (a test cell's ``check(...)``) stands between the
    hidden-tests markers of its cell. IPython keeps every cell's source in ``linecache``."""
    from .declarations import hidden_lines     # only under autograde: the student bundle leaves it out
    lines = linecache.getlines(frame.f_code.co_filename)
    return bool(lines) and frame.f_lineno in hidden_lines("".join(lines), strict=False)


def in_autograde_kernel(path: str) -> Variants:
    """The variants of the student stock ``nbgrader autograde`` is grading in this kernel. The
    student and the assignment are the last two parts of the working directory nbgrader gives the
    kernel, ``autograded/<student>/<assignment>/``."""
    here = Path.cwd()
    return Variants(read_secret(path), here.parent.name, here.name)
