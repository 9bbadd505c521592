"""The adapter protocol (``reference_numpy/adapter.py``) for Keras 3, on whichever backend this
process runs (TensorFlow unless ``KERAS_BACKEND`` says otherwise; see ``impl_tf/__init__.py``).

The model is the same on every backend; gradients, vector-Jacobian products and optimizer steps
come from the backend's engine (``impl_tf.engine()``: ``engine_tf.py`` -- ``tf.GradientTape``,
``engine_jax.py`` -- ``jax.vjp`` of a stateless function, ``engine_torch.py`` -- torch autograd):
of the loss for ``loss_and_grads``, of ``sum(upstream * y)`` for ``vjp``, each with respect to the
input, the given initial states and every variable, in one backward pass.
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import keras
import numpy as np

import impl_tf  # (the package's __init__, which selects the backend, has run before this module)
from impl_tf import optimizers, train, weights
from reference_numpy.adapter import Adapter, Gradients
from reference_numpy.initializers import init_buffers
from reference_numpy.optimizers import CLIP_EPS

#: ``spec.model`` -> the module defining that class (the same names and files as in reference_numpy).
MODULES = {"MLP": "mlp", "LinearRegression": "regression", "PolynomialRegression": "regression",
           "CNN": "cnn", "RecurrentNet": "recurrent", "Seq2Seq": "seq2seq"}


def model_class(spec):
    """The impl_tf model class named by ``spec.model``."""
    return getattr(importlib.import_module(f"impl_tf.{MODULES[spec.model]}"), spec.model)


class KerasAdapter(Adapter):
    #: The library whose conventions the messages name (clip eps, float32 hyperparameters: the same
    #: on every backend). The harness's framework names say the backend: keras-tf, keras-jax, keras-torch.
    framework = "keras"
    clip_eps = CLIP_EPS["keras"]
    hyperparameter_dtype = "float32"     # Keras keeps learning_rate etc. as float32 variables
    optimizer_conventions = optimizers.CONVENTIONS
    #: BatchNormalization updates moving_variance with the biased batch variance, no option (regularization.py)
    batch_norm_conventions = {"running_var": ("biased",)}
    #: the loop ``fit`` runs (None: ``train_step``'s own, ``step_loop``); after a compiled step, whether the
    #: variables are finite and their values before it (the divergence check, computed in its graph)
    loop = finite = before = None

    @property
    def loops(self) -> tuple[str, ...]:
        """``fit`` (model.fit), ``compiled`` (the tf.function step ``train_step`` runs on TensorFlow) and
        ``eager`` (a tape and ``apply_gradients`` op by op; ``train_step`` on JAX and torch); see ``train.py``.
        A seq2seq model reads ``(src, tgt)`` pairs, which ``model.fit``'s ``(x, y)`` batches do not feed it:
        no ``fit`` loop there."""
        loops = ("fit", "compiled", "eager") if keras.backend.backend() == "tensorflow" else ("fit", "eager")
        return loops[1:] if self.seq2seq else loops

    @property
    def backend(self) -> str:
        """The Keras backend this adapter runs on: ``tensorflow``, ``jax`` or ``torch``."""
        return self.engine.BACKEND

    def _build(self, params):
        self.engine = impl_tf.engine()                      # fixed per process, like the backend
        self.engine.check_dtype(self.dtype.name)
        self.model = model_class(self.spec)(self.spec, dtype=self.dtype.name)
        self.engine.build(self.model, self.spec, params)
        self.variables = weights.variables(self.model, self.spec)
        weights.load_buffers(self.model, self.spec, init_buffers(self.spec, None, self.dtype))   # 0 and 1, as torch
        self._make_fns()

    def _make_fns(self):
        """The functions of the model the engine runs, made once -- and again when the mode changes, which a
        compiled program reads when it is traced. The same function objects at every call, the data as
        arguments: the JAX engine keeps the compiled programs of the functions it ran last
        (``engine_jax._PROGRAMS``)."""
        m, names = self.model, tuple(getattr(self.spec, "state_shapes", dict)())

        def states(values):                       # the initial-state tensors -> the model's dict (or None)
            return dict(zip(names, values, strict=True)) if values else None

        def forward_and_state(x_t, s_t):          # the output and the final states, from one pass
            u, state = m.run(x_t, s_t)
            return m.output_activation(u), state

        self.fns = SimpleNamespace(
            forward=lambda x_t, s_t: m(x_t, s_t),
            forward_and_state=forward_and_state,
            loss=lambda x_t, *rest: m.objective(x_t, rest[-1], states(rest[:-1])),   # rest: states, target
            output=lambda x_t, *s: m(x_t, states(s)),
            s2s_forward=lambda src, tgt: m(src, tgt),
            s2s_run=lambda src, tgt: m.run(src, tgt),          # (logits, attention): forward and attention
            s2s_loss=lambda src, tgt: m.objective(src, tgt))

    def _state(self, state):
        return None if state is None else {n: self.engine.tensor(a) for n, a in state.items()}

    def _evaluate(self, fn, *arrays):
        return self.engine.evaluate(fn, *arrays, variables=self.model.variables)

    def _forward(self, x, initial_state):
        return self._evaluate(self.fns.forward, self.engine.tensor(x), self._state(initial_state))

    def _forward_and_state(self, x, initial_state):
        return self._evaluate(self.fns.forward_and_state, self.engine.tensor(x), self._state(initial_state))

    def _grads(self, fn, x, initial_state, upstream=None, constants=()):
        """``fn(x_t, *states, *constants)`` (the loss or the output) and its gradients with respect to the
        input, the given initial states and every variable (of ``sum(upstream * y)`` for an upstream)."""
        s_t = self._state(initial_state) or {}
        y, (gx, *gs), gp = self.engine.gradients(fn, [self.engine.tensor(x), *s_t.values()], self.variables,
                                                 upstream, constants, context=self.model.variables)
        return y, gx, weights.to_canonical(self.spec, self.model, gp, kind="grads"), dict(zip(s_t, gs))

    def _loss_and_grads(self, x, target, initial_state):
        loss, *grads = self._grads(self.fns.loss, x, initial_state, constants=[self.engine.tensor(target)])
        return Gradients(float(loss), *grads)

    def _vjp(self, x, upstream, initial_state):
        _, *grads = self._grads(self.fns.output, x, initial_state, upstream)
        return Gradients(None, *grads)

    # -- seq2seq: token ids in (no input gradient), teacher-forced logits out -----------------
    def _s2s_forward(self, src, tgt):
        return self._evaluate(self.fns.s2s_run, self.engine.tensor(src), self.engine.tensor(tgt))[0]

    def _s2s_attention(self, src, tgt):
        # the same function as _s2s_forward's, so that JAX compiles one program for both (the engine keeps it)
        return self._evaluate(self.fns.s2s_run, self.engine.tensor(src), self.engine.tensor(tgt))[1]

    def _s2s_grads(self, fn, src, tgt, upstream=None):
        """``fn(src, tgt)`` and its gradients with respect to every variable (none for the int ids)."""
        y, _, gp = self.engine.gradients(fn, [], self.variables, upstream,
                                         [self.engine.tensor(src), self.engine.tensor(tgt)],
                                         context=self.model.variables)
        return y, weights.to_canonical(self.spec, self.model, gp, kind="grads")

    def _s2s_loss_and_grads(self, src, tgt):
        loss, grads = self._s2s_grads(self.fns.s2s_loss, src, tgt)
        return Gradients(float(loss), None, grads)

    def _s2s_vjp(self, src, tgt, upstream):
        _, grads = self._s2s_grads(self.fns.s2s_forward, src, tgt, upstream)
        return Gradients(None, None, grads)

    def _s2s_generate(self, src, max_len):
        return self._evaluate(lambda s: self.model.generate(s, max_len), self.engine.tensor(src))

    def _get_params(self):
        return weights.read_canonical(self.model, self.spec)

    def _param_count(self):
        return sum(int(np.prod(v.shape)) for v in self.model.trainable_variables)

    def _set_mode(self, training, masks):
        # the model passes train_mode as training= to its BatchNormalization and Dropout layers
        if hasattr(self.model, "set_dropout_masks"):
            self.model.train_mode = training
            self.model.set_dropout_masks(masks)
            self.compiled = None           # the compiled step was traced with the old mode and masks
            self._make_fns()               # and so were the JAX engine's programs of the old functions

    def _buffers(self):
        return weights.read_buffers(self.model, self.spec)

    def _set_buffers(self, buffers):
        weights.load_buffers(self.model, self.spec, buffers)

    def _set_params(self, params):
        weights.load_canonical(self.model, self.spec, params)

    def _set_optimizer(self, optimizer):
        # (clip_eps and the conventions are checked in the base class: global_clipnorm scales by
        # clip_norm * min(1 / norm, 1 / clip_norm), no eps; optimizers.CONVENTIONS lists the rest.)
        # Keras keeps learning_rate as a float32 variable, even for float64 models.
        keras_optimizer = optimizers.make(optimizer)
        keras_optimizer.build(self.variables)
        self.optimizer, self.compiled = keras_optimizer, None

    def _optimizer_state(self):
        return optimizers.state(self.optimizer, self._optimizer_spec, self.variables, self.model, self.spec)

    @property
    def step_loop(self) -> str:
        """The loop ``train_step`` runs: ``compiled`` on TensorFlow (a ``tf.function``, as Keras users
        write a custom step), else ``eager`` (on JAX the engine's step is one ``jax.jit`` program)."""
        return "compiled" if self.backend == "tensorflow" else "eager"

    def _fit(self, batches, loop, bar):
        if loop == "fit":
            return train.fit(self, batches, bar)
        self.loop = loop
        try:
            return super()._fit(batches, loop, bar)
        finally:
            self.loop = None

    def _train_step(self, x, target):
        self.finite = self.before = None
        if self._compiled_loop():
            if self.compiled is None:                     # traced once per optimizer and mode
                self.compiled = train.compiled_step(self)
            loss, self.finite, self.before = self.compiled(x, target)
            return float(loss)
        inputs = [self.engine.tensor(x), self.engine.tensor(target)]
        loss_fn = self.fns.s2s_loss if self.seq2seq else self.fns.loss
        return self.engine.train_step(loss_fn, inputs, self.variables, self.optimizer, context=self.model.variables)

    def _compiled_loop(self) -> bool:
        return (self.loop or self.step_loop) == "compiled"

    # the divergence check (Adapter.train_step): the compiled step copies the variables and checks
    # them inside its graph; an eager step here
    def _snapshot(self):
        return None if self._compiled_loop() else [keras.ops.copy(v.value) for v in self.variables]

    def _restore(self, snapshot):
        for variable, value in zip(self.variables, self.before or snapshot, strict=True):
            variable.assign(value)

    def _params_finite(self):
        if self.finite is not None:
            return bool(self.finite)
        return all(bool(keras.ops.all(keras.ops.isfinite(v.value))) for v in self.variables)
