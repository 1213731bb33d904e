"""Helpers that exercise modules use to turn a case (plain data) into arrays."""
from __future__ import annotations

import numpy as np


class CaseRandom:
    """Seeded draws for one case; every exercise input comes from here, in float64."""

    def __init__(self, case: dict):
        self.case = case
        self.rng = np.random.default_rng(case.get("seed", 0))

    def normal(self, *shape, scale: float = 1.0) -> np.ndarray:
        return self.rng.standard_normal(shape) * scale

    def weight(self, fan: int, *shape) -> np.ndarray:
        """Like torch's default init: uniform in +-1/sqrt(fan), times the case's "scale"."""
        bound = self.case.get("scale", 1.0) / np.sqrt(fan)
        return self.rng.uniform(-bound, bound, size=shape)

    def initial_state(self, *shape):
        """A random initial state when the case says ``"h0": true``, else None (zeros)."""
        return self.normal(*shape, scale=0.5) if self.case.get("h0") else None
