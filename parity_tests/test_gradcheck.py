"""Every hand-written NumPy backward pass agrees with central differences in float64.

What this file proves, all through ``reference_numpy.gradcheck.check_gradient`` at its
default ``rtol = 1e-7`` and its noise allowance of 10 eps |f| / h (both justified in its
docstring; never loosened here). The check passes only where it could have failed: a
gradient below the central differences' resolution is refused, not passed.

* every activation in ``activations.FORWARD``: the VJP ``backward(g, u, forward(u))``
  is the gradient of ``sum(g * forward(u))`` for a random upstream ``g`` -- also for
  large-magnitude inputs, where the overflow-safe sigmoid and softmax stay finite
  (softmax rows sum to 1, sigmoid(+-1000) is exactly 1 / 0, no floating-point error);
* every loss in ``losses.FORWARD`` with every target kind it accepts (integer labels,
  one-hot rows and soft probability rows for the softmax cross-entropy; 0/1 and soft
  targets for the binary cross-entropy), and the loss *values* are pinned to their
  textbook formulas;
* the dense and polynomial-feature layers, for the input and every parameter;
* conv2d (input, filters, bias) over stride 1 and 2, valid / Keras-"same" / explicit
  symmetric and asymmetric pads, odd and even, square and non-square kernels, 1 and several
  channels; max and average pooling, overlapping windows included (max-pool inputs are
  distinct, so no tie sits under a finite difference); conv2d's forward equals the direct
  window sum; col2im is im2col's adjoint; and the max-pool tie rule (the whole gradient to
  the first maximum in row-major window order) written out by hand;
* every model case in ``cases.CASES`` (MLPs, regressions, CNNs, and the recurrent nets'
  backpropagation through time, T = 1 .. 50; seq2seq's are in ``test_seq2seq_numpy.py``):
  the gradient of the loss and the VJP of the output, with respect to the input, every
  parameter and every given initial state, exactly as the NumPy adapter reports them to the
  parity tests (an initial-state gradient that has vanished over 50 steps below the
  resolution is checked over the case's first 5 steps); the input and initial-state checks
  evaluate all their central-difference points in one forward pass over copies of the batch
  (``stacked_central_differences``: the same points and quotients);
* a zeroed initial-state gradient is rejected where the old rule (abs err <= 1e-10)
  accepted it: the ``*_last_bi_h0_T50_N1_H4`` cases, gradients 1e-43 .. 1e-14;
* negative controls: deliberately wrong backward passes (a missing factor, a
  transposed weight, a dropped term, a 1e-5 relative error) make the check fail, so
  a pass above is evidence, not an accident.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest

from reference_numpy import activations, conv, layers, losses
from reference_numpy.adapter import NumpyAdapter
from reference_numpy.cases import CASES
from reference_numpy.gradcheck import (
    GradientUnresolvable,
    central_differences,
    check_gradient,
    numerical_gradient,
    relative_error,
    stacked_central_differences,
)
from reference_numpy.specs import Conv2D

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
    # the step function is flat away from 0: its gradient is zero by construction
    check_gradient(lambda v: np.sum(g * forward(v)), u, du, name=f"{name}(u)", zero=name == "step")


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


# ---------------------------------------------------------------- convolution and pooling

def conv_same_pads(kernel, stride, hw):
    """Keras's "same" pads for this kernel / stride / input size (more after: bottom / right)."""
    return Conv2D(1, kernel, stride=stride, padding="same").pads(*hw)


