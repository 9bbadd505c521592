"""Losses by the canonical names of ``reference_numpy/losses.py``, as Keras computes them.

Keras losses take ``(y_true, y_pred)`` -- target first (torch: the reverse).
Every Keras ``Loss`` casts its inputs to its own ``dtype``, which defaults to
``keras.config.floatx()`` (float32) -- a float64 model would silently get a
float32 loss -- so each loss is built with the model's dtype.

    mse                           MeanSquaredError()(d, y)             mean over every element
    half_sse                      0.5 * sum((y - d)^2) / N             (no Keras built-in; the notes' form)
    softmax_cross_entropy         CategoricalCrossentropy(from_logits=True)(d, u)        d one-hot (N, K)
                                  SparseCategoricalCrossentropy(from_logits=True)(d, u)  d int labels (N,)
    sigmoid_binary_cross_entropy  BinaryCrossentropy(from_logits=True)(d, u)
"""

import keras
from keras import ops


def half_sse(dtype):
    def loss(d, y):
        return 0.5 * ops.sum(ops.square(y - d)) / ops.cast(ops.shape(y)[0], y.dtype)
    return loss


def softmax_cross_entropy(dtype):
    dense = keras.losses.CategoricalCrossentropy(from_logits=True, dtype=dtype)
    sparse = keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype=dtype)

    def loss(d, u):
        return sparse(d, u) if "int" in str(d.dtype) else dense(d, u)
    return loss


LOSSES = {
    "mse": lambda dtype: keras.losses.MeanSquaredError(dtype=dtype),
    "half_sse": half_sse,
    "softmax_cross_entropy": softmax_cross_entropy,
    "sigmoid_binary_cross_entropy": lambda dtype: keras.losses.BinaryCrossentropy(from_logits=True,
                                                                                  dtype=dtype),
}


def get(name: str, dtype: str):
    """A ``loss(d, z)`` callable for the canonical loss ``name`` in ``dtype``."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}")
    return LOSSES[name](dtype)
