"""Parity of every model case: NumPy vs torch vs Keras, float64 and float32.

One generic test, parametrized over (case x framework pair x dtype). For each it
compares the output, the loss, the loss gradients (input and every parameter)
and the output's vector-Jacobian product for a random upstream gradient (input
and every parameter) with ``reports.harness`` -- the same code that writes the
report -- and fails with one labelled line per disagreeing quantity. The
tolerances (float64 1e-10, float32 100 eps) are justified in ``harness.py``.
"""

import pytest

from reference_numpy.cases import CASES
from reports.harness import DTYPES, PAIRS, TOLERANCE, assert_rows_pass, compare_case


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
