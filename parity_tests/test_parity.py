"""Parity of every model case: NumPy vs torch vs Keras on TensorFlow, JAX and torch, float64 and float32.

One generic test, parametrized over (case x framework pair x dtype); the frameworks are
``harness.FRAMEWORKS`` (``keras-jax`` and ``keras-torch`` are computed in worker processes,
``reports/backends.py``, queued at the start of the session by ``conftest.py``). For each it
compares the output, the loss, the loss gradients (input and every parameter)
and the output's vector-Jacobian product for a random upstream gradient (input
and every parameter), and for recurrent nets the final states and (with a given
initial state) the initial-state gradients, with ``reports.harness`` -- the same
code that writes the report -- and fails with one labelled line per disagreeing
quantity. The set of compared quantities must be exactly the one that follows from
the spec (``harness.expected_quantities``), so a harness or adapter that drops a
quantity fails here. The tolerances (float64 1e-10 for every case; float32
eps * max(100, 10 T), T the sequence length) and the subnormal floor are justified in
``harness.py``.
"""

from dataclasses import dataclass

import numpy as np
import pytest

from reference_numpy.cases import CASES, CASES_BY_NAME
from reports.harness import (
    DTYPES,
    PAIRS,
    TOLERANCE,
    assert_rows_pass,
    compare_case,
    compare_results,
    expected_quantities,
    tolerance,
)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pair", PAIRS, ids="-".join)
@pytest.mark.parametrize("case", [c.name for c in CASES])
def test_parity(case, pair, dtype):
    rows = compare_case(case, pair, dtype)
    spec = CASES_BY_NAME[case].spec
    compared = [r.quantity for r in rows]
    assert len(compared) == len(set(compared)), f"a quantity was compared twice: {sorted(compared)}"
    assert set(compared) == expected_quantities(spec, CASES_BY_NAME[case].given_state, pair)
    assert_rows_pass(rows)


# -- which quantities ---------------------------------------------------------------------

def test_expected_quantities_written_out():
    """The sets, written out by hand for one feed-forward and one recurrent case (a
    bidirectional LSTM with a given initial state: four states, both gradient kinds)."""
    assert expected_quantities(CASES_BY_NAME["linear_regression"].spec, False) == {
        "output", "loss", "grad_input", "vjp_input", "grad:W", "grad:b", "vjp:W", "vjp:b"}
    lstm = CASES_BY_NAME["lstm_last_bi_h0_T50_N1_H4"]
    assert lstm.given_state
    params = ["Wx", "Wh", "b", "Wx_reverse", "Wh_reverse", "b_reverse", "W_out", "b_out"]
    states = ["h", "c", "h_reverse", "c_reverse"]
    assert expected_quantities(lstm.spec, True) == {
        "output", "loss", "grad_input", "vjp_input",
        *(f"grad:{p}" for p in params), *(f"vjp:{p}" for p in params),
        *(f"final:{s}" for s in states), *(f"grad_state:{s}" for s in states),
        *(f"vjp_state:{s}" for s in states)}
    # a zero initial state is not an input: no state gradients, the final states still
    assert expected_quantities(lstm.spec, False) == expected_quantities(lstm.spec, True) - {
        f"{kind}:{s}" for s in states for kind in ("grad_state", "vjp_state")}


@dataclass(frozen=True)
class TokenSpec:
    """What a seq2seq spec declares (that family is built elsewhere): integer token inputs
    (no input gradient) and an extra compared quantity."""

    differentiable_input = False
    extra_quantities = ("attention",)

    def param_shapes(self):
        return {"E": (5, 3), "W_out": (3, 5)}

    def state_shapes(self):
        return {}


def test_expected_quantities_follow_what_a_spec_declares():
    assert expected_quantities(TokenSpec(), False) == {
        "output", "loss", "attention", "grad:E", "grad:W_out", "vjp:E", "vjp:W_out"}


def test_a_missing_or_unexpected_quantity_is_a_failing_row():
    """Positive control first: the exact set passes. Then a quantity that both frameworks
    drop (the harness forgot it) and one that neither should have both fail."""
    spec = CASES_BY_NAME["rnn_tanh_last_h0_T1_N3_H4"].spec
    expected = expected_quantities(spec, True)
    full = {q: np.ones(2) for q in expected}

    def failing(a, b):
        rows = compare_results("m", "rnn", ("numpy", "torch"), "float64", a, b, expected=expected)
        return {r.quantity: r.shape for r in rows if not r.passed}

    assert failing(full, dict(full)) == {}
    dropped = {q: v for q, v in full.items() if not q.startswith(("final:", "grad_state:", "vjp_state:"))}
    assert failing(dropped, dict(dropped)) == {q: "(missing) vs (missing)" for q in ("final:h", "grad_state:h",
                                                                                      "vjp_state:h")}
    assert failing(dropped, full)["final:h"] == "(missing) vs (2,)"
    extra = full | {"grad:bogus": np.ones(2)}
    assert failing(extra, dict(extra)) == {"grad:bogus": "(2,) not expected for this spec"}
    # without an expected set (training trajectories), only the two results are compared
    assert all(r.passed for r in compare_results("m", "rnn", ("numpy", "torch"), "float64", dropped, dropped))


# -- tolerances ---------------------------------------------------------------------------

def test_float64_tolerance_is_the_issue_bound():
    assert TOLERANCE["float64"] <= 1e-10


def test_float32_tolerance_grows_per_recurrent_step_float64_never():
    eps = float(np.finfo(np.float32).eps)
    assert tolerance(CASES_BY_NAME["mlp_tanh_mse"], "float32") == 100 * eps
    assert tolerance(CASES_BY_NAME["rnn_binary_addition"], "float32") == 100 * eps       # T = 8
    assert tolerance(CASES_BY_NAME["lstm_noisy_sine"], "float32") == 250 * eps           # T = 25
    assert tolerance(CASES_BY_NAME["rnn_tanh_last_bi_h0_T50_N1_H4"], "float32") == 500 * eps
    assert {tolerance(case, "float64") for case in CASES} == {TOLERANCE["float64"]}


def check_subnormal_floor(dtype: str) -> None:
    """An absolute difference below finfo.tiny passes whatever its relative size (TensorFlow
    flushes such values to zero, test_conventions.py); a difference of 2 tiny does not."""
    tiny = np.finfo(dtype).tiny
    zero = {"q": np.zeros(2, dtype=dtype)}
    for flushed in ([tiny / 100, 0.0], [tiny / 100, 4 * tiny]):          # Keras's 0 for a subnormal
        got = {"q": np.array(flushed, dtype=dtype)}
        (row,) = compare_results("m", "f", ("numpy", "keras-tf"), dtype, got, {"q": got["q"] * [0, 1]})
        assert row.passed and row.subnormal and row.max_rel_err > 1e-3, f"a flushed subnormal failed: {row.message()}"
    (row,) = compare_results("m", "f", ("numpy", "keras-tf"), dtype, {"q": np.array([tiny / 100, 2 * tiny])}, zero)
    assert not row.passed and not row.subnormal, f"a difference of 2 tiny passed by the floor: {row.message()}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_only_differences_below_the_smallest_normal_number_pass_by_the_floor(dtype):
    check_subnormal_floor(dtype)
