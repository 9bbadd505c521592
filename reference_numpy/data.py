"""Tasks, generated from a seed, and the real data sets that ship inside scikit-learn.

Nothing here downloads anything.

    linear_task       the notes' ``d = 3x + 2 + 0.3 * noise``, x ~ U[0, 1)
    polynomial_task   the notes' ``d = -0.4x^3 + 1.6x^2 - 2.8x + 1 + 0.05 * noise``,
                      x ~ U[-2, 2)
    iris              150 x 4 features (standardized), 3 classes  (sklearn.datasets)
    digits            1797 8x8 images scaled to [0, 1], 10 classes (sklearn.datasets)
    binary_addition   the notes' RNN task: a + b bit by bit, least significant bit first;
                      x (N, 8, 2) the two input bits per step, d (N, 8, 1) the sum's bit
    noisy_sine        sequence regression: a window of a noisy sine wave -> its next value
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


def binary_addition(seed: int, n: int = 100, bits: int = 8):
    """The notes' binary addition (``binary_dim = 8``, ``a_int, b_int < largest_number / 2``):
    ``x[:, t] = (bit t of a, bit t of b)`` and ``d[:, t] = bit t of a + b``, with t = 0 the
    least significant bit (the notes walk the bits from the right), so the carry flows
    forward in time. Returns ``x (N, bits, 2)``, ``d (N, bits, 1)`` float64 and the integers
    ``(a, b)`` for checking."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2 ** (bits - 1), size=n)                           # (N,)
    b = rng.integers(0, 2 ** (bits - 1), size=n)                           # (N,)
    place = 2 ** np.arange(bits)                                           # (T,) LSB first
    bit = lambda v: (v[:, None] // place[None, :]) % 2                     # noqa: E731  (N, T)
    x = np.stack([bit(a), bit(b)], axis=-1).astype(np.float64)             # (N, T, 2)
    d = bit(a + b)[:, :, None].astype(np.float64)                          # (N, T, 1)
    return x, d, (a, b)


def noisy_sine(seed: int, n: int = 100, seq_len: int = 25, noise: float = 0.05,
               step: float = 0.25):
    """Windows of ``sin(step * t + phase) + noise`` (random phase per window) and the
    next clean value: ``x (N, T, 1)``, ``d (N, 1)``."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0.0, 2 * np.pi, size=(n, 1))                       # (N, 1)
    t = np.arange(seq_len + 1)[None, :]                                    # (1, T + 1)
    wave = np.sin(step * t + phase)                                        # (N, T + 1)
    x = wave[:, :seq_len] + noise * rng.standard_normal((n, seq_len))      # (N, T)
    return x[:, :, None], wave[:, seq_len:]                                # (N, T, 1), (N, 1)