# name -> (x shape (N, C, H, W), W shape (F, C, KH, KW), stride (SH, SW), pads ((pt, pb), (pl, pr)))
CONV_CASES = {
    "valid_k3_stride1_C1": ((2, 1, 5, 6), (3, 1, 3, 3), (1, 1), ((0, 0), (0, 0))),
    "valid_k3x2_stride2_C3": ((2, 3, 7, 8), (4, 3, 3, 2), (2, 2), ((0, 0), (0, 0))),
    "same_k3_stride2_asymmetric": ((2, 2, 8, 6), (3, 2, 3, 3), (2, 2), conv_same_pads(3, 2, (8, 6))),
    "same_k4x2_stride1_even": ((1, 2, 5, 7), (2, 2, 4, 2), (1, 1), conv_same_pads((4, 2), 1, (5, 7))),
    "explicit_symmetric_k3_stride2": ((2, 2, 7, 5), (3, 2, 3, 3), (2, 2), ((1, 1), (1, 1))),
    "explicit_asymmetric_k3x2_stride2x1": ((2, 3, 8, 9), (2, 3, 3, 2), (2, 1), ((1, 0), (0, 1))),
}
assert CONV_CASES["same_k3_stride2_asymmetric"][3] == ((0, 1), (0, 1))      # the odd pixel after
assert CONV_CASES["same_k4x2_stride1_even"][3] == ((1, 2), (0, 1))


def conv_inputs(name):
    x_shape, w_shape, stride, pads = CONV_CASES[name]
    rng = np.random.default_rng(list(CONV_CASES).index(name))
    x, W, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    u, cache = conv.conv2d_forward(x, W, b, stride, pads)
    return x, W, b, stride, pads, u, cache, rng.standard_normal(u.shape)


def windows(x, kh, kw, stride, pads):
    """``(N, C, OH, OW, KH, KW)``: the window under each output pixel, cut out one by one
    (a loop over output pixels: independent of im2col's vectorization)."""
    (sh, sw), ((pt, pb), (pl, pr)) = stride, pads
    x_p = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh, ow = (x_p.shape[2] - kh) // sh + 1, (x_p.shape[3] - kw) // sw + 1
    return np.array([[x_p[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] for j in range(ow)]
                     for i in range(oh)]).transpose(2, 3, 0, 1, 4, 5)


@pytest.mark.parametrize("wrt", ["x", "W", "b"])
@pytest.mark.parametrize("name", CONV_CASES)
def test_conv2d_backward(name, wrt):
    x, W, b, stride, pads, _, cache, g = conv_inputs(name)
    grads = dict(zip("xWb", conv.conv2d_backward(g, cache)))
    arrays = {"x": x, "W": W, "b": b}
    check_gradient(lambda _: np.sum(g * conv.conv2d_forward(x, W, b, stride, pads)[0]), arrays[wrt],
                   grads[wrt], name=f"conv2d {name}: d/d{wrt}")


@pytest.mark.parametrize("name", CONV_CASES)
def test_conv2d_forward_is_the_direct_sum(name):
    """u[n, f, i, j] = sum_{c, p, q} x_p[n, c, i*SH + p, j*SW + q] * W[f, c, p, q] + b[f]."""
    x, W, b, stride, pads, u, _, _ = conv_inputs(name)
    expected = np.einsum("ncijpq,fcpq->nfij", windows(x, *W.shape[2:], stride, pads), W) + b[:, None, None]
    assert u.shape == expected.shape
    assert relative_error(u, expected)[1] < 1e-14


@pytest.mark.parametrize("name", CONV_CASES)
def test_im2col_and_col2im_are_adjoint(name):
    """<col2im(g), x> == <g, im2col(x)>: col2im is im2col's transpose (overlaps added, pads cut)."""
    x_shape, (_, _, kh, kw), stride, pads = CONV_CASES[name]
    rng = np.random.default_rng(10 + list(CONV_CASES).index(name))
    x = rng.standard_normal(x_shape)
    col = conv.im2col(x, kh, kw, stride, pads)
    g = rng.standard_normal(col.shape)
    lhs, rhs = np.sum(conv.col2im(g, x_shape, kh, kw, stride, pads) * x), np.sum(g * col)
    assert abs(lhs - rhs) <= 1e-12 * abs(rhs)


