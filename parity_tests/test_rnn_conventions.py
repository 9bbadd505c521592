"""Pins the recurrent conventions that ``impl_torch/weights.py`` and ``impl_tf/weights.py`` handle.

* torch's SimpleRNN / LSTM have two biases; the canonical b is their sum (and an optimizer
  that steps both moves b twice as fast).
* Parameter counts: SimpleRNN(16) on 2 inputs is 304 in Keras (the notes' summary) and 320 in
  torch; the per-cell formulas for LSTM and GRU in both.
* Gate orders: torch GRU (r, z, n), Keras GRU (z, r, h) = canonical (z, r, n); Keras's
  reset_after=True GRU keeps both biases in one (2, 3H) variable.
* Canaries: swapping two gates in either mapping's gate-order constant, or comparing the two
  GRU formulations, breaks torch-vs-Keras parity by far more than 1e-10, while the real
  mapping agrees to ~1e-14. Weights are random with every gate block distinct and every bias
  nonzero, so a wrong order cannot pass by accident.
* Many-to-one bidirectional: the last state is h_n (forward after x_T, backward after x_1),
  not torch's ``output[:, -1]``.

Tolerances: float64 results of the two frameworks agree to ~1e-14 (measured); 1e-12 is used
for "agrees", and a convention bug shows up as >= 1e-3 (measured 1.0 .. 1.9).
"""

import keras
import numpy as np
import pytest
import torch

import impl_tf  # noqa: F401  (sets KERAS_BACKEND=tensorflow before keras is imported)
from impl_torch import weights as torch_weights
from reference_numpy.gradcheck import relative_error
from reference_numpy.initializers import init_params
from reference_numpy.specs import GATE_ORDERS, KERAS_GATE_NAMES, RNNSpec
from reports.harness import make_adapter, quantities

AGREE = 1e-12          # measured torch vs Keras worst case over every cell and option: 6e-14
BROKEN = 1e-3          # what a wrong gate order or formulation gives (measured 1.0 .. 1.9)


def random_params(spec, seed=0):
    """Xavier weights and N(0, 0.5^2) biases; asserts every gate block differs and no bias is 0."""
    params = init_params(spec, seed, "xavier", bias="normal", bias_std=0.5)
    for name, a in params.items():
        assert np.all(a != 0), name
        if name.removesuffix("_reverse") in spec.cell_param_shapes() and len(spec.gates) > 1:
            blocks = np.split(a, len(spec.gates), axis=-1)
            assert all(not np.allclose(p, q) for i, p in enumerate(blocks) for q in blocks[i + 1:]), name
    return params


def batch(spec, T=5, N=3, seed=1, given_state=True):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, T, spec.in_features))
    shape = spec.output_shape(x.shape)
    state = ({n: rng.standard_normal((N, *s)) for n, s in spec.state_shapes().items()}
             if given_state else None)
    return x, rng.standard_normal(shape), rng.standard_normal(shape), state


def worst_error(spec_a, params_a, fw_a, spec_b, params_b, fw_b, data):
    """The worst normwise relative error over every compared quantity (output, final states,
    loss, input / parameter / state gradients, vjp) of two adapters on one batch; parameter
    gradients are compared where both specs have the parameter."""
    qa = quantities(make_adapter(fw_a, spec_a, params_a), *data)
    qb = quantities(make_adapter(fw_b, spec_b, params_b), *data)
    return max(relative_error(qa[q], qb[q])[1] for q in qa if q in qb)


# -- torch's two biases -----------------------------------------------------------------


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_torch_two_biases_only_their_sum_is_the_canonical_b(cell):
    spec = RNNSpec(cell, 2, 3, 2)
    params = random_params(spec)
    x = batch(spec)[0]
    adapter = make_adapter("torch", spec, params)
    layer = adapter.model.recurrent.layer
    np.testing.assert_array_equal(layer.bias_hh_l0.detach().numpy(), 0)      # loaded as (b, 0)
    before = adapter.forward(x)
    delta = np.random.default_rng(2).standard_normal(layer.bias_ih_l0.shape)
    with torch.no_grad():                      # move value from one bias to the other
        layer.bias_ih_l0 += torch.tensor(delta)
        layer.bias_hh_l0 -= torch.tensor(delta)
    assert relative_error(adapter.forward(x), before)[1] < AGREE
    # read back as the sum: equal up to the rounding of (b + delta) - delta
    np.testing.assert_allclose(adapter.get_params()["b"], params["b"], rtol=0, atol=1e-15)
    # both biases receive the same gradient, dL/db
    loss = adapter.model.objective(torch.tensor(x), torch.zeros(spec.output_shape(x.shape), dtype=torch.float64))
    g_ih, g_hh = torch.autograd.grad(loss, [layer.bias_ih_l0, layer.bias_hh_l0])
    assert relative_error(g_ih.numpy(), g_hh.numpy())[1] < AGREE


