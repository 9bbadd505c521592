"""The weight mappings (``impl_torch/weights.py``, ``impl_tf/weights.py``) are exact, and their
conventions are pinned.

What this file proves:

* round trip canonical -> framework -> canonical (``adapter.get_params()`` right after
  building) is bit-exact, same names in canonical order, same dtype, for every case in
  ``CASES`` plus an all-square MLP, in torch and Keras, in float64 and float32;
* the layout conventions: torch's ``nn.Linear.weight`` holds ``W.T`` (shape ``(out, in)``),
  Keras's ``Dense.kernel`` holds ``W`` as it is (shape ``(in, out)``); biases are copied as
  they are -- for ``model.dense_stack.layers["dense{l}"]`` (MLP) and ``model.dense``
  (regression; the CNN's and recurrent net's layouts are pinned in ``test_cnn_conventions.py``
  and ``test_rnn_conventions.py``);
* the adapters and the mapping functions copy: mutating the params passed in, or the dict
  returned by ``get_params()``, after building leaves the model unchanged;
* canaries: a mapping that forgets the torch transpose on square weights (an all-square MLP
  and the square weights of the cases: SimpleRNN ``Wh`` 4x4 and the notes' 16x16, a 2x2
  bidirectional head ``W_out``, a GRU ``Wx`` 3x3), that adds a transpose to Keras's square
  ``Wh``, or that swaps two equally sized biases, still round-trips bit-exactly (so the
  round trip alone could never catch it) but fails parity against NumPy by O(1) -- a layout
  bug cannot pass the parity comparison by accident;
* the mappings reject a model with a parameter they do not cover (KeyError naming it).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn as nn

import impl_tf  # noqa: F401  (selects the TensorFlow backend before keras is imported)
import impl_tf.weights
import impl_torch.weights
from impl_tf.mlp import MLP as KerasMLP
from impl_torch.mlp import MLP as TorchMLP
from reference_numpy.cases import CASES, CASES_BY_NAME, Case
from reference_numpy.gradcheck import relative_error
from reference_numpy.specs import LinearRegressionSpec, MLPSpec
from reports.harness import assert_rows_pass, compare_results, make_adapter, quantities

FRAMEWORKS = ("torch", "keras")
DTYPES = ("float64", "float32")
# (batch-norm MLPs have gamma / beta instead of b: their layouts are pinned in test_regularization.py)
MLP_CASES = [c for c in CASES if isinstance(c.spec, MLPSpec) and c.spec.batch_norm is None]
REGRESSION_CASES = [c for c in CASES if isinstance(c.spec, LinearRegressionSpec)]

# Every weight square and every bias the same size: a transposed W or two swapped biases
# keep every shape right, so only the numbers can reveal them.
SQUARE = Case("square_mlp", MLPSpec(4, (4, 4), 4, activation="tanh", output="identity", loss="mse"), seed=21)
# Round trip and conventions: every case in CASES, plus SQUARE (the MLPs and regressions in
# CASES have no square W; among the recurrent cases SimpleRNN's Wh is 4x4 and 16x16, a
# bidirectional head W_out 2x2 and a one-unit GRU's Wx 3x3 -- see SQUARE_WEIGHTS).
ALL_CASES = (*CASES, SQUARE)
CASE_IDS = [c.name for c in ALL_CASES]
# The dense-layout tests below: the models made of dense layers only. Where the CNN's and the
# recurrent net's arrays live is pinned in test_cnn_conventions.py and test_rnn_conventions.py.
DENSE_CASES = (*MLP_CASES, *REGRESSION_CASES, SQUARE)
DENSE_IDS = [c.name for c in DENSE_CASES]


def assert_same_params(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for name in want:
        assert isinstance(got[name], np.ndarray), name
        assert got[name].dtype == want[name].dtype, (name, got[name].dtype, want[name].dtype)
        assert got[name].shape == want[name].shape, (name, got[name].shape, want[name].shape)
        assert np.array_equal(got[name], want[name]), name


def case_quantities(adapter, case: Case, dtype: str = "float64") -> dict[str, np.ndarray]:
    """``reports.harness.quantities`` for any case (with its initial state, if it has one)."""
    return quantities(adapter, *case.batch_data(dtype), case.initial_state(dtype))


def parity_rows(framework: str, case: Case, dtype: str = "float64"):
    params = case.params(dtype)
    a = case_quantities(make_adapter("numpy", case.spec, params, dtype), case, dtype)
    b = case_quantities(make_adapter(framework, case.spec, params, dtype), case, dtype)
    return {r.quantity: r for r in compare_results(case.name, case.family, ("numpy", framework), dtype, a, b)}


# ---------------------------------------------------------------------------- round trip

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("case", ALL_CASES, ids=CASE_IDS)
def test_round_trip_is_bit_exact(case, framework, dtype):
    params = case.params(dtype)
    assert_same_params(make_adapter(framework, case.spec, params, dtype).get_params(), params)


# --------------------------------------------------------------------------- conventions

def dense_layers(adapter):
    """The model's nn.Linear / Dense layers, in canonical order."""
    if isinstance(adapter.spec, MLPSpec):
        return [adapter.model.dense_stack.layers[f"dense{l}"] for l in range(1, adapter.spec.n_layers + 1)]
    return [adapter.model.dense]


