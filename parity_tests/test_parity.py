"""Parity of every model case: NumPy vs torch vs Keras, float64 and float32.

One generic test, parametrized over (case x framework pair x dtype). For each it
compares the output, the loss, the loss gradients (input and every parameter)
and the output's vector-Jacobian product for a random upstream gradient (input
and every parameter) with ``reports.harness`` -- the same code that writes the
report -- and fails with one labelled line per disagreeing quantity. The
tolerances (float64 1e-10 for every case; float32 eps * max(100, 10 T), T the sequence
length) and the subnormal floor are justified in ``harness.py``.
"""

import numpy as np
import pytest

from reference_numpy.cases import CASES, CASES_BY_NAME
from reports.harness import DTYPES, PAIRS, TOLERANCE, assert_rows_pass, compare_case, compare_results, tolerance


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pair", PAIRS, ids="-".join)
@pytest.mark.parametrize("case", [c.name for c in CASES])
def test_parity(case, pair, dtype):
    rows = compare_case(case, pair, dtype)
    params = {r.quantity for r in rows if r.quantity.startswith("grad:")}
    assert {"output", "loss", "grad_input", "vjp_input"} <= {r.quantity for r in rows}
    assert params, "no parameter gradients were compared"
    assert_rows_pass(rows)


def test_float64_tolerance_is_the_issue_bound():
    assert TOLERANCE["float64"] <= 1e-10


def test_float32_tolerance_grows_per_recurrent_step_float64_never():
    eps = float(np.finfo(np.float32).eps)
    assert tolerance(CASES_BY_NAME["mlp_tanh_mse"], "float32") == 100 * eps
    assert tolerance(CASES_BY_NAME["rnn_binary_addition"], "float32") == 100 * eps       # T = 8
    assert tolerance(CASES_BY_NAME["lstm_noisy_sine"], "float32") == 250 * eps           # T = 25
    assert tolerance(CASES_BY_NAME["rnn_tanh_last_bi_h0_T50_N1_H4"], "float32") == 500 * eps
    assert {tolerance(case, "float64") for case in CASES} == {TOLERANCE["float64"]}


@pytest.mark.parametrize("dtype", DTYPES)
def test_only_differences_below_the_smallest_normal_number_pass_by_the_floor(dtype):
    """An absolute difference below finfo.tiny passes whatever its relative size (TensorFlow
    flushes such values to zero, test_conventions.py); a difference of 2 tiny does not."""
    tiny = np.finfo(dtype).tiny
    zero = {"q": np.zeros(2, dtype=dtype)}
    for flushed in ([tiny / 100, 0.0], [tiny / 100, 4 * tiny]):          # Keras's 0 for a subnormal
        got = {"q": np.array(flushed, dtype=dtype)}
        (row,) = compare_results("m", "f", ("numpy", "keras"), dtype, got, {"q": got["q"] * [0, 1]})
        assert row.passed and row.subnormal and row.max_rel_err > 1e-3
    (row,) = compare_results("m", "f", ("numpy", "keras"), dtype, {"q": np.array([tiny / 100, 2 * tiny])}, zero)
    assert not row.passed and not row.subnormal
