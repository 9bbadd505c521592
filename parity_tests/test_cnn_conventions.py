"""Pins the CNN conventions that ``impl_torch/cnn.py``, ``impl_tf/cnn.py`` and the two
``weights.py`` files handle (README.md, table "Conventions that differ, and where they are
handled": image layout, Flatten before Dense, ``padding="same"``, max-pool ties).

* Padding: torch's ``padding="same"`` refuses stride > 1; a symmetric ``k//2`` pad at stride 2
  computes different windows than Keras's "same" (which puts the odd extra pixel after:
  bottom / right); the explicit pads ``Conv2D.pads`` (an ``F.pad`` before a padding-0 conv)
  agree with Keras.
* Filters: the Keras kernel is the canonical OIHW filter transposed (2, 3, 1, 0) = HWIO; the
  other plausible transposes (I and O swapped, H and W swapped) compute something else.
* Where each canonical array lives in either model, for every CNN case (the mapping tables
  in the two weights.py files), with equal parameter counts.
* Flatten: Keras flattens NHWC in (H, W, C) order, the canonical model NCHW in (C, H, W)
  order; without the first Dense layer's row permutation, parameters still round-trip
  exactly but Keras computes a different function than torch.
* MaxPool ties: torch and Keras both send a window's gradient to the FIRST maximum of the
  window in row-major order (checked against that rule computed here, for non-overlapping and
  overlapping windows).

Tolerances: in float64 torch and Keras agree to ~1e-15 on every CNN (measured worst 2.7e-15
over valid / same / explicit / asymmetric pads, strides 1 and 2, max and avg pooling), so
"agrees" is 1e-12; every convention bug pinned here shows up as a relative error of order 1
(measured 0.17 .. 1.8; values in each test), so "differs" is 1e-2. The tie-routing checks are exact: a
routed gradient is a sum of upstream entries, the same additions in the same order.
"""

import impl_tf  # noqa: F401  (sets KERAS_BACKEND=tensorflow before keras is imported)

# isort: split
import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
import torch.nn.functional as F

from impl_tf import weights as tf_weights
from reference_numpy.cases import CNN_CASES
from reference_numpy.gradcheck import relative_error
from reference_numpy.initializers import init_params
from reference_numpy.specs import CNNSpec, Conv2D, Pool2D
from reports.harness import make_adapter, quantities

AGREE = 1e-12          # measured torch vs Keras worst case on the CNNs: 2.7e-15
DIFFERS = 1e-2         # what each convention bug below gives (measured 0.17 .. 1.8)
NCHW_TO_NHWC, NHWC_TO_NCHW = (0, 2, 3, 1), (0, 3, 1, 2)


def keras_conv(x_nchw, kernel_hwio, bias, stride, padding):
    """A Keras Conv2D (float64, channels_last) on an NCHW batch; the result back in NCHW."""
    kh, kw, _, f = kernel_hwio.shape
    layer = keras.layers.Conv2D(f, (kh, kw), strides=stride, padding=padding, dtype="float64")
    layer.build(x_nchw.transpose(NCHW_TO_NHWC).shape)
    layer.kernel.assign(kernel_hwio)
    layer.bias.assign(bias)
    return layer(x_nchw.transpose(NCHW_TO_NHWC)).numpy().transpose(NHWC_TO_NCHW)


def torch_conv(x, W, b, stride, padding=0, pad=None):
    """``F.conv2d`` on NCHW with OIHW filters, after an optional ``F.pad`` ``(left, right, top, bottom)``."""
    x = torch.tensor(x)
    if pad is not None:
        x = F.pad(x, pad)
    return F.conv2d(x, torch.tensor(W), torch.tensor(b), stride=stride, padding=padding).numpy()


# -- padding ----------------------------------------------------------------------------

def test_torch_same_padding_refuses_stride_2():
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        torch.nn.Conv2d(2, 3, 3, stride=2, padding="same")