def weight_names(spec):
    names = list(spec.param_shapes())
    return list(zip(names[0::2], names[1::2]))     # [(W1, b1), (W2, b2), ...] or [(W, b)]


@pytest.mark.parametrize("case", DENSE_CASES, ids=DENSE_IDS)
def test_torch_linear_weight_is_canonical_transposed(case):
    params = case.params("float64")
    adapter = make_adapter("torch", case.spec, params, "float64")
    layers = dense_layers(adapter)
    assert len(layers) == len(weight_names(case.spec))
    for layer, (w, b) in zip(layers, weight_names(case.spec)):
        n_in, n_out = params[w].shape
        weight, bias = layer.weight.detach().numpy(), layer.bias.detach().numpy()
        assert weight.shape == (n_out, n_in) and weight.dtype == np.float64
        assert np.array_equal(weight, params[w].T), w
        assert np.array_equal(bias, params[b]), b


@pytest.mark.parametrize("case", DENSE_CASES, ids=DENSE_IDS)
def test_keras_dense_kernel_is_canonical_as_is(case):
    params = case.params("float64")
    adapter = make_adapter("keras", case.spec, params, "float64")
    layers = dense_layers(adapter)
    assert len(layers) == len(weight_names(case.spec))
    for layer, (w, b) in zip(layers, weight_names(case.spec)):
        kernel, bias = layer.kernel.numpy(), layer.bias.numpy()
        assert kernel.shape == params[w].shape and kernel.dtype == np.float64
        assert np.array_equal(kernel, params[w]), w
        assert np.array_equal(bias, params[b]), b


def test_first_mlp_layer_pinned_explicitly():
    """The brief's literal statement, on the first case: torch's dense1.weight == W1.T, Keras's
    dense1.kernel == W1; W1 is not square, so the shapes alone tell them apart."""
    case = MLP_CASES[0]
    W1 = case.params("float64")["W1"]
    assert W1.shape == (4, 16)
    t = make_adapter("torch", case.spec, case.params("float64")).model.dense_stack.layers["dense1"].weight
    k = make_adapter("keras", case.spec, case.params("float64")).model.dense_stack.layers["dense1"].kernel
    t, k = t.detach().numpy(), k.numpy()
    assert t.shape == (16, 4) and np.array_equal(t, W1.T)
    assert k.shape == (4, 16) and np.array_equal(k, W1)


def test_regression_layer_pinned_explicitly():
    case = next(c for c in REGRESSION_CASES if c.spec.out_features > 1 and c.spec.n_features > 1)
    W = case.params("float64")["W"]
    assert W.shape[0] != W.shape[1]
    t = make_adapter("torch", case.spec, case.params("float64")).model.dense.weight.detach().numpy()
    k = make_adapter("keras", case.spec, case.params("float64")).model.dense.kernel.numpy()
    assert np.array_equal(t, W.T) and np.array_equal(k, W)


def test_torch_param_map_names():
    spec = MLPSpec(4, (5, 6), 3)
    def rows(spec):
        return [(link.canonical, link.torch) for link in impl_torch.weights.param_map(spec)]
    assert rows(spec) == [
        (("W1",), ("dense_stack.layers.dense1.weight",)), (("b1",), ("dense_stack.layers.dense1.bias",)),
        (("W2",), ("dense_stack.layers.dense2.weight",)), (("b2",), ("dense_stack.layers.dense2.bias",)),
        (("W3",), ("dense_stack.layers.dense3.weight",)), (("b3",), ("dense_stack.layers.dense3.bias",))]
    assert rows(REGRESSION_CASES[0].spec) == [(("W",), ("dense.weight",)), (("b",), ("dense.bias",))]


