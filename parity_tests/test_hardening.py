"""Issue 8: defects found by trying the API as a new user would, one test each, in every framework.

1. any valid array view (negative strides, a transpose) works in every framework;
2. a refused ``set_optimizer`` leaves the adapter as it was (and ``clip_eps`` follows one rule);
3. Keras cannot represent a learning rate outside float32's normal range: refused at ``set_optimizer``;
4. a hyperparameter the model's dtype cannot represent is refused at ``set_optimizer``, everywhere;
5. a diverging ``train_step`` raises, names the step and restores the parameters;
6. ``final_state`` checks its input for feed-forward models too; ``forward(return_state=True)`` is
   ``forward`` and ``final_state`` from one pass;
9. NumPy scalars are accepted wherever Python numbers are.

(Items 7 and 8, the report CLI's output path, are pinned in the report CLI tests.)
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from reference_numpy.initializers import init_params
from reference_numpy.specs import CNNSpec, Conv2D, LinearRegressionSpec, MLPSpec, OptimizerSpec, Pool2D, RNNSpec
from reports.harness import FRAMEWORKS, make_adapter

FW = tuple(FRAMEWORKS)
#: The eps each framework's clipping adds to the norm: Keras's on every backend (None: any).
OWN_CLIP_EPS = {fw: 0.0 if fw.startswith("keras") else {"numpy": None, "torch": 1e-6}[fw] for fw in FW}
SPEC = MLPSpec(4, (5,), 3)
LIN = LinearRegressionSpec(2, 1)


def mlp(framework, dtype="float64"):
    return make_adapter(framework, SPEC, init_params(SPEC, seed=0, bias="normal", dtype=dtype), dtype)


def linear(framework, dtype="float64"):
    z = {"W": np.zeros((2, 1), dtype=dtype), "b": np.zeros(1, dtype=dtype)}
    return make_adapter(framework, LIN, z, dtype)


def xy_linear(dtype="float64"):
    return np.ones((4, 2), dtype=dtype), np.ones((4, 1), dtype=dtype)


# -- 1. views with negative strides -------------------------------------------------------------

def _rng_arrays():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 4))
    labels = np.array([0, 1, 2, 2, 1, 0], dtype=np.int64)
    onehot = np.eye(3)[labels]
    upstream = rng.standard_normal((6, 3))
    return x, labels, onehot, upstream


@pytest.mark.parametrize("framework", FW)
def test_reversed_views_give_the_same_results_as_their_copies(framework):
    x, labels, onehot, upstream = _rng_arrays()
    model = mlp(framework)
    views = (x[::-1], labels[::-1], onehot[::-1], upstream[::-1])
    copies = tuple(v.copy() for v in views)
    assert all(v.strides[0] < 0 for v in views)
    np.testing.assert_array_equal(model.forward(views[0]), model.forward(copies[0]))
    for target_v, target_c in ((views[1], copies[1]), (views[2], copies[2])):
        a, b = model.loss_and_grads(views[0], target_v), model.loss_and_grads(copies[0], target_c)
        assert a.loss == b.loss
        np.testing.assert_array_equal(a.grad_input, b.grad_input)
    a, b = model.vjp(views[0], views[3]), model.vjp(copies[0], copies[3])
    np.testing.assert_array_equal(a.grads["W1"], b.grads["W1"])
    np.testing.assert_array_equal(x, _rng_arrays()[0])                 # the caller's array untouched
    twin = mlp(framework)
    for m in (model, twin):
        m.set_optimizer(OptimizerSpec(lr=0.125))
    assert model.train_step(views[0], views[1]) == twin.train_step(copies[0], copies[1])
    np.testing.assert_array_equal(model.get_params()["W1"], twin.get_params()["W1"])


@pytest.mark.parametrize("framework", FW)
def test_recurrent_reversed_time_and_state_views(framework):
    spec = RNNSpec("lstm", 3, 4, 2)
    params = init_params(spec, seed=1, bias="normal")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 5, 3))
    h0 = {"h": rng.standard_normal((4, 2)).T, "c": rng.standard_normal((2, 4))[::-1]}   # a transpose, a flip
    model = make_adapter(framework, spec, params)
    got = model.loss_and_grads(x[:, ::-1], np.zeros((2, 2)), initial_state=h0)
    want = model.loss_and_grads(x[:, ::-1].copy(), np.zeros((2, 2)),
                                initial_state={n: a.copy() for n, a in h0.items()})
    assert got.loss == want.loss
    np.testing.assert_array_equal(got.grad_state["c"], want.grad_state["c"])
    np.testing.assert_array_equal(model.final_state(x[:, ::-1], h0)["h"],
                                  model.final_state(x[:, ::-1].copy(), {n: a.copy() for n, a in h0.items()})["h"])


# -- 2. a refused set_optimizer changes nothing ---------------------------------------------------

@pytest.mark.parametrize("framework", FW)
def test_refused_set_optimizer_before_any_keeps_the_documented_error(framework):
    model = linear(framework)
    bad = OptimizerSpec(clip_norm=1.0, clip_eps=0.5)      # no framework but NumPy clips with eps 0.5
    if framework == "numpy":
        model.set_optimizer(bad)                           # the reference takes either convention
        return
    with pytest.raises(ValueError, match="clip_eps must be"):
        model.set_optimizer(bad)
    assert model.optimizer_spec is None
    with pytest.raises(RuntimeError, match=r"call set_optimizer\(OptimizerSpec\(\.\.\.\)\) before train_step"):
        model.train_step(*xy_linear())


@pytest.mark.parametrize("framework", FW)
def test_refused_set_optimizer_keeps_the_previous_optimizer(framework):
    good = OptimizerSpec(lr=0.5)
    bads = [OptimizerSpec(lr=1e-310)]                      # subnormal in float64: refused by every framework
    if framework != "numpy":
        bads.append(OptimizerSpec(clip_norm=1.0, clip_eps=0.5))
    model, twin = linear(framework), linear(framework)
    model.set_optimizer(good)
    twin.set_optimizer(good)
    for bad in bads:
        with pytest.raises(ValueError, match="cannot be represented|clip_eps must be"):
            model.set_optimizer(bad)
        assert model.optimizer_spec == good
    x, y = xy_linear()
    model.train_step(x, y)
    twin.train_step(x, y)
    np.testing.assert_array_equal(model.get_params()["W"], twin.get_params()["W"])  # lr 0.5, not the refused spec
    assert np.all(model.get_params()["W"] == 0.5 * 2.0)   # W -= 0.5 * dL/dW, dL/dW = 2 * (0 - 1) * 1 = -2


@pytest.mark.parametrize("framework", FW)
def test_clip_eps_rule_is_the_same_check_in_every_framework(framework):
    """One rule: a framework accepts the clip_eps it can reproduce (its own; NumPy any)."""
    own = OWN_CLIP_EPS[framework]
    assert linear(framework).clip_eps == own
    for eps in (0.0, 1e-6, 0.5):
        model = linear(framework)
        spec = OptimizerSpec(clip_norm=1.0, clip_eps=eps)
        if own is None or eps == own:
            model.set_optimizer(spec)
            assert model.optimizer_spec == spec
        else:
            with pytest.raises(ValueError, match=f"clip_eps must be {own} for "):
                model.set_optimizer(spec)


# -- 3 and 4. hyperparameters a framework cannot represent -----------------------------------------

@pytest.mark.parametrize("framework", FW)
@pytest.mark.parametrize("lr", [1e-40, 1e39])
def test_keras_refuses_a_float64_learning_rate_outside_float32(framework, lr):
    """Keras stores hyperparameters as float32: 1e-40 would be flushed to 0 (no step), 1e39 be inf.
    NumPy and torch compute a float64 model's update in float64 and take the step."""
    model = linear(framework)
    spec = OptimizerSpec(lr=lr)
    if framework.startswith("keras"):          # Keras on every backend
        with pytest.raises(ValueError, match=r"cannot be represented in float32, in which keras stores"):
            model.set_optimizer(spec)
        return
    model.set_optimizer(spec)
    model.train_step(*xy_linear())
    np.testing.assert_array_equal(model.get_params()["W"], np.full((2, 1), 2.0 * lr))