def test_col2im_that_overwrites_overlaps_is_not_the_adjoint():
    """Negative control for the test above: with overlapping windows (stride 1 < kernel 3),
    a col2im that assigns instead of adding fails it."""
    x_shape, kh, kw, stride, pads = (2, 2, 5, 6), 3, 3, (1, 1), ((0, 0), (0, 0))
    rng = np.random.default_rng(20)
    x = rng.standard_normal(x_shape)
    col = conv.im2col(x, kh, kw, stride, pads)
    g = rng.standard_normal(col.shape)
    n, c, h, w = x_shape
    oh, ow = h - kh + 1, w - kw + 1
    g6 = g.reshape(n, oh, ow, c, kh, kw).transpose(0, 3, 4, 5, 1, 2)
    overwritten = np.zeros(x_shape)
    for p in range(kh):
        for q in range(kw):
            overwritten[:, :, p:p + oh, q:q + ow] = g6[:, :, p, q]          # "=" where "+=" belongs
    rhs = np.sum(g * col)
    assert abs(np.sum(conv.col2im(g, x_shape, kh, kw, stride, pads) * x) - rhs) <= 1e-12 * abs(rhs)
    assert abs(np.sum(overwritten * x) - rhs) > 1e-2 * abs(rhs)


# (kind, size (KH, KW), stride (SH, SW)) on x (2, 3, 6, 8); every setting tiles 6 x 8
POOL_CASES = [("max", (2, 2), (2, 2)), ("max", (3, 2), (1, 2)), ("avg", (2, 2), (2, 2)), ("avg", (3, 3), (1, 1))]
POOL_IDS = ["max_2x2_stride2", "max_3x2_stride1x2_overlapping", "avg_2x2_stride2", "avg_3x3_stride1_overlapping"]


@pytest.mark.parametrize("kind, size, stride", POOL_CASES, ids=POOL_IDS)
def test_pool2d_backward(kind, size, stride):
    rng = np.random.default_rng(len(kind) + size[0] + stride[1])
    x = 0.01 * rng.permutation(2 * 3 * 6 * 8).reshape(2, 3, 6, 8) - 1.5   # distinct, gaps 0.01: no ties
    z, cache = conv.pool2d_forward(x, kind, size, stride)
    reduce = np.max if kind == "max" else np.mean
    np.testing.assert_allclose(z, reduce(windows(x, *size, stride, ((0, 0), (0, 0))), axis=(-2, -1)),
                               rtol=1e-15, atol=0)
    g = rng.standard_normal(z.shape)
    dx = conv.pool2d_backward(g, cache)
    check_gradient(lambda v: np.sum(g * conv.pool2d_forward(v, kind, size, stride)[0]), x, dx,
                   name=f"{kind} pool d/dx")


def test_max_pool_tie_routes_the_gradient_to_the_first_maximum():
    """Ties: the whole window gradient goes to the first maximum in row-major window order,
    written out by hand; "last maximum" would route it elsewhere. Then overlapping windows
    (2 x 2, stride 1) where one tied pixel is the first maximum of one window and not of the next."""
    x = np.array([[[[1.0, 1.0, 0.0, 0.0],
                    [1.0, 0.0, 2.0, 2.0]]]])                              # (1, 1, 2, 4)
    z, cache = conv.pool2d_forward(x, "max", (2, 2), (2, 2))
    np.testing.assert_array_equal(z, [[[[1.0, 2.0]]]])
    dx = conv.pool2d_backward(np.array([[[[3.0, 5.0]]]]), cache)
    first = np.array([[[[3.0, 0.0, 0.0, 0.0],
                        [0.0, 0.0, 5.0, 0.0]]]])                          # (0, 0) and (1, 2)
    last = np.array([[[[0.0, 0.0, 0.0, 0.0],
                       [3.0, 0.0, 0.0, 5.0]]]])                           # (1, 0) and (1, 3)
    np.testing.assert_array_equal(dx, first)
    assert not np.array_equal(dx, last)

    x = np.array([[[[2.0, 2.0, 2.0],
                    [0.0, 0.0, 0.0]]]])                                   # (1, 1, 2, 3)
    _, cache = conv.pool2d_forward(x, "max", (2, 2), (1, 1))
    dx = conv.pool2d_backward(np.array([[[[3.0, 5.0]]]]), cache)
    np.testing.assert_array_equal(dx, [[[[3.0, 5.0, 0.0], [0.0, 0.0, 0.0]]]])   # not [[0, 3, 5], ...]