# --------------------------------------------------------------------------------- copies

@pytest.mark.parametrize("framework", ("numpy", *FRAMEWORKS))
@pytest.mark.parametrize("case", [MLP_CASES[0], REGRESSION_CASES[-1]], ids=lambda c: c.name)
def test_adapter_copies_params_in(case, framework):
    params = case.params("float64")
    x = case.batch_data("float64")[0]
    adapter = make_adapter(framework, case.spec, params)
    want, y = case.params("float64"), adapter.forward(x)
    for name in list(params):
        params[name] += 1.0                      # in place: the caller's arrays
        params[name][...] = np.nan
        params[name] = np.zeros_like(params[name])
    params["extra"] = np.ones(3)
    params.clear()
    assert_same_params(adapter.get_params(), want)
    assert np.array_equal(adapter.forward(x), y)


@pytest.mark.parametrize("framework", ("numpy", *FRAMEWORKS))
@pytest.mark.parametrize("case", [MLP_CASES[0], REGRESSION_CASES[-1]], ids=lambda c: c.name)
def test_adapter_copies_params_out(case, framework):
    want = case.params("float64")
    x = case.batch_data("float64")[0]
    adapter = make_adapter(framework, case.spec, want)
    y = adapter.forward(x)
    got = adapter.get_params()
    for name in list(got):
        got[name] *= -3.0
        got[name][...] = np.nan
        got[name] = np.zeros_like(got[name])
    got.clear()
    assert_same_params(adapter.get_params(), want)
    assert np.array_equal(adapter.forward(x), y)


@pytest.mark.parametrize("case", [MLP_CASES[0], REGRESSION_CASES[-1]], ids=lambda c: c.name)
def test_torch_mapping_functions_copy(case):
    """Below the adapter (which copies on its own): load_canonical and read_canonical copy too."""
    from impl_torch.adapter import model_class
    params, want = case.params("float64"), case.params("float64")
    model = model_class(case.spec)(case.spec, dtype=torch.float64)
    impl_torch.weights.load_canonical(model, case.spec, params)
    for a in params.values():
        a[...] = 7.0
    assert_same_params(impl_torch.weights.read_canonical(model, case.spec), want)
    for a in impl_torch.weights.read_canonical(model, case.spec).values():
        a[...] = 7.0
    assert_same_params(impl_torch.weights.read_canonical(model, case.spec), want)


@pytest.mark.parametrize("case", [MLP_CASES[0], REGRESSION_CASES[-1]], ids=lambda c: c.name)
def test_keras_mapping_functions_copy(case):
    from impl_tf.adapter import model_class
    params, want = case.params("float64"), case.params("float64")
    model = model_class(case.spec)(case.spec, dtype="float64")
    impl_tf.weights.load_canonical(model, case.spec, params)
    for a in params.values():
        a[...] = 7.0
    assert_same_params(impl_tf.weights.read_canonical(model, case.spec), want)
    for a in impl_tf.weights.read_canonical(model, case.spec).values():
        a[...] = 7.0
    assert_same_params(impl_tf.weights.read_canonical(model, case.spec), want)


# -------------------------------------------------------------------------------- canaries

def square_weights(spec) -> set[str]:
    """The canonical parameters that are square matrices larger than 1x1."""
    return {n for n, shape in spec.param_shapes().items() if len(shape) == 2 and shape[0] == shape[1] > 1}


#: Every square weight of CASES (pinned by test_square_weights_of_the_cases): what makes a
#: one-sided transpose invisible to shapes.
SQUARE_WEIGHTS = {c.name: square_weights(c.spec) for c in CASES if square_weights(c.spec)}


def transposed_once_more(link, to: str, back: str, grad: str):
    """``link`` with one extra transpose on the framework side, in both directions: the round trip
    stays exact, the framework sees W.T where the mapping meant W (undoing torch's transpose,
    adding one to Keras)."""
    to_fw, from_fw, grad_fw = getattr(link, to), getattr(link, back), getattr(link, grad)
    return dataclasses.replace(link, **{
        to: lambda *a: tuple(v.T for v in to_fw(*a)),
        back: lambda *v: from_fw(*(t.T for t in v)),
        grad: None if grad_fw is None else (lambda *v: grad_fw(*(t.T for t in v)))})


