"""Regularization (issue 11): batch normalization, inverted dropout, L1 / L2 penalties, in NumPy, torch
and Keras -- the NumPy backward passes, the conventions where the frameworks differ, the modes and the
running statistics, and bad input.

What this file proves (the cross-framework parity of ``REG_CASES`` runs in ``test_parity.py``):

* every NumPy backward of ``reference_numpy/regularization.py`` agrees with central differences
  (``gradcheck.check_gradient``, rtol 1e-7 + its noise floor): batch norm in training and
  inference mode (dense and conv), dropout under a fixed mask, the penalties, and every regularization
  case end to end in its own mode (training mode included: the mean and variance depend on x);
* the conventions, each with its measured size: torch's ``momentum`` is the canonical one and Keras's
  is ``1 - momentum`` (an unmapped momentum moves the running mean by O(1)); eps reaches both
  frameworks (torch's 1e-5 against Keras's 1e-3 changes the inference output measurably); torch's
  running variance takes the unbiased batch variance, Keras's the biased one (their batch parts differ
  by exactly n / (n - 1): N for a dense layer, N*H*W for a conv layer); Keras's ``L1L2(l2)`` has no
  1/2 (the canonical l2 maps to ``l2 / 2``; ``l2`` unmapped doubles the penalty) and rounds l1, l2 to
  float32 even in a float64 model; dropout scales kept units by 1 / (1 - p); the harness compares the
  running variance only between frameworks that run the case's convention (``expected_quantities``);
* modes: dropout is the identity in inference (bit for bit, in every framework); the frameworks' own
  dropout (no injected mask) drops a fraction p and scales by 1 / (1 - p) (statistically: 5 sigma on
  10^5 units); a training-mode forward updates the running statistics, an inference one does not;
  after several SGD steps in training mode the parameters and running statistics of NumPy agree with
  torch's (unbiased) and Keras's (biased) convention to 1e-10;
* the canonical layout of gamma / beta and the buffers in each framework, with canaries (a gamma /
  beta or mean / variance swap round-trips exactly but breaks parity);
* each regularization case's loss is the framework's own data loss on its own logits plus its own
  penalty (torch: summed by hand over the weights; Keras: ``sum(model.losses)``);
* bad input: a dropout rate outside [0, 1), a batch-norm momentum outside (0, 1), eps <= 0, a
  negative / NaN penalty, wrong masks or buffers, and training under a running-variance convention the
  framework does not run -> a clear error, with the adapter left as it was.
"""

from __future__ import annotations

import impl_tf  # noqa: F401  (selects the TensorFlow backend before keras is imported)

# isort: split
import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch

import impl_tf.weights
import impl_torch.weights
from impl_tf import regularization as keras_reg
from impl_tf.adapter import KerasAdapter
from impl_torch import regularization as torch_reg
from impl_torch.adapter import TorchAdapter
from parity_tests.test_own_loss import keras_own_loss, numpy_own_loss, torch_own_loss
from reference_numpy import regularization as R
from reference_numpy.adapter import NumpyAdapter
from reference_numpy.cases import CASES_BY_NAME, REG_CASES
from reference_numpy.gradcheck import check_gradient, relative_error
from reference_numpy.initializers import init_buffers, init_params
from reference_numpy.optimizers import OptimizerSpec
from reference_numpy.specs import BatchNorm, CNNSpec, Conv2D, MLPSpec, Pool2D
from reports.harness import assert_rows_pass, compare_results, expected_quantities, quantities, runnable_spec

ADAPTERS = {"numpy": NumpyAdapter, "torch": TorchAdapter, "keras": KerasAdapter}
#: float64 agreement bound of the suite (reports/harness.py); measured here <= 3e-15.
RTOL64 = 1e-10
BN_TORCH = BatchNorm.defaults("torch")
BN_KERAS = BatchNorm.defaults("keras")


def mlp(**options) -> MLPSpec:
    return MLPSpec(4, (6, 5), 3, activation="tanh", output="identity", loss="mse", **options)


def cnn(**options) -> CNNSpec:
    return CNNSpec(2, 5, 5, (Conv2D(3, 3, activation="tanh"),), (4,), 2, activation="tanh", output="identity",
                   loss="mse", **options)


def build(framework, spec, seed=1, buffers_seed=2, dtype="float64"):
    """An adapter with random parameters (nonzero biases, gamma != 1) and random running statistics."""
    adapter = ADAPTERS[framework](spec, init_params(spec, seed, "he", bias="normal", bias_std=0.5, dtype=dtype), dtype)
    if spec.buffer_shapes():
        adapter.set_buffers(init_buffers(spec, buffers_seed, dtype))
    return adapter


def trained(adapter, masks=None):
    """``adapter`` switched to training mode (``Adapter.train`` returns None)."""
    adapter.train(masks)
    return adapter


def batch(spec, n, seed=3, dtype="float64"):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *spec.input_shape)).astype(dtype)
    return x, rng.standard_normal((n, spec.out_features)).astype(dtype)