def test_torch_optimizer_stepping_both_biases_moves_b_twice_as_fast():
    """Plain torch SGD on ``model.parameters()`` steps bias_ih and bias_hh by the same
    gradient, so b = bias_ih + bias_hh moves by 2 * lr * dL/db; leaving out
    ``weights.redundant_parameters`` gives the canonical step (what Keras does)."""
    spec = RNNSpec("rnn", 2, 3, 2)
    params = random_params(spec)
    x, d, _, _ = batch(spec, given_state=False)
    g = make_adapter("keras", spec, params).loss_and_grads(x, d).grads["b"]
    lr = 0.125
    assert torch_weights.redundant_parameters(spec) == ("recurrent.layer.bias_hh_l0",)
    for skip, factor in (((), 2.0), (torch_weights.redundant_parameters(spec), 1.0)):
        adapter = make_adapter("torch", spec, params)
        opt = torch.optim.SGD([p for n, p in adapter.model.named_parameters() if n not in skip], lr=lr)
        adapter.model.objective(torch.tensor(x), torch.tensor(d)).backward()
        opt.step()
        b = adapter.get_params()["b"]
        np.testing.assert_allclose(b, params["b"] - factor * lr * g, rtol=0, atol=1e-14)
    assert torch_weights.redundant_parameters(RNNSpec("gru", 2, 3, 2)) == ()


# -- parameter counts ---------------------------------------------------------------------


def layer_counts(spec):
    """(torch, Keras) trainable scalars of the recurrent layer alone (no head)."""
    params = init_params(spec, 0)
    t, k = make_adapter("torch", spec, params), make_adapter("keras", spec, params)
    head = spec.out_features * (len(spec.directions) * spec.hidden + 1)
    n_t = sum(p.numel() for p in t.model.recurrent.parameters())
    n_k = sum(int(np.prod(v.shape)) for v in k.model.recurrent.trainable_variables)
    assert (t.param_count(), k.param_count()) == (n_t + head, n_k + head)
    return n_t, n_k


def test_simple_rnn_16_on_2_inputs_counts_304_in_keras_and_320_in_torch():
    assert layer_counts(RNNSpec("rnn", 2, 16, 1)) == (320, 304)
    assert layer_counts(RNNSpec("rnn", 2, 16, 1, activation="sigmoid")) == (320, 304)   # hand-written in torch


@pytest.mark.parametrize("D, H", [(2, 16), (3, 5)])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_per_cell_parameter_formulas(D, H, bidirectional):
    """Per direction: G gate blocks of D*H + H*H weights; torch adds 2 biases per block
    (SimpleRNN, LSTM, GRU), Keras 1 (SimpleRNN, LSTM, GRU reset_after=False) or 2 (GRU
    reset_after=True, its (2, 3H) bias); the hand-written reset_after=False GRU in torch has 1."""
    dirs = 2 if bidirectional else 1
    weights = D * H + H * H                         # one gate block's kernel + recurrent kernel

    def spec(cell, **kw):
        return RNNSpec(cell, D, H, 1, bidirectional=bidirectional, **kw)

    expected = {  # spec -> (torch, Keras) per direction
        spec("rnn"): (weights + 2 * H, weights + H),
        spec("lstm"): (4 * (weights + 2 * H), 4 * (weights + H)),
        spec("gru"): (3 * (weights + 2 * H), 3 * (weights + 2 * H)),
        spec("gru", reset_after=False): (3 * (weights + H), 3 * (weights + H)),
    }
    for s, (n_torch, n_keras) in expected.items():
        assert layer_counts(s) == (dirs * n_torch, dirs * n_keras), s
        canonical = sum(int(np.prod(shape)) for shape in s.param_shapes().values())
        assert canonical == dirs * n_keras + s.out_features * (dirs * H + 1), s    # Keras = canonical


