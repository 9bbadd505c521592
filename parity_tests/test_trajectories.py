"""Training loops: long trajectories agree, ``model.fit`` is the same loop, divergence stops every loop.

* 100 steps in float64 from the same weights on the same seeded batches (``data.batches``), with
  SGD, Momentum and Adam under matched settings, for an MLP, a polynomial regression, a CNN, an
  LSTM and a GRU (``reports.training.TRAJECTORY_TASKS``, small so this stays fast): NumPy's loop,
  torch's zero_grad / backward / step and Keras's compiled (tf.function) train step give the same
  loss curve, the same final parameters and the same optimizer slots. Tolerance: the harness's
  float64 1e-10 (the issue asks for 1e-8); measured <= 2.3e-14 (a momentum slot after 100 steps).
* Keras's ``model.fit`` (fed the same batches through a PyDataset, shuffle off) takes exactly the
  steps of the compiled train step, of the eager tape step and of NumPy's loop.
* Every loop clips by global norm with its framework's clip eps (torch 1e-6, Keras 0).
* A run whose loss or parameters become non-finite stops in every loop with the error that names
  the step, and leaves the parameters of the last good step.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from reference_numpy import data
from reference_numpy.specs import LinearRegressionSpec, OptimizerSpec
from reports.harness import assert_rows_pass, make_adapter
from reports.training import TRAJECTORY_TASKS, optimizer_trajectory_rows

STEPS = 100


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("task", list(TRAJECTORY_TASKS))
def test_long_trajectories_agree(task, optimizer):
    rows = optimizer_trajectory_rows(TRAJECTORY_TASKS[task], OptimizerSpec.matched(optimizer), STEPS)
    quantities = {r.quantity for r in rows}
    assert "train_loss" in quantities and any(q.startswith("train_param:") for q in quantities)
    assert optimizer == "sgd" or any(q.startswith("state:") for q in quantities)
    assert {r.frameworks for r in rows} == {"numpy-torch", "numpy-keras-tf:compiled", "torch-keras-tf:compiled"}
    assert_rows_pass(rows)


def test_trajectories_move_the_weights():
    """Guards the test above against comparing runs that do not train: 100 Adam steps lower the
    loss and move every parameter."""
    task = TRAJECTORY_TASKS["lstm_sine"]
    model = make_adapter("numpy", task.spec, task.params())
    model.set_optimizer(OptimizerSpec.matched("adam", lr=2.0 ** -6))
    batches = task.batches(STEPS)
    losses = model.fit(batches)
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
    start = task.params()
    assert all(not np.allclose(start[n], p) for n, p in model.get_params().items())


def test_keras_fit_is_the_compiled_step_and_the_numpy_loop():
    rows = optimizer_trajectory_rows(TRAJECTORY_TASKS["mlp_iris"], OptimizerSpec.matched("adam"), STEPS,
                                     loops=(("numpy", "numpy"), ("keras-tf", "fit"), ("keras-tf", "compiled"),
                                            ("keras-tf", "eager")))
    assert_rows_pass(rows)
    exact = [r for r in rows if r.frameworks.startswith("keras-tf:fit-")]
    assert exact and all(r.max_abs_err == 0 for r in exact), "model.fit runs the same graph as the compiled step"


def test_every_loop_clips_by_global_norm():
    """clip_norm below the gradients' norm: each framework's loop equals NumPy's with that framework's
    clip eps (torch 1e-6, Keras 0), and clipping changed the run."""
    task, batches = TRAJECTORY_TASKS["gru_sine"], TRAJECTORY_TASKS["gru_sine"].batches(20)
    for loops, eps in (((("numpy", "numpy"), ("torch", "torch")), 1e-6),
                       ((("numpy", "numpy"), ("keras-tf", "fit"), ("keras-tf", "compiled")), 0.0)):
        clipped = OptimizerSpec.matched("momentum", clip_norm=0.05, clip_eps=eps)
        assert_rows_pass(optimizer_trajectory_rows(task, clipped, 20, loops=loops))
    losses = {}
    for clip in (None, 0.05):
        model = make_adapter("numpy", task.spec, task.params())
        model.set_optimizer(OptimizerSpec.matched("momentum", clip_norm=clip))
        losses[clip] = model.fit(batches)
    assert np.max(np.abs(losses[None] - losses[0.05])) > 1e-6


@pytest.mark.parametrize("framework, loop", [("numpy", None), ("torch", None), ("keras", "fit"),
                                             ("keras", "compiled"), ("keras", "eager")])
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                            "ignore:invalid value encountered:RuntimeWarning")
def test_a_diverging_run_stops_at_the_step_and_keeps_the_last_good_parameters(framework, loop):
    """lr = 2^100 on a linear regression: the loss grows by ~1e60 per step until it overflows."""
    spec = LinearRegressionSpec(1, 1, "mse")
    x, d = data.linear_task(0, 32)
    batches = data.batches(x, d, 8, seed=1, epochs=10)
    start = {"W": np.zeros((1, 1)), "b": np.zeros(1)}
    model = make_adapter(framework, spec, start)
    model.set_optimizer(OptimizerSpec("sgd", lr=2.0 ** 100))
    with pytest.raises(FloatingPointError, match=r"train_step (\d+) diverged") as info:
        model.fit(batches, loop=loop)
    step = int(re.search(r"train_step (\d+)", str(info.value)).group(1))
    assert 2 <= step <= len(batches)
    twin = make_adapter("numpy", spec, start)
    twin.set_optimizer(OptimizerSpec("sgd", lr=2.0 ** 100))
    twin.fit(batches[:step - 1])                       # the steps that were taken
    got, want = model.get_params(), twin.get_params()
    for n in got:
        assert np.all(np.isfinite(got[n]))
        np.testing.assert_allclose(got[n], want[n], rtol=1e-12)


@pytest.mark.parametrize("framework", ["numpy", "torch", "keras"])
def test_fit_bad_input(framework):
    spec = LinearRegressionSpec(1, 1, "mse")
    model = make_adapter(framework, spec, {"W": np.zeros((1, 1)), "b": np.zeros(1)})
    x, d = data.linear_task(0, 8)
    with pytest.raises(RuntimeError, match=r"call set_optimizer\(OptimizerSpec\(\.\.\.\)\) before fit"):
        model.fit([(x, d)])
    model.set_optimizer(OptimizerSpec("sgd"))
    with pytest.raises(ValueError, match=rf"unknown training loop 'adam' for {framework}; expected one of "):
        model.fit([(x, d)], loop="adam")
    with pytest.raises(ValueError, match=r"x must have shape \(N, 1\)"):
        model.fit([(np.zeros((8, 2)), d)])


def test_batches_are_seeded_and_cover_every_row_once_per_epoch():
    x, y = np.arange(10.0)[:, None], np.arange(10)
    a = data.batches(x, y, 4, seed=3, epochs=2)
    assert [len(b[1]) for b in a] == [4, 4, 2, 4, 4, 2]
    assert sorted(np.concatenate([b[1] for b in a[:3]])) == list(range(10))
    assert not np.array_equal(np.concatenate([b[1] for b in a[:3]]), np.concatenate([b[1] for b in a[3:]]))
    b = data.batches(x, y, 4, seed=3, epochs=2)
    assert all(np.array_equal(p[0], q[0]) for p, q in zip(a, b))
    assert [len(b[1]) for b in data.batches(x, y, 4, seed=3, drop_last=True)] == [4, 4]
    for kwargs, message in [({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
                            ({"batch_size": 4, "epochs": 1.5}, "epochs must be a positive integer, got 1.5"),
                            ({"batch_size": 11, "drop_last": True}, "batch_size 11 > N = 10 with drop_last")]:
        with pytest.raises(ValueError, match=re.escape(message)):
            data.batches(x, y, seed=0, **kwargs)
    with pytest.raises(ValueError, match=re.escape("x and y must have the same number of rows (N), got 10 and 9")):
        data.batches(x, y[:9], 4, seed=0)
