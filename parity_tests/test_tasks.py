"""The task generators (``reference_numpy/data.py``) checked against their definitions,
independently of how they are generated.

Every framework trains on the same generated data, so a wrong task passes every parity test:
dropping the carry from binary addition (``a ^ b`` for ``a + b``) left all 27 tests that use
the task green. Here each task is checked against what its docstring says it is:

* binary addition: decode the bits (t = 0 the least significant bit, as ``data.py``
  documents) into integers and check ``sum == a + b`` -- the carry included, and on enough
  examples that have carries for the check to mean something; also through the case that
  uses the task (``rnn_binary_addition``);
* noisy sine: a least-squares fit of ``A sin(step t) + B cos(step t)`` to each window
  recovers the definition -- noise-free windows are exactly a unit sine and the target is its
  NEXT value (not the last input); with noise, the residual has the documented noise level and
  the target is still the clean next value; random phases per window;
* linear and polynomial regression: ``d = 3x + 2 + 0.3 noise``, x ~ U[0, 1) and
  ``d = -0.4x^3 + 1.6x^2 - 2.8x + 1 + 0.05 noise``, x ~ U[-2, 2), the formulas written out
  here, not read from the generator's defaults;
* every generator is a function of its seed: the same seed gives identical arrays, another
  seed different ones.

Statistical bounds are 5 standard errors or more (stated at each), on fixed seeds: each
check either always passes or always fails for a given generator.
"""

from __future__ import annotations

import numpy as np
import pytest

from reference_numpy import data
from reference_numpy.cases import CASES_BY_NAME

# -------------------------------------------------------------------- binary addition


def decode(bits: np.ndarray) -> np.ndarray:
    """``(N, T)`` bits, t = 0 the least significant (``data.binary_addition``) -> ``(N,)`` ints."""
    return (bits.astype(np.int64) << np.arange(bits.shape[1])).sum(axis=1)


