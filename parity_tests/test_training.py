"""Training parity: gradient descent reaches the closed form; SGD trajectories agree.

* On the notes' regression tasks (``d = 3x + 2``, the cubic), full-batch gradient
  descent in NumPy, torch and Keras reaches ``numpy.linalg.lstsq``'s answer
  (relative error <= 1e-8, justified in ``reports/training.py``).
* 20 SGD steps on the same mini-batches from the same weights give the same loss
  curve and the same final weights in all three (parity tolerances of
  ``reports/harness.py``).
"""

import numpy as np
import pytest

from reference_numpy.cases import CASES_BY_NAME
from reference_numpy.regression import closed_form
from reference_numpy.specs import OptimizerSpec
from reports.harness import assert_rows_pass, make_adapter
from reports.training import REGRESSION_TASKS, regression_convergence, trajectory_rows


@pytest.mark.slow
def test_gradient_descent_reaches_closed_form_in_every_framework():
    rows = regression_convergence()
    assert {r["framework"] for r in rows} == {"numpy", "torch", "keras"}
    assert len(rows) == 3 * len(REGRESSION_TASKS)
    failed = [r for r in rows if not r["passed"]]
    assert not failed, "\n".join(f"{r['task']} [{r['framework']}]: rel err to closed form "
                                 f"{r['max_rel_err_to_closed_form']:.2e} after {r['steps']} steps"
                                 for r in failed)


def test_closed_form_is_the_least_squares_minimum():
    """The fourth reference: its loss gradient is zero, and it recovers noise-free weights."""
    task = REGRESSION_TASKS[1]
    x, d = task.make_data(0)
    star = closed_form(task.spec, x, d)
    res = make_adapter("numpy", task.spec, star).loss_and_grads(x, d)
    assert max(np.max(np.abs(g)) for g in res.grads.values()) < 1e-12
    clean = -0.4 * x ** 3 + 1.6 * x ** 2 - 2.8 * x + 1
    exact = closed_form(task.spec, x, clean)
    np.testing.assert_allclose(exact["W"][:, 0], [-2.8, 1.6, -0.4], rtol=0, atol=1e-12)
    np.testing.assert_allclose(exact["b"], [1.0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", ["mlp_relu_ce_iris", "mlp_tanh_mse", "mlp_tanh_bce",
                                  "polynomial_regression_multi"])
def test_sgd_trajectories_agree(case, dtype):
    rows = trajectory_rows(CASES_BY_NAME[case], steps=20, lr=0.125, dtype=dtype)
    assert any(r.quantity == "train_loss" for r in rows)
    assert_rows_pass(rows)


def test_training_changes_the_weights():
    """Guards the trajectory test against comparing untrained weights."""
    case = CASES_BY_NAME["mlp_relu_ce_iris"]
    for fw in ("numpy", "torch", "keras"):
        adapter = make_adapter(fw, case.spec, case.params())
        adapter.set_optimizer(OptimizerSpec("sgd", 0.125))
        x, d, _ = case.batch_data()
        before = adapter.get_params()
        first = adapter.train_step(x, d)
        after = adapter.get_params()
        assert all(not np.array_equal(before[n], after[n]) for n in before), fw
        assert adapter.train_step(x, d) < first, fw