@pytest.mark.parametrize("framework", FW)
@pytest.mark.parametrize("lr, word", [(1e39, "above the largest"), (1e-40, "below the smallest normal")])
def test_float32_model_refuses_a_learning_rate_float32_cannot_hold(framework, lr, word):
    model = linear(framework, "float32")
    message = f"lr={lr!r} cannot be represented in the model's dtype float32: it lies {word}"
    with pytest.raises(ValueError, match=re.escape(message)):
        model.set_optimizer(OptimizerSpec(lr=lr))
    assert model.optimizer_spec is None


@pytest.mark.parametrize("framework", FW)
def test_clip_norm_is_checked_like_lr(framework):
    model = linear(framework, "float32")
    eps = OWN_CLIP_EPS[framework] or 0.0
    with pytest.raises(ValueError, match=re.escape("clip_norm=1e+39 cannot be represented")):
        model.set_optimizer(OptimizerSpec(lr=0.125, clip_norm=1e39, clip_eps=eps))


# -- 5. divergence -----------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                            "ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("framework", FW)
def test_a_diverging_step_raises_names_the_step_and_restores_the_parameters(framework):
    """lr = 1e30 (a float32 number, so Keras takes it too) makes the squared error grow by ~1e31
    per step until it overflows; the step that overflows raises and is undone."""
    model = linear(framework)
    x, y = xy_linear()
    model.set_optimizer(OptimizerSpec(lr=1e30))
    steps, before = 0, None
    with pytest.raises(FloatingPointError, match=r"train_step (\d+) diverged") as info:
        for _ in range(40):
            before = model.get_params()
            model.train_step(x, y)
            steps += 1
    assert steps >= 2                                  # some finite steps were taken first
    failed_at = int(re.search(r"train_step (\d+)", str(info.value)).group(1))
    assert failed_at == steps + 1
    after = model.get_params()
    for name in before:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)
    assert all(np.all(np.isfinite(a)) for a in after.values())
    # the model's own parameters are valid parameters again
    make_adapter(framework, LIN, after)
    assert "left as they were before this step" in str(info.value)


