"""The adapter protocol (``reference_numpy/adapter.py``) for Keras 3 on TensorFlow.

Gradients come from ``tf.GradientTape``: of the loss for ``loss_and_grads``, of
``sum(upstream * y)`` (``output_gradients=upstream``) for ``vjp``.
"""

from __future__ import annotations

import impl_tf  # noqa: F401  (selects the TensorFlow backend before keras is imported)
import keras
import numpy as np
import tensorflow as tf

from impl_tf import weights
from impl_tf.mlp import MLP
from impl_tf.regression import LinearRegression, PolynomialRegression
from reference_numpy.adapter import Adapter, Gradients


#: ``spec.model`` -> model class (the same names as in reference_numpy).
MODELS = {"MLP": MLP, "LinearRegression": LinearRegression, "PolynomialRegression": PolynomialRegression}


class KerasAdapter(Adapter):
    framework = "keras"

    def _build(self, params):
        if keras.backend.backend() != "tensorflow":
            raise RuntimeError(f"impl_tf needs the TensorFlow backend, KERAS_BACKEND is {keras.backend.backend()!r}")
        self.model = MODELS[self.spec.model](self.spec, dtype=self.dtype.name)
        weights.load_canonical(self.model, self.spec, params)
        self.variables = weights.variables(self.model, self.spec)

    def _forward(self, x):
        return self.model(tf.constant(x)).numpy()

    def _grads(self, tape, out, x_t, output_gradients=None):
        gx, *gp = tape.gradient(out, [x_t, *self.variables], output_gradients=output_gradients)
        return gx.numpy(), weights.to_canonical(self.spec, self.model, gp)

    def _loss_and_grads(self, x, target):
        x_t = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x_t)
            loss = self.model.objective(x_t, tf.constant(target))
        gx, grads = self._grads(tape, loss, x_t)
        return Gradients(float(loss), gx, grads)

    def _vjp(self, x, upstream):
        x_t = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x_t)
            y = self.model(x_t)
        gx, grads = self._grads(tape, y, x_t, output_gradients=tf.constant(upstream))
        return Gradients(None, gx, grads)

    def _get_params(self):
        return weights.read_canonical(self.model, self.spec)

    def _param_count(self):
        return sum(int(np.prod(v.shape)) for v in self.model.trainable_variables)

    def _set_optimizer(self, optimizer):
        # Keras keeps learning_rate as a float32 variable, even for float64 models.
        self.optimizer = keras.optimizers.SGD(learning_rate=optimizer.lr)
        self.optimizer.build(self.variables)

    def _train_step(self, x, target):
        with tf.GradientTape() as tape:
            loss = self.model.objective(tf.constant(x), tf.constant(target))
        self.optimizer.apply_gradients(zip(tape.gradient(loss, self.variables), self.variables))
        return float(loss)