def torch_without_transpose(monkeypatch):
    """torch's mapping forgets the transpose of every square weight (an ``nn.Linear`` weight, a
    recurrent ``weight_hh`` / ``weight_ih``)."""
    original = impl_torch.weights.param_map

    def broken(spec):
        square = square_weights(spec)
        return [transposed_once_more(link, "to_torch", "from_torch", "grad_from_torch")
                if set(link.canonical) <= square else link for link in original(spec)]
    monkeypatch.setattr(impl_torch.weights, "param_map", broken)


def keras_with_transposed_square_weights(monkeypatch):
    """Keras's mapping transposes every square weight (the torch habit carried over)."""
    original = impl_tf.weights.param_map

    def broken(model, spec):
        square = square_weights(spec)
        return [transposed_once_more(link, "to_keras", "from_keras", "grad_from_keras")
                if set(link.canonical) <= square else link for link in original(model, spec)]
    monkeypatch.setattr(impl_tf.weights, "param_map", broken)


def torch_without_any_transpose(monkeypatch):
    """Every dense link copied as it is (MLPs only): on non-square weights, a shape error."""
    original = impl_torch.weights.param_map
    monkeypatch.setattr(impl_torch.weights, "param_map",
                        lambda spec: [impl_torch.weights.same(link.canonical[0], link.torch[0])
                                      for link in original(spec)])


SWAP_BIASES = {"b1": "b2", "b2": "b1"}


def torch_with_swapped_biases(monkeypatch):
    original = impl_torch.weights.param_map

    def swapped(spec):
        links = original(spec)
        torch_name = {link.canonical[0]: link.torch for link in links}
        return [dataclasses.replace(link, torch=torch_name[SWAP_BIASES.get(link.canonical[0], link.canonical[0])])
                for link in links]
    monkeypatch.setattr(impl_torch.weights, "param_map", swapped)


def keras_with_swapped_biases(monkeypatch):
    original = impl_tf.weights.param_map

    def swapped(model, spec):
        links = original(model, spec)
        variables = {link.canonical[0]: link.variables for link in links}
        return [dataclasses.replace(link, variables=variables[SWAP_BIASES.get(link.canonical[0], link.canonical[0])])
                for link in links]
    monkeypatch.setattr(impl_tf.weights, "param_map", swapped)


def test_square_weights_of_the_cases():
    """The claim behind the canaries' choice of cases, pinned: SimpleRNN's Wh is 4x4 (H = 4) and
    16x16 (the notes' binary addition), a bidirectional one-unit head W_out 2x2, a one-unit
    GRU's Wx (3, 3H) = 3x3 (seq2seq's attention matrices are square too); no MLP, regression or
    CNN case has a square matrix, hence SQUARE."""
    by_case = {name: CASES_BY_NAME[name].spec.param_shapes() for name in SQUARE_WEIGHTS}
    assert by_case["rnn_binary_addition"]["Wh"] == (16, 16)
    assert by_case["rnn_tanh_last_h0_T1_N3_H4"]["Wh"] == (4, 4)
    assert by_case["lstm_seq_bi_h0_T1_N1_H1"]["W_out"] == (2, 2)
    assert by_case["gru_last_T1_N1_H1"]["Wx"] == (3, 3)
    families = {CASES_BY_NAME[name].spec.family for name in SQUARE_WEIGHTS}
    assert {"rnn", "lstm", "gru"} <= families and not families & {"mlp", "regression", "cnn"}


#: (framework, breakage, case): every breakage on cases whose square weight reaches the output
#: (with one step, a zero initial state never reaches Wh, so those cases have a given state).
CANARIES = [("torch", torch_without_transpose, SQUARE),
            ("torch", torch_without_transpose, CASES_BY_NAME["rnn_tanh_last_h0_T1_N3_H4"]),      # Wh 4x4
            ("torch", torch_without_transpose, CASES_BY_NAME["rnn_binary_addition"]),            # Wh 16x16
            ("torch", torch_without_transpose, CASES_BY_NAME["lstm_seq_bi_h0_T1_N1_H1"]),        # W_out 2x2
            ("torch", torch_without_transpose, CASES_BY_NAME["gru_last_T1_N1_H1"]),              # Wx 3x3
            ("keras", keras_with_transposed_square_weights, CASES_BY_NAME["rnn_tanh_last_h0_T1_N3_H4"]),
            ("keras", keras_with_transposed_square_weights, CASES_BY_NAME["rnn_binary_addition"]),
            ("torch", torch_with_swapped_biases, SQUARE),
            ("keras", keras_with_swapped_biases, SQUARE)]