def own_framework(spec) -> str:
    """The framework that trains ``spec``'s batch norm convention (torch: unbiased, Keras: biased)."""
    return "torch" if spec.batch_norm.running_var == "unbiased" else "keras"


# ------------------------------------------------------------------- NumPy gradient checks

BN_LAYER_CASES = [("dense", (7, 5), "unbiased"), ("dense", (7, 5), "biased"), ("conv", (3, 4, 5, 6), "unbiased")]


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("kind, shape, running_var", BN_LAYER_CASES, ids=[c[0] + "-" + c[2] for c in BN_LAYER_CASES])
def test_batchnorm_backward_matches_central_differences(kind, shape, running_var, training):
    """dx, dgamma, dbeta of ``sum(upstream * BN(x))`` for random x (mean 0.7: a centring bug shows),
    gamma, beta and running statistics; in training mode the mean and variance depend on x."""
    rng = np.random.default_rng(len(shape) + training)
    c = shape[1]
    x = 0.7 + 1.3 * rng.standard_normal(shape)
    gamma, beta = 1 + 0.5 * rng.standard_normal(c), 0.5 * rng.standard_normal(c)
    mean, var = 0.5 * rng.standard_normal(c), rng.uniform(0.5, 2.0, c)
    upstream = rng.standard_normal(shape)
    bn = BatchNorm(0.25, 1e-3, running_var)

    def f(_):
        return np.sum(upstream * R.batchnorm_forward(x, gamma, beta, mean, var, bn, training)[0])

    _, cache, _ = R.batchnorm_forward(x, gamma, beta, mean, var, bn, training)
    dx, dgamma, dbeta = R.batchnorm_backward(upstream, cache)
    for name, array, grad in (("x", x, dx), ("gamma", gamma, dgamma), ("beta", beta, dbeta)):
        check_gradient(f, array, grad, name=f"BN {kind} {name}")


def test_batchnorm_training_forward_is_the_notes_four_lines():
    """Normalized with the biased batch variance; the running statistics move by the momentum toward
    the batch mean and (unbiased: times n / (n - 1)) variance; inference uses the running ones."""
    rng = np.random.default_rng(0)
    x, gamma, beta = rng.standard_normal((6, 3)), rng.standard_normal(3), rng.standard_normal(3)
    r_mean, r_var = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    mu, var = x.mean(axis=0), x.var(axis=0)                        # np.var is the biased one (ddof=0)
    for running_var, c in (("unbiased", 6 / 5), ("biased", 1.0)):
        y, _, (m, v) = R.batchnorm_forward(x, gamma, beta, r_mean, r_var, BatchNorm(0.25, 1e-5, running_var), True)
        np.testing.assert_allclose(y, gamma * (x - mu) / np.sqrt(var + 1e-5) + beta, rtol=1e-14)
        np.testing.assert_allclose(m, 0.75 * r_mean + 0.25 * mu, rtol=1e-14)
        np.testing.assert_allclose(v, 0.75 * r_var + 0.25 * var * c, rtol=1e-14)
    y, _, (m, v) = R.batchnorm_forward(x, gamma, beta, r_mean, r_var, BatchNorm(), False)
    np.testing.assert_allclose(y, gamma * (x - r_mean) / np.sqrt(r_var + 1e-5) + beta, rtol=1e-14)
    assert m is r_mean and v is r_var


def test_dropout_backward_matches_central_differences():
    rng = np.random.default_rng(1)
    x, upstream = rng.standard_normal((6, 9)), rng.standard_normal((6, 9))
    mask = R.random_mask(rng, x.shape, 0.4)
    assert 0 < mask.sum() < mask.size
    y, cache = R.dropout_forward(x, mask, 0.4)
    np.testing.assert_array_equal(y, np.where(mask, x / 0.6, 0.0))          # kept: scaled by 1 / (1 - p)
    check_gradient(lambda _: np.sum(upstream * R.dropout_forward(x, mask, 0.4)[0]), x,
                   R.dropout_backward(upstream, cache), name="dropout x")


def test_penalty_gradient_matches_central_differences():
    """P = l1 sum|W| + l2 / 2 sum W^2 over the named weights only (never b)."""
    rng = np.random.default_rng(2)
    params = {"W1": rng.standard_normal((3, 4)), "b1": rng.standard_normal(4), "W2": rng.standard_normal((4, 2))}
    names, l1, l2 = ("W1", "W2"), 0.3, 0.7
    grads = R.penalty_grads(params, names, l1, l2)
    assert set(grads) == {"W1", "W2"}
    for name in names:
        check_gradient(lambda _: R.penalty(params, names, l1, l2), params[name], grads[name], name=f"penalty {name}")
    expected = sum(l1 * np.abs(params[n]).sum() + 0.5 * l2 * np.sum(params[n] ** 2) for n in names)
    assert R.penalty(params, names, l1, l2) == pytest.approx(expected, rel=1e-15)


