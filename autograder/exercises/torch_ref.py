"""Small bridges between numpy inputs and the PyTorch modules that serve as references."""
from __future__ import annotations

import numpy as np
import torch



def t(a) -> torch.Tensor | None:
    return None if a is None else torch.as_tensor(np.asarray(a, dtype=np.float64))


def n(x: torch.Tensor) -> np.ndarray:
    return x.detach().numpy().copy()


def load(module: torch.nn.Module, params: dict) -> torch.nn.Module:
    """Copy numpy arrays into a module's parameters by torch name (shapes must match)."""
    module = module.double()
    with torch.no_grad():
        for name, value in params.items():
            param = getattr(module, name)
            value = t(value)
            if param.shape != value.shape:
                raise ValueError(f"{name}: torch wants {tuple(param.shape)}, got {tuple(value.shape)}")
            param.copy_(value)
    return module
