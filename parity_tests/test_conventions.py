"""Pins the framework conventions that the mapping code handles (README table).

Each test shows the framework behaviour itself, so that if a new Keras or torch
release changes it, this fails and the handling code can be revisited.
"""

import impl_tf  # noqa: F401
import keras
import numpy as np
import tensorflow as tf
import torch

from reference_numpy import losses as np_losses
from reference_numpy.cases import CASES_BY_NAME
from reference_numpy.gradcheck import relative_error
from reference_numpy.specs import OptimizerSpec
from reports.harness import make_adapter


def test_keras_loss_casts_to_float32_unless_given_a_dtype():
    """A default Keras Loss computes a float64 model's loss in float32 (~1e-8 off);
    impl_tf/losses.py builds every loss with the model's dtype, which is exact."""
    rng = np.random.default_rng(0)
    y, d = rng.standard_normal((16, 3)), rng.standard_normal((16, 3))
    reference = np_losses.mse(y, d)
    default = keras.losses.MeanSquaredError()(tf.constant(d), tf.constant(y))
    matched = keras.losses.MeanSquaredError(dtype="float64")(tf.constant(d), tf.constant(y))
    assert default.dtype == tf.float32
    assert relative_error(float(default), reference)[1] > 1e-10
    assert relative_error(float(matched), reference)[1] < 1e-15


def test_keras_keeps_learning_rate_in_float32_even_for_float64_models():
    """One SGD step: Keras's update equals the NumPy update with lr = float32(0.1),
    not with lr = 0.1 -- the reason matched runs use float32-exact rates (0.125)."""
    case = CASES_BY_NAME["linear_regression_multi"]
    x, d, _ = case.batch_data()
    grads = make_adapter("numpy", case.spec, case.params()).loss_and_grads(x, d).grads
    keras_model = make_adapter("keras", case.spec, case.params())
    keras_model.set_optimizer(OptimizerSpec("sgd", 0.1))
    keras_model.train_step(x, d)
    w_keras = keras_model.get_params()["W"]
    lr32 = float(np.float32(0.1))
    assert keras_model.optimizer.learning_rate.dtype == "float32"
    w0 = case.params()["W"]
    np.testing.assert_allclose(w_keras, w0 - lr32 * grads["W"], rtol=0, atol=1e-15)
    drift = np.max(np.abs(w_keras - (w0 - 0.1 * grads["W"])))
    expected = abs(lr32 - 0.1) * np.max(np.abs(grads["W"]))
    assert 0.5 * expected < drift < 2 * expected


def test_torch_linear_stores_weight_transposed():
    layer = torch.nn.Linear(3, 5)
    assert tuple(layer.weight.shape) == (5, 3)
    x = torch.randn(2, 3)
    torch.testing.assert_close(layer(x), x @ layer.weight.T + layer.bias)


def test_keras_dense_stores_kernel_in_canonical_layout():
    """Normwise, like every comparison here: an elementwise rtol fails on an output that
    cancels to near 0 (a 1-ulp difference of its terms is then a large relative one)."""
    rng = np.random.default_rng(0)
    layer = keras.layers.Dense(5, dtype="float64")
    x = rng.standard_normal((2, 3))
    layer.build(x.shape)
    assert tuple(layer.kernel.shape) == (3, 5)
    W, b = rng.standard_normal((3, 5)), rng.standard_normal(5)
    layer.kernel.assign(W)
    layer.bias.assign(b)
    assert relative_error(layer(x).numpy(), x @ W + b)[1] < 1e-15
    assert relative_error(layer(x).numpy(), x @ W.T[:3, :3].T @ np.eye(3, 5) + b)[1] > 1e-2


def test_loss_argument_order_differs():
    """torch: loss(input, target); Keras: loss(y_true, y_pred). Swapping them in
    Keras's cross-entropy gives a different number (it is not symmetric)."""
    u = np.array([[2.0, -1.0, 0.5]])
    d = np.array([[0.0, 1.0, 0.0]])
    torch_ce = torch.nn.functional.cross_entropy(torch.tensor(u), torch.tensor(d)).item()
    cce = keras.losses.CategoricalCrossentropy(from_logits=True, dtype="float64")
    right, swapped = float(cce(d, u)), float(cce(u, d))
    assert abs(right - torch_ce) < 1e-15
    assert abs(swapped - torch_ce) > 1e-2


def test_mean_squared_error_is_a_mean_in_both_and_half_sum_in_the_notes():
    rng = np.random.default_rng(1)
    y, d = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    t = torch.nn.functional.mse_loss(torch.tensor(y), torch.tensor(d)).item()
    k = float(keras.losses.MeanSquaredError(dtype="float64")(d, y))
    assert abs(t - np.mean((y - d) ** 2)) < 1e-15 and abs(k - t) < 1e-15
    assert abs(np_losses.half_sse(y, d) - t * y.shape[1] / 2) < 1e-14


def test_tensorflow_flushes_subnormal_results_to_zero_numpy_and_torch_keep_them():
    """TensorFlow's CPU kernels run with flush-to-zero: a result below the smallest normal
    number (``finfo.tiny``: 1.2e-38 in float32, 2.2e-308 in float64) comes out as 0, where
    NumPy and torch return the subnormal value. It shows in float32 gradients that vanish
    through many steps (the initial-state gradient after 50 sigmoid steps is ~1e-43: NumPy
    and torch give it, Keras gives 0), which is why ``reports/harness.py`` passes quantities
    whose whole scale is subnormal instead of comparing them relatively."""
    for dtype, a in ((np.float32, 1e-20), (np.float64, 1e-160)):
        a = dtype(a)
        expected = a * a                                                   # subnormal in NumPy
        assert 0 < expected < np.finfo(dtype).tiny
        assert (torch.tensor(a) * torch.tensor(a)).item() > 0
        assert (tf.constant(a) * tf.constant(a)).numpy() == 0.0
        m = np.full((1, 1), a)                                             # matmul, as in BPTT
        assert (torch.tensor(m) @ torch.tensor(m)).item() == expected
        assert tf.linalg.matmul(tf.constant(m), tf.constant(m)).numpy()[0, 0] == 0.0