def case_gradient_checks(case):
    """Every parameter's and the input's loss gradient and output VJP of one case, in its mode."""
    adapter = NumpyAdapter(case.spec, case.params())
    case.prepare(adapter)
    x, target, upstream = case.batch_data()
    res, vjp = adapter.loss_and_grads(x, target), adapter.vjp(x, upstream)
    for wrt in ("x", *case.spec.param_shapes()):
        array = x if wrt == "x" else adapter.model.params[wrt]
        check_gradient(lambda _: float(adapter.model.objective(x, target)[0]), array,    # the reported loss
                       res.grad_input if wrt == "x" else res.grads[wrt], name=f"{case.name} dL/d{wrt}")
        check_gradient(lambda _: np.sum(upstream * adapter.forward(x)), array,
                       vjp.grad_input if wrt == "x" else vjp.grads[wrt], name=f"{case.name} vjp d/d{wrt}")


@pytest.mark.parametrize("case", REG_CASES, ids=[c.name for c in REG_CASES])
def test_case_gradients_match_central_differences_in_the_cases_mode(case):
    """(test_gradcheck.py checks the same models in inference mode with the initial statistics.)"""
    case_gradient_checks(case)


# ------------------------------------------------------------------------------ conventions

def after_one_training_forward(framework, spec, x, r0):
    adapter = ADAPTERS[framework](spec, init_params(spec, 1, "he", bias="normal", bias_std=0.5), "float64")
    adapter.set_buffers(r0)
    adapter.train()
    adapter.forward(x)
    return adapter.buffers()


@pytest.mark.parametrize("momentum", [0.25, 0.1, 1 - 0.99], ids=["0.25", "torch-default", "keras-default"])
def test_momentum_is_the_weight_of_the_new_batch_torch_as_is_keras_one_minus(momentum):
    spec = mlp(batch_norm=BatchNorm(momentum, 1e-3, "biased"))
    torch_bn = TorchAdapter(dataclasses.replace(spec, batch_norm=BatchNorm(momentum, 1e-3)),
                            init_params(spec, 0)).model.dense_stack.layers["bn1"]
    keras_bn = KerasAdapter(spec, init_params(spec, 0)).model.dense_stack.layers["bn1"]
    assert torch_bn.momentum == momentum and keras_bn.momentum == 1 - momentum
    x, _ = batch(spec, 8)
    r0 = init_buffers(spec, 4)
    u = x @ init_params(spec, 1, "he", bias="normal", bias_std=0.5)["W1"]       # the first BN's input (N, H1)
    want = (1 - momentum) * r0["running_mean1"] + momentum * u.mean(axis=0)
    for framework in ("numpy", "keras"):
        got = after_one_training_forward(framework, spec, x, r0)["running_mean1"]
        assert relative_error(got, want)[1] < 1e-14, framework
    # the canary: Keras given the canonical number unmapped moves the running mean by O(1) of its change
    unmapped = KerasAdapter(dataclasses.replace(spec, batch_norm=BatchNorm(1 - momentum, 1e-3, "biased")),
                            init_params(spec, 1, "he", bias="normal", bias_std=0.5))
    unmapped.set_buffers(r0)
    trained(unmapped).forward(x)
    change = want - r0["running_mean1"]
    assert np.max(np.abs(unmapped.buffers()["running_mean1"] - want)) > 0.5 * np.max(np.abs(change))


def test_eps_reaches_both_frameworks_and_the_defaults_differ_measurably():
    for bn in (BN_TORCH, BN_KERAS):
        spec = mlp(batch_norm=dataclasses.replace(bn, running_var="unbiased"))
        assert TorchAdapter(spec, init_params(spec, 0)).model.dense_stack.layers["bn1"].eps == bn.eps
        assert KerasAdapter(spec, init_params(spec, 0)).model.dense_stack.layers["bn1"].epsilon == bn.eps
    # inference with running variances of 1e-3 (a unit that barely varied): eps matters there
    spec = mlp(batch_norm=BatchNorm(0.25, 1e-5))
    x, _ = batch(spec, 8)
    small = {n: (np.full(a.shape, 1e-3) if n.startswith("running_var") else a)
             for n, a in init_buffers(spec, 4).items()}
    outputs = {}
    for eps in (1e-5, 1e-3):
        s = mlp(batch_norm=BatchNorm(0.25, eps))
        ys = []
        for framework in ADAPTERS:
            adapter = build(framework, s)
            adapter.set_buffers(small)
            ys.append(adapter.forward(x))
        assert max(relative_error(ys[0], y)[1] for y in ys[1:]) < RTOL64          # same eps: the same output
        outputs[eps] = ys[0]
    assert relative_error(outputs[1e-5], outputs[1e-3])[1] > 0.05            # measured 0.118


