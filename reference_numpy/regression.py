"""Linear and polynomial regression, plus the closed-form least-squares answer.

Shape legend: N batch, D input features, P degree, F = D (linear) or P*D
(polynomial) regression features, K outputs.
Parameters (canonical layout): ``W (F, K), b (K,)``.

LinearRegression (the notes' ``y = W * x + b`` on ``d = 3x + 2 + noise``)::

    y  = x @ W + b                         (N, K)
    dW = x.T @ dy,  db = sum_n dy,  dx = dy @ W.T

PolynomialRegression (the notes' cubic ``d = -0.4x^3 + 1.6x^2 - 2.8x + 1``)::

    phi = [x, x**2, ..., x**P]             (N, P*D)   (layers.polynomial_features_forward)
    y   = phi @ W + b                      (N, K)

Both losses here (``mse``, ``half_sse``) are minimized by the least-squares
solution of ``[phi, 1] @ [W; b] = d``, which ``closed_form`` computes with
``numpy.linalg.lstsq`` -- the fourth reference that gradient descent in every
framework must reach.
"""

from __future__ import annotations

import numpy as np

from reference_numpy.layers import (
    dense_backward,
    dense_forward,
    polynomial_features_backward,
    polynomial_features_forward,
)
from reference_numpy.model import Model, no_initial_state


class LinearRegression(Model):
    def features(self, x):
        return x, None                                                     # (N, D)

    def features_backward(self, dphi, cache):
        return dphi                                                        # (N, D)

    def logits(self, x, initial_state=None):
        no_initial_state(self.spec, initial_state)
        phi, feature_cache = self.features(x)                              # (N, F)
        u, dense_cache = dense_forward(phi, self.params["W"], self.params["b"])  # (N, K); y = u (identity)
        return u, {"features": feature_cache, "dense": dense_cache, "logits": u, "final_state": {}}

    def logits_backward(self, du, cache, input_grad=True):
        dphi, dW, db = dense_backward(du, cache["dense"], input_grad)      # (N, F), (F, K), (K,)
        dx = self.features_backward(dphi, cache["features"]) if input_grad else None   # (N, D)
        return dx, {"W": dW, "b": db}, {}


class PolynomialRegression(LinearRegression):
    def features(self, x):
        return polynomial_features_forward(x, self.spec.degree)            # (N, P*D)

    def features_backward(self, dphi, cache):
        return polynomial_features_backward(dphi, cache)                   # (N, D)


def regression_features(spec, x):
    """The design matrix ``phi`` a regression spec fits (``x`` itself for linear)."""
    if hasattr(spec, "degree"):
        return polynomial_features_forward(x, spec.degree)[0]
    return x


def closed_form(spec, x, d) -> dict[str, np.ndarray]:
    """Least-squares parameters ``argmin ||phi @ W + b - d||^2`` in canonical layout."""
    phi = regression_features(spec, x)                                     # (N, F)
    A = np.hstack([phi, np.ones((phi.shape[0], 1), dtype=phi.dtype)])     # (N, F + 1)
    coef, *_ = np.linalg.lstsq(A, d, rcond=None)                          # (F + 1, K)
    return {"W": coef[:-1], "b": coef[-1]}
