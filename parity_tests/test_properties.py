"""Property tests (Hypothesis): parity and weight mapping hold for *random* models,
not only for the hand-picked cases in ``reference_numpy/cases.py``.

What this file proves:

* parity for random specs: for random MLP sizes (1..6 inputs, 1..3 hidden layers
  of 1..8 units, 1..4 outputs), every hidden activation, every head (softmax
  cross-entropy with integer labels, identity + MSE, sigmoid + binary
  cross-entropy), random batch sizes and seeds -- and for random linear and
  polynomial regressions -- NumPy, torch and Keras agree in float64 on the
  output, the loss, the loss gradients (input and every parameter) and the
  vector-Jacobian product for a random upstream gradient, within the harness's
  float64 tolerance, for every framework pair;
* weight mapping is lossless: canonical params -> torch module -> canonical and
  canonical -> Keras model -> canonical give back bit-identical arrays (same
  names, shapes, dtype, values) in float64 and float32, the framework tensors
  hold the documented layout (torch ``weight = W.T``, Keras ``kernel = W``), and
  every adapter's ``get_params()`` returns its construction params exactly;
* ``init_params`` is a pure function of its seed: the same seed gives identical
  params, a different seed gives different values in every array, and float32
  params are the float64 params rounded once.

Examples are derandomized (the same examples on every run) and few, because a
Keras call costs ~20 ms.
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import impl_tf.adapter as tf_adapter
import impl_torch.adapter as torch_adapter
from impl_tf import weights as tf_weights
from impl_torch import weights as torch_weights
from reference_numpy.initializers import METHODS, init_params
from reference_numpy.specs import LinearRegressionSpec, MLPSpec, PolynomialRegressionSpec
from reports.harness import FRAMEWORKS, PAIRS, assert_rows_pass, compare_results, make_adapter, quantities


def _settings(n: int):
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


HEADS = {   # head -> (output activation, loss)
    "softmax_ce": ("softmax", "softmax_cross_entropy"),
    "identity_mse": ("identity", "mse"),
    "sigmoid_bce": ("sigmoid", "sigmoid_binary_cross_entropy"),
}
seeds = st.integers(min_value=0, max_value=2**31 - 1)


@st.composite
def mlp_specs(draw, min_hidden_layers=1):
    output, loss = HEADS[draw(st.sampled_from(sorted(HEADS)))]
    # a softmax over one class is the constant 1 (every gradient exactly 0): 2..4 classes
    min_out = 2 if output == "softmax" else 1
    return MLPSpec(
        in_features=draw(st.integers(1, 6)),
        hidden=tuple(draw(st.lists(st.integers(1, 8), min_size=min_hidden_layers, max_size=3))),
        out_features=draw(st.integers(min_out, 4)),
        activation=draw(st.sampled_from(("sigmoid", "relu", "tanh"))),
        output=output,
        loss=loss,
    )


@st.composite
def regression_specs(draw):
    in_features, out_features = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    loss = draw(st.sampled_from(("mse", "half_sse")))
    degree = draw(st.integers(0, 4))      # 0 -> linear regression
    if degree == 0:
        return LinearRegressionSpec(in_features, out_features, loss)
    return PolynomialRegressionSpec(in_features, out_features, loss, degree=degree)


any_specs = st.one_of(mlp_specs(min_hidden_layers=0), regression_specs())


def random_batch(spec, seed: int, batch: int):
    """``(x, target, upstream)`` in float64 from ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    k = spec.out_features
    x = rng.standard_normal((batch, spec.in_features))
    if spec.loss == "softmax_cross_entropy":
        target = rng.integers(0, k, size=batch).astype(np.int64)
    elif spec.loss == "sigmoid_binary_cross_entropy":
        target = rng.random((batch, k))          # soft targets in [0, 1)
    else:
        target = rng.standard_normal((batch, k))
    upstream = rng.standard_normal((batch, k))
    return x, target, upstream


def collect(framework: str, spec, params, x, target, upstream, dtype="float64") -> dict[str, np.ndarray]:
    """``reports.harness.quantities`` for an ad-hoc spec."""
    return quantities(make_adapter(framework, spec, params, dtype), x, target, upstream)


def assert_parity(spec, seed: int, batch: int):
    params = init_params(spec, seed, "xavier", bias="normal", bias_std=0.5)
    x, target, upstream = random_batch(spec, seed, batch)
    results = {fw: collect(fw, spec, params, x, target, upstream) for fw in FRAMEWORKS}
    expected = {"output", "loss", "grad_input", "vjp_input",
                *(f"{kind}:{n}" for n in spec.param_shapes() for kind in ("grad", "vjp"))}
    label = repr(spec)
    for pair in PAIRS:
        rows = compare_results(label, spec.family, pair, "float64", results[pair[0]], results[pair[1]])
        assert {r.quantity for r in rows} == expected, f"{pair}: compared {sorted(r.quantity for r in rows)}"
        assert_rows_pass(rows)
    # the gradients are not all trivially zero (the comparison would then prove nothing)
    assert any(np.any(results["numpy"][f"vjp:{n}"] != 0) for n in spec.param_shapes())


