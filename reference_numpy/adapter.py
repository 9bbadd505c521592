"""The adapter protocol: one Python API over the NumPy, torch and Keras models.

Every framework package has an ``adapter.py`` with a subclass of ``Adapter``;
the parity tests and the reports talk only to this API::

    adapter = TorchAdapter(spec, params, dtype="float64")   # build from canonical params
    y    = adapter.forward(x)                      # (N, K) output, NumPy
    res  = adapter.loss_and_grads(x, target)       # res.loss, res.grad_input, res.grads[name]
    vjp  = adapter.vjp(x, upstream)                # gradients of sum(upstream * y)
    p    = adapter.get_params()                    # canonical dict, NumPy
    n    = adapter.param_count()                   # trainable scalars as the framework counts them
    adapter.set_optimizer(OptimizerSpec("sgd", lr=0.125))
    loss = adapter.train_step(x, target)           # one step; the loss before it

All arguments and results are NumPy arrays in the canonical layout (see
``specs.py``). The checks in this base class run before any framework code, so
every framework rejects the same bad input with the same message; subclasses
implement only the ``_``-prefixed methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from reference_numpy import validation
from reference_numpy.specs import LinearRegressionSpec, MLPSpec, OptimizerSpec


@dataclass
class Gradients:
    """Gradients in canonical layout. ``loss`` is None for a vector-Jacobian product."""

    loss: float | None
    grad_input: np.ndarray
    grads: dict[str, np.ndarray]


class Adapter:
    framework: ClassVar[str]

    def __init__(self, spec, params, dtype="float64"):
        if not isinstance(spec, (MLPSpec, LinearRegressionSpec)):
            raise TypeError(f"spec must be one of MLPSpec, LinearRegressionSpec, "
                            f"PolynomialRegressionSpec, got {type(spec).__name__}")
        self.spec = spec
        self.dtype = validation.check_dtype_name(dtype)
        params = validation.check_params(spec, params, self.dtype)
        self._build({n: a.copy() for n, a in params.items()})
        self._optimizer_spec = None

    # -- the API ---------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._forward(validation.check_input(self.spec, x, self.dtype))

    def loss_and_grads(self, x: np.ndarray, target: np.ndarray) -> Gradients:
        x = validation.check_input(self.spec, x, self.dtype)
        target = validation.check_target(self.spec, target, x.shape[0], self.dtype)
        return self._loss_and_grads(x, target)

    def vjp(self, x: np.ndarray, upstream: np.ndarray) -> Gradients:
        x = validation.check_input(self.spec, x, self.dtype)
        upstream = validation.check_array("upstream", upstream,
                                          shape=(x.shape[0], self.spec.out_features), dtype=self.dtype)
        return self._vjp(x, upstream)

    def get_params(self) -> dict[str, np.ndarray]:
        return self._get_params()

    def param_count(self) -> int:
        """Trainable scalars as the framework counts them (torch's extra RNN biases
        make this differ from the canonical count)."""
        return int(self._param_count())

    def set_optimizer(self, optimizer: OptimizerSpec) -> None:
        if not isinstance(optimizer, OptimizerSpec):
            raise TypeError(f"optimizer must be an OptimizerSpec, got {type(optimizer).__name__}")
        self._optimizer_spec = optimizer
        self._set_optimizer(optimizer)

    def train_step(self, x: np.ndarray, target: np.ndarray) -> float:
        if self._optimizer_spec is None:
            raise RuntimeError("call set_optimizer(OptimizerSpec(...)) before train_step")
        x = validation.check_input(self.spec, x, self.dtype)
        target = validation.check_target(self.spec, target, x.shape[0], self.dtype)
        return float(self._train_step(x, target))

    # -- what each framework implements ---------------------------------------
    def _build(self, params):
        raise NotImplementedError

    def _forward(self, x):
        raise NotImplementedError

    def _loss_and_grads(self, x, target) -> Gradients:
        raise NotImplementedError

    def _vjp(self, x, upstream) -> Gradients:
        raise NotImplementedError

    def _get_params(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _param_count(self) -> int:
        raise NotImplementedError

    def _set_optimizer(self, optimizer: OptimizerSpec) -> None:
        raise NotImplementedError

    def _train_step(self, x, target) -> float:
        raise NotImplementedError


def model_class(spec):
    """The NumPy model class named by ``spec.model``."""
    from reference_numpy.mlp import MLP
    from reference_numpy.regression import LinearRegression, PolynomialRegression

    return {"MLP": MLP, "LinearRegression": LinearRegression,
            "PolynomialRegression": PolynomialRegression}[spec.model]


class NumpyAdapter(Adapter):
    framework = "numpy"

    def _build(self, params):
        self.model = model_class(self.spec)(self.spec, params, self.dtype)

    def _forward(self, x):
        y, _ = self.model.forward(x)
        return y

    def _loss_and_grads(self, x, target):
        loss, cache = self.model.loss(x, target)
        dx, grads = self.model.loss_backward(target, cache)
        return Gradients(float(loss), dx, grads)

    def _vjp(self, x, upstream):
        _, cache = self.model.forward(x)
        dx, grads = self.model.backward(upstream, cache)
        return Gradients(None, dx, grads)

    def _get_params(self):
        return {n: a.copy() for n, a in self.model.params.items()}

    def _param_count(self):
        return sum(a.size for a in self.model.params.values())

    def _set_optimizer(self, optimizer):
        from reference_numpy.optimizers import make_optimizer

        self.optimizer = make_optimizer(optimizer)

    def _train_step(self, x, target):
        loss, cache = self.model.loss(x, target)
        _, grads = self.model.loss_backward(target, cache)
        self.optimizer.step(self.model.params, grads)
        return loss