# -- gate orders and the Keras GRU bias ---------------------------------------------------


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def test_keras_gru_reset_after_bias_is_2_by_3H_rows_input_then_recurrent():
    H = 3
    spec = RNNSpec("gru", 2, H, 1)
    params = random_params(spec)
    cell = make_adapter("keras", spec, params).model.recurrent.layer.cell
    assert tuple(cell.bias.shape) == (2, 3 * H)
    np.testing.assert_array_equal(cell.bias.numpy(), np.stack([params["b"], params["bh"]]))
    spec_before = RNNSpec("gru", 2, H, 1, reset_after=False)
    cell = make_adapter("keras", spec_before, random_params(spec_before)).model.recurrent.layer.cell
    assert tuple(cell.bias.shape) == (3 * H,)


def test_torch_gru_gate_order_is_r_z_n_and_canonical_is_z_r_n():
    """torch's own step, recomputed with its blocks read as (r, z, n), matches; read as
    (z, r, n) it does not. The mapping puts the canonical z block second in torch."""
    D, H = 2, 3
    torch.manual_seed(0)
    gru = torch.nn.GRU(D, H, batch_first=True, dtype=torch.float64)
    x, h = np.random.default_rng(0).standard_normal((4, D)), np.random.default_rng(1).standard_normal((4, H))
    _, h1 = gru(torch.tensor(x[:, None]), torch.tensor(h[None]))
    W_ih, W_hh, b_ih, b_hh = (p.detach().numpy() for p in gru.parameters())
    ax, ah = x @ W_ih.T + b_ih, h @ W_hh.T + b_hh                      # (N, 3H) each

    def step(first, second):   # the blocks at rows [0:H], [H:2H] read as gates `first`, `second`
        g = {first: sigmoid(ax[:, :H] + ah[:, :H]), second: sigmoid(ax[:, H:2 * H] + ah[:, H:2 * H])}
        n = np.tanh(ax[:, 2 * H:] + g["r"] * ah[:, 2 * H:])
        return g["z"] * h + (1 - g["z"]) * n

    assert relative_error(step("r", "z"), h1[0].detach().numpy())[1] < AGREE
    assert relative_error(step("z", "r"), h1[0].detach().numpy())[1] > BROKEN
    assert GATE_ORDERS["gru"]["torch"] == ("r", "z", "n") and GATE_ORDERS["gru"]["numpy"] == ("z", "r", "n")
    spec = RNNSpec("gru", D, H, 1)
    params = random_params(spec)
    layer = make_adapter("torch", spec, params).model.recurrent.layer
    w = layer.weight_ih_l0.detach().numpy()                             # (3H, D) blocks r, z, n
    np.testing.assert_array_equal(w[:H], params["Wx"][:, H:2 * H].T)   # torch r = canonical block 2
    np.testing.assert_array_equal(w[H:2 * H], params["Wx"][:, :H].T)   # torch z = canonical block 1
    np.testing.assert_array_equal(layer.bias_hh_l0.detach().numpy()[:H], params["bh"][H:2 * H])


def test_keras_gru_gate_order_is_z_r_h():
    """Keras's own step, recomputed with its blocks read as (z, r, h), matches."""
    D, H = 2, 3
    layer = keras.layers.GRU(H, recurrent_activation="sigmoid", dtype="float64")
    x, h = np.random.default_rng(0).standard_normal((4, D)), np.random.default_rng(1).standard_normal((4, H))
    layer(x[:, None], initial_state=[h])                                # builds the variables
    W, U, B = (v.numpy() for v in layer.cell.weights)
    B = B + np.random.default_rng(2).standard_normal(B.shape)          # nonzero biases
    layer.cell.bias.assign(B)
    h1 = layer(x[:, None], initial_state=[h]).numpy()
    ax, ah = x @ W + B[0], h @ U + B[1]
    z, r = sigmoid(ax[:, :H] + ah[:, :H]), sigmoid(ax[:, H:2 * H] + ah[:, H:2 * H])
    expected = z * h + (1 - z) * np.tanh(ax[:, 2 * H:] + r * ah[:, 2 * H:])
    assert relative_error(expected, h1)[1] < AGREE
    assert GATE_ORDERS["gru"]["keras"] == ("z", "r", "n") and KERAS_GATE_NAMES["gru"] == {"n": "h"}


def test_torch_has_no_sigmoid_rnn_and_no_reset_before_gru():
    """Why impl_torch writes these two by hand."""
    with pytest.raises(ValueError, match="nonlinearity"):
        torch.nn.RNN(2, 3, nonlinearity="sigmoid")
    with pytest.raises(TypeError):
        torch.nn.GRU(2, 3, reset_after=False)


