"""The adapter protocol: one Python API over the NumPy, torch and Keras models.

Every framework package has an ``adapter.py`` with a subclass of ``Adapter``;
the parity tests and the reports talk only to this API::

    adapter = TorchAdapter(spec, params, dtype="float64")   # build from canonical params
    y    = adapter.forward(x)                      # (N, K) output, NumPy ((N, T, K) many-to-many)
    res  = adapter.loss_and_grads(x, target)       # res.loss, res.grad_input, res.grads[name]
    vjp  = adapter.vjp(x, upstream)                # gradients of sum(upstream * y)
    s    = adapter.final_state(x)                  # recurrent states after the last step, by name
    p    = adapter.get_params()                    # canonical dict, NumPy
    n    = adapter.param_count()                   # trainable scalars as the framework counts them
    adapter.set_optimizer(OptimizerSpec("sgd", lr=0.125))
    loss = adapter.train_step(x, target)           # one step; the loss before it

Recurrent models take an optional ``initial_state`` on ``forward``,
``final_state``, ``loss_and_grads`` and ``vjp``: a dict keyed like
``spec.state_shapes()`` (``h``, ``c`` for the LSTM, ``*_reverse`` for the backward
direction) of ``(N, H)`` arrays; omitted, the states start at zero. The
gradients then include ``grad_state`` (same keys). Feed-forward models refuse
an initial state and have an empty ``grad_state``.

All arguments and results are NumPy arrays in the canonical layout (see
``specs.py``). The checks in this base class run before any framework code, so
every framework rejects the same bad input with the same message; subclasses
implement only the ``_``-prefixed methods.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from reference_numpy import validation
from reference_numpy.specs import CNNSpec, LinearRegressionSpec, MLPSpec, OptimizerSpec, RNNSpec

SPECS = (MLPSpec, LinearRegressionSpec, CNNSpec, RNNSpec)


@dataclass
class Gradients:
    """Gradients in canonical layout. ``loss`` is None for a vector-Jacobian product;
    ``grad_state`` holds the gradients of the initial states that were given."""

    loss: float | None
    grad_input: np.ndarray
    grads: dict[str, np.ndarray]
    grad_state: dict[str, np.ndarray] = field(default_factory=dict)


class Adapter:
    framework: ClassVar[str]

    def __init__(self, spec, params, dtype="float64"):
        if not isinstance(spec, SPECS):
            raise TypeError(f"spec must be one of MLPSpec, LinearRegressionSpec, "
                            f"PolynomialRegressionSpec, CNNSpec, RNNSpec, got {type(spec).__name__}")
        self.spec = spec
        self.dtype = validation.check_dtype_name(dtype)
        params = validation.check_params(spec, params, self.dtype)
        self._build({n: a.copy() for n, a in params.items()})
        self._optimizer_spec = None

    # -- the API ---------------------------------------------------------------
    def _inputs(self, x, initial_state):
        x = validation.check_input(self.spec, x, self.dtype)
        return x, validation.check_state(self.spec, initial_state, x.shape[0], self.dtype)

    def forward(self, x: np.ndarray, initial_state: dict | None = None) -> np.ndarray:
        return self._forward(*self._inputs(x, initial_state))

    def final_state(self, x: np.ndarray, initial_state: dict | None = None) -> dict[str, np.ndarray]:
        """The recurrent states after the last step (``{}`` for a feed-forward model)."""
        if not self.spec.state_shapes():
            validation.check_state(self.spec, initial_state, 1, self.dtype)
            return {}
        return self._final_state(*self._inputs(x, initial_state))

    def loss_and_grads(self, x: np.ndarray, target: np.ndarray,
                       initial_state: dict | None = None) -> Gradients:
        x, state = self._inputs(x, initial_state)
        target = validation.check_target(self.spec, target, self.spec.output_shape(x.shape), self.dtype)
        return self._loss_and_grads(x, target, state)

    def vjp(self, x: np.ndarray, upstream: np.ndarray, initial_state: dict | None = None) -> Gradients:
        x, state = self._inputs(x, initial_state)
        shape = self.spec.output_shape(x.shape)
        upstream = validation.check_array("upstream", upstream, shape=shape, dtype=self.dtype,
                                          axes=("N", "T", "K")[:len(shape) - 1] + ("K",))
        return self._vjp(x, upstream, state)

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
        target = validation.check_target(self.spec, target, self.spec.output_shape(x.shape), self.dtype)
        return float(self._train_step(x, target))

    # -- what each framework implements ---------------------------------------
    def _build(self, params):
        raise NotImplementedError

    def _forward(self, x, initial_state):
        raise NotImplementedError

    def _final_state(self, x, initial_state) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _loss_and_grads(self, x, target, initial_state) -> Gradients:
        raise NotImplementedError

    def _vjp(self, x, upstream, initial_state) -> Gradients:
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
    module = {"MLP": "mlp", "LinearRegression": "regression", "PolynomialRegression": "regression",
              "CNN": "cnn", "RecurrentNet": "recurrent"}[spec.model]
    return getattr(importlib.import_module(f"reference_numpy.{module}"), spec.model)


class NumpyAdapter(Adapter):
    framework = "numpy"

    def _build(self, params):
        self.model = model_class(self.spec)(self.spec, params, self.dtype)

    def _forward(self, x, initial_state):
        y, _ = self.model.forward(x, initial_state)
        return y

    def _final_state(self, x, initial_state):
        _, cache = self.model.forward(x, initial_state)
        return cache["final_state"]

    def _loss_and_grads(self, x, target, initial_state):
        loss, cache = self.model.loss(x, target, initial_state)
        dx, grads, dstate = self.model.loss_backward(target, cache)
        return Gradients(float(loss), dx, grads, dstate if initial_state is not None else {})

    def _vjp(self, x, upstream, initial_state):
        _, cache = self.model.forward(x, initial_state)
        dx, grads, dstate = self.model.backward(upstream, cache)
        return Gradients(None, dx, grads, dstate if initial_state is not None else {})

    def _get_params(self):
        return {n: a.copy() for n, a in self.model.params.items()}

    def _param_count(self):
        return sum(a.size for a in self.model.params.values())

    def _set_optimizer(self, optimizer):
        from reference_numpy.optimizers import make_optimizer

        self.optimizer = make_optimizer(optimizer)

    def _train_step(self, x, target):
        loss, cache = self.model.loss(x, target)
        _, grads, _ = self.model.loss_backward(target, cache)
        self.optimizer.step(self.model.params, grads)
        return loss