def test_flatten_is_chw_order():
    z = np.arange(2 * 3 * 2 * 4, dtype=np.float64).reshape(2, 3, 2, 4)
    flat, cache = conv.flatten_forward(z)
    np.testing.assert_array_equal(flat[1], [z[1, c, h, w] for c in range(3) for h in range(2) for w in range(4)])
    np.testing.assert_array_equal(conv.flatten_backward(flat, cache), z)


# --------------------------------------------------------------------------------- models

def wrt_names(case) -> tuple[str, ...]:
    """What the checks differentiate with respect to: the input, every parameter and, for a
    recurrent case with a given initial state, every state (``state:h``, ``state:c``, ...)."""
    states = tuple(f"state:{n}" for n in case.spec.state_shapes()) if case.given_state else ()
    return ("x", *case.spec.param_shapes(), *states)


#: Every case but seq2seq, whose token inputs have no gradient and whose teacher-forced target
#: is part of the input: its gradients are checked in test_seq2seq_numpy.py.
GRADCHECK_CASES = [case for case in CASES if case.family != "seq2seq"]
MODEL_CASES = [(case, wrt) for case in GRADCHECK_CASES for wrt in wrt_names(case)]
MODEL_IDS = [f"{case.name}-{wrt}" for case, wrt in MODEL_CASES]


def numpy_case(case, steps: int | None = None):
    """``(adapter, x, target, upstream, initial_state)`` for a case, in float64; with ``steps``,
    a recurrent case's first ``steps`` time steps only (same parameters, same initial state)."""
    x, target, upstream = case.batch_data("float64")
    if case.inputs == "digits":
        # The digit images have all-zero patches, where a conv outputs exactly its bias, so
        # max-pool windows hold exact ties and the loss is not differentiable in x there (a
        # central difference straddles the kink). The check runs at a nearby generic point;
        # the tie rule itself is pinned by the pooling tests above and test_cnn_conventions.py.
        x = x + 1e-3 * np.random.default_rng(case.seed).standard_normal(x.shape)
    if steps is not None:
        x = x[:, :steps].copy()
        if case.spec.return_sequences:                         # (N, T, K) targets and upstreams
            target, upstream = target[:, :steps].copy(), upstream[:, :steps].copy()
    return (NumpyAdapter(case.spec, case.params("float64"), "float64"), x, target, upstream,
            case.initial_state("float64"))


def wrt_array(adapter, x, state, wrt):
    """The array the check perturbs in place: ``x``, an initial state or the adapter's own parameter."""
    if wrt == "x":
        return x
    if wrt.startswith("state:"):
        return state[wrt.removeprefix("state:")]
    return adapter.model.params[wrt]


def analytic_gradient(res, wrt):
    if wrt == "x":
        return res.grad_input
    if wrt.startswith("state:"):
        return res.grad_state[wrt.removeprefix("state:")]
    return res.grads[wrt]


def structurally_zero(case) -> set[str]:
    """Parameters whose gradient is exactly 0 by the model's math: with one time step and a
    zero initial state, ``h_0 @ Wh = 0``, so ``Wh`` never reaches the output."""
    if case.spec.state_shapes() and case.seq_len == 1 and not case.given_state:
        return {f"Wh{d}" for d in case.spec.directions}
    return set()


#: Steps over which an initial-state gradient is checked when it has vanished below the
#: central differences' noise floor over the case's own T steps (see check_model_gradient).
#: Measured: over the first 5 steps the smallest of them is 3.9e-5 (after 50 steps: 1e-43 ..
#: 1e-14), 3e5 x the check's noise allowance.
STATE_CHECK_STEPS = 5