@pytest.mark.parametrize("make", [mlp, cnn], ids=["dense", "conv"])
def test_running_variance_torch_unbiased_keras_biased_factor_n_over_n_minus_1(make):
    """The one convention that cannot be matched: after one training forward from the same running
    statistics, torch's and Keras's running variances differ exactly in the batch part, by n / (n - 1)
    (n = N = 8 for a dense layer, N*H*W = 8*3*3 = 72 for the conv layer); NumPy runs each."""
    unbiased, biased = make(batch_norm=BatchNorm(0.25, 1e-3)), make(batch_norm=BatchNorm(0.25, 1e-3, "biased"))
    x, _ = batch(unbiased, 8)
    r0 = init_buffers(unbiased, 4)
    t = after_one_training_forward("torch", unbiased, x, r0)
    k = after_one_training_forward("keras", biased, x, r0)
    assert relative_error(after_one_training_forward("numpy", unbiased, x, r0)["running_var1"], t["running_var1"])[1] \
        < RTOL64
    assert relative_error(after_one_training_forward("numpy", biased, x, r0)["running_var1"], k["running_var1"])[1] \
        < RTOL64
    for name, n in (("running_var1", 8 if make is mlp else 72), ("running_var2", 8)):
        factor = (t[name] - 0.75 * r0[name]) / (k[name] - 0.75 * r0[name])
        np.testing.assert_allclose(factor, n / (n - 1), rtol=1e-12)
        assert relative_error(t[name], k[name])[1] > 1e-3                   # far above any rounding
    for name in t:
        if name.startswith("running_mean"):
            assert relative_error(t[name], k[name])[1] < RTOL64               # the means agree


def test_running_variance_is_compared_only_between_frameworks_of_the_cases_convention():
    """The harness's rule (``expected_quantities`` with a pair), data-driven from each adapter's
    ``batch_norm_conventions``; the running means are compared between every pair."""
    spec = CASES_BY_NAME["mlp_bn_train_unbiased"].spec
    var, mean = {"buffer:running_var1", "buffer:running_var2"}, {"buffer:running_mean1", "buffer:running_mean2"}
    full = expected_quantities(spec, False)
    assert var | mean <= full
    assert expected_quantities(spec, False, ("numpy", "torch")) == full
    for pair in (("numpy", "keras-tf"), ("torch", "keras-jax"), ("keras-tf", "keras-torch")):
        assert expected_quantities(spec, False, pair) == full - var, pair
    biased = CASES_BY_NAME["mlp_bn_train_biased_keras_defaults"].spec
    assert expected_quantities(biased, False, ("numpy", "keras-torch")) == expected_quantities(biased, False)
    assert expected_quantities(biased, False, ("numpy", "torch")) == expected_quantities(biased, False) - {
        "buffer:running_var1"}
    # a framework that cannot train the case's convention runs it under its own, nothing else changed
    assert runnable_spec(spec, "keras-jax") == dataclasses.replace(
        spec, batch_norm=dataclasses.replace(spec.batch_norm, running_var="biased"))
    assert runnable_spec(spec, "torch") is spec and runnable_spec(spec, "numpy") is spec


def keras_penalty(spec, adapter) -> float:
    return float(sum(float(np.asarray(loss)) for loss in adapter.model.losses))


def test_keras_l2_has_no_half_the_canonical_l2_maps_to_half():
    spec = mlp(l1=2.0**-6, l2=2.0**-3)
    adapter = KerasAdapter(spec, init_params(spec, 1))
    regularizer = adapter.model.dense_stack.layers["dense1"].kernel_regularizer
    assert regularizer.l1 == spec.l1 and regularizer.l2 == spec.l2 / 2
    params = adapter.get_params()
    canonical = R.penalty(params, spec.penalized(), spec.l1, spec.l2)
    assert keras_penalty(spec, adapter) == pytest.approx(canonical, rel=1e-14)
    # the canary: L1L2(l2=canonical l2) -- the torch habit l2 / 2 forgotten -- doubles the L2 part
    l2_only = mlp(l2=2.0**-3)
    unmapped = keras.regularizers.L1L2(l2=l2_only.l2)
    W = [tf.constant(params[n]) for n in l2_only.penalized()]
    assert sum(float(unmapped(w)) for w in W) == pytest.approx(2 * R.penalty(params, l2_only.penalized(), 0, 0.125),
                                                               rel=1e-14)


def test_keras_rounds_l1_and_l2_to_float32_in_a_float64_model():
    """Measured: l1 = 0.01 becomes 0.009999999776482582 (relative 2.2e-8) -- why the cases use
    float32-exact lambdas (2^-k). NumPy and torch use the value as given."""
    for name in ("l1", "l2"):
        value = keras.regularizers.L1L2(**{name: 0.01})(tf.ones((1,), dtype=tf.float64))
        assert value.dtype == tf.float64
        assert float(value) == float(np.float32(0.01)) != 0.01
        assert abs(float(value) - 0.01) / 0.01 == pytest.approx(2.235e-8, rel=1e-3)


def test_penalty_covers_weights_only():
    spec = cnn(batch_norm=BN_TORCH, l1=0.5, l2=0.25)
    assert spec.penalized() == ("W1", "W2", "W3")
    torch_model = TorchAdapter(spec, init_params(spec, 0)).model
    assert [tuple(w.shape) for w in torch_model.penalized_weights()] == [(3, 2, 3, 3), (4, 27), (2, 4)]
    keras_model = KerasAdapter(spec, init_params(spec, 0)).model
    with_regularizer = sorted("/".join(v.path.split("/")[-2:]) for v in keras_model.trainable_variables
                              if getattr(v, "regularizer", None))                   # path: ".../conv1/kernel"
    assert with_regularizer == ["conv1/kernel", "dense2/kernel", "dense3/kernel"]


