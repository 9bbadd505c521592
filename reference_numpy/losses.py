"""Losses and their gradients. Every loss is a mean over the batch.

Shapes: N batch, K outputs. ``z`` is what the loss reads: the network output
``y`` for the squared errors, the logits ``u`` (pre-activation of the last
layer) for the two cross-entropies. ``d`` is the target ("teacher" in the notes).

    mse                          L = 1/(N K) sum_{n,k} (y_nk - d_nk)^2
                                 dL/dy = 2 (y - d) / (N K)
        torch ``F.mse_loss`` and Keras ``MeanSquaredError`` (a mean over every element).
    half_sse                     L = 1/N sum_n 1/2 sum_k (y_nk - d_nk)^2
                                 dL/dy = (y - d) / N
        the notes' E_n = 1/2 ||y - d||^2 averaged over the batch
        (their ``d_mean_squared_error`` is exactly ``(y - d) / batch_size``).
    softmax_cross_entropy        L = -1/N sum_n sum_k d_nk log softmax(u)_nk
                                   = 1/N sum_n (logsumexp(u_n) - sum_k d_nk u_nk)
                                 dL/du = (softmax(u) - d) / N
        ``d`` is one-hot / a probability row (N, K) float, or integer labels (N,).
        Computed from logits with log-sum-exp, so it never takes log(0) (the notes add
        1e-7 inside the log; Keras with from_logits=False clips to [1e-7, 1 - 1e-7]).
    sigmoid_binary_cross_entropy L = -1/(N K) sum (d log s(u) + (1 - d) log(1 - s(u)))
                                   = 1/(N K) sum (max(u, 0) - u d + log(1 + exp(-|u|)))
                                 dL/du = (sigmoid(u) - d) / (N K)

Each loss is ``forward(z, d) -> L`` and ``backward(z, d) -> dL/dz``.
"""

from __future__ import annotations

import numpy as np

from reference_numpy import activations
from reference_numpy.specs import LOSS_NEEDS_OUTPUT, LOSSES


def _one_hot(d, k: int, dtype):
    """Integer labels (N,) -> one-hot (N, K); float rows pass through."""
    if np.issubdtype(d.dtype, np.integer):
        out = np.zeros((d.shape[0], k), dtype=dtype)
        out[np.arange(d.shape[0]), d] = 1.0
        return out
    return d


def mse(y, d):
    return np.mean((y - d) ** 2)


def mse_backward(y, d):
    return 2.0 * (y - d) / y.size


def half_sse(y, d):
    return 0.5 * np.sum((y - d) ** 2) / y.shape[0]


def half_sse_backward(y, d):
    return (y - d) / y.shape[0]


def softmax_cross_entropy(u, d):
    d = _one_hot(d, u.shape[-1], u.dtype)                           # (N, K)
    m = np.max(u, axis=-1, keepdims=True)                            # (N, 1)
    logsumexp = m[:, 0] + np.log(np.sum(np.exp(u - m), axis=-1))     # (N,)
    return np.mean(logsumexp * np.sum(d, axis=-1) - np.sum(d * u, axis=-1))


def softmax_cross_entropy_backward(u, d):
    d = _one_hot(d, u.shape[-1], u.dtype)                            # (N, K)
    p = activations.softmax(u)                                       # (N, K)
    return (p * np.sum(d, axis=-1, keepdims=True) - d) / u.shape[0]  # (N, K)


def sigmoid_binary_cross_entropy(u, d):
    return np.mean(np.maximum(u, 0.0) - u * d + np.log1p(np.exp(-np.abs(u))))


def sigmoid_binary_cross_entropy_backward(u, d):
    return (activations.sigmoid(u) - d) / u.size


FORWARD = {
    "mse": mse,
    "half_sse": half_sse,
    "softmax_cross_entropy": softmax_cross_entropy,
    "sigmoid_binary_cross_entropy": sigmoid_binary_cross_entropy,
}
BACKWARD = {
    "mse": mse_backward,
    "half_sse": half_sse_backward,
    "softmax_cross_entropy": softmax_cross_entropy_backward,
    "sigmoid_binary_cross_entropy": sigmoid_binary_cross_entropy_backward,
}
assert tuple(FORWARD) == LOSSES


def takes_logits(name: str) -> bool:
    """True for the losses computed from the logits rather than the output."""
    return name in LOSS_NEEDS_OUTPUT


def get(name: str):
    """``(forward, backward)`` for a loss name; a clear error for an unknown one."""
    if name not in FORWARD:
        raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(FORWARD)}")
    return FORWARD[name], BACKWARD[name]