@pytest.mark.parametrize("framework", FW)
def test_a_finite_run_is_not_touched_by_the_divergence_check(framework):
    model, twin = linear(framework), linear(framework)
    model.set_optimizer(OptimizerSpec(lr=0.125))
    x, y = xy_linear()
    losses = [model.train_step(x, y) for _ in range(3)]
    assert losses[0] > losses[1] > losses[2]
    assert twin.get_params()["W"].sum() == 0


@pytest.mark.parametrize("framework", FW)
def test_finite_parameters_whose_sum_overflows_are_not_a_divergence(framework):
    """W = (1e308, 1e308): every entry finite, their sum inf (the torch adapter's quick check sums each
    parameter and decides by max and min when the sum is not finite). x = 0 keeps the loss 0 and W as is."""
    lin = make_adapter(framework, LIN, {"W": np.full((2, 1), 1e308), "b": np.zeros(1)})
    lin.set_optimizer(OptimizerSpec(lr=0.125))
    assert lin.train_step(np.zeros((3, 2)), np.zeros((3, 1))) == 0.0
    np.testing.assert_array_equal(lin.get_params()["W"], np.full((2, 1), 1e308))


# -- 6. final_state checks its input ------------------------------------------------------------------

@pytest.mark.parametrize("framework", FW)
@pytest.mark.parametrize("bad, error", [("not an array", TypeError), (np.ones((6, 5)), ValueError),
                                        (np.ones((6, 4), dtype=np.float32), TypeError)])
def test_final_state_checks_the_input_of_a_feed_forward_model(framework, bad, error):
    with pytest.raises(error, match="x must"):
        mlp(framework).final_state(bad)