# -- canaries -----------------------------------------------------------------------------

#: Pairs of canonical gates to swap (``GATE_ORDERS`` names every framework's gates canonically).
SWAPS = [("lstm", "i", "f"), ("lstm", "g", "o"), ("gru", "z", "r"), ("gru", "r", "n")]


def swapped(order, a, b):
    return tuple(b if g == a else a if g == b else g for g in order)


@pytest.mark.parametrize("cell, a, b", SWAPS)
@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_swapping_two_gates_in_the_mapping_breaks_parity(cell, a, b, framework, monkeypatch):
    """Both ``weights.py`` read their gate order from ``specs.GATE_ORDERS``: a swap in either
    framework's column of the table breaks parity."""
    spec = RNNSpec(cell, 2, 3, 2, bidirectional=True)
    params, data = random_params(spec), batch(spec)
    assert worst_error(spec, params, "torch", spec, params, "keras", data) < AGREE
    gates = swapped(GATE_ORDERS[cell][framework], a, b)
    assert gates != GATE_ORDERS[cell][framework]
    monkeypatch.setitem(GATE_ORDERS[cell], framework, gates)
    assert worst_error(spec, params, "torch", spec, params, "keras", data) > BROKEN


def test_the_two_gru_formulations_differ():
    """torch reset_after=True vs Keras reset_after=False (with bh folded into b, which is exact
    for the z and r gates): only the candidate's reset product differs, and it shows."""
    after, before = RNNSpec("gru", 2, 3, 2), RNNSpec("gru", 2, 3, 2, reset_after=False)
    params, data = random_params(after), batch(after)
    folded = {n: a for n, a in params.items() if n != "bh"} | {"b": params["b"] + params["bh"]}
    assert worst_error(after, params, "torch", after, params, "keras", data) < AGREE
    assert worst_error(before, folded, "torch", before, folded, "keras", data) < AGREE
    assert worst_error(after, params, "torch", before, folded, "keras", data) > BROKEN


# -- many-to-one bidirectional ------------------------------------------------------------


def test_bidirectional_last_state_is_h_n_not_output_at_the_last_step():
    H = 3
    spec = RNNSpec("rnn", 2, H, 2, bidirectional=True)
    params, x = random_params(spec), batch(spec, T=6)[0]
    adapter = make_adapter("torch", spec, params)
    output, h_n = adapter.model.recurrent.layer(torch.tensor(x))           # (N, T, 2H), (2, N, H)
    output, h_n = output.detach().numpy(), h_n.detach().numpy()
    np.testing.assert_array_equal(output[:, -1, :H], h_n[0])               # forward: the same
    np.testing.assert_array_equal(output[:, 0, H:], h_n[1])                # backward ends at step 1
    assert relative_error(output[:, -1, H:], h_n[1])[1] > BROKEN           # the porting pitfall
    last = np.concatenate([h_n[0], h_n[1]], axis=-1)                       # (N, 2H)
    u = adapter.forward(x)                                                 # identity output
    assert relative_error(u, last @ params["W_out"] + params["b_out"])[1] < AGREE
    # ... which is what Keras's Bidirectional returns for return_sequences=False
    keras_model = make_adapter("keras", spec, params).model
    config = keras_model.recurrent.layer.forward_layer.get_config() | {"return_sequences": False}
    bidi = keras.layers.Bidirectional(keras.layers.SimpleRNN.from_config(config), dtype="float64")
    bidi.build(x.shape)
    bidi.set_weights(keras_model.recurrent.layer.get_weights())
    keras_last = bidi(x)[0].numpy()                                        # (N, 2H)
    assert relative_error(keras_last, last)[1] < AGREE
    assert relative_error(keras_model(x).numpy(), u)[1] < AGREE


@pytest.mark.parametrize("framework", ["numpy", "torch", "keras"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_final_states_come_back_keyed_and_ordered_like_the_spec(cell, framework):
    """h (and c) per direction, forward first: the order of ``spec.state_shapes()``; torch's
    (directions, N, H) tensors and Keras's flat state list are both unpacked into it."""
    spec = RNNSpec(cell, 2, 3, 2, bidirectional=True)
    x = batch(spec, given_state=False)[0]
    state = make_adapter(framework, spec, random_params(spec)).final_state(x)
    assert list(state) == list(spec.state_shapes())
    assert all(s.shape == (x.shape[0], spec.hidden) for s in state.values())
