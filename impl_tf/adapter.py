"""The adapter protocol (``reference_numpy/adapter.py``) for Keras 3 on TensorFlow.

Gradients come from ``tf.GradientTape``: of the loss for ``loss_and_grads``, of
``sum(upstream * y)`` (``output_gradients=upstream``) for ``vjp``.
"""

from __future__ import annotations

import importlib

import impl_tf  # noqa: F401  (selects the TensorFlow backend before keras is imported)
import keras
import numpy as np
import tensorflow as tf

from impl_tf import weights
from reference_numpy.adapter import Adapter, Gradients
from reference_numpy.optimizers import CLIP_EPS


#: ``spec.model`` -> the module defining that class (the same names and files as in reference_numpy).
MODULES = {"MLP": "mlp", "LinearRegression": "regression", "PolynomialRegression": "regression",
           "CNN": "cnn", "RecurrentNet": "recurrent"}


def model_class(spec):
    """The impl_tf model class named by ``spec.model``."""
    return getattr(importlib.import_module(f"impl_tf.{MODULES[spec.model]}"), spec.model)


class KerasAdapter(Adapter):
    framework = "keras"
    clip_eps = CLIP_EPS["keras"]
    hyperparameter_dtype = "float32"     # Keras keeps learning_rate etc. as float32 variables

    def _build(self, params):
        if keras.backend.backend() != "tensorflow":
            raise RuntimeError(f"impl_tf needs the TensorFlow backend, KERAS_BACKEND is {keras.backend.backend()!r}")
        self.model = model_class(self.spec)(self.spec, dtype=self.dtype.name)
        weights.load_canonical(self.model, self.spec, params)
        self.variables = weights.variables(self.model, self.spec)

    @staticmethod
    def _state(state):
        return None if state is None else {n: tf.constant(a) for n, a in state.items()}

    def _forward(self, x, initial_state):
        return self.model(tf.constant(x), self._state(initial_state)).numpy()

    def _final_state(self, x, initial_state):
        _, state = self.model.run(tf.constant(x), self._state(initial_state))
        return {n: t.numpy() for n, t in state.items()}

    def _grads(self, tape, out, x_t, s_t, output_gradients=None):
        states = list(s_t.values()) if s_t else []
        gx, *rest = tape.gradient(out, [x_t, *states, *self.variables], output_gradients=output_gradients)
        gs, gp = rest[:len(states)], rest[len(states):]
        grad_state = {n: g.numpy() for n, g in zip(s_t or {}, gs)}
        return gx.numpy(), weights.to_canonical(self.spec, self.model, gp, kind="grads"), grad_state

    def _loss_and_grads(self, x, target, initial_state):
        x_t, s_t = tf.constant(x), self._state(initial_state)
        with tf.GradientTape() as tape:
            tape.watch([x_t, *(s_t or {}).values()])
            loss = self.model.objective(x_t, tf.constant(target), s_t)
        return Gradients(float(loss), *self._grads(tape, loss, x_t, s_t))

    def _vjp(self, x, upstream, initial_state):
        x_t, s_t = tf.constant(x), self._state(initial_state)
        with tf.GradientTape() as tape:
            tape.watch([x_t, *(s_t or {}).values()])
            y = self.model(x_t, s_t)
        return Gradients(None, *self._grads(tape, y, x_t, s_t, output_gradients=tf.constant(upstream)))

    def _get_params(self):
        return weights.read_canonical(self.model, self.spec)

    def _param_count(self):
        return sum(int(np.prod(v.shape)) for v in self.model.trainable_variables)

    def _set_params(self, params):
        weights.load_canonical(self.model, self.spec, params)

    def _set_optimizer(self, optimizer):
        # (clip_eps is checked in the base class: global_clipnorm scales by
        # clip_norm * min(1 / norm, 1 / clip_norm), no eps.)
        # Keras keeps learning_rate as a float32 variable, even for float64 models.
        sgd = keras.optimizers.SGD(learning_rate=optimizer.lr, global_clipnorm=optimizer.clip_norm)
        sgd.build(self.variables)
        self.optimizer = sgd

    def _train_step(self, x, target):
        with tf.GradientTape() as tape:
            loss = self.model.objective(tf.constant(x), tf.constant(target))
        self.optimizer.apply_gradients(zip(tape.gradient(loss, self.variables), self.variables))
        return float(loss)
