"""Activation functions and their backward passes.

Shapes: every function is elementwise on ``(N, K)`` (N batch, K units), except
softmax, which normalizes over the last axis.

Each activation has ``forward(u) -> z`` and ``backward(dz, u, z) -> du``: the
gradient of the loss with respect to the input ``u`` given ``dz = dL/dz``.
Both ``u`` and ``z`` are passed so each derivative uses whichever is cheaper
(``sigmoid' = z (1 - z)``, ``tanh' = 1 - z^2``, ``relu' = [u > 0]``).

    sigmoid(u)  = 1 / (1 + exp(-u))            du = dz * z * (1 - z)
                = (1 + tanh(u / 2)) / 2        (sigmoid_gate: the recurrent cells' gates)
    tanh(u)                                    du = dz * (1 - z**2)
    relu(u)     = max(0, u)                    du = dz * [u > 0]
    step(u)     = [u > 0]                      du = 0          (the notes' d_step_function)
    identity(u) = u                            du = dz
    softmax(u)_k = exp(u_k - m) / sum_j exp(u_j - m),   m = max_j u_j  (overflow-safe)
                                               du = z * (dz - sum_k(dz * z))   (row-wise)

The softmax backward is the vector-Jacobian product with ``J = diag(z) - z z^T``;
``relu`` uses the subgradient 0 at ``u = 0``, as torch and Keras do.
"""

from __future__ import annotations

import numpy as np


def sigmoid(u, out=None):
    # 1 / (1 + exp(-u)) in one buffer (``out``, or a new array; u itself works). For u below about
    # -88.7 (float32; -709.8 in float64) exp(-u) overflows to inf and the result is 1 / inf = 0: the
    # true value there is below the smallest normal number (TensorFlow flushes it to 0 too), so the
    # overflow is expected and not reported. (A split by sign, exp(u) / (1 + exp(u)) for u < 0, never
    # overflows but costs a branch per element -- np.where -- and twice the passes.)
    with np.errstate(over="ignore"):                 # (not np.negative(u, out=u): NumPy 2.4 writes that
        out = np.exp(-u, out=out)                     # wrongly on a strided view of a column)
    out += 1.0
    return np.divide(1.0, out, out=out)              # (np.reciprocal: the same values, no SIMD loop, slower)


def sigmoid_gate(u, out=None):
    # The LSTM's and GRU's gates: sigmoid(u) = (1 + tanh(u / 2)) / 2, one tanh (cheaper than exp, and it
    # never overflows) and three cheap passes, about 40% faster than ``sigmoid``. Exact to about one unit
    # in the last place of 1, not relative to a tiny value (sigmoid(-40) comes out 0, not 4e-18): fine for
    # a gate, which multiplies a state; ``sigmoid`` keeps the relative precision an output needs.
    out = np.multiply(u, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def sigmoid_backward(dz, u, z, out=None):
    return np.multiply(dz * z, 1.0 - z, out=out)


# ``out`` (SimpleRNN's activations): write the result into a given array, e.g. a row of the
# recurrent loop's buffer of every step's state, instead of a new one
def tanh(u, out=None):
    return np.tanh(u, out=out)


def tanh_backward(dz, u, z, out=None):
    return np.multiply(dz, 1.0 - z * z, out=out)


def relu(u, out=None):
    return np.maximum(u, 0.0, out=out)


def relu_backward(dz, u, z, out=None):
    return np.multiply(dz, u > 0, out=out)


def step(u):
    return (u > 0).astype(u.dtype)


def step_backward(dz, u, z):
    return np.zeros_like(dz)


def identity(u):
    return u


def identity_backward(dz, u, z):
    return dz


def softmax(u):
    shifted = u - np.max(u, axis=-1, keepdims=True)      # (N, K), max is 0 per row
    e = np.exp(shifted)                                   # (N, K)
    return e / np.sum(e, axis=-1, keepdims=True)          # (N, K)


def softmax_backward(dz, u, z):
    return z * (dz - np.sum(dz * z, axis=-1, keepdims=True))  # (N, K)


FORWARD = {
    "sigmoid": sigmoid,
    "tanh": tanh,
    "relu": relu,
    "step": step,
    "identity": identity,
    "softmax": softmax,
}
BACKWARD = {
    "sigmoid": sigmoid_backward,
    "tanh": tanh_backward,
    "relu": relu_backward,
    "step": step_backward,
    "identity": identity_backward,
    "softmax": softmax_backward,
}


def get(name: str):
    """``(forward, backward)`` for an activation name; a clear error for an unknown one."""
    if name not in FORWARD:
        raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(FORWARD)}")
    return FORWARD[name], BACKWARD[name]