@pytest.mark.parametrize("framework, breakage, case", CANARIES,
                         ids=[f"{b.__name__}-{c.name}" for _, b, c in CANARIES])
def test_broken_mapping_round_trips_but_fails_parity(framework, breakage, case, monkeypatch):
    breakage(monkeypatch)
    params = case.params("float64")
    adapter = make_adapter(framework, case.spec, params)
    # The bug is symmetric (applied on the way in and on the way out): the round trip is blind to it.
    assert_same_params(adapter.get_params(), params)
    rows = parity_rows(framework, case)
    assert rows["output"].max_rel_err > 1e-3, rows["output"].message()
    assert rows["loss"].max_rel_err > 1e-3, rows["loss"].message()
    with pytest.raises(AssertionError, match="quantities disagree"):
        assert_rows_pass(list(rows.values()))
    # ...and not marginally: the same forward outputs, compared directly.
    x, state = case.batch_data("float64")[0], case.initial_state("float64")
    _, rel = relative_error(make_adapter("numpy", case.spec, params).forward(x, state), adapter.forward(x, state))
    assert rel > 1e-3


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("case", [SQUARE] + [CASES_BY_NAME[n] for n in ("rnn_tanh_last_h0_T1_N3_H4",
                                                                        "rnn_binary_addition",
                                                                        "lstm_seq_bi_h0_T1_N1_H1",
                                                                        "gru_last_T1_N1_H1")],
                         ids=lambda c: c.name)
def test_canary_cases_pass_parity_with_the_real_mapping(case, framework):
    """Positive control for the canaries: unpatched, every canary case agrees with NumPy."""
    assert_rows_pass(list(parity_rows(framework, case).values()))


def test_torch_missing_transpose_on_non_square_weights_is_a_shape_error(monkeypatch):
    torch_without_any_transpose(monkeypatch)
    case = MLP_CASES[0]
    with pytest.raises(ValueError, match=r"\('W1',\) maps to dense_stack.layers.dense1.weight"):
        make_adapter("torch", case.spec, case.params("float64"))


# ------------------------------------------------------------------------ uncovered params

def torch_model_with_extra(spec):
    model = TorchMLP(spec, dtype=torch.float64)
    model.extra = nn.Parameter(torch.zeros(3, dtype=torch.float64))
    return model


def test_torch_read_rejects_unmapped_parameter():
    spec = SQUARE.spec
    with pytest.raises(KeyError, match="extra"):
        impl_torch.weights.read_canonical(torch_model_with_extra(spec), spec)


def test_torch_load_rejects_unmapped_parameter():
    spec = SQUARE.spec
    with pytest.raises(KeyError, match="extra"):
        impl_torch.weights.load_canonical(torch_model_with_extra(spec), spec, SQUARE.params("float64"))


def test_torch_rejects_missing_parameter():
    spec = SQUARE.spec
    model = TorchMLP(spec, dtype=torch.float64)
    model.dense_stack.layers["dense1"] = nn.Linear(4, 4, bias=False, dtype=torch.float64)
    with pytest.raises(KeyError, match="dense_stack.layers.dense1.bias"):
        impl_torch.weights.load_canonical(model, spec, SQUARE.params("float64"))
    with pytest.raises(KeyError, match="dense_stack.layers.dense1.bias"):
        impl_torch.weights.read_canonical(model, spec)


def keras_model_with_extra(spec):
    model = KerasMLP(spec, dtype="float64")
    model.add_weight(shape=(3,), name="extra", dtype="float64")   # before build: Keras locks state after
    return model


def test_keras_load_rejects_unmapped_variable():
    spec = SQUARE.spec
    with pytest.raises(KeyError, match="extra"):
        impl_tf.weights.load_canonical(keras_model_with_extra(spec), spec, SQUARE.params("float64"))


def test_keras_read_rejects_unmapped_variable():
    spec = SQUARE.spec
    model = keras_model_with_extra(spec)
    model(np.zeros((1, 4)))                         # built without load_canonical
    try:
        impl_tf.weights.read_canonical(model, spec)
    except KeyError as e:
        assert "extra" in str(e)
    else:
        raise AssertionError("read_canonical silently ignored the unmapped variable 'extra'")