def assert_binary_addition(x: np.ndarray, d: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """``x (N, bits, 2)``, ``d (N, bits, 1)`` are 0/1 bits with ``decode(d) == decode(a) + decode(b)``;
    returns the decoded ``(a, b)``."""
    n = x.shape[0]
    assert x.shape == (n, bits, 2) and d.shape == (n, bits, 1), (x.shape, d.shape)
    assert x.dtype == d.dtype == np.float64
    assert set(np.unique(x)) <= {0.0, 1.0} and set(np.unique(d)) <= {0.0, 1.0}
    a, b, total = decode(x[:, :, 0]), decode(x[:, :, 1]), decode(d[:, :, 0])
    wrong = np.flatnonzero(total != a + b)
    assert not wrong.size, (f"{wrong.size} of {n} targets are not a + b, e.g. {a[wrong[0]]} + {b[wrong[0]]} "
                            f"-> {total[wrong[0]]} (a ^ b = {a[wrong[0]] ^ b[wrong[0]]})")
    return a, b


def check_binary_addition_task(seed: int = 0, n: int = 200, bits: int = 8) -> None:
    """The generator against its definition: decoded bits add up, the integers it returns are the
    decoded ones, in the notes' range ``[0, 2^(bits-1))`` so the sum fits in ``bits`` bits."""
    x, d, (a, b) = data.binary_addition(seed, n, bits)
    got_a, got_b = assert_binary_addition(x, d, bits)
    np.testing.assert_array_equal(got_a, a)
    np.testing.assert_array_equal(got_b, b)
    assert a.min() >= 0 and b.min() >= 0 and max(a.max(), b.max()) < 2 ** (bits - 1)
    # not vacuous: with no carries a + b == a ^ b and the check above could not see a lost carry.
    # An example has a carry with probability 1 - (3/4)^(bits-1): 0.44 for 3 bits, 0.87 for 8
    assert np.count_nonzero(a & b) >= n // 4, "too few examples with a carry"
    assert np.any(a + b >= 2 ** (bits - 1)), "no carry into the top bit"


@pytest.mark.parametrize("bits", [8, 3, 12])
@pytest.mark.parametrize("seed", [0, 1])
def test_binary_addition_bits_add_up(seed, bits):
    check_binary_addition_task(seed, 200, bits)


def test_binary_addition_case_data_adds_up():
    """Through the case that uses the task (the notes' 8-bit addition, SimpleRNN(16))."""
    case = CASES_BY_NAME["rnn_binary_addition"]
    x, target, _ = case.batch_data("float64")
    a, b = assert_binary_addition(x, target, case.seq_len)
    assert np.any(a & b), "the case's batch has no example with a carry"


def test_the_check_sees_a_dropped_carry_and_a_reversed_bit_order():
    """Negative control: targets made without the carry, or with the bits in the other order."""
    x, d, (a, b) = data.binary_addition(0, 50, 8)
    place = 2 ** np.arange(8)
    xor = ((a ^ b)[:, None] // place % 2)[:, :, None].astype(np.float64)
    with pytest.raises(AssertionError, match="not a \\+ b"):
        assert_binary_addition(x, xor, 8)
    with pytest.raises(AssertionError, match="not a \\+ b"):
        assert_binary_addition(x[:, ::-1], d[:, ::-1], 8)


# ------------------------------------------------------------------------ noisy sine


def fit_sine(x: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Least squares ``x[n, t] ~ A_n sin(step t) + B_n cos(step t)`` (= sin(step t + phase) with
    A = cos(phase), B = sin(phase)) -> ``(coef (N, 2), residuals (N, T))``."""
    t = np.arange(x.shape[1])
    basis = np.stack([np.sin(step * t), np.cos(step * t)], axis=1)        # (T, 2)
    coef, *_ = np.linalg.lstsq(basis, x.T, rcond=None)                     # (2, N)
    return coef.T, x - (basis @ coef).T


def next_value(coef: np.ndarray, step: float, seq_len: int) -> np.ndarray:
    """The fitted wave one step after the window: ``A sin(step T) + B cos(step T)`` -> ``(N,)``."""
    return coef[:, 0] * np.sin(step * seq_len) + coef[:, 1] * np.cos(step * seq_len)


def prediction_std(noise: float, step: float, seq_len: int) -> float:
    """Standard deviation of ``next_value`` from a fit to windows with N(0, noise^2) noise."""
    t = np.arange(seq_len)
    basis = np.stack([np.sin(step * t), np.cos(step * t)], axis=1)                   # (T, 2)
    phi = np.array([np.sin(step * seq_len), np.cos(step * seq_len)])                  # (2,)
    return noise * float(np.sqrt(phi @ np.linalg.solve(basis.T @ basis, phi)))


def assert_noisy_sine(x: np.ndarray, d: np.ndarray, noise: float, step: float, max_rms_z: float) -> None:
    """Windows ``sin(step t + phase) + noise`` and the clean next value ``sin(step T + phase)``:
    residual noise level within 20 % of ``noise``, unit amplitude, and the target within
    ``max_rms_z`` RMS standard deviations of the fitted wave's next value."""
    n, seq_len = x.shape[0], x.shape[1]
    assert x.shape == (n, seq_len, 1) and d.shape == (n, 1), (x.shape, d.shape)
    coef, residual = fit_sine(x[:, :, 0], step)
    dof = n * (seq_len - 2)
    level = float(np.sqrt(np.sum(residual ** 2) / dof))
    # std. error of the estimated level is noise / sqrt(2 dof) (<= 5 % for the sizes used): 20 % is >= 4 s.e.
    assert 0.8 * noise <= level <= 1.2 * noise, f"noise level {level:.4f}, documented {noise}"
    amplitude = np.hypot(coef[:, 0], coef[:, 1])
    assert np.all(np.abs(amplitude - 1.0) < 0.2), f"amplitudes {amplitude.min():.3f} .. {amplitude.max():.3f}"
    z = (d[:, 0] - next_value(coef, step, seq_len)) / prediction_std(noise, step, seq_len)
    rms = float(np.sqrt(np.mean(z ** 2)))
    assert rms <= max_rms_z, (f"the targets are {rms:.1f} prediction std. devs. from the wave's next value "
                              "(a clean next-value target gives ~1, a noisy one ~4)")


def check_noisy_sine_task(seed: int = 0, n: int = 200, seq_len: int = 25, step: float = 0.25) -> None:
    """Noise-free windows are exactly a unit sine with the target its next value; noisy windows
    have the documented noise level around such a wave, whose next clean value is the target."""
    x, d = data.noisy_sine(seed, n, seq_len=seq_len, noise=0.0, step=step)
    assert x.shape == (n, seq_len, 1) and d.shape == (n, 1)
    coef, residual = fit_sine(x[:, :, 0], step)
    assert np.max(np.abs(residual)) < 1e-12, "a noise-free window is not sin(step t + phase)"
    np.testing.assert_allclose(np.hypot(coef[:, 0], coef[:, 1]), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(d[:, 0], next_value(coef, step, seq_len), rtol=0, atol=1e-12,
                               err_msg="the target is not the value one step after the window")
    assert np.max(np.abs(d[:, 0] - x[:, -1, 0])) > 0.1, "the target is the last input, not the next value"
    phase = np.sort(np.arctan2(coef[:, 1], coef[:, 0]) % (2 * np.pi))
    gaps = np.diff(np.concatenate([phase, phase[:1] + 2 * np.pi]))
    # uniform random phases: the largest gap among 200 is ~2 pi ln(200) / 200 = 0.17
    assert gaps.min() > 0 and gaps.max() < 1.0, "phases are not spread over [0, 2 pi)"
    # noisy: N = 200 windows; a clean target gives an RMS z of ~1 (chi-square, 200 dof: 1.5 is > 7 s.e.)
    x, d = data.noisy_sine(seed, n, seq_len=seq_len, noise=0.05, step=step)
    assert_noisy_sine(x, d, 0.05, step, max_rms_z=1.5)
    assert np.all(np.abs(d) <= 1.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_noisy_sine_is_a_sine_window_and_its_next_value(seed):
    check_noisy_sine_task(seed)


def test_noisy_sine_other_lengths_and_steps():
    check_noisy_sine_task(3, n=200, seq_len=7, step=0.9)


@pytest.mark.parametrize("name", ["lstm_noisy_sine", "gru_noisy_sine"])
def test_noisy_sine_case_data(name):
    """Through the cases (8 windows of 25 steps, noise 0.05): RMS z over 8 targets <= 2.5
    (chi-square with 8 dof exceeds 50 with probability < 1e-7)."""
    case = CASES_BY_NAME[name]
    x, target, _ = case.batch_data("float64")
    assert_noisy_sine(x, target, 0.05, 0.25, max_rms_z=2.5)


def test_the_check_sees_a_noisy_or_last_value_target():
    """Negative control: a target with the window's noise on it, or the last input."""
    rng = np.random.default_rng(9)
    x, d = data.noisy_sine(0, 200)
    with pytest.raises(AssertionError, match="prediction std"):
        assert_noisy_sine(x, d + 0.05 * rng.standard_normal(d.shape), 0.05, 0.25, max_rms_z=1.5)
    with pytest.raises(AssertionError, match="prediction std"):
        assert_noisy_sine(x, x[:, -1], 0.05, 0.25, max_rms_z=1.5)
    with pytest.raises(AssertionError, match="noise level"):
        assert_noisy_sine(x, d, 0.1, 0.25, max_rms_z=1.5)


# --------------------------------------------------------------- regression tasks


def check_regression_task(make, formula, low: float, high: float, noise: float, n: int = 4000) -> None:
    """``d = formula(x) + noise * N(0, 1)``, ``x ~ U[low, high)``, checked on ``n`` samples:
    exact without noise; with it, the residual has mean 0 and std ``noise`` and x is uniform."""
    x, d = make(0, n, noise=0.0)
    assert x.shape == d.shape == (n, 1)
    np.testing.assert_allclose(d, formula(x), rtol=0, atol=1e-13)
    x, d = make(0, n)
    assert low <= x.min() and x.max() < high
    # U[low, high): mean (low + high) / 2, std (high - low) / sqrt(12); bounds are 5 s.e.
    width = high - low
    assert abs(x.mean() - (low + high) / 2) < 5 * width / np.sqrt(12 * n)
    residual = d - formula(x)
    assert abs(residual.mean()) < 5 * noise / np.sqrt(n), f"residual mean {residual.mean():.4f}"
    assert abs(residual.std() / noise - 1) < 5 / np.sqrt(2 * n), f"residual std {residual.std():.4f}, noise {noise}"


def test_linear_task_is_3x_plus_2():
    check_regression_task(data.linear_task, lambda x: 3 * x + 2, 0.0, 1.0, 0.3)
    x, d = data.linear_task(1, 50, noise=0.0, w=-1.5, b=0.25)
    np.testing.assert_allclose(d, -1.5 * x + 0.25, rtol=0, atol=1e-15)


def test_polynomial_task_is_the_notes_cubic():
    check_regression_task(data.polynomial_task, lambda x: -0.4 * x ** 3 + 1.6 * x ** 2 - 2.8 * x + 1,
                          -2.0, 2.0, 0.05)


# ------------------------------------------------------------------------ seeds

GENERATORS = {
    "binary_addition": lambda seed: data.binary_addition(seed, 20)[:2],
    "noisy_sine": lambda seed: data.noisy_sine(seed, 20),
    "linear_task": lambda seed: data.linear_task(seed, 20),
    "polynomial_task": lambda seed: data.polynomial_task(seed, 20),
}


@pytest.mark.parametrize("name", GENERATORS)
def test_each_task_is_a_function_of_its_seed(name):
    make = GENERATORS[name]
    first, again, other = make(5), make(5), make(6)
    for a, b, c in zip(first, again, other, strict=True):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c), f"seeds 5 and 6 give the same {name} array"
