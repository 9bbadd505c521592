"""Every hand-written NumPy backward pass agrees with central differences in float64.

What this file proves, all through ``reference_numpy.gradcheck.check_gradient`` at its
default ``rtol = 1e-7`` (justified in its docstring; never loosened here):

* every activation in ``activations.FORWARD``: the VJP ``backward(g, u, forward(u))``
  is the gradient of ``sum(g * forward(u))`` for a random upstream ``g`` -- also for
  large-magnitude inputs, where the overflow-safe sigmoid and softmax stay finite
  (softmax rows sum to 1, sigmoid(+-1000) is exactly 1 / 0, no floating-point error);
* every loss in ``losses.FORWARD`` with every target kind it accepts (integer labels,
  one-hot rows and soft probability rows for the softmax cross-entropy; 0/1 and soft
  targets for the binary cross-entropy), and the loss *values* are pinned to their
  textbook formulas;
* the dense and polynomial-feature layers, for the input and every parameter;
* every model case in ``cases.CASES``: the gradient of the loss and the VJP of the
  output, with respect to the input and every parameter, exactly as the NumPy adapter
  reports them to the parity tests;
* negative controls: deliberately wrong backward passes (a missing factor, a
  transposed weight, a dropped term, a 1e-5 relative error) make the check fail, so
  a pass above is evidence, not an accident.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest

from reference_numpy import activations, layers, losses
from reference_numpy.adapter import NumpyAdapter
from reference_numpy.cases import CASES
from reference_numpy.gradcheck import check_gradient, numerical_gradient

# Overflow, division by zero and invalid operations are errors. Underflow is not:
# exp(-1000) == 0 is the correct rounded result and the very mechanism that makes the
# split-by-sign sigmoid and the max-shifted softmax safe (numpy flags it as "underflow").
STRICT = dict(over="raise", divide="raise", invalid="raise", under="ignore")


@contextlib.contextmanager
def strict():
    """Inside the block, floating-point errors (see STRICT) and any warning raise."""
    with np.errstate(**STRICT), warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# --------------------------------------------------------------------------- activations

def activation_input(name: str, scale: str) -> np.ndarray:
    """``(6, 5)`` pre-activations. ``scale``: "unit" ~ N(0, 1); "large" ~ 50 N(0, 1) with
    half the rows shifted by +-1000 (naive exp overflows on every row of it)."""
    rng = np.random.default_rng([list(activations.FORWARD).index(name), len(scale)])
    u = rng.standard_normal((6, 5))
    if scale == "large":
        u = 50.0 * u
        if name == "softmax":   # shift-invariant: a huge common offset, O(1) spread -> O(1) gradients
            u[::2] = rng.standard_normal((3, 5)) + np.array([[1000.0], [-1000.0], [1e4]])
    if name in ("relu", "step"):   # keep clear of the kink at 0 (not differentiable there)
        u = np.where(u >= 0, 1.0, -1.0) * (np.abs(u) + 0.1)
    return u


ACTIVATION_CASES = [(n, "unit") for n in activations.FORWARD] + [("sigmoid", "large"), ("softmax", "large")]


@pytest.mark.parametrize("name, scale", ACTIVATION_CASES, ids=[f"{n}-{s}" for n, s in ACTIVATION_CASES])
def test_activation_backward(name, scale):
    forward, backward = activations.get(name)
    u = activation_input(name, scale)
    g = np.random.default_rng(7).standard_normal(u.shape)
    with strict():
        z = forward(u)
        du = backward(g, u, z)
    assert np.all(np.isfinite(z)) and np.all(np.isfinite(du))
    check_gradient(lambda v: np.sum(g * forward(v)), u, du, name=f"{name}(u)")


def test_large_inputs_give_nontrivial_gradients():
    """The "large" activation checks above are not vacuous: their gradients are O(1e-2) or more."""
    g = np.random.default_rng(7).standard_normal((6, 5))
    for name in ("sigmoid", "softmax"):
        forward, backward = activations.get(name)
        u = activation_input(name, "large")
        assert np.max(np.abs(backward(g, u, forward(u)))) > 1e-2, name


def test_softmax_is_overflow_safe():
    u = np.array([[1000.0, 999.0, -1000.0], [-1e4, -1e4 - 1, -1e4 - 2], [0.0, 1e300, -1e300]])
    with strict():
        z = activations.softmax(u)
    assert np.all(np.isfinite(z))
    np.testing.assert_allclose(z.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    e = np.exp([0.0, -1.0])
    np.testing.assert_allclose(z[0, :2], e / e.sum(), rtol=1e-15)
    np.testing.assert_allclose(z[1], activations.softmax(np.array([[0.0, -1.0, -2.0]]))[0], rtol=1e-15)
    np.testing.assert_array_equal(z[2], [0.0, 1.0, 0.0])
    u = 50.0 * np.random.default_rng(3).standard_normal((20, 7))
    with strict():
        np.testing.assert_allclose(activations.softmax(u).sum(axis=1), 1.0, rtol=0, atol=1e-15)


def test_sigmoid_is_overflow_safe():
    with strict():
        z = activations.sigmoid(np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0]))
    assert z[0] == 0.0 and z[-1] == 1.0 and z[2] == 0.5
    np.testing.assert_allclose(z[1], np.exp(-40.0) / (1.0 + np.exp(-40.0)), rtol=1e-15)
    np.testing.assert_allclose(z[3], 1.0 / (1.0 + np.exp(-40.0)), rtol=1e-15)
    u = np.linspace(-30, 30, 61)
    np.testing.assert_allclose(activations.sigmoid(u), 1.0 / (1.0 + np.exp(-u)), rtol=1e-14)


def test_overflow_guard_catches_naive_formulas():
    """Negative control for the two tests above: the textbook formulas do overflow there."""
    with pytest.raises(FloatingPointError), strict():
        1.0 / (1.0 + np.exp(-np.array([-1000.0])))
    with pytest.raises(FloatingPointError), strict():
        u = np.array([[1000.0, 999.0]])
        np.exp(u) / np.exp(u).sum(axis=1, keepdims=True)


def test_step_is_flat_and_relu_uses_subgradient_zero():
    u = np.array([[-2.0, -0.0, 0.0, 3.0]])
    g = np.ones_like(u)
    np.testing.assert_array_equal(activations.step(u), [[0.0, 0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(activations.step_backward(g, u, activations.step(u)), np.zeros_like(u))
    np.testing.assert_array_equal(activations.relu_backward(g, u, activations.relu(u)), [[0.0, 0.0, 0.0, 1.0]])


# --------------------------------------------------------------------------------- losses

N, K = 7, 4


def loss_target(kind: str, rng) -> np.ndarray:
    if kind == "labels":
        return rng.integers(0, K, size=N)
    if kind == "onehot":
        return np.eye(K)[rng.integers(0, K, size=N)]
    if kind == "probabilities":
        p = rng.random((N, K)) + 0.05
        return p / p.sum(axis=1, keepdims=True)
    if kind == "binary":
        return (rng.random((N, K)) < 0.5).astype(np.float64)
    if kind == "soft":
        return rng.random((N, K))
    if kind == "real":
        return rng.standard_normal((N, K))
    raise ValueError(kind)


TARGET_KINDS = {
    "mse": ("real",),
    "half_sse": ("real",),
    "softmax_cross_entropy": ("labels", "onehot", "probabilities"),
    "sigmoid_binary_cross_entropy": ("binary", "soft"),
}
assert set(TARGET_KINDS) == set(losses.FORWARD)
LOSS_CASES = [(loss, kind, scale) for loss, kinds in TARGET_KINDS.items() for kind in kinds
              for scale in ((1.0, 30.0) if losses.takes_logits(loss) else (1.0,))]


@pytest.mark.parametrize("name, kind, scale", LOSS_CASES,
                         ids=[f"{n}-{k}-x{s:g}" for n, k, s in LOSS_CASES])
def test_loss_backward(name, kind, scale):
    forward, backward = losses.get(name)
    rng = np.random.default_rng([len(name), len(kind), int(scale)])
    z = scale * rng.standard_normal((N, K))
    d = loss_target(kind, rng)
    with strict():
        dz = backward(z, d)
        assert np.isfinite(forward(z, d))
    check_gradient(lambda v: forward(v, d), z, dz, name=f"{name}/{kind}")


def test_mse_value():
    rng = np.random.default_rng(0)
    y, d = rng.standard_normal((N, K)), rng.standard_normal((N, K))
    assert losses.mse(y, d) == np.mean((y - d) ** 2)
    np.testing.assert_allclose(losses.mse(y, d), np.sum((y - d) ** 2) / (N * K), rtol=1e-15)


def test_half_sse_value():
    rng = np.random.default_rng(1)
    y, d = rng.standard_normal((N, K)), rng.standard_normal((N, K))
    np.testing.assert_allclose(losses.half_sse(y, d), 0.5 * np.sum((y - d) ** 2) / N, rtol=1e-15)
    np.testing.assert_allclose(losses.half_sse(y, d), 0.5 * K * losses.mse(y, d), rtol=1e-14)


def test_cross_entropy_labels_equal_onehot():
    rng = np.random.default_rng(2)
    u, labels = 3.0 * rng.standard_normal((N, K)), rng.integers(0, K, size=N)
    onehot = np.eye(K)[labels]
    assert losses.softmax_cross_entropy(u, labels) == losses.softmax_cross_entropy(u, onehot)
    np.testing.assert_array_equal(losses.softmax_cross_entropy_backward(u, labels),
                                  losses.softmax_cross_entropy_backward(u, onehot))


def test_cross_entropy_value_matches_naive_formula():
    rng = np.random.default_rng(3)
    u, labels = 3.0 * rng.standard_normal((N, K)), rng.integers(0, K, size=N)
    naive = -np.mean(np.log(np.exp(u) / np.exp(u).sum(axis=1, keepdims=True))[np.arange(N), labels])
    np.testing.assert_allclose(losses.softmax_cross_entropy(u, labels), naive, rtol=1e-13)
    p = loss_target("probabilities", rng)
    naive_soft = -np.mean(np.sum(p * np.log(activations.softmax(u)), axis=1))
    np.testing.assert_allclose(losses.softmax_cross_entropy(u, p), naive_soft, rtol=1e-13)


def test_cross_entropy_is_stable_for_huge_logits():
    u = np.array([[1000.0, 0.0, -1000.0], [-1e4, 1e4, 0.0]])
    with strict():
        loss = losses.softmax_cross_entropy(u, np.array([1, 1]))
        grad = losses.softmax_cross_entropy_backward(u, np.array([1, 1]))
    np.testing.assert_allclose(loss, (1000.0 + 0.0) / 2, rtol=1e-15)
    np.testing.assert_allclose(grad, np.array([[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]]) / 2, atol=1e-300)


def test_binary_cross_entropy_value_matches_naive_formula():
    rng = np.random.default_rng(4)
    u, d = 3.0 * rng.standard_normal((N, K)), rng.random((N, K))
    s = 1.0 / (1.0 + np.exp(-u))
    naive = -np.mean(d * np.log(s) + (1.0 - d) * np.log(1.0 - s))
    np.testing.assert_allclose(losses.sigmoid_binary_cross_entropy(u, d), naive, rtol=1e-13)
    with strict():
        big = losses.sigmoid_binary_cross_entropy(np.array([[1000.0, -1000.0]]), np.array([[0.0, 0.0]]))
    np.testing.assert_allclose(big, 500.0, rtol=1e-15)


# --------------------------------------------------------------------------------- layers

def dense_inputs():
    rng = np.random.default_rng(5)
    x, W, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    return x, W, b, rng.standard_normal((5, 3))


@pytest.mark.parametrize("wrt", ["x", "W", "b"])
def test_dense_backward(wrt):
    x, W, b, g = dense_inputs()
    u, cache = layers.dense_forward(x, W, b)
    grads = dict(zip("xWb", layers.dense_backward(g, cache)))
    arrays = {"x": x, "W": W, "b": b}
    check_gradient(lambda _: np.sum(g * layers.dense_forward(x, W, b)[0]), arrays[wrt], grads[wrt], name=wrt)


@pytest.mark.parametrize("degree", [1, 2, 3, 4])
def test_polynomial_features_backward(degree):
    rng = np.random.default_rng(degree)
    x = 1.5 * rng.standard_normal((5, 3))
    g = rng.standard_normal((5, 3 * degree))
    phi, cache = layers.polynomial_features_forward(x, degree)
    assert phi.shape == (5, 3 * degree)
    np.testing.assert_array_equal(phi[:, (degree - 1) * 3:], x ** degree)   # power-major columns
    dx = layers.polynomial_features_backward(g, cache)
    check_gradient(lambda v: np.sum(g * layers.polynomial_features_forward(v, degree)[0]), x, dx)


# --------------------------------------------------------------------------------- models

MODEL_CASES = [(case, wrt) for case in CASES for wrt in ("x", *case.spec.param_shapes())]
MODEL_IDS = [f"{case.name}-{wrt}" for case, wrt in MODEL_CASES]


def numpy_case(case):
    x, target, upstream = case.batch_data("float64")
    return NumpyAdapter(case.spec, case.params("float64"), "float64"), x, target, upstream


def wrt_array(adapter, x, wrt):
    """The array the check perturbs in place: ``x`` or the adapter's own parameter."""
    return x if wrt == "x" else adapter.model.params[wrt]