@_settings(40)
@given(spec=mlp_specs(), seed=seeds, batch=st.integers(1, 5))
def test_random_mlp_parity_float64(spec, seed, batch):
    assert_parity(spec, seed, batch)


@_settings(25)
@given(spec=regression_specs(), seed=seeds, batch=st.integers(1, 5))
def test_random_regression_parity_float64(spec, seed, batch):
    assert_parity(spec, seed, batch)


# -- weight mapping round trips -------------------------------------------------------------

def assert_identical(got: dict, want: dict):
    assert set(got) == set(want), f"names {sorted(got)} != {sorted(want)}"
    for n, a in want.items():
        assert isinstance(got[n], np.ndarray), n
        assert got[n].dtype == a.dtype, f"{n}: dtype {got[n].dtype} != {a.dtype}"
        assert got[n].shape == a.shape, f"{n}: shape {got[n].shape} != {a.shape}"
        assert np.array_equal(got[n], a), f"{n}: values differ (max |diff| {np.max(np.abs(got[n] - a))})"


dtypes = st.sampled_from(("float64", "float32"))


@_settings(30)
@given(spec=any_specs, seed=seeds, dtype=dtypes)
def test_torch_weight_mapping_round_trip(spec, seed, dtype):
    params = init_params(spec, seed, "he", bias="normal", bias_std=0.5, dtype=dtype)
    model = torch_adapter.model_class(spec)(spec, dtype=torch_adapter.TORCH_DTYPES[dtype])
    torch_weights.load_canonical(model, spec, params)
    for link in torch_weights.param_map(spec):                         # the documented layout
        (name,), (torch_name,) = link.canonical, link.torch
        tensor = model.get_parameter(torch_name).detach().numpy()
        # dense weights are transposed ((out, in) in torch), biases copied as they are
        want = params[name].T if params[name].ndim == 2 else params[name]
        assert np.array_equal(tensor, want), (name, torch_name)
    assert_identical(torch_weights.read_canonical(model, spec), params)


@_settings(30)
@given(spec=any_specs, seed=seeds, dtype=dtypes)
def test_keras_weight_mapping_round_trip(spec, seed, dtype):
    params = init_params(spec, seed, "he", bias="normal", bias_std=0.5, dtype=dtype)
    model = tf_adapter.model_class(spec)(spec, dtype=dtype)
    tf_weights.load_canonical(model, spec, params)
    for link in tf_weights.param_map(model, spec):                     # kernel = W, no transform
        (name,), (variable,) = link.canonical, link.variables
        assert np.array_equal(variable.numpy(), params[name]), (name, variable.path)
        assert variable.dtype == dtype, (name, variable.dtype)
    assert_identical(tf_weights.read_canonical(model, spec), params)


@_settings(20)
@given(spec=any_specs, seed=seeds, dtype=dtypes)
def test_adapter_get_params_returns_construction_params(spec, seed, dtype):
    params = init_params(spec, seed, "xavier", bias="normal", bias_std=0.5, dtype=dtype)
    for framework in FRAMEWORKS:
        adapter = make_adapter(framework, spec, params, dtype)
        assert_identical(adapter.get_params(), params)


# -- initializer reproducibility --------------------------------------------------------

@_settings(60)
@given(spec=any_specs, seed=seeds, other=seeds, method=st.sampled_from(METHODS),
       bias=st.sampled_from(("zeros", "normal")))
def test_init_params_is_a_function_of_the_seed(spec, seed, other, method, bias):
    kwargs = {"method": method, "bias": bias, "bias_std": 0.5, "weight_init_std": 0.25}
    first = init_params(spec, seed, **kwargs)
    assert list(first) == list(spec.param_shapes())
    assert {n: a.shape for n, a in first.items()} == spec.param_shapes()
    assert_identical(init_params(spec, seed, **kwargs), first)
    # float32 params are the float64 params rounded once
    assert_identical(init_params(spec, seed, dtype="float32", **kwargs),
                     {n: a.astype(np.float32) for n, a in first.items()})
    if other != seed:
        second = init_params(spec, other, **kwargs)
        for n, a in first.items():
            if n.startswith("b") and bias == "zeros":
                assert not np.any(a) and not np.any(second[n]), n
            else:
                assert not np.array_equal(a, second[n]), f"seeds {seed} and {other} give the same {n}"


def test_torch_round_trip_is_not_the_identity_on_layout():
    """Guard for the round-trip tests: loading a non-square W into torch really transposes it."""
    spec = MLPSpec(2, (3,), 1, output="identity", loss="mse")
    params = init_params(spec, 0, bias="normal")
    model = torch_adapter.model_class(spec)(spec, dtype=torch.float64)
    torch_weights.load_canonical(model, spec, params)
    assert tuple(model.get_parameter("layers.0.weight").shape) == (3, 2) != params["W1"].shape