# ------------------------------------------------------------------------------- dropout

@pytest.mark.parametrize("framework", ["torch", "keras", "numpy"])
def test_frameworks_own_dropout_has_rate_p_and_scale_1_over_1_minus_p(framework):
    """Without an injected mask each framework draws its own: on 2 * 10^5 ones the dropped fraction is
    p within 5 sigma (sigma = sqrt(p (1 - p) / n) = 1.0e-3) and every kept unit is 1 / (1 - p)."""
    p, n = 0.3, 200_000
    x = np.ones((1000, 200))
    if framework == "torch":
        torch.manual_seed(0)
        layer = torch_reg.MaskedDropout(p, "dropout1").train()
        y = layer(torch.tensor(x)).numpy()
    elif framework == "keras":
        y = np.asarray(keras_reg.MaskedDropout(p, "dropout1", seed=0, dtype="float64")(tf.constant(x), training=True))
    else:
        y = R.dropout_forward(x, R.random_mask(np.random.default_rng(0), x.shape, p), p)[0]
    dropped = np.mean(y == 0)
    assert abs(dropped - p) < 5 * np.sqrt(p * (1 - p) / n), dropped
    np.testing.assert_array_equal(np.unique(y), [0.0, 1 / (1 - p)])


@pytest.mark.parametrize("make", [mlp, cnn], ids=["mlp", "cnn"])
def test_dropout_is_the_identity_in_inference_and_random_in_training_without_masks(make):
    with_dropout, without = make(dropout=0.5, l2=0.125), make(l2=0.125)
    x, _ = batch(with_dropout, 6)
    for framework in ADAPTERS:
        adapter = build(framework, with_dropout)
        reference = build(framework, without).forward(x)
        np.testing.assert_array_equal(adapter.forward(x), reference, err_msg=framework)          # bit for bit
        adapter.train()                                                        # the framework's own masks
        first, second = adapter.forward(x), adapter.forward(x)
        assert not np.array_equal(first, second), framework
        adapter.eval()
        np.testing.assert_array_equal(adapter.forward(x), reference, err_msg=framework)


def test_injected_masks_are_used_by_every_framework():
    spec = mlp(dropout=0.25)
    x, _ = batch(spec, 5)
    rng = np.random.default_rng(7)
    masks = {n: R.random_mask(rng, (5, *s), 0.25) for n, s in spec.dropout_shapes().items()}
    ys = [trained(build(fw, spec), masks).forward(x) for fw in ADAPTERS]
    assert max(relative_error(ys[0], y)[1] for y in ys[1:]) < RTOL64
    ones = {n: np.ones_like(m) for n, m in masks.items()}
    assert relative_error(trained(build("torch", spec), ones).forward(x), ys[0])[1] > 1e-2     # the mask matters


# -------------------------------------------------------------- running statistics, modes

def test_training_forward_updates_the_running_statistics_inference_does_not():
    spec = cnn(batch_norm=BatchNorm(0.25, 1e-3))
    x, _ = batch(spec, 4)
    r0 = init_buffers(spec, 2)                                     # what build() loads
    for framework in ADAPTERS:
        adapter = build(framework, spec)
        adapter.forward(x)
        assert all(np.array_equal(a, r0[n]) for n, a in adapter.buffers().items()), framework
        adapter.set_buffers(r0)
        if framework != "keras":
            trained(adapter).forward(x)
            assert all(not np.allclose(a, r0[n]) for n, a in adapter.buffers().items()), framework
    keras_adapter = build("keras", dataclasses.replace(spec, batch_norm=BatchNorm(0.25, 1e-3, "biased")))
    trained(keras_adapter).forward(x)
    assert all(not np.allclose(a, r0[n]) for n, a in keras_adapter.buffers().items())


TRAJECTORY_SPECS = {
    "mlp": mlp(batch_norm=BatchNorm(0.25, 1e-3), dropout=0.25, l1=2.0**-7, l2=2.0**-4),
    "cnn": CNNSpec(1, 6, 6, (Conv2D(3, 3, activation="relu"), Pool2D("avg", 2)), (5,), 3, activation="tanh",
                   output="identity", loss="mse", batch_norm=BatchNorm(0.25, 1e-3), dropout=0.25, l2=2.0**-4),
}