@pytest.mark.parametrize("case, wrt", MODEL_CASES, ids=MODEL_IDS)
def test_model_loss_gradient(case, wrt):
    adapter, x, target, _ = numpy_case(case)
    res = adapter.loss_and_grads(x, target)
    analytic = res.grad_input if wrt == "x" else res.grads[wrt]
    check_gradient(lambda _: adapter.loss_and_grads(x, target).loss, wrt_array(adapter, x, wrt), analytic,
                   name=f"{case.name}: dL/d{wrt}")


@pytest.mark.parametrize("case, wrt", MODEL_CASES, ids=MODEL_IDS)
def test_model_vjp(case, wrt):
    adapter, x, _, upstream = numpy_case(case)
    res = adapter.vjp(x, upstream)
    assert res.loss is None
    analytic = res.grad_input if wrt == "x" else res.grads[wrt]
    check_gradient(lambda _: np.sum(upstream * adapter.forward(x)), wrt_array(adapter, x, wrt), analytic,
                   name=f"{case.name}: vjp d/d{wrt}")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_model_gradients_cover_every_parameter(case):
    adapter, x, target, upstream = numpy_case(case)
    names = list(case.spec.param_shapes())
    for res in (adapter.loss_and_grads(x, target), adapter.vjp(x, upstream)):
        assert list(res.grads) == names
        assert res.grad_input.shape == x.shape
        assert all(res.grads[n].shape == case.spec.param_shapes()[n] for n in names)
        assert all(np.any(res.grads[n] != 0) for n in names)   # nothing checked vacuously


