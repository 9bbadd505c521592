"""Optimizers on canonical parameter dicts (the notes' ``params[key] -= lr * grad[key]``).

Only plain SGD so far (``OptimizerSpec(name="sgd", lr)``)::

    w <- w - lr * dL/dw

``step`` updates the model's own parameter arrays in place, like the notes'
optimizer classes; it never writes into the gradient arrays.
"""

from __future__ import annotations

from reference_numpy.specs import OptimizerSpec


class SGD:
    def __init__(self, spec: OptimizerSpec):
        self.lr = spec.lr

    def step(self, params: dict, grads: dict) -> None:
        for name in params:
            params[name] -= self.lr * grads[name]


def make_optimizer(spec: OptimizerSpec):
    if spec.name == "sgd":
        return SGD(spec)
    raise ValueError(f"unknown optimizer {spec.name!r}; expected sgd")
