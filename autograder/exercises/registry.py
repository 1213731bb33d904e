"""The exercise registry: for every graded function, how to build its inputs from a case,
its float64 PyTorch reference, its tolerances and the catalogue of known mistakes.

Assignment modules live beside this one (``autograder/exercises/psN_name.py``, one per
assignment) and call ``register``; ``get`` imports them on first use. Only modules named ``ps*``
are assignment modules.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class Mistake:
    """A wrong answer learners really give.

    ``outputs`` takes the same keyword inputs as the reference (float64) and returns what
    the mistaken implementation returns, so a learner's output can be recognised.
    ``public_exception``, when set, says why the visible cases cannot reject this mistake (the
    fairness rule allows at most 5% of a function's mistakes on that list; ``autograder
    catalogue`` prints it).
    """

    name: str
    hint: str
    outputs: Callable[..., Any]
    public_exception: str = ""


@dataclass(frozen=True)
class Exercise:
    name: str
    assignment: str
    args: tuple[str, ...]                 # the contract's parameter order
    outputs: tuple[str, ...]              # names of the returned values (one name: a single value)
    make_inputs: Callable[[dict], dict]   # case -> {arg: value}, float64
    reference: Callable[..., Any]         # float64 PyTorch reference, keyword args as ``args``
    mistakes: tuple[Mistake, ...] = ()
    rtol: float = 1e-6
    atol: float = 1e-8
    rtol32: float = 2e-4                  # float32 inputs against a float64 reference
    atol32: float = 2e-5
    shapes: dict[str, str] = field(default_factory=dict)   # output name -> "(B, T, H)" for messages
    builds_on: tuple[str, ...] = ()       # graded functions a solution usually calls
    # Per-student hidden variants (checks.variants): the case keys that are sizes a variant may
    # change (a size of 1 never changes), and, when set, why this exercise's hidden cases keep
    # their declared seeds (they were chosen, e.g. away from near ties).
    variant_shapes: tuple[str, ...] = ()
    fixed_hidden: str = ""

    def tolerances(self, float_dtype) -> tuple[float, float]:
        import numpy as np
        if np.dtype(float_dtype) == np.float32:
            return self.rtol32, self.atol32
        return self.rtol, self.atol


_EXERCISES: dict[str, Exercise] = {}
_loaded = False
_DESCRIBED: dict[str, Exercise] = {}     # stand-ins from a reference cache (see ``describe``/``provide``)


def register(exercise: Exercise) -> Exercise:
    if exercise.name in _EXERCISES:
        raise ValueError(f"exercise {exercise.name!r} is registered twice")
    _EXERCISES[exercise.name] = exercise
    return exercise


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    package = importlib.import_module(__package__)
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("ps"):
            importlib.import_module(f"{__package__}.{info.name}")
    _loaded = True


def get(name: str) -> Exercise:
    if name in _EXERCISES or (not _loaded and name in _DESCRIBED):
        return _EXERCISES.get(name) or _DESCRIBED[name]
    _load_all()
    try:
        return _EXERCISES[name]
    except KeyError:
        raise KeyError(f"no exercise named {name!r}; known: {', '.join(sorted(_EXERCISES))}") from None


def all_exercises(assignment: str | None = None) -> list[Exercise]:
    if not _loaded and assignment is not None and any(e.assignment == assignment for e in _DESCRIBED.values()):
        return [e for e in _DESCRIBED.values() if e.assignment == assignment]
    _load_all()
    return [e for e in _EXERCISES.values() if assignment is None or e.assignment == assignment]


# -- stand-ins, so that a grader whose references come from a cache imports no exercise module
# (they import torch). A stand-in carries the same data; calling its reference, inputs or
# mistakes imports the real module then (the rare case the cache did not foresee).

def describe(exercise: Exercise) -> dict:
    """An exercise's data as plain JSON (everything but its functions)."""
    return {"name": exercise.name, "assignment": exercise.assignment, "args": list(exercise.args),
            "outputs": list(exercise.outputs), "rtol": exercise.rtol, "atol": exercise.atol,
            "rtol32": exercise.rtol32, "atol32": exercise.atol32, "shapes": dict(exercise.shapes),
            "builds_on": list(exercise.builds_on),
            "mistakes": [[m.name, m.hint, m.public_exception] for m in exercise.mistakes]}


def real(name: str) -> Exercise:
    """The registered exercise itself (importing its module), never a stand-in."""
    _load_all()
    return _EXERCISES[name]


def _deferred(name: str, part: str, index: int | None = None) -> Callable:
    def call(*args, **kwargs):
        real_one = real(name)
        fn = getattr(real_one, part) if index is None else real_one.mistakes[index].outputs
        return fn(*args, **kwargs)
    return call


def provide(descriptions: list[dict]) -> None:
    """Stand-ins for exercises described by ``describe`` (the registered ones still come first)."""
    for d in descriptions:
        name = str(d["name"])
        mistakes = tuple(Mistake(str(m[0]), str(m[1]), _deferred(name, "mistakes", i), str(m[2]))
                         for i, m in enumerate(d["mistakes"]))
        _DESCRIBED[name] = Exercise(
            name, str(d["assignment"]), tuple(map(str, d["args"])), tuple(map(str, d["outputs"])),
            _deferred(name, "make_inputs"), _deferred(name, "reference"), mistakes,
            float(d["rtol"]), float(d["atol"]), float(d["rtol32"]), float(d["atol32"]),
            {str(k): str(v) for k, v in d["shapes"].items()}, tuple(map(str, d["builds_on"])))
