"""Optimizers on canonical parameter dicts (the notes' ``params[key] -= lr * grad[key]``).

Only plain SGD so far (``OptimizerSpec(name="sgd", lr, clip_norm, clip_eps)``)::

    w <- w - lr * dL/dw

with optional gradient clipping by global norm first (the notes' exercise
``gradient_clipping(grad, threshold)``: ``rate = threshold / norm; if rate < 1:
grad * rate``, taken over all parameters at once)::

    norm  = sqrt(sum_p ||dL/dw_p||^2)
    scale = min(1, clip_norm / (norm + clip_eps))
    dL/dw_p <- scale * dL/dw_p

``clip_eps`` is where the frameworks differ: Keras's ``global_clipnorm`` uses
``clip_norm * min(1 / norm, 1 / clip_norm)`` (eps 0), torch's
``nn.utils.clip_grad_norm_`` uses ``clip_norm / (norm + 1e-6)`` clamped at 1.

``step`` updates the model's own parameter arrays in place, like the notes'
optimizer classes; it never writes into the gradient arrays.
"""

from __future__ import annotations

import numpy as np

from reference_numpy.specs import OptimizerSpec

#: The eps each framework adds to the global norm when clipping (see the module docstring).
CLIP_EPS = {"keras": 0.0, "torch": 1e-6}


def global_norm(grads: dict) -> float:
    return float(np.sqrt(sum(np.sum(g * g) for g in grads.values())))


def clip_by_global_norm(grads: dict, clip_norm: float, eps: float = 0.0) -> dict:
    """``grads`` scaled by ``min(1, clip_norm / (norm + eps))`` (new arrays)."""
    scale = min(1.0, clip_norm / (global_norm(grads) + eps))
    return {name: g * scale for name, g in grads.items()}


class SGD:
    def __init__(self, spec: OptimizerSpec):
        self.lr = spec.lr
        self.clip_norm, self.clip_eps = spec.clip_norm, spec.clip_eps

    def step(self, params: dict, grads: dict) -> None:
        if self.clip_norm is not None:
            grads = clip_by_global_norm(grads, self.clip_norm, self.clip_eps)
        for name in params:
            params[name] -= self.lr * grads[name]


def make_optimizer(spec: OptimizerSpec):
    if spec.name == "sgd":
        return SGD(spec)
    raise ValueError(f"unknown optimizer {spec.name!r}; expected sgd")