@pytest.mark.parametrize("hw, kernel", [((8, 10), 3), ((9, 8), (5, 3))])
def test_keras_same_at_stride_2_is_an_asymmetric_pad_not_k_div_2(hw, kernel):
    """On an even size, Keras's "same" at stride 2 pads (0, 1) for k = 3 (the extra pixel
    after); torch's symmetric k//2 pad gives the same output shape but windows shifted by
    one pixel (measured rel. error 0.92 and 1.17); ``Conv2D.pads`` + ``F.pad`` agree to 3e-16."""
    rng = np.random.default_rng(0)
    spec_layer = Conv2D(4, kernel, stride=2, padding="same")
    (kh, kw) = spec_layer.kernel_size
    x = rng.standard_normal((2, 3, *hw))
    W, b = rng.standard_normal((4, 3, kh, kw)), rng.standard_normal(4)
    keras_same = keras_conv(x, W.transpose(2, 3, 1, 0), b, 2, "same")

    symmetric = torch_conv(x, W, b, 2, padding=(kh // 2, kw // 2))
    assert symmetric.shape == keras_same.shape                  # the shapes do not give it away
    assert relative_error(symmetric, keras_same)[1] > DIFFERS

    (pt, pb), (pl, pr) = spec_layer.pads(*hw)
    assert (pt, pb) != (pb, pt) or (pl, pr) != (pr, pl)           # an asymmetric pad on some axis
    explicit = torch_conv(x, W, b, 2, pad=(pl, pr, pt, pb))
    assert relative_error(explicit, keras_same)[1] < AGREE


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
def test_torch_same_matches_keras_same_at_stride_1_even_kernel():
    """At stride 1 torch's "same" is Keras's, including the even kernel's extra pixel after."""
    rng = np.random.default_rng(1)
    x, W, b = rng.standard_normal((2, 2, 7, 6)), rng.standard_normal((3, 2, 4, 2)), rng.standard_normal(3)
    torch_same = torch_conv(x, W, b, 1, padding="same")
    assert relative_error(torch_same, keras_conv(x, W.transpose(2, 3, 1, 0), b, 1, "same"))[1] < AGREE


# -- filters ----------------------------------------------------------------------------

def test_keras_kernel_is_the_canonical_filter_transposed_2_3_1_0():
    """Behaviour: a Keras conv with kernel ``W.transpose(2, 3, 1, 0)`` on NHWC equals torch's
    conv with the OIHW ``W`` on NCHW; the plausible wrong transposes (C = F and a square kernel,
    so they fit) do not (measured 1.02 and 1.00). That the Keras model holds exactly this
    kernel is ``test_where_each_canonical_cnn_array_lives``."""
    rng = np.random.default_rng(2)
    x, W, b = rng.standard_normal((2, 3, 6, 7)), rng.standard_normal((3, 3, 3, 3)), rng.standard_normal(3)
    expected = torch_conv(x, W, b, 1)
    assert relative_error(keras_conv(x, W.transpose(2, 3, 1, 0), b, 1, "valid"), expected)[1] < AGREE
    for wrong in [(2, 3, 0, 1), (3, 2, 1, 0)]:                   # I <-> O swapped; H <-> W swapped
        assert relative_error(keras_conv(x, W.transpose(wrong), b, 1, "valid"), expected)[1] > DIFFERS


@pytest.mark.parametrize("case", CNN_CASES, ids=[c.name for c in CNN_CASES])
def test_where_each_canonical_cnn_array_lives(case):
    """torch: conv ``weight`` = W (OIHW as it is), dense ``weight`` = W.T. Keras: conv ``kernel``
    = W.transpose(2, 3, 1, 0), the first Dense ``kernel`` = W with rows (C, H, W) -> (H, W, C),
    the other Dense kernels = W. Biases as they are. Same parameter count in both."""
    spec, params = case.spec, case.params("float64")
    torch_model = make_adapter("torch", spec, params).model
    keras_model = make_adapter("keras", spec, params).model
    chw = spec.feature_shapes()[-1]
    for kind, k, i in spec.param_names():
        W, b = params[f"W{k}"], params[f"b{k}"]
        if kind == "conv":
            t, kl = torch_model.conv_layers[i], keras_model.conv_layers[i]
            want_t, want_k = W, W.transpose(2, 3, 1, 0)
        else:
            t, kl = torch_model.dense_stack.layers[f"dense{k}"], keras_model.dense_stack.layers[f"dense{k}"]
            want_t, want_k = W.T, (tf_weights.flatten_rows_to_keras(W, chw) if i == 0 else W)
        np.testing.assert_array_equal(t.weight.detach().numpy(), want_t, err_msg=f"torch W{k}")
        np.testing.assert_array_equal(t.bias.detach().numpy(), b, err_msg=f"torch b{k}")
        np.testing.assert_array_equal(kl.kernel.numpy(), want_k, err_msg=f"Keras W{k}")
        np.testing.assert_array_equal(kl.bias.numpy(), b, err_msg=f"Keras b{k}")
    n_params = sum(a.size for a in params.values())
    assert sum(p.numel() for p in torch_model.parameters()) == n_params
    assert sum(int(np.prod(v.shape)) for v in keras_model.trainable_variables) == n_params


# -- Flatten ----------------------------------------------------------------------------

FLAT = CNNSpec(2, 7, 6, (Conv2D(3, 3, stride=(2, 1), padding="same", activation="tanh"),
                         Pool2D("avg", (2, 3), stride=(1, 3))), (5,), 4)    # flattens (C, H, W) = (3, 3, 2)


def batch(spec, seed=3, n=3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *spec.input_shape))
    target = np.eye(spec.out_features)[rng.integers(0, spec.out_features, n)]
    return x, target, rng.standard_normal((n, spec.out_features))


def test_flatten_order_needs_the_first_dense_rows_permuted(monkeypatch):
    """With the permutation: Keras = torch (every output and gradient). Without it (both
    directions patched to the identity in impl_tf/weights.py): the parameters still
    round-trip exactly, yet the output differs (measured rel. error 0.66; the loss 0.17, the
    gradients 0.65 .. 1.75)."""
    params = init_params(FLAT, 4, "he", bias="normal", bias_std=0.5)
    x, target, upstream = batch(FLAT)
    torch_out = quantities(make_adapter("torch", FLAT, params), x, target, upstream)
    keras_out = quantities(make_adapter("keras", FLAT, params), x, target, upstream)
    for name, value in torch_out.items():
        assert relative_error(keras_out[name], value)[1] < AGREE, name

    monkeypatch.setattr(tf_weights, "flatten_rows_to_keras", lambda W, chw: W)
    monkeypatch.setattr(tf_weights, "flatten_rows_from_keras", lambda W, chw: W)
    unpermuted = make_adapter("keras", FLAT, params)
    round_trip = unpermuted.get_params()
    for name, value in params.items():
        np.testing.assert_array_equal(round_trip[name], value, err_msg=name)
    assert relative_error(unpermuted.forward(x), torch_out["output"])[1] > DIFFERS


def test_flatten_row_permutation_is_chw_to_hwc():
    """The permutation itself, on labelled rows: Keras's row r reads NHWC feature (h, w, c)."""
    c, h, w = 3, 2, 4
    labels = np.array([[ci, hi, wi] for ci in range(c) for hi in range(h) for wi in range(w)])  # (C*H*W, 3)
    keras_rows = tf_weights.flatten_rows_to_keras(labels, (c, h, w))
    expected = np.array([[ci, hi, wi] for hi in range(h) for wi in range(w) for ci in range(c)])
    np.testing.assert_array_equal(keras_rows, expected)
    np.testing.assert_array_equal(tf_weights.flatten_rows_from_keras(keras_rows, (c, h, w)), labels)


# -- max-pool ties ----------------------------------------------------------------------

def first_max_routing(x, upstream, size, stride):
    """The rule, written out: each window's upstream gradient goes to the first maximum of
    the window in row-major order (``np.argmax`` returns the first)."""
    (kh, kw), (sh, sw) = size, stride
    n, c, oh, ow = upstream.shape
    dx = np.zeros_like(x)
    for i in range(oh):
        for j in range(ow):
            window = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].reshape(n, c, -1)   # (N, C, KH*KW)
            p, q = np.divmod(np.argmax(window, axis=-1), kw)                            # (N, C)
            nn_, cc = np.meshgrid(np.arange(n), np.arange(c), indexing="ij")
            np.add.at(dx, (nn_, cc, i * sh + p, j * sw + q), upstream[:, :, i, j])
    return dx