def check_at(case, wrt: str, kind: str, steps: int | None = None) -> float:
    """``check_gradient`` of one case's loss gradient (``kind="loss"``) or output VJP (``"vjp"``)
    with respect to ``wrt``, exactly as the NumPy adapter reports it to the parity tests."""
    adapter, x, target, upstream, state = numpy_case(case, steps)
    where = f"{case.name}{'' if steps is None else f' (first {steps} steps)'}"
    if kind == "loss":
        res = adapter.loss_and_grads(x, target, state)
        # the loss the adapter reports is the model's objective; central differences need only its value
        f, name = (lambda _: float(adapter.model.objective(x, target, state)[0])), f"{where}: dL/d{wrt}"
    else:
        res = adapter.vjp(x, upstream, state)
        assert res.loss is None
        f, name = (lambda _: np.sum(upstream * adapter.forward(x, state))), f"{where}: vjp d/d{wrt}"
    return check_gradient(f, wrt_array(adapter, x, state, wrt), analytic_gradient(res, wrt), name=name,
                          zero=wrt in structurally_zero(case), f_stacked=stacked(adapter, case, wrt, kind, x,
                                                                                  target, upstream, state))


def stacked(adapter, case, wrt: str, kind: str, x, target, upstream, state):
    """For a model's input or a recurrent net's initial state, f of all the central differences' points in
    one forward pass (``stacked_central_differences``): the K points are K copies of the batch, stacked on
    the batch axis; each copy's loss (or ``sum(upstream * output)``) is computed on its own rows, with the
    loss function the model's objective uses (a penalty on the parameters, constant in x, cancels in the
    differences). In inference mode -- the adapter here is fresh -- no model's batch rows interact (batch
    norm reads its running statistics, dropout is off), so each value is f of that point. (Parameters:
    one evaluation per point, ``central_differences``.)"""
    if not (wrt == "x" or wrt.startswith("state:")) or adapter.training:
        return None
    model, n = adapter.model, x.shape[0]

    def f_stacked(points):                                           # (K, *perturbed.shape)
        k = points.shape[0]
        tiled = {"x": np.concatenate([x] * k)}
        tiled |= {f"state:{s}": np.concatenate([v] * k) for s, v in (state or {}).items()}
        tiled[wrt] = points.reshape(k * n, *points.shape[2:])       # the perturbed array, copy by copy
        y, cache = model.forward(tiled["x"], {s: tiled[f"state:{s}"] for s in state} if state else None)
        if kind == "vjp":
            return [np.sum(upstream * y[i * n:(i + 1) * n]) for i in range(k)]
        inputs = model._loss_input(cache)
        return [model.loss_fn(inputs[i * n:(i + 1) * n], target) for i in range(k)]

    return f_stacked


def check_model_gradient(case, wrt: str, kind: str) -> float:
    """The model check, at the case's own point. An initial state's gradient can vanish over
    the case's T steps below what central differences resolve (the ``*_last_bi_h0_T50_N1_H4``
    cases: 1e-43 .. 1e-14 at a loss of O(1)); ``check_gradient`` then refuses to pass
    (``GradientUnresolvable``: a zero gradient would pass too), and the same BPTT code is
    checked over the first STATE_CHECK_STEPS steps, where the gradient is resolvable. The
    gradient at T = 50 itself is compared with torch and Keras by the parity tests."""
    try:
        return check_at(case, wrt, kind)
    except GradientUnresolvable:
        if not wrt.startswith("state:"):
            raise
    return check_at(case, wrt, kind, steps=STATE_CHECK_STEPS)


@pytest.mark.parametrize("case, wrt", MODEL_CASES, ids=MODEL_IDS)
def test_model_loss_gradient(case, wrt):
    check_model_gradient(case, wrt, "loss")


@pytest.mark.parametrize("case, wrt", MODEL_CASES, ids=MODEL_IDS)
def test_model_vjp(case, wrt):
    check_model_gradient(case, wrt, "vjp")


