"""The adapter protocol: one Python API over the NumPy, torch and Keras models.

Every framework package has an ``adapter.py`` with a subclass of ``Adapter``;
the parity tests and the reports talk only to this API::

    adapter = TorchAdapter(spec, params, dtype="float64")   # build from canonical params
    y    = adapter.forward(x)                      # (N, K) output, NumPy ((N, T, K) many-to-many)
    res  = adapter.loss_and_grads(x, target)       # res.loss, res.grad_input, res.grads[name]
    vjp  = adapter.vjp(x, upstream)                # gradients of sum(upstream * y)
    s    = adapter.final_state(x)                  # recurrent states after the last step, by name
    y, s = adapter.forward(x, return_state=True)   # both from one forward pass
    p    = adapter.get_params()                    # canonical dict, NumPy
    n    = adapter.param_count()                   # trainable scalars as the framework counts them
    adapter.set_optimizer(OptimizerSpec("sgd", lr=0.125))
    loss = adapter.train_step(x, target)           # one step; the loss before it
    losses = adapter.fit(batches, loop=None, progress=False)   # this framework's training loop
    state = adapter.optimizer_state()              # {slot: {param: array}}, canonical convention
    adapter.train(dropout_masks=None)              # training mode: batch statistics, dropout on
    adapter.eval()                                 # inference mode (the initial one)
    b = adapter.buffers()                          # running statistics, canonical names (running_mean1, ...)
    adapter.set_buffers(b)

Training and inference mode (batch norm, dropout; ``Adapter.train``): an adapter starts in
inference mode, where ``forward``, ``loss_and_grads``, ``vjp`` and ``train_step`` are deterministic
and change no buffer; in training mode every forward normalizes with the batch statistics and
updates the running statistics, and dropout drops units (the masks given to ``train``, else the
framework's own random ones).

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
from tqdm import tqdm

from reference_numpy import regularization, validation
from reference_numpy.optimizers import convention_matters, float32_fields
from reference_numpy.specs import CNNSpec, LinearRegressionSpec, MLPSpec, OptimizerSpec, RNNSpec, Seq2SeqSpec

SPECS = (MLPSpec, LinearRegressionSpec, CNNSpec, RNNSpec, Seq2SeqSpec)


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
    #: The optimizer conventions this framework can run, by ``OptimizerSpec`` field: the values it
    #: runs, or per optimizer name (``"*"``: every other name). A field not listed: any value.
    optimizer_conventions: ClassVar[dict] = {}
    #: The training loops ``fit`` offers; the first is the default.
    loops: ClassVar[tuple[str, ...]] = ("train_step",)
    #: The batch-norm conventions this framework runs in training mode, by ``BatchNorm`` field
    #: (a field not listed: any value). Its own convention first.
    batch_norm_conventions: ClassVar[dict] = {"running_var": ("unbiased", "biased")}
    _training: bool = False                     # the mode (``train`` / ``eval``): inference at first
    _dropout_masks: dict | None = None          # the canonical masks of the training mode, if given

    def __init__(self, spec, params, dtype="float64"):
        if not isinstance(spec, SPECS):
            raise TypeError(f"spec must be one of MLPSpec, LinearRegressionSpec, "
                            f"PolynomialRegressionSpec, CNNSpec, RNNSpec, Seq2SeqSpec, got {type(spec).__name__}")
        self.spec = spec
        self.dtype = validation.check_dtype_name(dtype)
        params = validation.check_params(spec, params, self.dtype)
        self._build({n: a.copy() for n, a in params.items()})
        self._optimizer_spec = None
        self._steps = 0                 # train_step calls that changed the parameters

    # -- the API ---------------------------------------------------------------
    @property
    def seq2seq(self) -> bool:
        """Whether the model is a ``Seq2SeqSpec`` encoder-decoder (token ids in, teacher forcing)."""
        return isinstance(self.spec, Seq2SeqSpec)

    def _inputs(self, x, initial_state, target=None):
        """``(x, initial_state)`` checked; for a seq2seq model ``(src, tgt)`` checked instead."""
        if self.seq2seq:
            if initial_state is not None:
                raise ValueError("Seq2Seq takes no initial_state: its decoder starts from the encoder's final state")
            if target is None:
                raise TypeError("a Seq2Seq model needs the target ids for teacher forcing: pass target=tgt, "
                                "an int64 array (N, T)")
            return validation.check_seq2seq_batch(self.spec, x, target)
        if target is not None:
            raise TypeError(f"target= is for Seq2Seq models (teacher forcing); {type(self.spec).__name__} "
                            "takes none")
        x = validation.check_input(self.spec, x, self.dtype)
        return x, validation.check_state(self.spec, initial_state, x.shape[0], self.dtype)

    def forward(self, x: np.ndarray, initial_state: dict | None = None, *,
                target: np.ndarray | None = None, return_state: bool = False):
        """The output; for a seq2seq model the teacher-forced logits ``(N, T, V)`` of ``target``. With
        ``return_state=True``, ``(output, final_state(x, initial_state))`` from ONE forward pass -- as a
        Keras RNN layer's ``return_state=True`` or a torch ``nn.LSTM``'s ``(output, (h_n, c_n))`` give them
        (and one pass is one update of batch norm's running statistics in training mode)."""
        if self.seq2seq:
            y = self._s2s_forward(*self._inputs(x, initial_state, target))
            return (y, {}) if return_state else y
        x, state = self._inputs(x, initial_state, target)
        if not return_state:
            return self._forward(x, state)
        if not self.spec.state_shapes():
            return self._forward(x, state), {}
        return self._forward_and_state(x, state)

    def final_state(self, x: np.ndarray, initial_state: dict | None = None, *,
                    target: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The recurrent states after the last step (``{}`` for a feed-forward or seq2seq model)."""
        x, state = self._inputs(x, initial_state, target)  # checked for every model, stateful or not
        if not self.spec.state_shapes():
            return {}
        return self._forward_and_state(x, state)[1]

    def loss_and_grads(self, x: np.ndarray, target: np.ndarray,
                       initial_state: dict | None = None) -> Gradients:
        if self.seq2seq:                                   # no gradient for integer ids: grad_input is None
            return self._s2s_loss_and_grads(*self._inputs(x, initial_state, target))
        x, state = self._inputs(x, initial_state)
        target = validation.check_target(self.spec, target, self.spec.output_shape(x.shape), self.dtype)
        return self._loss_and_grads(x, target, state)

    def vjp(self, x: np.ndarray, upstream: np.ndarray, initial_state: dict | None = None, *,
            target: np.ndarray | None = None) -> Gradients:
        """Gradients of ``sum(upstream * output)`` (for seq2seq: of the teacher-forced logits)."""
        if self.seq2seq:
            src, tgt = self._inputs(x, initial_state, target)
            shape = self.spec.output_shape(src.shape, tgt.shape)
            upstream = validation.check_array("upstream", upstream, shape=shape, dtype=self.dtype,
                                              axes=("N", "T", "V"))
            return self._s2s_vjp(src, tgt, upstream)
        x, state = self._inputs(x, initial_state)
        shape = self.spec.output_shape(x.shape)
        upstream = validation.check_array("upstream", upstream, shape=shape, dtype=self.dtype,
                                          axes=("N", "T", "K")[:len(shape) - 1] + ("K",))
        return self._vjp(x, upstream, state)

    def attention(self, x: np.ndarray, target: np.ndarray) -> np.ndarray:
        """A seq2seq model's attention weights ``(N, T, S)`` under teacher forcing (0 at padded
        source positions, each row summing to 1)."""
        if not self.seq2seq or self.spec.attention is None:
            raise ValueError(f"attention weights exist for a Seq2SeqSpec with attention, got "
                             f"{type(self.spec).__name__}" + (" with attention=None" if self.seq2seq else ""))
        return self._s2s_attention(*self._inputs(x, None, target))

    def generate(self, x: np.ndarray, max_len: int | None = None) -> np.ndarray:
        """Greedy decoding of a seq2seq model: int64 ``(N, L)``, ``L <= max_len`` (default
        ``spec.max_len``); each row ends at its first eos, padded with ``pad_id`` after it."""
        if not self.seq2seq:
            raise TypeError(f"generate is for Seq2Seq models, got {type(self.spec).__name__}")
        src = validation.check_token_ids("src", x, self.spec.src_vocab, self.spec.pad_id)
        if max_len is None:
            if self.spec.max_len is None:
                raise ValueError("pass max_len (the spec sets no max_len)")
            max_len = self.spec.max_len
        return np.asarray(self._s2s_generate(src, validation.check_max_len(max_len)), dtype=np.int64)

    def get_params(self) -> dict[str, np.ndarray]:
        return self._get_params()

    def param_count(self) -> int:
        """Trainable scalars as the framework counts them (torch's extra RNN biases
        make this differ from the canonical count)."""
        return int(self._param_count())

    # -- training / inference mode and buffers (batch norm, dropout) -------------------------
    @property
    def training(self) -> bool:
        """Whether the adapter is in training mode (``train``) rather than inference mode (``eval``)."""
        return self._training

    def check_batch_norm(self) -> None:
        """Refuse, with one clear message, training mode under a batch-norm convention this framework
        does not run (``batch_norm_conventions``; data-driven like ``check_optimizer``). Only training
        mode updates the running statistics, so inference runs any convention."""
        bn = getattr(self.spec, "batch_norm", None)
        if bn is None:
            return
        for convention, allowed in self.batch_norm_conventions.items():
            value = getattr(bn, convention)
            if value not in allowed:
                raise ValueError(f"{self.framework} cannot train a batch norm with {convention}={value!r} "
                                 f"(it runs {' or '.join(map(repr, allowed))}): {BATCH_NORM_HINTS[convention]}")

    def train(self, dropout_masks: dict[str, np.ndarray] | None = None) -> None:
        """Training mode, as torch's ``module.train()``: batch norm normalizes with the batch statistics
        and updates its running statistics on every forward; dropout drops units. ``dropout_masks``: a
        keep-mask for every dropout layer (``spec.dropout_shapes()``: ``dropoutk -> (N, units)`` bool
        arrays, True = kept; the same masks for every forward until the next ``train`` / ``eval``), or
        None for the framework's own random masks. Checked before anything changes. (Returns None, not
        self as torch does: every result of the protocol is NumPy / picklable, for the Keras backends that
        run in worker processes.)"""
        self.check_batch_norm()
        masks = regularization.check_dropout_masks(self.spec, dropout_masks)
        self._set_mode(True, masks)
        self._training, self._dropout_masks = True, masks

    def eval(self) -> None:
        """Inference mode, as torch's ``module.eval()``: batch norm normalizes with the running
        statistics, dropout is the identity, no buffer changes."""
        self._set_mode(False, None)
        self._training, self._dropout_masks = False, None

    def buffers(self) -> dict[str, np.ndarray]:
        """The non-trainable buffers (``spec.buffer_shapes()``: ``running_meank``, ``running_vark``),
        canonical names and layout, copies; ``{}`` for a model without any."""
        if not getattr(self.spec, "buffer_shapes", dict)():
            return {}
        return self._buffers()

    def set_buffers(self, buffers: dict[str, np.ndarray]) -> None:
        """Write the running statistics (exactly ``spec.buffer_shapes()``, the model's dtype, finite,
        variances >= 0) into the model."""
        if not hasattr(self.spec, "buffer_shapes"):
            raise ValueError(f"{type(self.spec).__name__} has no buffers")
        buffers = regularization.check_buffers(self.spec, buffers, self.dtype)
        if buffers:
            self._set_buffers({n: a.copy() for n, a in buffers.items()})

    @property
    def optimizer_spec(self) -> OptimizerSpec | None:
        """The optimizer ``train_step`` uses (the last ``set_optimizer`` that succeeded)."""
        return self._optimizer_spec

    def check_optimizer(self, optimizer: OptimizerSpec) -> None:
        """Refuse, with one clear message, an optimizer this framework cannot run as specified.

        The same rules for every framework, driven by three class attributes:

        * ``clip_eps`` must be the framework's own when clipping is on (torch's ``clip_grad_norm_``
          adds 1e-6 to the norm, Keras's ``global_clipnorm`` 0; NumPy takes either);
        * every hyperparameter must be a normal, finite number in the dtype the framework computes
          the update in: the model's dtype, and for Keras also float32, in which it stores
          hyperparameters even for float64 models (``lr=1e-40`` would be flushed to 0 there and
          take no step, ``lr=1e39`` would become inf). A value that only rounds (0.1 in float32)
          is the documented Keras convention, not an error. The other float32-stored values
          (``optimizers.float32_fields``) are checked the same way, every other nonzero
          hyperparameter (eps, rho, ...) in the model's dtype;
        * every convention field (``optimizer_conventions``: where eps sits, the bias-correction
          form, coupled or decoupled weight decay, float32 rounding, dampening) must be one the
          framework runs -- unless its value cannot change this update
          (``optimizers.convention_matters``: e.g. eps placement at eps <= finfo(dtype).tiny).
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
        rounded = ("lr", "clip_norm") + float32_fields(optimizer)
        for name in ("lr", "clip_norm", "momentum", "dampening", "rho", "beta1", "beta2", "eps",
                     "initial_accumulator", "weight_decay"):
            value = getattr(optimizer, name)
            if value is None or (value == 0 and name not in ("lr", "clip_norm")):
                continue
            for dt, where in dtypes if name in rounded else dtypes[:1]:
                tiny, big = float(np.finfo(dt).tiny), float(np.finfo(dt).max)
                if not tiny <= value <= big:
                    limit = (f"below the smallest normal number {tiny:.3g} (it would be flushed "
                             "to 0 or lose precision)" if value < tiny else f"above the largest "
                             f"number {big:.3g} (it would become inf)")
                    raise ValueError(f"{name}={value!r} cannot be represented in {where}: it lies {limit}")
        for convention, allowed in self.optimizer_conventions.items():
            if isinstance(allowed, dict):
                allowed = allowed.get(optimizer.name, allowed["*"])
            value = getattr(optimizer, convention)
            if value is not None and value not in allowed and convention_matters(optimizer, convention, self.dtype):
                raise ValueError(f"{self.framework} cannot run {optimizer.name} with {convention}={value!r} "
                                 f"(it runs {' or '.join(map(repr, allowed))}): "
                                 f"{CONVENTION_HINTS[convention]}")

    def optimizer_state(self) -> dict[str, dict[str, np.ndarray]]:
        """Every optimizer slot as ``{slot: {param name: array}}``, in the canonical layout and the
        canonical sign / scale convention (``reference_numpy/optimizers.py``: e.g. the momentum is
        torch's buffer in gradient units, which Keras keeps as -lr times it), so slots compare
        across frameworks."""
        if self._optimizer_spec is None:
            raise RuntimeError("call set_optimizer(OptimizerSpec(...)) before optimizer_state")
        return self._optimizer_state()

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
        if self.seq2seq:
            x, target = self._inputs(x, None, target)
        else:
            x = validation.check_input(self.spec, x, self.dtype)
            target = validation.check_target(self.spec, target, self.spec.output_shape(x.shape), self.dtype)
        before = self._snapshot()
        loss = float(self._train_step(x, target))
        step = self._steps + 1
        if not (np.isfinite(loss) and self._params_finite()):
            bad = [n for n, a in self._get_params().items() if not np.all(np.isfinite(a))]
            self._restore(before)
            raise self._diverged(step, loss, bad)
        self._steps = step
        return loss

    def _diverged(self, step: int, loss: float, bad: list[str]) -> FloatingPointError:
        what = (f"the loss is {loss}" if not np.isfinite(loss) else
                f"the update made parameter(s) {bad} non-finite")
        return FloatingPointError(f"train_step {step} diverged: {what} (optimizer "
                                  f"{self._optimizer_spec}); the parameters are left as they were "
                                  "before this step")

    def fit(self, batches, loop: str | None = None, progress: bool = False, desc: str | None = None) -> np.ndarray:
        """Train on ``batches`` (``(x, target)`` pairs, taken in order, e.g. ``data.batches``) with
        this framework's training loop ``loop`` (one of ``loops``; the first by default), one
        optimizer step per batch, a tqdm bar with ``progress``. Returns the loss before each step.
        Every loop checks every step as ``train_step`` does and stops at the first non-finite loss
        or parameter with the ``FloatingPointError`` that names the step."""
        if self._optimizer_spec is None:
            raise RuntimeError("call set_optimizer(OptimizerSpec(...)) before fit")
        loop = self.loops[0] if loop is None else loop
        if loop not in self.loops:
            raise ValueError(f"unknown training loop {loop!r} for {self.framework}; expected one of "
                             f"{', '.join(self.loops)}")
        if self.seq2seq:                                      # token ids: (src, tgt) checked together
            batches = [self._inputs(x, None, target) for x, target in batches]
        else:
            batches = [(validation.check_input(self.spec, x, self.dtype), target) for x, target in batches]
            batches = [(x, validation.check_target(self.spec, target, self.spec.output_shape(x.shape),
                                                   self.dtype))
                       for x, target in batches]              # checked here: model.fit never sees train_step
        with tqdm(total=len(batches), desc=desc or f"{self.framework} {loop}", unit="step",
                  disable=not progress, leave=False, mininterval=0.5) as bar:
            return np.asarray(self._fit(batches, loop, bar), dtype=np.float64)

    def _fit(self, batches, loop: str, bar) -> list[float]:
        """The default loop: ``train_step`` on each batch."""
        losses = []
        for x, target in batches:
            losses.append(self.train_step(x, target))
            bar.update()
        return losses

    # -- the divergence check of train_step: each framework tests its own arrays (no canonical round
    #    trip per step); the snapshot defaults to a canonical copy
    def _snapshot(self):
        """A copy of the parameters as they are, for ``_restore``."""
        return self._get_params()

    def _restore(self, snapshot) -> None:
        self._set_params(snapshot)

    def _params_finite(self) -> bool:
        """Whether every parameter is finite."""
        raise NotImplementedError

    # -- what each framework implements ---------------------------------------
    def _build(self, params):
        raise NotImplementedError

    def _forward(self, x, initial_state):
        raise NotImplementedError

    def _forward_and_state(self, x, initial_state) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``(output, states after the last step)`` of a recurrent model, from one forward pass."""
        raise NotImplementedError

    def _loss_and_grads(self, x, target, initial_state) -> Gradients:
        raise NotImplementedError

    def _vjp(self, x, upstream, initial_state) -> Gradients:
        raise NotImplementedError

    def _get_params(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    # seq2seq (token ids: src (N, S), tgt (N, T) int64, checked)
    def _s2s_forward(self, src, tgt) -> np.ndarray:
        raise NotImplementedError

    def _s2s_loss_and_grads(self, src, tgt) -> Gradients:
        raise NotImplementedError

    def _s2s_vjp(self, src, tgt, upstream) -> Gradients:
        raise NotImplementedError

    def _s2s_attention(self, src, tgt) -> np.ndarray:
        raise NotImplementedError

    def _s2s_generate(self, src, max_len: int) -> np.ndarray:
        raise NotImplementedError

    def _set_params(self, params: dict[str, np.ndarray]) -> None:
        """Write canonical parameters into the existing model (in place: the optimizer keeps them)."""
        raise NotImplementedError

    def _param_count(self) -> int:
        raise NotImplementedError

    def _set_mode(self, training: bool, masks: dict[str, np.ndarray] | None) -> None:
        """Put the model in training (``masks``: checked canonical dropout masks or None) or inference mode."""
        raise NotImplementedError

    def _buffers(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _set_buffers(self, buffers: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def _set_optimizer(self, optimizer: OptimizerSpec) -> None:
        raise NotImplementedError

    def _train_step(self, x, target) -> float:
        raise NotImplementedError

    def _optimizer_state(self) -> dict[str, dict[str, np.ndarray]]:
        raise NotImplementedError


#: Why a framework cannot run another convention (``Adapter.check_optimizer``).
CONVENTION_HINTS = {
    "eps_placement": "torch adds eps outside the square root, Keras inside; the two coincide only for "
                     "eps <= finfo(dtype).tiny (OptimizerSpec.matched)",
    "bias_correction": "torch divides m and v by 1 - beta^t, Keras folds both into the step size (= torch "
                       "with eps / sqrt(1 - beta2^t) for eps); the two coincide only for eps <= finfo(dtype).tiny "
                       "(OptimizerSpec.matched)",
    "weight_decay_mode": "torch's weight_decay is coupled L2 (g += wd w) except in AdamW / "
                         "Adam(decoupled_weight_decay=True); every Keras weight_decay is decoupled "
                         "(w -= lr wd w); the two coincide only for plain sgd",
    "float32_hyperparameters": "Keras rounds lr and the float32_fields of this optimizer to float32, torch "
                               "does not; the two coincide when those values are float32-exact "
                               "(OptimizerSpec.matched)",
    "dampening": "Keras's SGD has no dampening",
}

#: Why a framework cannot train a batch norm under another convention (``Adapter.check_batch_norm``).
BATCH_NORM_HINTS = {
    "running_var": "torch's BatchNorm updates the running variance with the unbiased batch variance "
                   "(times n / (n - 1)), Keras's BatchNormalization with the biased one, neither with an "
                   "option (inference uses the running variance as it is: any convention runs there)",
}


def model_class(spec):
    """The NumPy model class named by ``spec.model``."""
    module = {"MLP": "mlp", "LinearRegression": "regression", "PolynomialRegression": "regression",
              "CNN": "cnn", "RecurrentNet": "recurrent", "Seq2Seq": "seq2seq"}[spec.model]
    return getattr(importlib.import_module(f"reference_numpy.{module}"), spec.model)


class NumpyAdapter(Adapter):
    framework = "numpy"
    loops = ("numpy",)

    def _build(self, params):
        self.model = model_class(self.spec)(self.spec, params, self.dtype)

    def _forward(self, x, initial_state):
        y, _ = self.model.forward(x, initial_state)
        return y

    def _forward_and_state(self, x, initial_state):
        y, cache = self.model.forward(x, initial_state)
        return y, cache["final_state"]

    def _loss_and_grads(self, x, target, initial_state):
        loss, cache = self.model.objective(x, target, initial_state)
        dx, grads, dstate = self.model.objective_backward(target, cache)
        return Gradients(float(loss), dx, grads, dstate if initial_state is not None else {})

    def _vjp(self, x, upstream, initial_state):
        _, cache = self.model.forward(x, initial_state)
        dx, grads, dstate = self.model.backward(upstream, cache)
        return Gradients(None, dx, grads, dstate if initial_state is not None else {})

    def _get_params(self):
        return {n: a.copy() for n, a in self.model.params.items()}

    def _set_mode(self, training, masks):
        self.model.training, self.model.dropout_masks = training, masks

    def _buffers(self):
        return {n: a.copy() for n, a in self.model.buffers.items()}

    def _set_buffers(self, buffers):
        self.model.buffers.update(buffers)

    def _set_params(self, params):
        for n, a in params.items():
            self.model.params[n][...] = a

    def _params_finite(self):
        return all(np.isfinite(a).all() for a in self.model.params.values())

    def _param_count(self):
        return sum(a.size for a in self.model.params.values())

    def _set_optimizer(self, optimizer):
        from reference_numpy.optimizers import make_optimizer

        self.optimizer = make_optimizer(optimizer)

    def _optimizer_state(self):
        return self.optimizer.state(self.model.params)

    def _train_step(self, x, target):
        loss, cache = self.model.objective(x, target)
        if self.seq2seq:                                  # token ids: no input gradient, no state
            grads = self.model.objective_backward(target, cache)
        else:                                             # only dL/dparams: dL/dx is not computed
            grads = self.model.objective_backward(target, cache, input_grad=False)[1]
        self.optimizer.step(self.model.params, grads)
        return loss

    # -- seq2seq ------------------------------------------------------------------
    def _s2s_forward(self, src, tgt):
        logits, _ = self.model.forward(src, tgt)
        return logits

    def _s2s_loss_and_grads(self, src, tgt):
        loss, cache = self.model.objective(src, tgt)
        return Gradients(float(loss), None, self.model.objective_backward(tgt, cache))

    def _s2s_vjp(self, src, tgt, upstream):
        _, cache = self.model.forward(src, tgt)
        return Gradients(None, None, self.model.backward(upstream, cache))

    def _s2s_attention(self, src, tgt):
        _, cache = self.model.forward(src, tgt)
        return cache["attention"]

    def _s2s_generate(self, src, max_len):
        return self.model.generate(src, max_len)
