"""Layers with hand-written backward passes (functional: forward returns a cache).

Shape legend: N batch, D input features, H output units, P polynomial degree.

Dense (the notes' ``u = np.dot(x, W) + b``)::

    forward   u  = x @ W + b                  x (N, D), W (D, H), b (H,) -> u (N, H)
    backward  dx = du @ W.T                   (N, D)
              dW = x.T @ du                   (D, H)
              db = sum_n du                   (H,)

PolynomialFeatures (power-major columns, as the notes' ``x ** i`` features)::

    forward   phi = [x, x**2, ..., x**P]       x (N, D) -> phi (N, P*D)
              phi[:, (p-1)*D : p*D] = x**p
    backward  dx = sum_p dphi[:, (p-1)*D : p*D] * p * x**(p-1)       (N, D)
"""

from __future__ import annotations

import numpy as np


def dense_forward(x, W, b):
    u = x @ W                     # (N, H)
    u += b                        # x @ W + b, without a second (N, H) array
    return u, (x, W)


def dense_backward(du, cache):
    x, W = cache
    dx = du @ W.T                 # (N, D)
    dW = x.T @ du                 # (D, H)
    db = du.sum(axis=0)           # (H,)
    return dx, dW, db


def polynomial_features_forward(x, degree: int):
    powers = np.arange(1, degree + 1, dtype=x.dtype)       # (P,) in x's dtype: int64 powers would give float64
    phi = x[:, None, :] ** powers[None, :, None]           # (N, P, D)
    return phi.reshape(x.shape[0], -1), (x, degree)        # (N, P*D)


def polynomial_features_backward(dphi, cache):
    x, degree = cache
    n, d = x.shape
    powers = np.arange(1, degree + 1, dtype=x.dtype)                    # (P,) in x's dtype, as above
    dphi = dphi.reshape(n, degree, d)                                   # (N, P, D)
    slope = powers[None, :, None] * x[:, None, :] ** (powers - 1)[None, :, None]  # (N, P, D)
    return np.sum(dphi * slope, axis=1)                                 # (N, D)