# ----------------------------------------------------------------------- negative controls

def test_check_fails_for_sigmoid_backward_missing_factor():
    u = activation_input("sigmoid", "unit")
    g = np.random.default_rng(7).standard_normal(u.shape)
    z = activations.sigmoid(u)
    with pytest.raises(AssertionError, match="disagrees with central differences"):
        check_gradient(lambda v: np.sum(g * activations.sigmoid(v)), u, g * z, name="sigmoid")


def test_check_fails_for_transposed_dense_weight_gradient():
    rng = np.random.default_rng(11)
    x, W, b, g = rng.standard_normal((5, 4)), rng.standard_normal((4, 4)), rng.standard_normal(4), \
        rng.standard_normal((5, 4))
    _, dW, _ = layers.dense_backward(g, (x, W))
    check_gradient(lambda _: np.sum(g * layers.dense_forward(x, W, b)[0]), W, dW)   # the right one passes
    with pytest.raises(AssertionError, match="disagrees with central differences"):
        check_gradient(lambda _: np.sum(g * layers.dense_forward(x, W, b)[0]), W, dW.T, name="W")


def test_check_fails_for_softmax_backward_without_jacobian_coupling():
    u = activation_input("softmax", "unit")
    g = np.random.default_rng(7).standard_normal(u.shape)
    z = activations.softmax(u)
    with pytest.raises(AssertionError, match="disagrees"):
        check_gradient(lambda v: np.sum(g * activations.softmax(v)), u, g * z * (1 - z), name="softmax")


