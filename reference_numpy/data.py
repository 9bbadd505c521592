"""Tasks, generated from a seed, and the real data sets that ship inside scikit-learn.

Nothing here downloads anything.

    linear_task       the notes' ``d = 3x + 2 + 0.3 * noise``, x ~ U[0, 1)
    polynomial_task   the notes' ``d = -0.4x^3 + 1.6x^2 - 2.8x + 1 + 0.05 * noise``,
                      x ~ U[-2, 2)
    iris              150 x 4 features (standardized), 3 classes  (sklearn.datasets)
    digits            1797 8x8 images scaled to [0, 1], 10 classes (sklearn.datasets)
"""

from __future__ import annotations

import numpy as np


def linear_task(seed: int, n: int = 100, noise: float = 0.3, w: float = 3.0, b: float = 2.0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1))                                       # (N, 1)
    d = w * x + b + noise * rng.standard_normal((n, 1))          # (N, 1)
    return x, d


def polynomial_task(seed: int, n: int = 100, noise: float = 0.05,
                    coeffs: tuple[float, ...] = (1.0, -2.8, 1.6, -0.4)):
    """``coeffs[i]`` multiplies ``x**i``."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1)) * 4.0 - 2.0                           # (N, 1)
    d = sum(c * x ** i for i, c in enumerate(coeffs))            # (N, 1)
    return x, d + noise * rng.standard_normal((n, 1))


def iris():
    """Standardized iris features ``(150, 4)`` float64 and labels ``(150,)`` int64."""
    from sklearn.datasets import load_iris

    data = load_iris()
    x = data.data.astype(np.float64)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    return x, data.target.astype(np.int64)


def digits():
    """8x8 digit images ``(1797, 1, 8, 8)`` in [0, 1] (NCHW) and labels ``(1797,)`` int64."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return (data.images / 16.0)[:, None, :, :].astype(np.float64), data.target.astype(np.int64)