TIED = {
    "constant": lambda rng, shape: np.full(shape, 0.75),
    "repeated_values": lambda rng, shape: rng.integers(-1, 2, shape).astype(np.float64),
}


@pytest.mark.parametrize("size, stride", [((2, 2), (2, 2)), ((3, 2), (1, 2)), ((3, 3), (1, 1))],
                         ids=["2x2_stride2", "3x2_stride1x2_overlapping", "3x3_stride1_overlapping"])
@pytest.mark.parametrize("tie", TIED)
def test_max_pool_ties_route_the_gradient_to_the_first_maximum(tie, size, stride):
    from reference_numpy.conv import pool2d_backward, pool2d_forward

    rng = np.random.default_rng(5)
    x = TIED[tie](rng, (2, 3, 6, 8))                              # every window setting tiles 6 x 8
    (kh, kw), (sh, sw) = size, stride
    oh, ow = (6 - kh) // sh + 1, (8 - kw) // sw + 1
    upstream = rng.standard_normal((2, 3, oh, ow))

    x_t = torch.tensor(x, requires_grad=True)
    F.max_pool2d(x_t, size, stride).backward(torch.tensor(upstream))
    torch_dx = x_t.grad.numpy()

    x_k = tf.constant(x.transpose(NCHW_TO_NHWC))
    with tf.GradientTape() as tape:
        tape.watch(x_k)
        y = keras.layers.MaxPooling2D(size, strides=stride, dtype="float64")(x_k)
    keras_dx = tape.gradient(y, x_k, output_gradients=tf.constant(upstream.transpose(NCHW_TO_NHWC)))
    keras_dx = keras_dx.numpy().transpose(NHWC_TO_NCHW)

    _, cache = pool2d_forward(x, "max", size, stride)
    numpy_dx = pool2d_backward(upstream, cache)

    expected = first_max_routing(x, upstream, size, stride)
    last = first_max_routing(x[:, :, ::-1, ::-1], upstream[:, :, ::-1, ::-1], size, stride)[:, :, ::-1, ::-1]
    assert not np.allclose(expected, last)                        # the ties matter: "last max" differs
    np.testing.assert_allclose(torch_dx, expected, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(keras_dx, expected, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(numpy_dx, expected, rtol=1e-15, atol=1e-15)


def test_max_pool_ties_inside_the_cnn_models_agree():
    """The same through the full models (pool first, so the tied input reaches it unchanged)."""
    spec = CNNSpec(2, 6, 8, (Pool2D("max", (2, 3), stride=(2, 1)), Conv2D(3, 2, activation="tanh")), (4,), 3)
    params = init_params(spec, 6, "he", bias="normal", bias_std=0.5)
    rng = np.random.default_rng(7)
    x = rng.integers(0, 2, (3, *spec.input_shape)).astype(np.float64)
    _, target, upstream = batch(spec)
    torch_out = quantities(make_adapter("torch", spec, params), x, target, upstream)
    keras_out = quantities(make_adapter("keras", spec, params), x, target, upstream)
    for name, value in torch_out.items():
        assert relative_error(keras_out[name], value)[1] < AGREE, name
