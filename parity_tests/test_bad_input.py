"""Bad input is rejected with a clear error, identically in NumPy, torch and Keras.

What this file proves:

* every bad call (``forward``, ``loss_and_grads``, ``vjp``, ``train_step``) and
  every bad construction (``params``, ``dtype``, ``spec``) raises a specific
  exception type whose message names what was expected (the shape, the dtype,
  the allowed names, the valid range) -- in every framework;
* the three frameworks raise the *same* exception with the *same* message for
  the same bad input (nothing reaches framework code, so no obscure torch /
  TensorFlow error and no silent broadcast or cast);
* a rejected call leaves the adapter unchanged and usable (parameters equal,
  ``forward`` gives the same output), and ``train_step`` never updates the
  parameters from an input it rejects;
* invalid specs (``MLPSpec``, regression specs, ``OptimizerSpec``), unknown
  initializers and unknown framework names are refused with a ``ValueError``
  that lists the allowed values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import tensorflow as tf
import torch

from reference_numpy.initializers import init_params
from reference_numpy.specs import LinearRegressionSpec, MLPSpec, OptimizerSpec, PolynomialRegressionSpec
from reports.harness import FRAMEWORKS, make_adapter

pytestmark = pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")

FRAMEWORK_NAMES = tuple(FRAMEWORKS)
N = 2  # batch size of the good inputs

SPECS = {
    "ce": MLPSpec(4, (5,), 3, activation="tanh", output="softmax", loss="softmax_cross_entropy"),
    "bce": MLPSpec(4, (5,), 2, activation="sigmoid", output="sigmoid", loss="sigmoid_binary_cross_entropy"),
    "mse": MLPSpec(4, (5,), 2, activation="relu", output="identity", loss="mse"),
    "poly": PolynomialRegressionSpec(2, 2, "mse", degree=3),   # x is (N, 2); the model sees (N, 6)
}


def good_data(spec_key: str, dtype: str = "float64"):
    """A valid ``(x, target, upstream)`` for ``SPECS[spec_key]``."""
    spec = SPECS[spec_key]
    rng = np.random.default_rng(7)
    x = rng.standard_normal((N, spec.in_features)).astype(dtype)
    k = spec.out_features
    if spec.loss == "softmax_cross_entropy":
        target = np.array([0, k - 1], dtype=np.int64)
    elif spec.loss == "sigmoid_binary_cross_entropy":
        target = rng.random((N, k)).astype(dtype)
    else:
        target = rng.standard_normal((N, k)).astype(dtype)
    upstream = rng.standard_normal((N, k)).astype(dtype)
    return x, target, upstream


def good_params(spec_key: str, dtype: str = "float64"):
    return init_params(SPECS[spec_key], 3, "xavier", bias="normal", bias_std=0.5, dtype=dtype)


def build(framework: str, spec_key: str, dtype: str = "float64"):
    return make_adapter(framework, SPECS[spec_key], good_params(spec_key, dtype), dtype)


def snapshot(adapter, x):
    return adapter.get_params(), adapter.forward(x)


def assert_unchanged(adapter, x, before):
    params_before, y_before = before
    params_after, y_after = snapshot(adapter, x)
    assert list(params_after) == list(params_before)
    for name in params_before:
        assert params_after[name].dtype == params_before[name].dtype, name
        assert np.array_equal(params_after[name], params_before[name]), f"{name} changed by a rejected call"
    assert np.array_equal(y_after, y_before), "forward output changed after a rejected call"


# -- bad calls on a built adapter ----------------------------------------------------------

@dataclass(frozen=True)
class BadCall:
    id: str
    spec: str                                 # key in SPECS
    method: str                               # forward | loss_and_grads | vjp | train_step
    make: Callable                            # (x, target, upstream) -> positional args
    error: type
    match: str
    dtype: str = "float64"


def _with(a, index, value):
    a = a.copy()
    a[index] = value
    return a


X = "forward"
L = "loss_and_grads"
V = "vjp"
T = "train_step"

BAD_CALLS = [
    # x: rank, feature count, batch size
    BadCall("x_rank1", "ce", X, lambda x, t, u: (x[0],), ValueError,
            r"x must have rank 2 with shape \(N, 4\), got rank 1 with shape \(4,\)"),
    BadCall("x_rank3", "ce", X, lambda x, t, u: (x[:, :, None],), ValueError,
            r"x must have rank 2 with shape \(N, 4\), got rank 3"),
    BadCall("x_rank0", "ce", X, lambda x, t, u: (np.array(1.0),), ValueError,
            r"x must have rank 2 with shape \(N, 4\), got rank 0"),
    BadCall("x_3_features", "ce", X, lambda x, t, u: (x[:, :3].copy(),), ValueError,
            r"x must have shape \(N, 4\), got \(2, 3\) \(axis 1 = features: expected 4, got 3\)"),
    BadCall("x_5_features", "mse", L, lambda x, t, u: (np.hstack([x, x[:, :1]]), t), ValueError,
            r"x must have shape \(N, 4\), got \(2, 5\)"),
    BadCall("x_poly_expanded_features", "poly", X, lambda x, t, u: (np.hstack([x, x**2, x**3]),), ValueError,
            r"x must have shape \(N, 2\), got \(2, 6\)"),
    BadCall("x_batch_0", "ce", X, lambda x, t, u: (x[:0],), ValueError,
            r"x must hold at least one example, got batch size 0"),
    BadCall("x_batch_0_with_labels", "ce", L, lambda x, t, u: (x[:0], t[:0]), ValueError,
            r"at least one example, got batch size 0"),
    # x: dtype and type -- never cast
    BadCall("x_float32_into_float64", "ce", X, lambda x, t, u: (x.astype(np.float32),), TypeError,
            r"x must have dtype float64, got float32 \(inputs are never cast implicitly"),
    BadCall("x_float64_into_float32", "ce", X, lambda x, t, u: (x.astype(np.float64),), TypeError,
            r"x must have dtype float32, got float64", dtype="float32"),
    BadCall("x_float32_into_float64_vjp", "bce", V, lambda x, t, u: (x.astype(np.float32), u), TypeError,
            r"x must have dtype float64, got float32"),
    BadCall("x_int", "mse", X, lambda x, t, u: (np.round(x).astype(np.int64),), TypeError,
            r"x must have dtype float64, got int64"),
    BadCall("x_complex", "mse", X, lambda x, t, u: (x.astype(np.complex128),), TypeError,
            r"x must have dtype float64, got complex128"),
    BadCall("x_list", "ce", X, lambda x, t, u: (x.tolist(),), TypeError,
            r"x must be a numpy\.ndarray of shape \(N, 4\) and dtype float64, got list"),
    BadCall("x_torch_tensor", "ce", X, lambda x, t, u: (torch.from_numpy(x),), TypeError,
            r"x must be a numpy\.ndarray of shape \(N, 4\) and dtype float64, got Tensor"),
    BadCall("x_tf_tensor", "ce", X, lambda x, t, u: (tf.constant(x),), TypeError,
            r"x must be a numpy\.ndarray of shape \(N, 4\) and dtype float64, got \w*Tensor"),
    BadCall("x_np_matrix", "ce", X, lambda x, t, u: (np.asmatrix(x),), TypeError,
            r"x must be a numpy\.ndarray"),
    BadCall("x_masked_array", "mse", X,
            lambda x, t, u: (np.ma.masked_array(x, mask=_with(np.zeros(x.shape, bool), (0, 0), True)),),
            TypeError, r"x must be a numpy\.ndarray"),
    # x: non-finite values
    BadCall("x_nan", "ce", X, lambda x, t, u: (_with(x, (0, 1), np.nan),), ValueError,
            r"x contains 1 non-finite value\(s\) \(NaN or inf\)"),
    BadCall("x_inf", "ce", X, lambda x, t, u: (_with(x, (1, 0), np.inf),), ValueError,
            r"x contains 1 non-finite value\(s\)"),
    BadCall("x_minus_inf_loss", "mse", L, lambda x, t, u: (_with(x, (1, 3), -np.inf), t), ValueError,
            r"x contains 1 non-finite value\(s\)"),
    BadCall("x_nan_vjp", "bce", V, lambda x, t, u: (_with(x, (0, 0), np.nan), u), ValueError,
            r"x contains 1 non-finite value\(s\)"),
    BadCall("x_nan_float32", "ce", X, lambda x, t, u: (_with(x, (0, 0), np.nan),), ValueError,
            r"x contains 1 non-finite value\(s\)", dtype="float32"),
    # regression / mse targets
    BadCall("target_rank1", "mse", L, lambda x, t, u: (x, t[:, 0].copy()), ValueError,
            r"target must have rank 2 with shape \(2, 2\), got rank 1"),
    BadCall("target_batch_mismatch", "mse", L, lambda x, t, u: (x, np.vstack([t, t[:1]])), ValueError,
            r"target must have shape \(2, 2\), got \(3, 2\) \(axis 0 = batch: expected 2, got 3\)"),
    BadCall("target_outputs_mismatch", "mse", L, lambda x, t, u: (x, np.hstack([t, t[:, :1]])), ValueError,
            r"target must have shape \(2, 2\), got \(2, 3\) \(axis 1 = outputs: expected 2, got 3\)"),
    BadCall("target_transposed_poly", "poly", L, lambda x, t, u: (x[:1], t[:1].T.copy()), ValueError,
            r"target must have shape \(1, 2\), got \(2, 1\)"),
    BadCall("target_float32", "mse", L, lambda x, t, u: (x, t.astype(np.float32)), TypeError,
            r"target must have dtype float64, got float32"),
    BadCall("target_int_labels_for_mse", "mse", L, lambda x, t, u: (x, np.array([0, 1])), ValueError,
            r"target must have rank 2 with shape \(2, 2\)"),
    BadCall("target_int_matrix_for_mse", "mse", L, lambda x, t, u: (x, np.eye(2, dtype=np.int64)), TypeError,
            r"target must have dtype float64, got int64"),
    BadCall("target_nan", "mse", L, lambda x, t, u: (x, _with(t, (1, 1), np.nan)), ValueError,
            r"target contains 1 non-finite value\(s\)"),
    BadCall("target_list", "mse", L, lambda x, t, u: (x, t.tolist()), TypeError,
            r"target must be a numpy\.ndarray of shape \(2, 2\) and dtype float64, got list"),
    # softmax cross-entropy: integer labels
    BadCall("labels_out_of_range", "ce", L, lambda x, t, u: (x, np.array([0, 3])), ValueError,
            r"class labels must lie in \[0, 3\), got values in \[0, 3\]"),
    BadCall("labels_negative", "ce", L, lambda x, t, u: (x, np.array([-1, 2])), ValueError,
            r"class labels must lie in \[0, 3\), got values in \[-1, 2\]"),
    BadCall("labels_column", "ce", L, lambda x, t, u: (x, t[:, None]), ValueError,
            r"integer class labels must have shape \(2,\), got \(2, 1\)"),
    BadCall("labels_too_many", "ce", L, lambda x, t, u: (x, np.array([0, 1, 2])), ValueError,
            r"integer class labels must have shape \(2,\), got \(3,\)"),
    BadCall("labels_int_onehot", "ce", L, lambda x, t, u: (x, np.eye(3, dtype=np.int64)[t]), ValueError,
            r"integer class labels must have shape \(2,\), got \(2, 3\)"),
    BadCall("labels_as_floats", "ce", L, lambda x, t, u: (x, t.astype(np.float64)), ValueError,
            r"target must have rank 2 with shape \(2, 3\)"),
    # softmax cross-entropy: one-hot / probability rows
    BadCall("onehot_row_sums_2", "ce", L, lambda x, t, u: (x, np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])),
            ValueError, r"must sum to 1 in every row, got row sums in \[1\.0, 2\.0\]"),
    BadCall("onehot_zero_row", "ce", L, lambda x, t, u: (x, np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])),
            ValueError, r"must sum to 1 in every row, got row sums in \[0\.0, 1\.0\]"),
    BadCall("probabilities_negative", "ce", L,
            lambda x, t, u: (x, np.array([[1.5, -0.5, 0.0], [0.0, 0.0, 1.0]])), ValueError,
            r"target for softmax_cross_entropy must lie in \[0, 1\], got values in \[-0\.5, 1\.5\]"),
    BadCall("onehot_float32", "ce", L, lambda x, t, u: (x, np.eye(3, dtype=np.float32)[t]), TypeError,
            r"target must have dtype float64, got float32"),
    # sigmoid binary cross-entropy
    BadCall("bce_target_above_1", "bce", L, lambda x, t, u: (x, _with(t, (0, 1), 1.5)), ValueError,
            r"target for sigmoid_binary_cross_entropy must lie in \[0, 1\], got values in \[[0-9.e-]+, 1\.5\]"),
    BadCall("bce_target_negative", "bce", L, lambda x, t, u: (x, _with(t, (1, 0), -0.25)), ValueError,
            r"target for sigmoid_binary_cross_entropy must lie in \[0, 1\], got values in \[-0\.25, "),
    BadCall("bce_int_labels", "bce", L, lambda x, t, u: (x, np.array([[0, 1], [1, 0]])), TypeError,
            r"target must have dtype float64, got int64"),
    # vjp upstream
    BadCall("upstream_too_few_outputs", "ce", V, lambda x, t, u: (x, u[:, :2].copy()), ValueError,
            r"upstream must have shape \(2, 3\), got \(2, 2\) \(axis 1 = outputs: expected 3, got 2\)"),
    BadCall("upstream_batch_mismatch", "ce", V, lambda x, t, u: (x, np.vstack([u, u])), ValueError,
            r"upstream must have shape \(2, 3\), got \(4, 3\) \(axis 0 = batch: expected 2, got 4\)"),
    BadCall("upstream_rank1", "mse", V, lambda x, t, u: (x, u[0].copy()), ValueError,
            r"upstream must have rank 2 with shape \(2, 2\), got rank 1"),
    BadCall("upstream_scalar_ones", "mse", V, lambda x, t, u: (x, np.ones(())), ValueError,
            r"upstream must have rank 2 with shape \(2, 2\), got rank 0"),
    BadCall("upstream_float32", "poly", V, lambda x, t, u: (x, u.astype(np.float32)), TypeError,
            r"upstream must have dtype float64, got float32"),
    BadCall("upstream_nan", "bce", V, lambda x, t, u: (x, _with(u, (0, 0), np.nan)), ValueError,
            r"upstream contains 1 non-finite value\(s\)"),
    BadCall("upstream_torch_tensor", "ce", V, lambda x, t, u: (x, torch.from_numpy(u)), TypeError,
            r"upstream must be a numpy\.ndarray of shape \(2, 3\) and dtype float64, got Tensor"),
    # train_step (after set_optimizer): rejected before any update
    BadCall("train_labels_out_of_range", "ce", T, lambda x, t, u: (x, np.array([0, 7])), ValueError,
            r"class labels must lie in \[0, 3\)"),
    BadCall("train_x_nan", "mse", T, lambda x, t, u: (_with(x, (0, 0), np.nan), t), ValueError,
            r"x contains 1 non-finite value\(s\)"),
    BadCall("train_target_float32", "poly", T, lambda x, t, u: (x, t.astype(np.float32)), TypeError,
            r"target must have dtype float64, got float32"),
    BadCall("train_bce_target_above_1", "bce", T, lambda x, t, u: (x, t + 1.0), ValueError,
            r"target for sigmoid_binary_cross_entropy must lie in \[0, 1\]"),
]
BAD_CALL_IDS = [b.id for b in BAD_CALLS]
assert len(set(BAD_CALL_IDS)) == len(BAD_CALL_IDS)


def _call(adapter, bad: BadCall):
    x, target, upstream = good_data(bad.spec, bad.dtype)
    return getattr(adapter, bad.method)(*bad.make(x, target, upstream))


def _fresh(framework, bad: BadCall):
    adapter = build(framework, bad.spec, bad.dtype)
    if bad.method == "train_step":
        adapter.set_optimizer(OptimizerSpec("sgd", lr=0.125))
    return adapter


@pytest.mark.parametrize("bad", BAD_CALLS, ids=BAD_CALL_IDS)
@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
def test_bad_call_is_rejected_and_adapter_still_works(framework, bad):
    adapter = _fresh(framework, bad)
    x = good_data(bad.spec, bad.dtype)[0]
    before = snapshot(adapter, x)
    with pytest.raises(bad.error, match=bad.match):
        _call(adapter, bad)
    assert_unchanged(adapter, x, before)
    # the adapter still accepts good input after the rejection
    x, target, upstream = good_data(bad.spec, bad.dtype)
    res = adapter.loss_and_grads(x, target)
    assert np.isfinite(res.loss) and set(res.grads) == set(before[0])


@pytest.mark.parametrize("bad", BAD_CALLS, ids=BAD_CALL_IDS)
def test_bad_call_fails_identically_in_every_framework(bad):
    outcomes = {}
    for framework in FRAMEWORK_NAMES:
        try:
            _call(_fresh(framework, bad), bad)
            outcomes[framework] = "accepted"
        except Exception as e:  # noqa: BLE001 -- the point is to compare whatever is raised
            outcomes[framework] = f"{type(e).__name__}: {e}"
    assert len(set(outcomes.values())) == 1, "frameworks disagree:\n" + "\n".join(
        f"  {fw}: {o}" for fw, o in outcomes.items())


@pytest.mark.parametrize("label_dtype", [np.int32, np.int16, np.int8, np.uint8], ids=lambda d: d.__name__)
def test_integer_label_dtypes_behave_the_same_everywhere(label_dtype):
    """Class labels in a narrower integer dtype than int64 must either be rejected with
    the same clear error in every framework (naming int64) or give the same loss and
    gradients as int64 labels in every framework -- not work in one and crash in another."""
    x, labels, _ = good_data("ce")
    outcomes = {}
    for framework in FRAMEWORK_NAMES:
        adapter = build(framework, "ce")
        expected = adapter.loss_and_grads(x, labels)
        try:
            res = adapter.loss_and_grads(x, labels.astype(label_dtype))
        except Exception as e:  # noqa: BLE001
            outcomes[framework] = f"{type(e).__name__}: {e}"
            continue
        same = np.isclose(res.loss, expected.loss, rtol=1e-12, atol=0) and all(
            np.allclose(res.grads[n], expected.grads[n], rtol=1e-12, atol=1e-15) for n in expected.grads)
        outcomes[framework] = "same result as int64 labels" if same else "different result from int64 labels"
    distinct = set(outcomes.values())
    report = "\n".join(f"  {fw}: {o}" for fw, o in outcomes.items())
    assert len(distinct) == 1, f"{label_dtype.__name__} labels are handled differently:\n{report}"
    (outcome,) = distinct
    assert outcome == "same result as int64 labels" or "int64" in outcome, report


# -- bad construction ----------------------------------------------------------------------

@dataclass(frozen=True)
class BadBuild:
    id: str
    make: Callable       # (spec, params) -> (spec, params, dtype)
    error: type
    match: str


def _drop(p, name):
    return {n: a for n, a in p.items() if n != name}


def _replace(p, name, value):
    return {**p, name: value}


def _rename(p, old, new):
    return {(new if n == old else n): a for n, a in p.items()}


MLP_NAMES = r"\['W1', 'b1', 'W2', 'b2'\]"

BAD_BUILDS = [
    BadBuild("params_missing_b2", lambda s, p: (s, _drop(p, "b2"), "float64"), KeyError,
             rf"parameters for MLPSpec must be exactly {MLP_NAMES}: missing \['b2'\]"),
    BadBuild("params_extra_W3", lambda s, p: (s, {**p, "W3": np.zeros((3, 3))}, "float64"), KeyError,
             rf"must be exactly {MLP_NAMES}: unexpected \['W3'\]"),
    BadBuild("params_renamed_b2", lambda s, p: (s, _rename(p, "b2", "bias2"), "float64"), KeyError,
             r"missing \['b2'\]; unexpected \['bias2'\]"),
    BadBuild("params_torch_names", lambda s, p: (s, {"dense_stack.layers.dense1.weight": p["W1"].T}, "float64"),
             KeyError,
             r"missing \['W1', 'b1', 'W2', 'b2'\]; unexpected \['dense_stack\.layers\.dense1\.weight'\]"),
    BadBuild("params_W1_transposed", lambda s, p: (s, _replace(p, "W1", p["W1"].T.copy()), "float64"),
             ValueError, r"parameter 'W1' must have shape \(4, 5\), got \(5, 4\)"),
    BadBuild("params_b1_as_row", lambda s, p: (s, _replace(p, "b1", p["b1"][None, :]), "float64"),
             ValueError, r"parameter 'b1' must have rank 1 with shape \(5,\), got rank 2"),
    BadBuild("params_W2_too_wide", lambda s, p: (s, _replace(p, "W2", np.zeros((5, 4))), "float64"),
             ValueError, r"parameter 'W2' must have shape \(5, 3\), got \(5, 4\)"),
    BadBuild("params_float32_into_float64",
             lambda s, p: (s, {n: a.astype(np.float32) for n, a in p.items()}, "float64"), TypeError,
             r"parameter 'W1' must have dtype float64, got float32"),
    BadBuild("params_float64_into_float32", lambda s, p: (s, p, "float32"), TypeError,
             r"parameter 'W1' must have dtype float32, got float64"),
    BadBuild("params_one_float32", lambda s, p: (s, _replace(p, "b2", p["b2"].astype(np.float32)), "float64"),
             TypeError, r"parameter 'b2' must have dtype float64, got float32"),
    BadBuild("params_int", lambda s, p: (s, _replace(p, "W2", np.ones((5, 3), dtype=np.int64)), "float64"),
             TypeError, r"parameter 'W2' must have dtype float64, got int64"),
    BadBuild("params_nan", lambda s, p: (s, _replace(p, "b1", _with(p["b1"], 2, np.nan)), "float64"),
             ValueError, r"parameter 'b1' contains 1 non-finite value\(s\) \(NaN or inf\)"),
    BadBuild("params_inf", lambda s, p: (s, _replace(p, "W2", _with(p["W2"], (0, 0), -np.inf)), "float64"),
             ValueError, r"parameter 'W2' contains 1 non-finite value\(s\)"),
    BadBuild("params_list_value", lambda s, p: (s, _replace(p, "W1", p["W1"].tolist()), "float64"),
             TypeError, r"parameter 'W1' must be a numpy\.ndarray of shape \(4, 5\) and dtype float64, got list"),
    BadBuild("params_torch_value", lambda s, p: (s, _replace(p, "b2", torch.from_numpy(p["b2"])), "float64"),
             TypeError, r"parameter 'b2' must be a numpy\.ndarray of shape \(3,\) and dtype float64, got Tensor"),
    BadBuild("params_not_a_dict", lambda s, p: (s, list(p.values()), "float64"), TypeError,
             r"params must be a dict of name -> numpy\.ndarray, got list"),
    BadBuild("dtype_float16", lambda s, p: (s, p, "float16"), ValueError,
             r"dtype must be one of float64, float32, got 'float16'"),
    BadBuild("dtype_np_float16", lambda s, p: (s, p, np.float16), ValueError,
             r"dtype must be one of float64, float32, got "),
    BadBuild("dtype_int32", lambda s, p: (s, p, "int32"), ValueError,
             r"dtype must be one of float64, float32, got 'int32'"),
    BadBuild("dtype_typo", lambda s, p: (s, p, "flaot64"), ValueError,
             r"dtype must be one of float64, float32, got 'flaot64'"),
    BadBuild("dtype_int_5", lambda s, p: (s, p, 5), ValueError,
             r"dtype must be one of float64, float32, got 5"),
    BadBuild("spec_is_a_string", lambda s, p: ("mlp", p, "float64"), TypeError,
             r"spec must be one of MLPSpec, LinearRegressionSpec, PolynomialRegressionSpec, CNNSpec, RNNSpec, "
             r"Seq2SeqSpec, got str"),
    BadBuild("spec_is_a_dict", lambda s, p: ({"in_features": 4}, p, "float64"), TypeError,
             r"spec must be one of MLPSpec, LinearRegressionSpec, PolynomialRegressionSpec, CNNSpec, RNNSpec, "
             r"Seq2SeqSpec, got dict"),
    BadBuild("spec_other_shape", lambda s, p: (MLPSpec(4, (6,), 3), p, "float64"), ValueError,
             r"parameter 'W1' must have shape \(4, 6\), got \(4, 5\)"),
]
BAD_BUILD_IDS = [b.id for b in BAD_BUILDS]


@pytest.mark.parametrize("bad", BAD_BUILDS, ids=BAD_BUILD_IDS)
@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
def test_bad_construction_is_rejected(framework, bad):
    params = good_params("ce")
    originals = {n: a.copy() for n, a in params.items()}
    spec, args_params, dtype = bad.make(SPECS["ce"], params)
    with pytest.raises(bad.error, match=bad.match):
        make_adapter(framework, spec, args_params, dtype)
    for n in originals:   # the caller's arrays are never modified
        assert np.array_equal(params[n], originals[n])


@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
def test_adapter_does_not_alias_caller_arrays(framework):
    params = good_params("mse")
    originals = {n: a.copy() for n, a in params.items()}
    adapter = make_adapter(framework, SPECS["mse"], params)
    x = good_data("mse")[0]
    y = adapter.forward(x)
    for a in params.values():       # the caller edits its dict after construction ...
        a += 1.0
    got = adapter.get_params()
    for a in got.values():          # ... and the arrays get_params handed out
        a *= -3.0
    assert np.array_equal(adapter.forward(x), y)
    for n, a in adapter.get_params().items():
        assert np.array_equal(a, originals[n]), n


@pytest.mark.parametrize("name", ["jax", "tensorflow", "NumPy", "pytorch", ""])
def test_make_adapter_unknown_framework(name):
    with pytest.raises(ValueError, match=rf"unknown framework '{name}'; expected one of numpy, torch, keras"):
        make_adapter(name, SPECS["ce"], good_params("ce"))


# -- optimizer -----------------------------------------------------------------------------

@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
def test_train_step_before_set_optimizer(framework):
    adapter = build(framework, "ce")
    x, labels, _ = good_data("ce")
    before = snapshot(adapter, x)
    with pytest.raises(RuntimeError, match=r"call set_optimizer\(OptimizerSpec\(\.\.\.\)\) before train_step"):
        adapter.train_step(x, labels)
    assert_unchanged(adapter, x, before)


@pytest.mark.parametrize("optimizer", ["sgd", {"name": "sgd", "lr": 0.1}, None, 0.125],
                         ids=["str", "dict", "None", "float"])
@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
def test_set_optimizer_rejects_non_spec(framework, optimizer):
    adapter = build(framework, "mse")
    x, target, _ = good_data("mse")
    before = snapshot(adapter, x)
    with pytest.raises(TypeError, match=rf"optimizer must be an OptimizerSpec, got {type(optimizer).__name__}"):
        adapter.set_optimizer(optimizer)
    # the rejected optimizer was not half-installed
    with pytest.raises(RuntimeError, match=r"before train_step"):
        adapter.train_step(x, target)
    assert_unchanged(adapter, x, before)


@pytest.mark.parametrize("name", ["Adam", "SGD", "adamax", ""])
def test_optimizer_spec_unknown_name(name):
    with pytest.raises(ValueError, match=rf"unknown optimizer '{name}'; expected one of sgd"):
        OptimizerSpec(name, lr=0.1)


@pytest.mark.parametrize("lr", [0, 0.0, -0.125, -1, float("nan"), float("-inf"), float("inf"), True, "0.1", None],
                         ids=repr)
def test_optimizer_spec_rejects_bad_lr(lr):
    with pytest.raises(ValueError, match=r"lr must be a positive finite number, got "):
        OptimizerSpec("sgd", lr=lr)


# -- specs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("activation", ["step", "softmax", "identity", "ReLU", "leaky_relu", ""])
def test_mlp_spec_unknown_activation(activation):
    with pytest.raises(ValueError, match=rf"unknown activation '{activation}'; expected one of sigmoid, relu, tanh"):
        MLPSpec(4, (5,), 3, activation=activation)


@pytest.mark.parametrize("output", ["linear", "relu", "tanh", "Softmax"])
def test_mlp_spec_unknown_output(output):
    with pytest.raises(ValueError,
                       match=rf"unknown output activation '{output}'; expected one of identity, sigmoid, softmax"):
        MLPSpec(4, (5,), 3, output=output, loss="mse")


@pytest.mark.parametrize("loss", ["cross_entropy", "bce", "mae", "categorical_crossentropy"])
def test_mlp_spec_unknown_loss(loss):
    with pytest.raises(ValueError, match=rf"unknown loss '{loss}'; expected one of mse, half_sse, "
                                         r"softmax_cross_entropy, sigmoid_binary_cross_entropy"):
        MLPSpec(4, (5,), 3, output="identity", loss=loss)


@pytest.mark.parametrize("output, loss, match", [
    ("identity", "softmax_cross_entropy",
     r"loss 'softmax_cross_entropy' is computed from logits and needs output='softmax', got output='identity'"),
    ("sigmoid", "softmax_cross_entropy", r"needs output='softmax', got output='sigmoid'"),
    ("identity", "sigmoid_binary_cross_entropy",
     r"loss 'sigmoid_binary_cross_entropy' is computed from logits and needs output='sigmoid', got output='identity'"),
    ("softmax", "sigmoid_binary_cross_entropy", r"needs output='sigmoid', got output='softmax'"),
    ("softmax", "mse", r"output='softmax' is only paired with loss='softmax_cross_entropy'.*got loss='mse'"),
    ("softmax", "half_sse", r"output='softmax' is only paired with loss='softmax_cross_entropy'.*got loss='half_sse'"),
])
def test_mlp_spec_loss_head_mismatch(output, loss, match):
    with pytest.raises(ValueError, match=match):
        MLPSpec(4, (5,), 3, output=output, loss=loss)


@pytest.mark.parametrize("field, value, match", [
    ("in_features", 0, r"in_features must be a positive int, got 0"),
    ("in_features", -3, r"in_features must be a positive int, got -3"),
    ("in_features", 2.5, r"in_features must be a positive int, got 2\.5"),
    ("in_features", 4.0, r"in_features must be a positive int, got 4\.0"),
    ("in_features", "4", r"in_features must be a positive int, got '4'"),
    ("in_features", True, r"in_features must be a positive int, got True"),
    ("in_features", None, r"in_features must be a positive int, got None"),
    ("out_features", 0, r"out_features must be a positive int, got 0"),
    ("out_features", 1.5, r"out_features must be a positive int, got 1\.5"),
    ("hidden", (0,), r"hidden\[0\] must be a positive int, got 0"),
    ("hidden", (4, -2), r"hidden\[1\] must be a positive int, got -2"),
    ("hidden", (3.0,), r"hidden\[0\] must be a positive int, got 3\.0"),
    ("hidden", (8, True), r"hidden\[1\] must be a positive int, got True"),
    ("hidden", [4], r"hidden must be a tuple of layer sizes, got \[4\]"),
    ("hidden", 4, r"hidden must be a tuple of layer sizes, got 4"),
], ids=lambda v: repr(v)[:20])
def test_mlp_spec_bad_sizes(field, value, match):
    kwargs = {"in_features": 4, "hidden": (5,), "out_features": 3, field: value}
    with pytest.raises(ValueError, match=match):
        MLPSpec(**kwargs)


@pytest.mark.parametrize("cls, kwargs, match", [
    (LinearRegressionSpec, {"in_features": 0}, r"in_features must be a positive int, got 0"),
    (LinearRegressionSpec, {"out_features": -1}, r"out_features must be a positive int, got -1"),
    (LinearRegressionSpec, {"in_features": 1.0}, r"in_features must be a positive int, got 1\.0"),
    (LinearRegressionSpec, {"loss": "softmax_cross_entropy"},
     r"unknown regression loss 'softmax_cross_entropy'; expected one of mse, half_sse"),
    (LinearRegressionSpec, {"loss": "mae"}, r"unknown regression loss 'mae'; expected one of mse, half_sse"),
    (PolynomialRegressionSpec, {"degree": 0}, r"degree must be a positive int, got 0"),
    (PolynomialRegressionSpec, {"degree": -2}, r"degree must be a positive int, got -2"),
    (PolynomialRegressionSpec, {"degree": 2.0}, r"degree must be a positive int, got 2\.0"),
    (PolynomialRegressionSpec, {"in_features": 0, "degree": 2}, r"in_features must be a positive int, got 0"),
    (PolynomialRegressionSpec, {"loss": "sigmoid_binary_cross_entropy"}, r"unknown regression loss"),
], ids=lambda v: getattr(v, "__name__", repr(v)[:24]))
def test_regression_spec_bad_values(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


# -- initializers --------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["glorot", "Xavier", "lecun_normal", "uniform", ""])
def test_init_params_unknown_method(method):
    with pytest.raises(ValueError, match=rf"unknown initializer '{method}'; expected one of gaussian, xavier, he"):
        init_params(SPECS["ce"], 0, method)


@pytest.mark.parametrize("bias", ["uniform", "zero", "ones", None])
def test_init_params_unknown_bias(bias):
    with pytest.raises(ValueError, match=rf"bias must be 'zeros' or 'normal', got {bias!r}"):
        init_params(SPECS["ce"], 0, bias=bias)


@pytest.mark.parametrize("dtype", ["float16", "int64", "double"])
def test_init_params_unknown_dtype(dtype):
    with pytest.raises(ValueError, match=rf"dtype must be one of float64, float32, got '{dtype}'"):
        init_params(SPECS["ce"], 0, dtype=dtype)


@pytest.mark.parametrize("seed", [None, -1, 1.5], ids=repr)
def test_init_params_rejects_seed_that_is_not_a_non_negative_int(seed):
    """init_params promises parameters "reproducible from seed": seed=None would silently
    give fresh random parameters on every call."""
    with pytest.raises((TypeError, ValueError), match=r"seed"):
        init_params(SPECS["ce"], seed)


@pytest.mark.parametrize("kwargs", [
    {"method": "gaussian", "weight_init_std": float("nan")},
    {"method": "gaussian", "weight_init_std": float("inf")},
    {"method": "gaussian", "weight_init_std": -0.01},
    {"bias": "normal", "bias_std": float("nan")},
    {"bias": "normal", "bias_std": -0.5},
], ids=lambda k: "-".join(f"{n}={v}" for n, v in k.items()))
def test_init_params_rejects_bad_std(kwargs):
    """A NaN std gives all-NaN parameters (the adapters only notice later, as 'non-finite');
    the std must be a positive finite number, named in the error."""
    name = "weight_init_std" if "weight_init_std" in kwargs else "bias_std"
    with pytest.raises(ValueError, match=name):
        init_params(SPECS["ce"], 0, **kwargs)