def test_stacked_differences_are_the_same_points_and_quotients():
    """``stacked_central_differences`` evaluates f at exactly the points ``central_differences`` nudges x to
    and forms the same quotients: for an f of one point at a time, bit for bit (the model checks above
    then differ only by the rounding of a bigger batch's products. Measured for the recurrent nets: at most
    0.51 of the noise allowance, and their worst error beyond ``rtol`` 1.7 units of eps |f| / h, as the
    loop's. For the feed-forward inputs: at most 1.2 noise allowances apart (a strided CNN's VJP, whose
    ``rtol`` bound is 10x its error either way); every check's error at most 0.11 of its bound, as the
    loop's)."""
    x = np.random.default_rng(5).standard_normal((3, 4))
    weights = np.arange(1.0, 13.0).reshape(3, 4)

    def f(point):
        return float(np.sum(np.sin(point) * weights))

    stacked, stacked_scale = stacked_central_differences(lambda points: [f(p) for p in points], x)
    looped, looped_scale = central_differences(f, x.copy())
    assert np.array_equal(stacked, looped) and stacked_scale == looped_scale
    np.testing.assert_allclose(stacked, np.cos(x) * weights, rtol=1e-9)


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=[c.name for c in GRADCHECK_CASES])
def test_model_gradients_cover_every_parameter(case):
    adapter, x, target, upstream, state = numpy_case(case)
    names = list(case.spec.param_shapes())
    zero = structurally_zero(case)
    for res in (adapter.loss_and_grads(x, target, state), adapter.vjp(x, upstream, state)):
        assert list(res.grads) == names
        assert res.grad_input.shape == x.shape
        assert all(res.grads[n].shape == case.spec.param_shapes()[n] for n in names)
        assert all(np.any(res.grads[n] != 0) for n in names if n not in zero)   # nothing checked vacuously
        assert all(np.all(res.grads[n] == 0) for n in zero)
        assert list(res.grad_state) == (list(case.spec.state_shapes()) if case.given_state else [])
        assert all(np.any(g != 0) for g in res.grad_state.values())


# ------------------------------------------------------------ gradients below the noise floor

VANISHING = [c for c in CASES if c.name.endswith("_last_bi_h0_T50_N1_H4")]
VANISHING_STATES = [(case, f"state:{s}", kind) for case in VANISHING for s in case.spec.state_shapes()
                    for kind in ("loss", "vjp")]
VANISHING_IDS = [f"{case.name}-{wrt}-{kind}" for case, wrt, kind in VANISHING_STATES]


def zeroed_state_gradient(monkeypatch, wrt: str) -> None:
    """The NumPy adapter reports an all-zero gradient for the initial state ``wrt``."""
    state = wrt.removeprefix("state:")
    for method in ("_loss_and_grads", "_vjp"):
        original = getattr(NumpyAdapter, method)

        def zeroed(self, *args, _original=original):
            res = _original(self, *args)
            if state in res.grad_state:
                res.grad_state[state] = np.zeros_like(res.grad_state[state])
            return res
        monkeypatch.setattr(NumpyAdapter, method, zeroed)


@pytest.mark.parametrize("case, wrt, kind", VANISHING_STATES, ids=VANISHING_IDS)
def test_zeroed_initial_state_gradient_is_rejected(case, wrt, kind, monkeypatch):
    """The blind spot this check had: the 14 initial-state gradients of the
    ``*_last_bi_h0_T50_N1_H4`` cases are 1e-43 .. 2e-4 (1e-43 .. 1e-14 for ten of them), and the
    old rule (abs err <= 1e-10) accepted an all-zero analytic gradient for those ten. Now a
    zeroed gradient is rejected by the very check the model tests run, at the case's own
    point: "disagrees" where the gradient is resolvable there, "below the finite-difference
    resolution" at T = 50 and then "disagrees" over the first steps where it is not."""
    check_model_gradient(case, wrt, kind)                              # the real gradient passes
    zeroed_state_gradient(monkeypatch, wrt)
    with pytest.raises(AssertionError, match="disagrees"):
        check_model_gradient(case, wrt, kind)