@pytest.mark.parametrize("family", TRAJECTORY_SPECS)
@pytest.mark.parametrize("running_var", ["unbiased", "biased"])
def test_several_training_steps_match_per_convention(family, running_var):
    """Five SGD steps in training mode (batch norm, dropout under fixed masks, penalties) on five
    batches: NumPy under the convention and the framework that runs it end with the same parameters
    and running statistics (float64, <= 1e-10; measured <= 1.4e-15)."""
    spec = dataclasses.replace(TRAJECTORY_SPECS[family], batch_norm=BatchNorm(0.25, 1e-3, running_var))
    rng = np.random.default_rng(11)
    masks = {n: R.random_mask(rng, (6, *s), spec.dropout) for n, s in spec.dropout_shapes().items()}
    results = {}
    for framework in ("numpy", own_framework(spec)):
        adapter = build(framework, spec)
        adapter.train(masks)
        adapter.set_optimizer(OptimizerSpec("sgd", lr=0.125))
        losses = [adapter.train_step(*batch(spec, 6, seed=20 + step)) for step in range(5)]
        results[framework] = {"loss": np.array(losses), **adapter.get_params(),
                              **{f"buffer:{n}": b for n, b in adapter.buffers().items()}}
    numpy_result, framework_result = results.values()
    assert_rows_pass(compare_results(family, family, tuple(results), "float64", numpy_result, framework_result,
                                     RTOL64))
    assert not np.allclose(numpy_result["buffer:running_var1"], init_buffers(spec, 2)["running_var1"])


def test_train_step_follows_every_change_of_mode_and_masks():
    """Keras's ``train_step`` is a ``tf.function`` traced with the mode and the dropout masks of its
    time: after ``train(other masks)``, ``eval()`` and ``train()`` again it must take NumPy's steps, not
    replay the first trace (float64, <= 1e-10 as above; a stale trace is off by O(0.1))."""
    spec = dataclasses.replace(TRAJECTORY_SPECS["mlp"], batch_norm=BatchNorm(0.25, 1e-3, "biased"))
    rng = np.random.default_rng(12)
    masks = [{n: R.random_mask(rng, (6, *s), spec.dropout) for n, s in spec.dropout_shapes().items()}
             for _ in range(2)]
    modes = [masks[0], masks[1], None, masks[0]]                    # None: inference mode
    results = {}
    for framework in ("numpy", "keras"):
        adapter = build(framework, spec)
        adapter.set_optimizer(OptimizerSpec("sgd", lr=0.125))
        losses = []
        for step, mode in enumerate(modes):
            adapter.eval() if mode is None else adapter.train(mode)
            losses.append(adapter.train_step(*batch(spec, 6, seed=30 + step)))
        results[framework] = {"loss": np.array(losses), **adapter.get_params(),
                              **{f"buffer:{n}": b for n, b in adapter.buffers().items()}}
    assert_rows_pass(compare_results("mlp", "mlp", tuple(results), "float64", *results.values(), RTOL64))


def test_inference_train_step_leaves_the_buffers_alone():
    spec = mlp(batch_norm=BN_TORCH)
    for framework in ADAPTERS:
        adapter = build(framework, spec)
        before = adapter.buffers()
        adapter.set_optimizer(OptimizerSpec("sgd", lr=0.125))
        adapter.train_step(*batch(spec, 6))
        assert all(np.array_equal(a, before[n]) for n, a in adapter.buffers().items()), framework


# ------------------------------------------------------------------------------- layouts

def test_batch_norm_layout_in_torch_and_keras():
    """gamma / beta are the batch norm's weight / bias (torch) and gamma / beta (Keras); the running
    statistics its running_mean / running_var (torch) and moving_mean / moving_variance (Keras); the
    layer before it has no bias. No permutation anywhere (the channel axis is the canonical one)."""
    spec = cnn(batch_norm=BatchNorm(0.25, 1e-3, "biased"))
    params, buffers = init_params(spec, 1, bias="normal"), init_buffers(spec, 2)
    assert set(spec.param_shapes()) == {"W1", "gamma1", "beta1", "W2", "gamma2", "beta2", "W3", "b3"}
    t = TorchAdapter(spec, params)
    t.set_buffers(buffers)
    k = KerasAdapter(spec, params)
    k.set_buffers(buffers)
    pairs = {"1": (t.model.conv_norms[0], k.model.conv_norms[0]),
             "2": (t.model.dense_stack.layers["bn2"], k.model.dense_stack.layers["bn2"])}
    for n, (tn, kn) in pairs.items():
        np.testing.assert_array_equal(tn.weight.detach().numpy(), params[f"gamma{n}"])
        np.testing.assert_array_equal(tn.bias.detach().numpy(), params[f"beta{n}"])
        np.testing.assert_array_equal(tn.running_mean.numpy(), buffers[f"running_mean{n}"])
        np.testing.assert_array_equal(tn.running_var.numpy(), buffers[f"running_var{n}"])
        np.testing.assert_array_equal(kn.gamma.numpy(), params[f"gamma{n}"])
        np.testing.assert_array_equal(kn.beta.numpy(), params[f"beta{n}"])
        np.testing.assert_array_equal(kn.moving_mean.numpy(), buffers[f"running_mean{n}"])
        np.testing.assert_array_equal(kn.moving_variance.numpy(), buffers[f"running_var{n}"])
    assert t.model.conv_layers[0].bias is None and t.model.dense_stack.layers["dense2"].bias is None
    assert t.model.dense_stack.layers["dense3"].bias is not None
    assert not k.model.conv_layers[0].use_bias and not k.model.dense_stack.layers["dense2"].use_bias
    for adapter in (t, k):
        assert all(np.array_equal(a, buffers[n]) for n, a in adapter.buffers().items())
        assert all(np.array_equal(a, params[n]) for n, a in adapter.get_params().items())
    assert t.param_count() == k.param_count() == sum(a.size for a in params.values())


