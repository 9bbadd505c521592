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
    #: The eps this framework's gradient clipping adds to the global norm (``OptimizerSpec.clip_eps``);
    #: ``None``: any value (the NumPy reference takes the convention as an argument).
    clip_eps: ClassVar[float | None] = None
    #: The dtype the framework stores optimizer hyperparameters in, whatever the model's dtype
    #: (Keras: float32); ``None``: the model's dtype.
    hyperparameter_dtype: ClassVar[str | None] = None

    def __init__(self, spec, params, dtype="float64"):
        if not isinstance(spec, SPECS):
            raise TypeError(f"spec must be one of MLPSpec, LinearRegressionSpec, "
                            f"PolynomialRegressionSpec, CNNSpec, RNNSpec, got {type(spec).__name__}")
        self.spec = spec
        self.dtype = validation.check_dtype_name(dtype)
        params = validation.check_params(spec, params, self.dtype)
        self._build({n: a.copy() for n, a in params.items()})
        self._optimizer_spec = None
        self._steps = 0                 # train_step calls that changed the parameters

    # -- the API ---------------------------------------------------------------
    def _inputs(self, x, initial_state):
        x = validation.check_input(self.spec, x, self.dtype)
        return x, validation.check_state(self.spec, initial_state, x.shape[0], self.dtype)

    def forward(self, x: np.ndarray, initial_state: dict | None = None) -> np.ndarray:
        return self._forward(*self._inputs(x, initial_state))

    def final_state(self, x: np.ndarray, initial_state: dict | None = None) -> dict[str, np.ndarray]:
        """The recurrent states after the last step (``{}`` for a feed-forward model)."""
        x, state = self._inputs(x, initial_state)          # checked for every model, stateful or not
        if not self.spec.state_shapes():
            return {}
        return self._final_state(x, state)

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

    @property
    def optimizer_spec(self) -> OptimizerSpec | None:
        """The optimizer ``train_step`` uses (the last ``set_optimizer`` that succeeded)."""
        return self._optimizer_spec

    def check_optimizer(self, optimizer: OptimizerSpec) -> None:
        """Refuse, with one clear message, an optimizer this framework cannot run as specified.

        The same rules for every framework, driven by two class attributes:

        * ``clip_eps`` must be the framework's own when clipping is on (torch's ``clip_grad_norm_``
          adds 1e-6 to the norm, Keras's ``global_clipnorm`` 0; NumPy takes either);
        * every hyperparameter must be a normal, finite number in the dtype the framework computes
          the update in: the model's dtype, and for Keras also float32, in which it stores
          hyperparameters even for float64 models (``lr=1e-40`` would be flushed to 0 there and
          take no step, ``lr=1e39`` would become inf). A value that only rounds (0.1 in float32)
          is the documented Keras convention, not an error.
        """
        if not isinstance(optimizer, OptimizerSpec):
            raise TypeError(f"optimizer must be an OptimizerSpec, got {type(optimizer).__name__}")
        if optimizer.clip_norm is not None and self.clip_eps is not None and optimizer.clip_eps != self.clip_eps:
            raise ValueError(f"{self.framework} clips by clip_norm / (norm + {self.clip_eps:g}) "
                             f"(OptimizerSpec.clip_eps must be {self.clip_eps} for {self.framework}), "
                             f"got clip_eps={optimizer.clip_eps}")
        dtypes = [(self.dtype, f"the model's dtype {self.dtype}")]
        if self.hyperparameter_dtype is not None and np.dtype(self.hyperparameter_dtype) != self.dtype:
            dtypes.append((np.dtype(self.hyperparameter_dtype),
                           f"{self.hyperparameter_dtype}, in which {self.framework} stores optimizer "
                           "hyperparameters whatever the model's dtype"))
        for name in ("lr", "clip_norm"):
            value = getattr(optimizer, name)
            if value is None:
                continue
            for dt, where in dtypes:
                tiny, big = float(np.finfo(dt).tiny), float(np.finfo(dt).max)
                if not tiny <= value <= big:
                    limit = (f"below the smallest normal number {tiny:.3g} (it would be flushed "
                             "to 0 or lose precision)" if value < tiny else f"above the largest "
                             f"number {big:.3g} (it would become inf)")
                    raise ValueError(f"{name}={value!r} cannot be represented in {where}: it lies {limit}")

    def set_optimizer(self, optimizer: OptimizerSpec) -> None:
        """Check ``optimizer`` (``check_optimizer``), then build it. A refused optimizer leaves the
        adapter as it was: the previous optimizer, if any, stays in use."""
        self.check_optimizer(optimizer)
        self._set_optimizer(optimizer)
        self._optimizer_spec = optimizer

    def train_step(self, x: np.ndarray, target: np.ndarray) -> float:
        """One optimizer step on ``(x, target)``; returns the loss before the step.

        A step whose loss or updated parameters are not finite (divergence: a learning rate too
        large, an overflow in the model) raises ``FloatingPointError`` naming the step, and the
        parameters are restored to what they were before it."""
        if self._optimizer_spec is None:
            raise RuntimeError("call set_optimizer(OptimizerSpec(...)) before train_step")
        x = validation.check_input(self.spec, x, self.dtype)
        target = validation.check_target(self.spec, target, self.spec.output_shape(x.shape), self.dtype)
        before = self._get_params()
        loss = float(self._train_step(x, target))
        step = self._steps + 1
        after = self._get_params()
        bad = [n for n, a in after.items() if not np.all(np.isfinite(a))]
        if not np.isfinite(loss) or bad:
            self._set_params(before)
            what = (f"the loss is {loss}" if not np.isfinite(loss) else
                    f"the update made parameter(s) {bad} non-finite")
            raise FloatingPointError(f"train_step {step} diverged: {what} (optimizer "
                                     f"{self._optimizer_spec}); the parameters are left as they were "
                                     "before this step")
        self._steps = step
        return loss

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

    def _set_params(self, params: dict[str, np.ndarray]) -> None:
        """Write canonical parameters into the existing model (in place: the optimizer keeps them)."""
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

    def _set_params(self, params):
        for n, a in params.items():
            self.model.params[n][...] = a

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