def test_check_fails_for_mse_backward_missing_factor_two():
    rng = np.random.default_rng(12)
    y, d = rng.standard_normal((N, K)), rng.standard_normal((N, K))
    with pytest.raises(AssertionError, match="disagrees"):
        check_gradient(lambda v: losses.mse(v, d), y, (y - d) / y.size, name="mse")


def test_check_fails_for_tiny_relative_error():
    """rtol 1e-7 is tight: an analytic gradient off by a relative 1e-5 is caught."""
    x, W, b, g = dense_inputs()
    _, dW, _ = layers.dense_backward(g, (x, W))
    with pytest.raises(AssertionError, match="disagrees"):
        check_gradient(lambda _: np.sum(g * layers.dense_forward(x, W, b)[0]), W, dW * (1 + 1e-5))


def test_check_fails_for_wrong_shape_and_refuses_float32():
    x, W, b, g = dense_inputs()
    _, dW, _ = layers.dense_backward(g, (x, W))
    with pytest.raises(AssertionError, match="shape"):
        check_gradient(lambda _: 0.0, W, dW.T)
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda v: float(np.sum(v)), W.astype(np.float32))


def test_model_check_fails_for_a_wrong_parameter_gradient():
    """Model-level control: a bias gradient off by a factor 2 fails the check."""
    case = next(c for c in CASES if c.name == "mlp_tanh_mse")
    adapter, x, target, _ = numpy_case(case)
    res = adapter.loss_and_grads(x, target)
    wrong = res.grads["b1"] * 2.0
    with pytest.raises(AssertionError, match="disagrees"):
        check_gradient(lambda _: adapter.loss_and_grads(x, target).loss, adapter.model.params["b1"], wrong)


def test_numerical_gradient_handles_non_contiguous_input():
    x = np.arange(1.0, 7.0).reshape(2, 3).T                  # a transposed view, F-ordered
    assert not x.flags.c_contiguous
    np.testing.assert_allclose(numerical_gradient(lambda v: float(np.sum(v ** 2)), x), 2 * x, rtol=1e-8)