def swap_gamma_beta(monkeypatch, framework):
    if framework == "torch":
        original = impl_torch.weights.param_map

        def broken(spec):
            links = original(spec)
            by = {link.canonical[0]: link.torch for link in links}
            return [dataclasses.replace(link, torch=by[{"gamma1": "beta1", "beta1": "gamma1"}.get(link.canonical[0],
                                                                                                  link.canonical[0])])
                    for link in links]
        monkeypatch.setattr(impl_torch.weights, "param_map", broken)
    else:
        original = impl_tf.weights.param_map

        def broken(model, spec):
            links = original(model, spec)
            by = {link.canonical[0]: link.variables for link in links}
            return [dataclasses.replace(link, variables=by[{"gamma1": "beta1", "beta1": "gamma1"}.get(
                link.canonical[0], link.canonical[0])]) for link in links]
        monkeypatch.setattr(impl_tf.weights, "param_map", broken)


def swap_mean_var(monkeypatch, framework):
    """The first batch norm's running mean and variance exchanged in the buffer mapping."""
    module, name = ((impl_torch.weights, "buffer_map") if framework == "torch" else
                    (impl_tf.weights, "buffer_variables"))
    original = getattr(module, name)
    swap = {"running_mean1": "running_var1", "running_var1": "running_mean1"}

    def broken(*args):
        mapping = original(*args)
        return {n: mapping[swap.get(n, n)] for n in mapping}
    monkeypatch.setattr(module, name, broken)


@pytest.mark.parametrize("breakage", [swap_gamma_beta, swap_mean_var])
@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_a_swapped_batch_norm_mapping_round_trips_but_fails_parity(framework, breakage, monkeypatch):
    case = CASES_BY_NAME["mlp_bn_eval"]
    reference = NumpyAdapter(case.spec, case.params())
    case.prepare(reference)
    want = quantities(reference, *case.batch_data())
    breakage(monkeypatch, framework)
    adapter = ADAPTERS[framework](case.spec, case.params(), "float64")
    case.prepare(adapter)
    assert all(np.array_equal(a, case.params()[n]) for n, a in adapter.get_params().items())
    assert all(np.array_equal(a, case.buffers()[n]) for n, a in adapter.buffers().items())
    rows = {r.quantity: r for r in compare_results(case.name, "mlp", ("numpy", framework), "float64", want,
                                                   quantities(adapter, *case.batch_data()), RTOL64)}
    # O(1) -- or NaN, where a swapped-in mean is a negative "variance": not (err < 1e-2) covers both
    assert not rows["output"].passed and not rows["output"].max_rel_err < 1e-2, rows["output"].message()


# -------------------------------------------------------------------- the frameworks' own loss

@pytest.mark.parametrize("case", REG_CASES, ids=[c.name for c in REG_CASES])
def test_case_loss_is_the_frameworks_own_loss_plus_its_own_penalty(case):
    """(test_own_loss.py's check, with the penalty and the case's mode.) Each framework's loss equals its
    own data loss on its own logits plus its own penalty -- torch: by hand over the nn.Linear / nn.Conv2d
    weights; Keras: sum(model.losses) of its kernel regularizers; NumPy: the formula inline."""
    x, target, _ = case.batch_data()
    spec, params = case.spec, case.params()
    l1, l2 = spec.l1, spec.l2
    for framework in ADAPTERS:
        adapter = ADAPTERS[framework](runnable_spec(spec, framework), params, "float64")   # as the harness runs it
        case.prepare(adapter)
        loss = adapter.loss_and_grads(x, target).loss
        if framework == "numpy":
            own = numpy_own_loss(spec, adapter.model.forward(x)[1]["logits"], target)
            own += sum(l1 * np.abs(params[n]).sum() + l2 / 2 * np.sum(params[n] ** 2) for n in spec.penalized())
        elif framework == "torch":
            with torch.no_grad():
                own = torch_own_loss(spec, adapter.model.logits(torch.tensor(x)), torch.tensor(target))
                own += sum(float(l1 * W.abs().sum() + l2 / 2 * (W**2).sum()) for W in adapter.model.penalized_weights())
        else:
            own = keras_own_loss(spec, adapter.model.logits(tf.constant(x)), tf.constant(target), "float64")
            own += keras_penalty(spec, adapter) if spec.penalized() else 0.0
        assert loss == pytest.approx(own, rel=1e-12), (case.name, framework)



# -------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("options, message", [
    ({"dropout": 1.0}, r"dropout must be a rate in \[0, 1\)"),
    ({"dropout": -0.1}, r"dropout must be a rate in \[0, 1\)"),
    ({"dropout": float("nan")}, r"dropout must be a rate in \[0, 1\)"),
    ({"dropout": True}, r"dropout must be a rate in \[0, 1\)"),
    ({"l1": -1e-3}, "l1 must be a non-negative finite number"),
    ({"l2": float("inf")}, "l2 must be a non-negative finite number"),
    ({"l2": float("nan")}, "l2 must be a non-negative finite number"),
    ({"batch_norm": True}, r"batch_norm must be None or a BatchNorm"),
])
def test_bad_regularization_options(options, message):
    with pytest.raises(ValueError, match=message):
        mlp(**options)
    with pytest.raises(ValueError, match=message):
        cnn(**options)


