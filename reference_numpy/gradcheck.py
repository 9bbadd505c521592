"""Central-difference gradient check (the notes' ``numerical_gradient``), as an assertion.

    df/dx_i ~= (f(x + h e_i) - f(x - h e_i)) / (2 h)

In float64 with ``h = 1e-5`` the truncation error is O(h^2 f''') ~ 1e-10 and the
rounding error O(eps |f| / h) ~ 1e-11, so a correct backward pass agrees to a
normwise relative error far below the default ``rtol = 1e-7``, and a wrong one
(a missing factor, a transposed weight, a dropped term) is off by O(1).
"""

from __future__ import annotations

import numpy as np


def numerical_gradient(f, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central differences of the scalar function ``f`` at ``x``.

    Like the notes' version, each element of ``x`` is nudged in place and
    restored, so ``f`` may ignore its argument and read ``x`` through a closure
    (e.g. a model's own parameter array). Works for any memory layout.
    """
    if x.dtype != np.float64:
        raise TypeError(f"gradient checks need float64 input, got {x.dtype}")
    grad = np.zeros(x.shape, dtype=x.dtype)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        f_plus = f(x)
        x[idx] = old - h
        f_minus = f(x)
        x[idx] = old
        grad[idx] = (f_plus - f_minus) / (2.0 * h)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """``(max |a - b|, max |a - b| / max(max|a|, max|b|))`` -- normwise, never signed."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    abs_err = float(np.max(np.abs(a - b))) if a.size else 0.0
    scale = max(float(np.max(np.abs(a))) if a.size else 0.0, float(np.max(np.abs(b))) if b.size else 0.0)
    return abs_err, (abs_err / scale if scale > 0 else abs_err)


def check_gradient(f, x: np.ndarray, analytic: np.ndarray, *, h: float = 1e-5,
                   rtol: float = 1e-7, atol: float = 1e-10, name: str = "x") -> float:
    """Assert that ``analytic`` equals the central-difference gradient of ``f`` at ``x``.

    Passes when the normwise relative error is at most ``rtol`` or the absolute
    error at most ``atol`` (for gradients that are exactly zero). Returns the
    relative error.
    """
    if analytic.shape != x.shape:
        raise AssertionError(f"gradient of {name} has shape {analytic.shape}, expected {x.shape}")
    numeric = numerical_gradient(f, x, h)
    abs_err, rel_err = relative_error(analytic, numeric)
    if not (rel_err <= rtol or abs_err <= atol):
        raise AssertionError(f"gradient of {name} disagrees with central differences: "
                             f"max abs err {abs_err:.3e}, rel err {rel_err:.3e} (rtol {rtol:g})")
    return rel_err
