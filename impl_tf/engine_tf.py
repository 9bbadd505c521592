"""How Keras on TensorFlow runs and differentiates the suite's Keras models: ``tf.GradientTape``.

One of three engines with the same functions (``engine_jax.py``, ``engine_torch.py``); the
models themselves (``keras.layers`` / ``keras.ops`` only) are the same on every backend, and
``impl_tf.engine()`` picks the engine of the running backend. Every function is generic: it
differentiates any function ``fn(*inputs, *constants)`` of the model's Keras variables and of float
input tensors; targets, token ids and other constants come in as ``constants``, so that a function
object can be reused from call to call (the JAX engine keeps a compiled program per function)::

    tensor(a)                        NumPy array -> backend tensor, same dtype
    to_numpy(t)                      backend value (or a nest of them) -> NumPy
    evaluate(fn, *args, variables=())
                                     fn(*args) without recording gradients, as NumPy (``variables``:
                                     every variable fn reads, which the JAX engine passes to its
                                     compiled program)
    gradients(fn, inputs, variables, upstream=None, constants=(), context=())
                                     (y, [dy/d input], [dy/d variable]) as NumPy, for
                                     y = fn(*inputs, *constants): the gradient of y (a scalar loss)
                                     when ``upstream`` is None, else of sum(upstream * y) (a
                                     vector-Jacobian product); zeros for a variable or input y does
                                     not use; ``constants`` (targets, token ids) and ``context`` (the
                                     other variables fn reads) are not differentiated
    build(model, spec, params)       create the model's variables and assign the canonical parameters
    train_step(loss_fn, inputs, variables, optimizer, context=())
                                     one step of a built Keras optimizer on the gradient of
                                     loss_fn(*inputs) with respect to the variables; the loss before it
                                     (``context``: the other variables loss_fn reads)

Here: a tape watches the inputs (variables are watched by default) and
``tape.gradient(y, [*inputs, *variables], output_gradients=upstream)`` gives both kinds of
gradient at once; the optimizer step is ``optimizer.apply_gradients``, which updates the
variables in place.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from impl_tf import weights

BACKEND = "tensorflow"


def check_dtype(dtype: str) -> None:
    """Every float dtype of the suite runs as it is on TensorFlow."""


def build(model, spec, params) -> None:
    """Create the variables (one call on a one-example batch) and assign the canonical parameters."""
    weights.load_canonical(model, spec, params)


def tensor(array: np.ndarray):
    return tf.constant(array)


def to_numpy(value):
    return keras.tree.map_structure(lambda t: np.asarray(t), value)


def evaluate(fn, *args, variables=()):
    return to_numpy(fn(*args))


def gradients(fn, inputs, variables, upstream=None, constants=(), context=()):
    """``(y, input_grads, variable_grads)`` as NumPy (module docstring)."""
    inputs = list(inputs)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        y = fn(*inputs, *constants)
    grads = tape.gradient(y, [*inputs, *variables],
                          output_gradients=None if upstream is None else tf.constant(upstream),
                          unconnected_gradients=tf.UnconnectedGradients.ZERO)    # unused: zeros, as on JAX
    return (np.asarray(y), [np.asarray(g) for g in grads[:len(inputs)]],
            [weights.dense(g) for g in grads[len(inputs):]])          # dense: an Embedding's IndexedSlices


def dense_gradients(grads) -> list:
    """Gradients for ``optimizer.apply_gradients`` with every ``IndexedSlices`` (an ``Embedding``'s
    gradient on TensorFlow) made a dense tensor. Keras 3.15's optimizers apply ``IndexedSlices``
    slice by slice: an id that occurs k times in a batch contributes k slices, and an update that
    squares the gradient (Adam's, AdamW's, AMSGrad's, RMSprop's and Adagrad's second moment) then
    adds the squares of the slices instead of squaring their sum -- a different ``v`` for every
    repeated id (0.77 relative on a seq2seq source embedding after 100 Adam steps).
    ``parity_tests/test_optimizers.py`` pins the Keras behaviour; densified, Keras takes NumPy's
    and torch's steps."""
    return [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]


def train_step(loss_fn, inputs, variables, optimizer, context=()) -> float:
    with tf.GradientTape() as tape:
        loss = loss_fn(*inputs)
    optimizer.apply_gradients(zip(dense_gradients(tape.gradient(loss, variables)), variables))
    return float(loss)