def test_the_vanished_gradients_are_refused_at_T50_not_passed():
    """At T = 50 the check refuses (rather than passes) the ten vanished initial-state
    gradients -- the real ones and zeroed ones alike -- so check_model_gradient must fall back to
    fewer steps for them; the GRUs' are resolvable at T = 50 and are checked there."""
    refused = set()
    for case, wrt, kind in VANISHING_STATES:
        try:
            check_at(case, wrt, kind)
        except GradientUnresolvable:
            refused.add((case.name.split("_last")[0], wrt.removeprefix("state:"), kind))
    cells = ("rnn_tanh", "rnn_relu", "rnn_sigmoid")
    expected = {(c, s, k) for c in cells for s in ("h", "h_reverse") for k in ("loss", "vjp")}
    expected |= {("lstm", s, k) for s in ("h", "c", "h_reverse", "c_reverse") for k in ("loss", "vjp")}
    # gru h (vjp): 1.8e-10 against a noise allowance of 2.8e-10 -- unresolvable as well
    expected |= {("gru", "h", "vjp")}
    assert refused == expected


def test_scale_aware_rule_on_a_function_with_tiny_gradient():
    """f = 1 + 1e-20 * sum(v): the gradient 1e-20 is invisible to central differences (both
    evaluations round to 1.0). The correct and the zero analytic gradient are both refused;
    with the constant removed (f = 1e-20 * sum(v), |f| tiny) the same gradient is resolvable,
    the correct one passes and the zero one fails."""
    v = np.random.default_rng(0).standard_normal((3, 2))
    grad = np.full(v.shape, 1e-20)
    for analytic in (grad, np.zeros_like(grad)):
        with pytest.raises(GradientUnresolvable, match="below the finite-difference resolution"):
            check_gradient(lambda u: 1.0 + 1e-20 * np.sum(u), v, analytic)
    assert check_gradient(lambda u: 1e-20 * np.sum(u), v, grad) < 1e-7
    with pytest.raises(AssertionError, match="disagrees"):
        check_gradient(lambda u: 1e-20 * np.sum(u), v, np.zeros_like(grad))


def test_zero_by_construction_must_be_exactly_zero():
    v = np.random.default_rng(1).standard_normal(4)
    check_gradient(lambda u: 2.0, v, np.zeros(4), zero=True)
    with pytest.raises(AssertionError, match="should be exactly 0"):
        check_gradient(lambda u: 2.0, v, np.full(4, 1e-30), zero=True)
    with pytest.raises(AssertionError, match="should be exactly 0"):
        check_gradient(lambda u: 2.0 + np.sum(u), v, np.zeros(4), zero=True)


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
    adapter, x, target, _, _ = numpy_case(case)
    res = adapter.loss_and_grads(x, target)
    wrong = res.grads["b1"] * 2.0
    with pytest.raises(AssertionError, match="disagrees"):
        check_gradient(lambda _: adapter.loss_and_grads(x, target).loss, adapter.model.params["b1"], wrong)


def test_numerical_gradient_handles_non_contiguous_input():
    x = np.arange(1.0, 7.0).reshape(2, 3).T                  # a transposed view, F-ordered
    assert not x.flags.c_contiguous
    np.testing.assert_allclose(numerical_gradient(lambda v: float(np.sum(v ** 2)), x), 2 * x, rtol=1e-8)


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=[c.name for c in GRADCHECK_CASES])
def test_training_backward_skips_only_the_input_gradient(case):
    """``objective_backward(..., input_grad=False)`` (what ``NumpyAdapter.train_step`` calls) returns
    no dL/dx and bit-for-bit the parameter and initial-state gradients of the full backward pass,
    from the same forward cache."""
    adapter, x, target, _, state = numpy_case(case)
    model = adapter.model
    _, cache = model.objective(x, target, state)
    dx, grads, dstate = model.objective_backward(target, cache)
    none, train_grads, train_dstate = model.objective_backward(target, cache, input_grad=False)
    assert dx.shape == x.shape and none is None
    assert list(train_grads) == list(grads) and list(train_dstate) == list(dstate)
    for name in grads:
        np.testing.assert_array_equal(train_grads[name], grads[name], err_msg=name)
    for name in dstate:
        np.testing.assert_array_equal(train_dstate[name], dstate[name], err_msg=name)