@pytest.mark.parametrize("framework", FW)
def test_final_state_of_a_feed_forward_model_is_empty_for_good_input(framework):
    assert mlp(framework).final_state(np.ones((2, 4))) == {}
    y, state = mlp(framework).forward(np.ones((2, 4)), return_state=True)
    np.testing.assert_array_equal(y, mlp(framework).forward(np.ones((2, 4))))
    assert state == {}


@pytest.mark.parametrize("framework", FW)
def test_forward_with_its_state_is_forward_and_final_state_bit_for_bit(framework):
    """``forward(x, s, return_state=True)`` (what the parity harness calls, one pass) gives exactly what
    ``forward`` and ``final_state`` give (two passes): a bidirectional many-to-many GRU with a given state."""
    spec = RNNSpec("gru", 3, 4, 2, bidirectional=True, return_sequences=True)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 3))
    h0 = {n: rng.standard_normal((2, 4)) for n in spec.state_shapes()}
    model = make_adapter(framework, spec, init_params(spec, seed=4, bias="normal"))
    y, state = model.forward(x, h0, return_state=True)
    np.testing.assert_array_equal(y, model.forward(x, h0))
    want = model.final_state(x, h0)
    assert list(state) == list(want) == list(spec.state_shapes())
    for name in want:
        np.testing.assert_array_equal(state[name], want[name], err_msg=name)


# -- 9. NumPy scalars -----------------------------------------------------------------------------

def test_numpy_scalars_are_accepted_and_stored_as_python_numbers():
    spec = MLPSpec(np.int64(4), (np.int32(5),), np.uint8(3))
    assert spec == MLPSpec(4, (5,), 3) and type(spec.in_features) is int and type(spec.hidden[0]) is int
    opt = OptimizerSpec(lr=np.float32(0.125), clip_norm=np.float64(1.0), clip_eps=np.float32(0))
    assert opt == OptimizerSpec(lr=0.125, clip_norm=1.0) and type(opt.lr) is float
    rnn = RNNSpec("gru", np.int64(2), np.int64(3), 1, reset_after=np.bool_(False))
    assert rnn.reset_after is False
    cnn = CNNSpec(np.int64(1), 8, 8, (Conv2D(np.int64(2), (np.int64(3), 3)), Pool2D("max", np.int64(2))),
                  (), 2)
    assert cnn.layers[0].kernel_size == (3, 3) and type(cnn.layers[0].filters) is int
    init_params(spec, seed=np.int64(0), weight_init_std=np.float32(0.5), method="gaussian")


@pytest.mark.parametrize("make, message", [
    (lambda: MLPSpec(np.float64(4.0), (5,), 3), "in_features must be a positive int, got 4.0"),
    (lambda: MLPSpec(np.int64(0), (5,), 3), "in_features must be a positive int, got 0"),
    (lambda: OptimizerSpec(lr=np.float32("nan")), "lr must be a positive finite number, got nan"),
])
def test_numpy_scalars_are_checked_like_python_numbers(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# -- the cases the issue asked to decide --------------------------------------------------------------

def test_one_class_softmax_cross_entropy_is_refused():
    with pytest.raises(ValueError, match="softmax_cross_entropy needs out_features >= 2"):
        MLPSpec(4, (5,), 1)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("framework", FW)
def test_overflow_inside_the_model_is_returned_as_the_frameworks_return_it(framework):
    """Documented in the README: forward does not hide an overflow (inf / NaN come out as they do in
    the frameworks); train_step refuses to take a step from it (test above)."""
    model = linear(framework)
    lin = make_adapter(framework, LIN, {"W": np.full((2, 1), 1e308), "b": np.zeros(1)})
    assert np.isinf(lin.forward(np.full((1, 2), 1e308))).all()
    lin.set_optimizer(OptimizerSpec(lr=0.125))
    with pytest.raises(FloatingPointError, match="train_step 1 diverged: the loss is inf"):
        lin.train_step(np.full((1, 2), 1e308), np.zeros((1, 1)))
    assert model.get_params()["W"].sum() == 0
