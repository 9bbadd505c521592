"""Central-difference gradient check (the notes' ``numerical_gradient``), as an assertion.

    df/dx_i ~= (f(x + h e_i) - f(x - h e_i)) / (2 h)

Two errors limit what a central difference sees (float64, ``h = 1e-5``):

    truncation  O(h^2 f''') ~ 1e-10 relative to the gradient: far below ``rtol = 1e-7``;
    rounding    each value of f is off by a few eps |f|, so each difference quotient is
                uncertain by about ``eps * |f| / h`` (2.2e-11 |f|): the *noise floor*. A
                gradient below it is invisible -- f(x + h e_i) and f(x - h e_i) round to
                the same number and the estimate is exactly 0.

``check_gradient`` is scale-aware. With ``scale = max(max|analytic|, max|numeric|)`` and
``noise = NOISE_FACTOR * eps * max|f| / h`` (max over every evaluation of f) it passes when

    max |analytic - numeric| <= max(rtol * scale, noise)

AND the check could have failed: a zero analytic gradient must not pass the same test, i.e.
``max |numeric| > noise``. Where the true gradient is below the noise floor -- an initial
state's gradient after 50 recurrent steps is 1e-15 .. 1e-43 at a loss of O(1) -- the check
cannot tell the analytic gradient from 0 and raises ``GradientUnresolvable`` instead of
passing: check such a gradient at a point where it is resolvable (e.g. over fewer steps).
(The fixed ``abs <= 1e-10`` this replaces accepted an all-zero gradient there.) A gradient that
is exactly zero by the model's own math is checked with ``zero=True``: it must be exactly 0,
and the central difference must not resolve anything else.

``NOISE_FACTOR = 10``: over every check in ``parity_tests/test_gradcheck.py`` whose error is
not already within ``rtol``, the measured ``max|analytic - numeric| / (eps max|f| / h)`` is at
most 1.7 (an initial-state gradient of a reset-before GRU after 50 steps), so 10 leaves a
~6x margin; a wrong backward pass (a missing factor, a transposed weight, a dropped term) is
off by O(1) relative, far above both.
"""

from __future__ import annotations

import numpy as np

#: The noise allowance in units of ``eps * max|f| / h`` (module docstring).
NOISE_FACTOR = 10.0


class GradientUnresolvable(AssertionError):
    """The gradient is below the central differences' noise floor: at this point the check
    cannot tell it from zero (so it does not pass)."""


def central_differences(f, x: np.ndarray, h: float = 1e-5) -> tuple[np.ndarray, float]:
    """``(gradient, max |f|)``: central differences of the scalar function ``f`` at ``x``, and
    the largest magnitude of f among the evaluations (what the rounding noise scales with).

    Like the notes' version, each element of ``x`` is nudged in place and restored, so ``f``
    may ignore its argument and read ``x`` through a closure (e.g. a model's own parameter
    array). Works for any memory layout.
    """
    if x.dtype != np.float64:
        raise TypeError(f"gradient checks need float64 input, got {x.dtype}")
    grad = np.zeros(x.shape, dtype=x.dtype)
    f_scale = 0.0
    for idx in np.ndindex(x.shape):
        grad[idx], f_max = central_difference_at(f, x, idx, h)
        f_scale = max(f_scale, f_max)
    return grad, f_scale


def central_difference_at(f, x: np.ndarray, idx: tuple, h: float = 1e-5) -> tuple[float, float]:
    """``((f(x + h e_idx) - f(x - h e_idx)) / 2h, max |f|)`` for one element ``idx`` of ``x``,
    nudged in place and restored (the notes' ``numerical_gradient`` for one entry)."""
    old = x[idx]
    x[idx] = old + h
    f_plus = f(x)
    x[idx] = old - h
    f_minus = f(x)
    x[idx] = old
    return (f_plus - f_minus) / (2.0 * h), max(abs(float(f_plus)), abs(float(f_minus)))


