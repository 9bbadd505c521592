"""Activations by the canonical names of ``reference_numpy/activations.py``.

torch differentiates them itself; ``relu`` has subgradient 0 at 0, as in the reference.
"""

import torch

ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "identity": lambda u: u,
    "softmax": lambda u: torch.softmax(u, dim=-1),
}


def get(name: str):
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]