@pytest.mark.parametrize("fields, message", [
    ({"momentum": 0}, r"momentum must be a number in \(0, 1\)"),
    ({"momentum": 1.0}, r"momentum must be a number in \(0, 1\)"),
    ({"momentum": 0.99 + 0.02}, r"momentum must be a number in \(0, 1\)"),
    ({"momentum": float("nan")}, r"momentum must be a number in \(0, 1\)"),
    ({"eps": 0.0}, "eps must be a positive finite number"),
    ({"eps": -1e-5}, "eps must be a positive finite number"),
    ({"running_var": "sample"}, "unknown BatchNorm running_var 'sample'; expected one of unbiased, biased"),
])
def test_bad_batch_norm(fields, message):
    with pytest.raises(ValueError, match=message):
        BatchNorm(**fields)


def test_options_need_layers_to_act_on():
    with pytest.raises(ValueError, match="no hidden dense layer"):
        MLPSpec(4, (), 3, dropout=0.5)
    with pytest.raises(ValueError, match="batch_norm normalizes the hidden layers; this MLPSpec has none"):
        MLPSpec(4, (), 3, batch_norm=BatchNorm())
    with pytest.raises(ValueError, match="no hidden dense layer"):
        CNNSpec(1, 4, 4, (Conv2D(2, 3),), (), 2, dropout=0.5)


@pytest.mark.parametrize("framework, running_var", [("torch", "biased"), ("keras", "unbiased")])
def test_a_framework_refuses_to_train_a_convention_it_does_not_run(framework, running_var):
    """...and stays in inference mode, where the running variance is only read (so it runs there)."""
    spec = mlp(batch_norm=BatchNorm(0.25, 1e-3, running_var))
    adapter = build(framework, spec)
    x, _ = batch(spec, 6)
    y = adapter.forward(x)
    with pytest.raises(ValueError, match=f"{framework} cannot train a batch norm with running_var='{running_var}'"):
        adapter.train()
    assert not adapter.training
    np.testing.assert_array_equal(adapter.forward(x), y)
    reference = build("numpy", spec)
    assert relative_error(reference.forward(x), y)[1] < RTOL64
    reference.train()                                            # NumPy runs both conventions


def test_bad_masks_and_buffers_same_message_everywhere():
    spec = mlp(dropout=0.5, batch_norm=BN_TORCH)
    good = {"dropout1": np.ones((4, 6), dtype=bool), "dropout2": np.ones((4, 5), dtype=bool)}
    bad_masks = [
        ({"dropout1": good["dropout1"]}, KeyError, r"missing \['dropout2'\]"),
        ({**good, "dropout1": np.ones((4, 6))}, TypeError, "must be a numpy.ndarray of dtype bool"),
        ({**good, "dropout1": np.ones((4, 7), dtype=bool)}, ValueError, r"must have shape \(N, 6\), got \(4, 7\)"),
        ({**good, "dropout2": np.ones((3, 5), dtype=bool)}, ValueError, "the same batch size N, got 4 and 3"),
        ([1, 2], TypeError, "dropout_masks must be None or a dict"),
    ]
    bad_buffers = [
        ({"running_mean1": np.zeros(6)}, KeyError, "missing"),
        ({**init_buffers(spec), "running_var2": -np.ones(5)}, ValueError, "must be >= 0"),
        ({**init_buffers(spec), "running_mean1": np.zeros(6, dtype=np.float32)}, TypeError, "dtype float64"),
        ({**init_buffers(spec), "running_mean1": np.full(6, np.nan)}, ValueError, "non-finite"),
    ]
    x6, _ = batch(spec, 6)
    for framework in ADAPTERS:
        adapter = build(framework, runnable_spec(spec, framework))
        for masks, error, message in bad_masks:
            with pytest.raises(error, match=message):
                adapter.train(masks)
            assert not adapter.training
        for buffers, error, message in bad_buffers:
            with pytest.raises(error, match=message):
                adapter.set_buffers(buffers)
        adapter.train(good)
        with pytest.raises(ValueError, match=r"dropout mask 'dropout1' has shape \(4, 6\), but this batch needs "
                                             r"\(6, 6\)"):
            adapter.forward(x6)
    with pytest.raises(ValueError, match="this MLPSpec has no dropout layers"):
        build("numpy", mlp()).train({"dropout1": good["dropout1"]})


def test_unbiased_training_needs_two_values_per_channel():
    spec = mlp(batch_norm=BN_TORCH)
    x, _ = batch(spec, 1)
    with pytest.raises(ValueError, match="needs at least 2 values per channel"):
        trained(build("numpy", spec)).forward(x)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):        # torch's own message
        trained(build("torch", spec)).forward(x)