def stacked_central_differences(f_stacked, x: np.ndarray, h: float = 1e-5) -> tuple[np.ndarray, float]:
    """``central_differences`` with every evaluation of f in ONE call: ``f_stacked(X)`` receives the 2P
    points ``x + h e_i`` (``X[i]``) and ``x - h e_i`` (``X[P + i]``), i = 1..P (P = x.size), stacked on a
    new first axis, ``X (2P, *x.shape)``, and returns f at each of them, ``(2P,)``. The points and the
    difference quotient are the ones ``central_difference_at`` forms, element by element. For a model
    whose batch rows do not interact (any model here in inference mode: batch norm reading its running
    statistics), f of every point at its input is one forward pass over the 2P copies of the batch
    stacked on the batch axis, instead of 2P passes."""
    if x.dtype != np.float64:
        raise TypeError(f"gradient checks need float64 input, got {x.dtype}")
    P = x.size
    points = np.repeat(x.reshape(1, P), 2 * P, axis=0)                   # (2P, P): row i perturbs entry i % P
    rows = np.arange(P)
    points[rows, rows] = x.reshape(P) + h                                # x[idx] = old + h
    points[P + rows, rows] = x.reshape(P) - h                            # x[idx] = old - h
    values = np.asarray(f_stacked(points.reshape(2 * P, *x.shape)), dtype=np.float64)
    if values.shape != (2 * P,):
        raise ValueError(f"f_stacked must return one value per point, shape ({2 * P},), got {values.shape}")
    grad = ((values[:P] - values[P:]) / (2.0 * h)).reshape(x.shape)
    return grad, float(np.max(np.abs(values))) if P else 0.0


def numerical_gradient(f, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central differences of the scalar function ``f`` at ``x`` (see ``central_differences``)."""
    return central_differences(f, x, h)[0]


def noise_floor(f_scale: float, h: float = 1e-5) -> float:
    """``NOISE_FACTOR * eps * |f| / h``: what rounding alone can put into a float64 difference
    quotient of a function of magnitude ``f_scale``."""
    return NOISE_FACTOR * float(np.finfo(np.float64).eps) * f_scale / h


def relative_error(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """``(max |a - b|, max |a - b| / max(max|a|, max|b|))`` -- normwise, never signed."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    abs_err = float(np.max(np.abs(a - b))) if a.size else 0.0
    scale = max(float(np.max(np.abs(a))) if a.size else 0.0, float(np.max(np.abs(b))) if b.size else 0.0)
    return abs_err, (abs_err / scale if scale > 0 else abs_err)


def check_gradient(f, x: np.ndarray, analytic: np.ndarray, *, h: float = 1e-5, rtol: float = 1e-7,
                   atol: float = 0.0, name: str = "x", zero: bool = False, f_stacked=None) -> float:
    """Assert that ``analytic`` equals the central-difference gradient of ``f`` at ``x``
    (the rule is in the module docstring); returns the normwise relative error.

    ``atol`` adds an absolute allowance to the noise floor (none by default); it never lets a
    check pass that a zero gradient would pass too. ``zero=True``: the gradient is zero by
    construction -- ``analytic`` must be exactly 0 and ``|numeric|`` within the allowance.
    Raises ``GradientUnresolvable`` (an AssertionError) when the numerical gradient is within
    the allowance, so that the check could not have failed. With ``f_stacked`` (f of many points
    at once, ``stacked_central_differences``) the same differences come from one call of it.
    """
    if analytic.shape != x.shape:
        raise AssertionError(f"gradient of {name} has shape {analytic.shape}, expected {x.shape}")
    numeric, f_scale = (central_differences(f, x, h) if f_stacked is None
                        else stacked_central_differences(f_stacked, x, h))
    allowance = max(noise_floor(f_scale, h), atol)
    abs_err, rel_err = relative_error(analytic, numeric)
    resolved = float(np.max(np.abs(numeric))) if numeric.size else 0.0
    if zero:
        if np.any(analytic != 0) or resolved > allowance:
            raise AssertionError(f"gradient of {name} should be exactly 0: max |analytic| "
                                 f"{float(np.max(np.abs(analytic))):.3e}, max |numeric| {resolved:.3e} "
                                 f"(noise allowance {allowance:.1e})")
        return rel_err
    scale = max(resolved, float(np.max(np.abs(analytic))) if analytic.size else 0.0)
    if abs_err > max(rtol * scale, allowance):
        raise AssertionError(f"gradient of {name} disagrees with central differences: "
                             f"max abs err {abs_err:.3e}, rel err {rel_err:.3e} (rtol {rtol:g}, "
                             f"noise allowance {allowance:.1e})")
    if resolved <= allowance:
        raise GradientUnresolvable(
            f"gradient of {name} is below the finite-difference resolution: max |numeric| {resolved:.3e} "
            f"<= noise allowance {allowance:.1e} (max |f| {f_scale:.3e}, h {h:g}); a zero gradient would "
            f"pass too, so this point proves nothing -- check where the gradient is resolvable, or pass "
            f"zero=True if it is zero by construction (max |analytic| here: "
            f"{float(np.max(np.abs(analytic))) if analytic.size else 0.0:.3e})")
    return rel_err
