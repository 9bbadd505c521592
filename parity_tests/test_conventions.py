"""Pins the framework conventions that the mapping code handles (README table).

Each test shows the framework behaviour itself, so that if a new Keras or torch
release changes it, this fails and the handling code can be revisited. Also pinned here:
the initializers follow the notes (not Keras's glorot / he), and the direction of the gate
permutation (``specs.to_gates`` / ``from_gates``) on an order that is not its own inverse.
"""

import impl_tf  # noqa: F401  (selects the TensorFlow backend before keras is imported)

# isort: split
import keras
import numpy as np
import pytest
import tensorflow as tf
import torch

from reference_numpy import initializers, specs
from reference_numpy import losses as np_losses
from reference_numpy.cases import CASES_BY_NAME
from reference_numpy.gradcheck import relative_error
from reference_numpy.specs import MLPSpec, OptimizerSpec
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
    cancels to near 0 (a 1-ulp difference of its terms is then a large relative one).
    The shape (3, 5) says "(in, out)"; on a square layer, where the shape cannot tell, the
    values must: the layer computes ``x @ W + b``, not ``x @ W.T + b`` (the torch layout)."""
    rng = np.random.default_rng(0)
    layer = keras.layers.Dense(5, dtype="float64")
    layer.build((2, 3))
    assert tuple(layer.kernel.shape) == (3, 5)

    square = keras.layers.Dense(4, dtype="float64")
    x = rng.standard_normal((2, 4))
    square.build(x.shape)
    W, b = rng.standard_normal((4, 4)), rng.standard_normal(4)
    square.kernel.assign(W)
    square.bias.assign(b)
    assert relative_error(square(x).numpy(), x @ W + b)[1] < 1e-15
    assert relative_error(square(x).numpy(), x @ W.T + b)[1] > 1e-2      # the transposed layout differs


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


# -- initializers -------------------------------------------------------------------------

FAN_IN, FAN_OUT = 400, 100          # a layer where the notes' Xavier and Keras's glorot differ


def check_initializers_follow_the_notes(seed: int = 0) -> None:
    """``init_params`` draws W (fan_in, fan_out) from an untruncated N(0, std^2) with the notes'
    std: Xavier ``1 / sqrt(fan_in)``, He ``sqrt(2 / fan_in)``, Gaussian 0.01. Checked on 40000
    draws: the sample std is within 2 % (the standard error is 0.35 %: > 5 s.e.), and the
    largest |w| exceeds 3 std (a normal truncated at 2 std, like Keras's, never does)."""
    spec = MLPSpec(FAN_IN, (), FAN_OUT, output="identity", loss="mse")
    for method, std in (("xavier", 1 / np.sqrt(FAN_IN)), ("he", np.sqrt(2 / FAN_IN)), ("gaussian", 0.01)):
        assert initializers.weight_std(method, FAN_IN) == std, method
        W = initializers.init_params(spec, seed, method)["W1"]
        assert abs(W.std() / std - 1) < 0.02, f"{method}: sample std {W.std():.4f}, the notes' std {std:.4f}"
        assert abs(W.mean()) < 5 * std / np.sqrt(W.size), method
        assert np.abs(W).max() > 3 * std, f"{method}: no draw beyond 3 std -- truncated?"


def test_initializers_follow_the_notes_not_keras():
    """The notes' Xavier is Keras's lecun_normal std (not glorot_normal's
    sqrt(2 / (fan_in + fan_out)): 0.0632 against 0.05 here), untruncated; Keras's
    initializers are truncated at 2 std (rescaled so the std is the nominal one)."""
    check_initializers_follow_the_notes()
    glorot = np.asarray(keras.initializers.GlorotNormal(seed=0)((FAN_IN, FAN_OUT), dtype="float64"))
    assert abs(glorot.std() - np.sqrt(2 / (FAN_IN + FAN_OUT))) < 0.02 * glorot.std()
    assert abs(glorot.std() * np.sqrt(FAN_IN) - 1) > 0.2                   # not the notes' Xavier
    lecun = np.asarray(keras.initializers.LecunNormal(seed=0)((FAN_IN, FAN_OUT), dtype="float64"))
    assert abs(lecun.std() * np.sqrt(FAN_IN) - 1) < 0.02                   # the notes' Xavier std...
    assert np.abs(lecun).max() < 2.5 / np.sqrt(FAN_IN)                     # ...truncated


# -- gate permutation direction -----------------------------------------------------------

#: The second course book's NumPy LSTM stacks its gates f, g, i, o.
BOOK_LSTM_GATES = ("f", "g", "i", "o")


def check_gate_permutation_direction(hidden: int = 2) -> None:
    """``specs.to_gates`` takes canonical blocks to a framework's order and ``from_gates`` back,
    checked block by block with the book's order f, g, i, o (canonical i, f, g, o): the
    permutation ``[1, 2, 0, 3]`` is a 3-cycle, NOT its own inverse, so swapping the two
    functions moves the blocks to the wrong places. (Every order in use today -- torch's GRU
    (r, z, n) against (z, r, n), the identities -- is its own inverse, so nothing else could
    see the direction.)"""
    canonical = specs.GATES["lstm"]
    order = [canonical.index(g) for g in BOOK_LSTM_GATES]
    assert order == [1, 2, 0, 3]
    assert [order[k] for k in order] != list(range(4)), "the test permutation must not be its own inverse"
    label = {g: 100.0 * (k + 1) for k, g in enumerate("ifgo")}                # distinct block contents
    H = hidden
    for shape in ((3,), ()):                                                 # a weight (3, 4H), a bias (4H,)
        canon = np.concatenate([np.full((*shape, H), label[g]) + np.arange(H) for g in canonical], axis=-1)
        book = specs.to_gates(canon, order)
        for k, g in enumerate(BOOK_LSTM_GATES):
            np.testing.assert_array_equal(book[..., k * H:(k + 1) * H], np.full((*shape, H), label[g]) + np.arange(H),
                                          err_msg=f"to_gates: block {k} of the book's order must be gate {g}")
        back = specs.from_gates(book, order)
        for k, g in enumerate(canonical):
            np.testing.assert_array_equal(back[..., k * H:(k + 1) * H], np.full((*shape, H), label[g]) + np.arange(H),
                                          err_msg=f"from_gates: canonical block {k} must be gate {g}")


def test_gate_permutation_direction():
    check_gate_permutation_direction()


def test_swapped_gate_functions_fail_the_direction_check(monkeypatch):
    """Negative control: with to_gates and from_gates swapped, the check fails."""
    to_gates, from_gates = specs.to_gates, specs.from_gates
    monkeypatch.setattr(specs, "to_gates", from_gates)
    monkeypatch.setattr(specs, "from_gates", to_gates)
    with pytest.raises(AssertionError, match="to_gates: block 0 of the book's order must be gate f"):
        check_gate_permutation_direction()
