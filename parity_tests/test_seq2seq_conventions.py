"""Seq2seq: torch and Keras against the NumPy reference, and the conventions their mirrors handle
(``impl_torch/seq2seq.py``, ``impl_tf/seq2seq.py``, the seq2seq sections of both ``weights.py``).

* Parity: for each cell (LSTM, GRU reset_after=True / False) x attention (none, dot, general,
  additive), float64, a right-padded batch of mixed lengths, random weights with nonzero biases:
  logits, attention weights, loss, every parameter gradient of the loss and of a random-upstream
  VJP on the logits (padded target positions included) agree with NumPy; greedy decodes agree
  token for token. Gradients are taken with ``torch.autograd`` / ``tf.GradientTape`` directly and
  mapped with ``weights.to_canonical(kind="grads")`` (the adapters do not know seq2seq yet).
* Conventions pinned: torch ``padding_idx`` vs Keras ``mask_zero`` (source and target);
  Keras's additive -1e9 attention mask vs an exact one; masked Keras encoder outputs (repeat the
  last real output) vs torch's packed ones (zeros); scaling (``F.scaled_dot_product_attention``'s
  1/sqrt(d), ``use_scale``, ``AdditiveAttention``'s scale = v); which side ``W_a`` goes on; how
  each loss ignores padding and which mean it takes; Keras's IndexedSlices embedding gradients;
  torch's redundant second LSTM bias.
* Canaries: a gate swap in either mapping, the encoder's and decoder's parameters exchanged, the
  attention mask dropped, a scaled or transposed score: each breaks parity by far more than the
  tolerance.

Tolerances: the three agree to at most 2.3e-14 relative in float64 (measured, worst case a
gradient of the additive attention); AGREE = 1e-10 is the suite's float64 parity tolerance
(reports/harness.py). A convention handled wrongly shows as > BROKEN = 1e-3 (measured 0.015 ..
1.2; the value is written beside each canary). Score canaries use weights scaled x3: with the
plain Xavier draw the scores are small, the softmax nearly uniform and a scaled score moves the
logits by only 6e-4.
"""

from __future__ import annotations

import functools

import impl_tf  # noqa: F401  # isort: skip  (sets KERAS_BACKEND=tensorflow before keras is imported)
import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
import torch.nn.functional as F

from impl_tf import weights as tf_weights
from impl_tf.seq2seq import Seq2Seq as KerasSeq2Seq
from impl_torch import weights as torch_weights
from impl_torch.seq2seq import Seq2Seq as TorchSeq2Seq
from reference_numpy.attention import masked_softmax
from reference_numpy.data import digit_addition, sequence_reversal
from reference_numpy.gradcheck import relative_error
from reference_numpy.initializers import init_params
from reference_numpy.seq2seq import Seq2Seq as NumpySeq2Seq
from reference_numpy.specs import GATE_ORDERS, Seq2SeqSpec

AGREE = 1e-10          # the suite's float64 tolerance; measured worst case over every quantity: 2.3e-14
BROKEN = 1e-3          # a convention handled wrongly (measured 0.015 .. 1.2, see each test)

CELLS = [("lstm", True), ("gru", True), ("gru", False)]      # (cell, reset_after)
ATTENTIONS = [None, "dot", "general", "additive"]
SPECS = [Seq2SeqSpec(cell, src_vocab=9, tgt_vocab=8, embed=4, hidden=3, attention=att, reset_after=ra)
         for cell, ra in CELLS for att in ATTENTIONS]


def spec_id(spec):
    return f"{spec.cell}{'' if spec.reset_after else '-reset_before'}-{spec.attention}"


# -- data -----------------------------------------------------------------------------------


def random_params(spec, seed=0, scale=1.0):
    """Xavier weights (times ``scale``) and N(0, 0.5^2) biases; asserts no entry is 0 and every
    gate block of every cell array differs, so a wrong gate order cannot pass by accident."""
    params = init_params(spec, seed, "xavier", bias="normal", bias_std=0.5)
    params = {n: a * scale for n, a in params.items()}
    for name, a in params.items():
        assert np.all(a != 0), name
        if name[:4] in ("enc_", "dec_"):
            blocks = np.split(a, len(spec.gates), axis=-1)
            assert all(not np.allclose(p, q) for i, p in enumerate(blocks) for q in blocks[i + 1:]), name
    return params


def padded_batch(spec, seed=1):
    """``src (4, 6)``, ``tgt (4, 6)``: rows of source lengths 6, 3, 1, 4 and target lengths
    (eos included) 2, 6, 1, 4 -- a full row, a one-token row, right padding elsewhere, so the
    decoder reads the pad id at positions after some rows' eos."""
    rng = np.random.default_rng(seed)
    src = np.zeros((4, 6), dtype=np.int64)
    tgt = np.zeros((4, 6), dtype=np.int64)
    for n, (s, t) in enumerate(zip((6, 3, 1, 4), (2, 6, 1, 4))):
        src[n, :s] = rng.integers(1, spec.src_vocab, size=s)
        tgt[n, :t - 1] = rng.integers(3, spec.tgt_vocab, size=t - 1)     # real tokens, then eos
        tgt[n, t - 1] = spec.eos_id
    return src, tgt


# -- the three models, run the same way -----------------------------------------------------


def torch_model(spec, params):
    model = TorchSeq2Seq(spec, dtype=torch.float64)
    torch_weights.load_canonical(model, spec, params)
    return model


def keras_model(spec, params):
    model = KerasSeq2Seq(spec, dtype="float64")
    tf_weights.load_canonical(model, spec, params)
    return model


@functools.cache
def models(spec):
    """The NumPy, torch and Keras models of ``spec`` with ``random_params(spec)`` (built once;
    tests that change a model build their own)."""
    params = random_params(spec)
    return NumpySeq2Seq(spec, params), torch_model(spec, params), keras_model(spec, params)


def numpy_quantities(model, src, tgt, upstream):
    logits, cache = model.forward(src, tgt)
    loss, cache = model.objective(src, tgt)
    q = {"logits": logits, "attention": cache["attention"], "loss": np.asarray(loss)}
    q |= {f"grad:{n}": g for n, g in model.objective_backward(tgt, cache).items()}
    return q | {f"vjp:{n}": g for n, g in model.backward(upstream, cache).items()}


def torch_quantities(model, src, tgt, upstream):
    spec = model.spec
    names = [n for n, _ in model.named_parameters()]
    params = [model.get_parameter(n) for n in names]
    src_t, tgt_t = torch.tensor(src), torch.tensor(tgt)
    logits, a = model.run(src_t, tgt_t)
    loss = model.objective(src_t, tgt_t)
    grads = torch.autograd.grad(loss, params)
    vjp = torch.autograd.grad(logits, params, grad_outputs=torch.tensor(upstream))
    q = {"logits": logits.detach().numpy(), "attention": None if a is None else a.detach().numpy(),
         "loss": np.asarray(loss.item())}
    q |= {f"grad:{n}": g for n, g in torch_weights.to_canonical(spec, dict(zip(names, grads)), "grads").items()}
    return q | {f"vjp:{n}": g for n, g in torch_weights.to_canonical(spec, dict(zip(names, vjp)), "grads").items()}


def keras_quantities(model, src, tgt, upstream):
    spec = model.spec
    variables = tf_weights.variables(model, spec)
    with tf.GradientTape(persistent=True) as tape:
        logits, a = model.run(src, tgt)
        loss = model.objective(src, tgt)
    grads = tape.gradient(loss, variables)
    vjp = tape.gradient(logits, variables, output_gradients=tf.constant(upstream))
    q = {"logits": logits.numpy(), "attention": None if a is None else a.numpy(), "loss": np.asarray(float(loss))}
    q |= {f"grad:{n}": g for n, g in tf_weights.to_canonical(spec, model, grads, "grads").items()}
    return q | {f"vjp:{n}": g for n, g in tf_weights.to_canonical(spec, model, vjp, "grads").items()}


def upstream_for(spec, src, tgt, seed=2):
    return np.random.default_rng(seed).standard_normal((*tgt.shape, spec.tgt_vocab))


def all_quantities(spec, numpy_model, torch_m, keras_m, src, tgt):
    up = upstream_for(spec, src, tgt)
    return (numpy_quantities(numpy_model, src, tgt, up), torch_quantities(torch_m, src, tgt, up),
            keras_quantities(keras_m, src, tgt, up))


def errors(a, b):
    """Normwise relative error per quantity (both must have the same quantities)."""
    assert a.keys() == b.keys()
    return {k: relative_error(a[k], b[k])[1] for k in a if a[k] is not None or b[k] is not None}


def worst(a, b, prefix=""):
    return max(e for k, e in errors(a, b).items() if k.startswith(prefix))


# -- parity ---------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_torch_and_keras_agree_with_numpy_on_a_padded_batch(spec):
    """Logits (padded target positions included), attention weights, loss, every parameter's
    loss gradient and VJP (both embeddings included): measured <= 2.3e-14 relative (logits,
    attention and loss <= 8e-16; the parameter gradients of the additive attention the most)."""
    src, tgt = padded_batch(spec)
    n_m, t_m, k_m = models(spec)
    qn, qt, qk = all_quantities(spec, n_m, t_m, k_m, src, tgt)
    assert (qn["attention"] is None) == (spec.attention is None)
    expected = {"logits", "attention", "loss"} | {f"{k}:{p}" for k in ("grad", "vjp") for p in spec.param_shapes()}
    assert set(qn) == expected
    for name, q in (("torch", qt), ("keras", qk)):
        bad = {k: e for k, e in errors(qn, q).items() if e > AGREE}
        assert not bad, f"{name} vs numpy: {bad}"
    assert worst(qt, qk) < AGREE
    if spec.attention:                                  # exactly 0 at padded source positions, all three
        pad = (src == spec.pad_id)[:, None, :].repeat(tgt.shape[1], axis=1)
        for q in (qn, qt, qk):
            assert np.all(q["attention"][pad] == 0)
            np.testing.assert_allclose(q["attention"].sum(-1), 1.0, rtol=0, atol=1e-15)


def decode_batch(spec):
    """The padded batch's sources and those of the two tasks (sequence reversal, digit addition
    with ids clipped into the source vocabulary), right-padded into one batch (N = 14)."""
    batches = [padded_batch(spec)[0], sequence_reversal(4, n=5, vocab=spec.src_vocab)[0],
               np.minimum(digit_addition(5, n=5, max_digits=2)[0], spec.src_vocab - 1)]
    S = max(b.shape[1] for b in batches)
    return np.concatenate([np.pad(b, ((0, 0), (0, S - b.shape[1]))) for b in batches])


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_greedy_decodes_agree_token_for_token(spec):
    """From random weights (scaled x3 so that the decodes vary), on the padded batch and the two
    tasks' sources."""
    params = random_params(spec, seed=3, scale=3.0)
    src = decode_batch(spec)
    ids = NumpySeq2Seq(spec, params).generate(src, 7)
    assert ids.dtype == np.int64 and ids.shape[0] == src.shape[0] and 1 <= ids.shape[1] <= 7
    np.testing.assert_array_equal(torch_model(spec, params).generate(torch.tensor(src), 7).numpy(), ids)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(keras_model(spec, params).generate(src, 7)), ids)


def test_greedy_decodes_are_not_trivial():
    """The decodes compared above are informative: over the 12 models some rows stop at eos
    before others (then hold pad), and rows differ from each other."""
    finished_early, distinct_rows = 0, 0
    for spec in SPECS:
        ids = NumpySeq2Seq(spec, random_params(spec, seed=3, scale=3.0)).generate(decode_batch(spec), 7)
        eos_at = [list(row).index(spec.eos_id) for row in ids if spec.eos_id in row]
        finished_early += any(t < ids.shape[1] - 1 for t in eos_at)
        distinct_rows += len({tuple(row) for row in ids}) > 1
    assert finished_early >= 3 and distinct_rows >= 6, (finished_early, distinct_rows)


@pytest.mark.filterwarnings("ignore:You are using a softmax over axis -1")   # the length-1 source row
@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_padding_is_invisible_to_packing_and_masking(framework):
    """A row's logits and attention weights alone (no padding) equal those inside the padded
    batch (packing in torch, mask_zero masking in Keras). Measured <= 3e-16."""
    spec = SPECS[3]                                     # lstm, additive: every parameter kind
    _, t_m, k_m = models(spec)
    src, tgt = padded_batch(spec)
    run = (lambda s, t: t_m.run(torch.tensor(s), torch.tensor(t))) if framework == "torch" else k_m.run
    logits, a = (np.asarray(x) if framework == "keras" else x.detach().numpy() for x in run(src, tgt))
    for n in (0, 1, 2):                                 # source lengths 6, 3, 1; target 2, 6, 1
        s_len, t_len = int((src[n] != 0).sum()), int((tgt[n] != 0).sum())
        alone = run(src[n:n + 1, :s_len], tgt[n:n + 1, :t_len])
        l1, a1 = (np.asarray(x) if framework == "keras" else x.detach().numpy() for x in alone)
        assert relative_error(l1[0], logits[n, :t_len])[1] <= 1e-12
        assert relative_error(a1[0], a[n, :t_len, :s_len])[1] <= 1e-12


# -- weight mapping -------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_weight_mappings_round_trip(spec):
    """load then read gives back every canonical array exactly, in canonical order, in both."""
    params = random_params(spec)                        # what ``models`` loaded
    _, t_m, k_m = models(spec)
    for read in (torch_weights.read_canonical(t_m, spec), tf_weights.read_canonical(k_m, spec)):
        assert list(read) == list(spec.param_shapes())
        for n, a in params.items():
            np.testing.assert_array_equal(read[n], a, err_msg=n)


def test_torch_names_and_layouts():
    """What the torch mapping does, spelled out on the LSTM with additive attention."""
    spec = SPECS[3]
    params = random_params(spec)
    m = torch_model(spec, params)
    H = spec.hidden
    np.testing.assert_array_equal(m.src_embedding.weight.detach().numpy(), params["E_src"])
    np.testing.assert_array_equal(m.encoder.weight_ih_l0.detach().numpy(), params["enc_Wx"].T)   # i,f,g,o both
    np.testing.assert_array_equal(m.decoder.bias_ih_l0.detach().numpy(), params["dec_b"])
    np.testing.assert_array_equal(m.decoder.bias_hh_l0.detach().numpy(), 0)                       # (b, 0)
    np.testing.assert_array_equal(m.W_q.weight.detach().numpy(), params["W_q"].T)
    np.testing.assert_array_equal(m.v.detach().numpy(), params["v"])
    np.testing.assert_array_equal(m.out.weight.detach().numpy(), params["W_out"].T)
    assert m.out.weight.shape == (spec.tgt_vocab, 2 * H)
    p = random_params(SPECS[7])
    gru = torch_model(SPECS[7], p)                                         # gru: torch blocks r, z, n
    np.testing.assert_array_equal(gru.encoder.weight_hh_l0.detach().numpy()[:H], p["enc_Wh"][:, H:2 * H].T)
    np.testing.assert_array_equal(gru.decoder.bias_hh_l0.detach().numpy()[H:2 * H], p["dec_bh"][:H])


def test_keras_names_and_layouts():
    """Keras: kernels as they are, the GRU's (2, 3H) bias, AdditiveAttention's scale = v."""
    spec = SPECS[7]                                                        # gru reset_after=True, additive
    params = random_params(spec)
    m = keras_model(spec, params)
    np.testing.assert_array_equal(m.encoder.cell.kernel.numpy(), params["enc_Wx"])
    np.testing.assert_array_equal(m.decoder.cell.bias.numpy(), np.stack([params["dec_b"], params["dec_bh"]]))
    np.testing.assert_array_equal(m.W_k.kernel.numpy(), params["W_k"])
    np.testing.assert_array_equal(m.attention.scale.numpy(), params["v"])
    assert tuple(m.attention.scale.shape) == (spec.hidden,)
    general = SPECS[2]
    p = random_params(general)
    np.testing.assert_array_equal(keras_model(general, p).W_a.kernel.numpy(), p["W_a"])


def test_torch_redundant_lstm_bias_is_loaded_as_zero_and_read_as_the_sum():
    """torch's second LSTM bias only adds to the first: loaded as 0, read back as the sum (moving
    value between the two changes nothing), both get the same gradient; ``redundant_parameters``
    names the two an optimizer must skip. The GRUs have none."""
    spec = SPECS[1]
    params = random_params(spec)
    m = torch_model(spec, params)
    src, tgt = padded_batch(spec)
    before = m(torch.tensor(src), torch.tensor(tgt)).detach().numpy()
    delta = torch.tensor(np.random.default_rng(4).standard_normal(4 * spec.hidden))
    with torch.no_grad():
        m.encoder.bias_ih_l0 += delta
        m.encoder.bias_hh_l0 -= delta
    assert relative_error(m(torch.tensor(src), torch.tensor(tgt)).detach().numpy(), before)[1] < 1e-14
    np.testing.assert_allclose(torch_weights.read_canonical(m, spec)["enc_b"], params["enc_b"], rtol=0, atol=1e-15)
    g_ih, g_hh = torch.autograd.grad(m.objective(torch.tensor(src), torch.tensor(tgt)),
                                     [m.encoder.bias_ih_l0, m.encoder.bias_hh_l0])
    assert relative_error(g_ih.numpy(), g_hh.numpy())[1] < 1e-14          # equal up to summation order
    assert torch_weights.redundant_parameters(spec) == ("encoder.bias_hh_l0", "decoder.bias_hh_l0")
    assert torch_weights.redundant_parameters(SPECS[5]) == ()
    assert torch_weights.redundant_parameters(SPECS[9]) == ()


@pytest.mark.filterwarnings("ignore:`build\\(\\)` was called")   # the replaced Attention stays tracked, unbuilt
def test_mappings_reject_unmapped_framework_parameters():
    """A framework parameter the canonical layout does not have is refused, not ignored: an extra
    torch parameter, and Keras's ``Attention(use_scale=True)``, whose trainable scalar ``scale``
    Luong's dot score does not have."""
    spec = SPECS[1]                                                        # dot
    params = random_params(spec)
    m = TorchSeq2Seq(spec, dtype=torch.float64)
    m.temperature = torch.nn.Parameter(torch.ones((), dtype=torch.float64))
    with pytest.raises(KeyError, match="unmapped \\['temperature'\\]"):
        torch_weights.load_canonical(m, spec, params)
    k = KerasSeq2Seq(spec)
    k.attention = keras.layers.Attention(use_scale=True, score_mode="dot", dtype="float64")
    with pytest.raises(KeyError, match="scale"):
        tf_weights.load_canonical(k, spec, params)


def test_keras_embedding_gradients_are_indexed_slices_made_dense():
    """``tf.GradientTape`` returns an Embedding's gradient as IndexedSlices; ``np.asarray`` would
    make it a 0-d object array, ``tf_weights.dense`` scatter-adds it into (V, E): rows of tokens
    absent from the batch are exactly 0 (as NumPy's ``np.add.at``)."""
    spec = SPECS[0]
    n_m, _, k_m = models(spec)
    src, tgt = padded_batch(spec)
    src = np.where(src > 0, src % 4 + 1, 0)                                # ids 1..4 only: 5..8 absent
    with tf.GradientTape() as tape:
        loss = k_m.objective(src, tgt)
    g = tape.gradient(loss, k_m.src_embedding.embeddings)
    assert isinstance(g, tf.IndexedSlices)
    assert np.asarray(g).shape == ()                                       # the silent failure avoided
    dense = tf_weights.dense(g)
    absent = sorted(set(range(spec.src_vocab)) - set(src.ravel()))
    assert dense.shape == (spec.src_vocab, spec.embed) and absent
    np.testing.assert_array_equal(dense[absent], 0)
    _, cache = n_m.objective(src, tgt)
    assert relative_error(dense, n_m.objective_backward(tgt, cache)["E_src"])[1] < AGREE


# -- padding_idx vs mask_zero ---------------------------------------------------------------


def test_pad_row_gradients_source_is_exactly_zero_everywhere():
    """E_src[pad]: torch's padding_idx zeroes its gradient, Keras's mask_zero does not -- and it
    does not matter: padded source steps never reach the logits (packed away / masked, attention
    weight 0), so the canonical gradient of that row is exactly 0 too, for the loss and for a
    VJP. torch without padding_idx gives 0 as well."""
    spec = SPECS[6]                                                        # gru, additive
    src, tgt = padded_batch(spec)
    n_m, t_m, k_m = models(spec)
    assert t_m.src_embedding.padding_idx == spec.pad_id and k_m.src_embedding.mask_zero
    qs = all_quantities(spec, n_m, t_m, k_m, src, tgt)
    plain = torch_model(spec, random_params(spec))
    plain.src_embedding.padding_idx = None
    qs += (torch_quantities(plain, src, tgt, upstream_for(spec, src, tgt)),)
    for q in qs:
        for kind in ("grad", "vjp"):
            np.testing.assert_array_equal(q[f"{kind}:E_src"][spec.pad_id], 0)
            assert np.any(q[f"{kind}:E_src"][src[0, 0]] != 0)               # a real row does get one


def test_torch_padding_idx_on_the_target_would_break_the_vjp_not_the_loss():
    """The decoder reads the pad id after a row's eos, so the canonical (and Keras's) VJP of
    E_tgt[pad] is nonzero; torch's padding_idx on the target zeroes it (the mirror therefore
    leaves it off). The LOSS gradient of E_tgt[pad] is exactly 0 in all three either way: pad
    inputs only feed ignored positions. Measured: vjp:E_tgt relative error 0.58 with padding_idx."""
    spec = SPECS[1]
    src, tgt = padded_batch(spec)
    assert np.any(tgt[:, :-1] == spec.pad_id)                               # dec_in holds the pad id
    n_m, t_m, k_m = models(spec)
    assert t_m.tgt_embedding.padding_idx is None
    qn, qt, qk = all_quantities(spec, n_m, t_m, k_m, src, tgt)
    assert np.any(qn["vjp:E_tgt"][spec.pad_id] != 0)
    for q in (qn, qt, qk):
        np.testing.assert_array_equal(q["grad:E_tgt"][spec.pad_id], 0)
    assert relative_error(qt["vjp:E_tgt"], qn["vjp:E_tgt"])[1] < AGREE
    assert relative_error(qk["vjp:E_tgt"], qn["vjp:E_tgt"])[1] < AGREE
    users = torch_model(spec, random_params(spec))
    users.tgt_embedding.padding_idx = spec.pad_id                          # what users often write
    qu = torch_quantities(users, src, tgt, upstream_for(spec, src, tgt))
    np.testing.assert_array_equal(qu["vjp:E_tgt"][spec.pad_id], 0)
    assert relative_error(qu["vjp:E_tgt"], qn["vjp:E_tgt"])[1] > BROKEN
    assert worst(qu, qn, "grad:") < AGREE and relative_error(qu["logits"], qn["logits"])[1] < AGREE


def test_keras_mask_zero_on_the_target_is_silently_dropped_by_initial_state():
    """Keras 3.15 fills an RNN's ``mask`` from the input's ``_keras_mask`` only when the call has a
    single tensor argument (keras/src/layers/layer.py, "Populate mask argument(s)"): the decoder,
    called with ``initial_state=``, silently runs UNmasked even under ``mask_zero=True`` (the
    classic Keras seq2seq recipe). The mirror therefore passes the source mask explicitly, and
    leaves the target unmasked on purpose (the canonical semantics)."""
    spec = SPECS[2]
    src, tgt = padded_batch(spec)
    n_m, _, _ = models(spec)
    up = upstream_for(spec, src, tgt)
    qn = numpy_quantities(n_m, src, tgt, up)
    masked = keras_model(spec, random_params(spec))
    masked.tgt_embedding.mask_zero = masked.tgt_embedding.supports_masking = True   # users' mask_zero=True
    assert worst(keras_quantities(masked, src, tgt, up), qn) < AGREE           # no effect at all


def test_keras_explicitly_masked_decoder_would_change_padded_logits_not_the_loss():
    """A decoder given the target mask explicitly repeats its last output at steps whose input is
    the pad id (two or more steps after eos): logits there change (measured 0.18 relative), the
    loss and its gradients do not (those positions are ignored), and E_tgt[pad]'s VJP becomes 0,
    like torch's padding_idx (vjp:E_tgt off by 0.61)."""
    spec = SPECS[2]
    src, tgt = padded_batch(spec)
    n_m, _, _ = models(spec)
    masked = keras_model(spec, random_params(spec))

    def decode(tgt, state):                              # the mirror's decode, with the target mask
        dec_in = keras.ops.concatenate([keras.ops.full_like(tgt[:, :1], spec.bos_id), tgt[:, :-1]], axis=1)
        mask = keras.ops.not_equal(dec_in, spec.pad_id)
        return masked.decoder(masked.tgt_embedding(dec_in), initial_state=state, mask=mask)[0]

    masked.decode = decode
    up = upstream_for(spec, src, tgt)
    qn, qm = numpy_quantities(n_m, src, tgt, up), keras_quantities(masked, src, tgt, up)
    late = np.zeros(tgt.shape, dtype=bool)                                 # input is pad: t >= eos + 2
    late[:, 1:] = tgt[:, :-1] == spec.pad_id
    assert late.any()
    assert relative_error(qm["logits"][~late], qn["logits"][~late])[1] < AGREE
    assert relative_error(qm["logits"][late], qn["logits"][late])[1] > BROKEN
    assert worst(qm, qn, "grad:") < AGREE and relative_error(qm["loss"], qn["loss"])[1] < AGREE
    np.testing.assert_array_equal(qm["vjp:E_tgt"][spec.pad_id], 0)


# -- encoder outputs at padded steps, attention masking -------------------------------------


def test_encoder_outputs_at_padded_steps_differ_and_do_not_matter():
    """Real steps agree in all three. At padded steps torch's pad_packed_sequence gives zeros (the
    hand-written reset-before GRU is set to zeros the same way), Keras's masked layer repeats the
    last real output, NumPy runs the cell on over the pad embeddings. The states handed to the
    decoder agree; attention weight 0 at padding keeps these values out of every result."""
    for spec in (SPECS[1], SPECS[9]):                                     # built-in and hand-written torch
        n_m, t_m, k_m = models(spec)
        src, _ = padded_batch(spec)
        mask = src != spec.pad_id
        enc_n, state_n, _, _ = n_m.encode(src)
        enc_t, state_t, _ = t_m.encode(torch.tensor(src))
        enc_k, state_k, _ = k_m.encode(src)
        enc_t, enc_k = enc_t.detach().numpy(), enc_k.numpy()
        for enc in (enc_t, enc_k):
            assert relative_error(enc[mask], enc_n[mask])[1] < AGREE
        np.testing.assert_array_equal(enc_t[~mask], 0)
        lengths = mask.sum(1)
        last = enc_n[np.arange(len(src)), lengths - 1]                     # (N, H) last real output
        repeated = np.repeat(last[:, None], src.shape[1], axis=1)[~mask]
        assert relative_error(enc_k[~mask], repeated)[1] < AGREE
        assert relative_error(enc_n[~mask], repeated)[1] > BROKEN           # NumPy ran on
        h_t = (state_t[0] if spec.cell == "lstm" else state_t)[0].detach().numpy()
        assert relative_error(h_t, state_n["h"])[1] < AGREE
        assert relative_error(state_k[0].numpy(), state_n["h"])[1] < AGREE


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_keras_attention_masks_by_subtracting_1e9(dtype):
    """Keras's Attention adds -1e9 to masked scores (65504 in float16) instead of masking: weight 0
    after exp underflow for any realistic scores (the model test above asserts exact zeros), but
    a masked position whose score is more than 1e9 above the real ones takes the weight. The
    exact mask (NumPy's np.where, torch's masked_fill(-inf)) cannot leak."""
    layer = keras.layers.Attention(use_scale=False, score_mode="dot", dtype=dtype)
    query = np.ones((1, 1, 1), dtype=dtype)
    value = np.array([[[-3e9], [0.0]]], dtype=dtype)                        # real score -3e9, masked 0
    mask = np.array([[True, False]])
    _, a = layer([query, value], mask=[None, mask], return_attention_scores=True)
    np.testing.assert_array_equal(np.asarray(a)[0, 0], [0.0, 1.0])          # all weight on the padding
    exact = masked_softmax(np.array([[[-3e9, 0.0]]]), mask)
    np.testing.assert_array_equal(exact[0, 0], [1.0, 0.0])
    scores = torch.tensor([[[-3e9, 0.0]]]).masked_fill(~torch.tensor(mask)[:, None], float("-inf"))
    np.testing.assert_array_equal(torch.softmax(scores, -1).numpy()[0, 0], [1.0, 0.0])


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_canary_dropping_the_attention_mask_breaks_parity(framework):
    """Attention over the padded source steps too: measured logits error 0.16 (torch, zeros at
    padding) and 0.04 (Keras, repeated outputs) relative."""
    spec = SPECS[1]
    n_m, _, _ = models(spec)
    src, tgt = padded_batch(spec)
    params = random_params(spec)
    build, everywhere = ((torch_model, torch.ones_like) if framework == "torch"
                         else (keras_model, lambda mask: None))             # Keras: no mask at all
    m = build(spec, params)
    encode = m.encode

    def unmasked_encode(src):
        enc, state, mask = encode(src)
        return enc, state, everywhere(mask)

    m.encode = unmasked_encode
    logits = (m(torch.tensor(src), torch.tensor(tgt)).detach().numpy() if framework == "torch"
              else m(src, tgt).numpy())
    assert relative_error(logits, n_m.forward(src, tgt)[0])[1] > BROKEN


# -- scores: scaling and the side of W_a ----------------------------------------------------


def test_scaled_dot_product_attention_scales_by_one_over_sqrt_d():
    """torch's F.scaled_dot_product_attention divides the scores by sqrt(H) by default; with
    scale=1.0 (and the boolean mask, True = attend) it is Luong's dot = the mirror's attend.
    Measured (weights x3): 0.04 relative on the context by default, exactly equal with scale=1."""
    spec = SPECS[1]
    t_m = torch_model(spec, random_params(spec, scale=3.0))
    src, tgt = padded_batch(spec)
    enc, state, mask = t_m.encode(torch.tensor(src))
    dec = t_m.decode(torch.tensor(tgt), state)
    z, _ = t_m.attend(dec, enc, mask)
    context = z[..., spec.hidden:].detach().numpy()
    m = mask[:, None, :]
    scaled = F.scaled_dot_product_attention(dec, enc, enc, attn_mask=m).detach().numpy()
    unscaled = F.scaled_dot_product_attention(dec, enc, enc, attn_mask=m, scale=1.0).detach().numpy()
    assert relative_error(unscaled, context)[1] < AGREE
    assert relative_error(scaled, context)[1] > BROKEN


def test_canary_scaled_or_transposed_scores_break_parity():
    """The other conventions, loaded into the real models (weights x3): a scaled dot score (what
    sdpa does by default, or ``Attention(use_scale=True)`` once its scalar has moved from 1): the
    general model with W_a = I is Luong's dot exactly, with W_a = I / sqrt(H) it is off by 0.015;
    ``W_a`` on the key side (= W_a.T on the query side): 0.22; AdditiveAttention's scale fixed at
    ones (``use_scale=False``) instead of v: 0.054 (logits, relative)."""
    general, additive = SPECS[2], SPECS[3]
    src, tgt = padded_batch(general)
    p = random_params(general, scale=3.0)
    ref = NumpySeq2Seq(SPECS[1], {n: a for n, a in p.items() if n != "W_a"}).forward(src, tgt)[0]   # Luong's dot
    eye = np.eye(general.hidden)
    for W_a, agrees in ((eye, True), (eye / np.sqrt(general.hidden), False)):
        logits_t = torch_model(general, p | {"W_a": W_a})(torch.tensor(src), torch.tensor(tgt)).detach().numpy()
        logits_k = keras_model(general, p | {"W_a": W_a})(src, tgt).numpy()
        for logits in (logits_t, logits_k):
            err = relative_error(logits, ref)[1]
            assert err < AGREE if agrees else err > BROKEN
    ref = NumpySeq2Seq(general, p).forward(src, tgt)[0]
    transposed = p | {"W_a": p["W_a"].T}
    logits_t = torch_model(general, transposed)(torch.tensor(src), torch.tensor(tgt)).detach().numpy()
    logits_k = keras_model(general, transposed)(src, tgt).numpy()
    assert relative_error(logits_t, ref)[1] > BROKEN and relative_error(logits_k, ref)[1] > BROKEN
    p = random_params(additive, scale=3.0)
    ref = NumpySeq2Seq(additive, p).forward(src, tgt)[0]
    ones = keras_model(additive, p | {"v": np.ones(additive.hidden)})(src, tgt).numpy()
    assert relative_error(ones, ref)[1] > BROKEN


def test_keras_general_score_w_a_on_the_query_side():
    """Luong's h_t^T W_a s = (dec @ W_a) . enc: a Dense with kernel W_a on the QUERY; on the keys
    the kernel must be W_a.T (dec . (enc @ W_a.T)); W_a itself on the keys is another score."""
    rng = np.random.default_rng(5)
    dec, enc, W = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((4, 4))
    layer = keras.layers.Attention(use_scale=False, score_mode="dot", dtype="float64")
    expected = masked_softmax((dec @ W) @ enc.transpose(0, 2, 1), np.ones((2, 5), dtype=bool))

    def weights(query, key):
        return np.asarray(layer([query, enc, key], return_attention_scores=True)[1])

    assert relative_error(weights(dec @ W, enc), expected)[1] < AGREE
    assert relative_error(weights(dec, enc @ W.T), expected)[1] < AGREE
    assert relative_error(weights(dec, enc @ W), expected)[1] > BROKEN


def test_keras_additive_attention_scale_is_v():
    """AdditiveAttention(use_scale=True): scores = sum_h scale_h tanh(q + k) = tanh(q + k) @ v;
    use_scale=False fixes v at ones; Attention(use_scale=False) has no variable at all."""
    rng = np.random.default_rng(6)
    q, k, v = rng.standard_normal((1, 2, 3)), rng.standard_normal((1, 4, 3)), rng.standard_normal(3)
    layer = keras.layers.AdditiveAttention(use_scale=True, dtype="float64")
    layer([q, k])
    layer.scale.assign(v)
    scores = np.tanh(q[:, :, None] + k[:, None]) @ v                       # (1, 2, 4)
    full = np.ones((1, 4), dtype=bool)
    a = np.asarray(layer([q, k], return_attention_scores=True)[1])
    assert relative_error(a, masked_softmax(scores, full))[1] < AGREE
    plain = keras.layers.AdditiveAttention(use_scale=False, dtype="float64")
    a1 = np.asarray(plain([q, k], return_attention_scores=True)[1])
    assert relative_error(a1, masked_softmax(np.tanh(q[:, :, None] + k[:, None]).sum(-1), full))[1] < AGREE
    dot = keras.layers.Attention(use_scale=False, dtype="float64")
    dot([q, k])
    assert dot.weights == []


# -- loss reductions ------------------------------------------------------------------------


def test_loss_reductions_ignore_padding_and_take_the_mean_over_real_tokens():
    """Canonical: sum over tgt != pad / their count C. torch's ignore_index (reduction="mean")
    and Keras's ignore_class (masked "sum_over_batch_size") both give it. Keras with
    sample_weight = (tgt != pad) and the default reduction divides by N*T (x C/(N*T), here 13/24);
    reduction="mean_with_sample_weight" divides by C again; a mean of per-row means is another
    number (0.02 relative here). Keras losses built without dtype compute in float32 (7e-9 off)."""
    spec = SPECS[0]
    n_m, _, _ = models(spec)
    src, tgt = padded_batch(spec)
    L, cache = n_m.objective(src, tgt)
    logits = cache["logits"]
    real = tgt != spec.pad_id
    C, NT = int(real.sum()), tgt.size
    assert C == 13 and NT == 24
    u, d = torch.tensor(logits).flatten(0, 1), torch.tensor(tgt).flatten()
    assert abs(F.cross_entropy(u, d, ignore_index=0).item() - L) <= 1e-15 * L
    assert abs(F.cross_entropy(u, d, ignore_index=0, reduction="sum").item() / C - L) <= 1e-15 * L
    per_token = F.cross_entropy(u, d, ignore_index=0, reduction="none").numpy()   # 0 at padding
    assert abs(per_token.mean() - L * C / NT) <= 1e-15 * L                  # a plain mean: / N*T
    rows = per_token.reshape(tgt.shape).sum(1) / real.sum(1)
    assert abs(rows.mean() - L) > BROKEN * L                               # mean of per-row means
    scce = keras.losses.SparseCategoricalCrossentropy
    keras_ignore = float(scce(from_logits=True, ignore_class=0, dtype="float64")(tgt, logits))
    assert abs(keras_ignore - L) <= 1e-15 * L
    w = real.astype("float64")
    keras_weighted = float(scce(from_logits=True, dtype="float64")(tgt, logits, sample_weight=w))
    assert abs(keras_weighted - L * C / NT) <= 1e-15 * L
    keras_mean_w = float(scce(from_logits=True, reduction="mean_with_sample_weight", dtype="float64")(
        tgt, logits, sample_weight=w))
    assert abs(keras_mean_w - L) <= 1e-15 * L
    keras_f32 = scce(from_logits=True, ignore_class=0)(tgt, logits)
    assert keras_f32.dtype == "float32" and 0 < abs(float(keras_f32) - L) < 1e-6 * L
    _, t_m, k_m = models(spec)
    assert abs(t_m.objective(torch.tensor(src), torch.tensor(tgt)).item() - L) <= 1e-14 * L
    assert k_m.objective(src, tgt).dtype == "float64"


# -- canaries: mappings ---------------------------------------------------------------------


def swap_parts(params):
    """The encoder's and decoder's cell parameters exchanged."""
    return {n: params[{"enc_": "dec_", "dec_": "enc_"}.get(n[:4], "") + n[4:]] if n[:4] in ("enc_", "dec_")
            else a for n, a in params.items()}


@pytest.mark.parametrize("spec", [SPECS[1], SPECS[7], SPECS[10]], ids=spec_id)
def test_canary_encoder_and_decoder_parameters_exchanged_break_parity(spec):
    """Measured logits error 0.65 .. 1.18 relative."""
    n_m, _, _ = models(spec)
    src, tgt = padded_batch(spec)
    ref = n_m.forward(src, tgt)[0]
    swapped = swap_parts(random_params(spec))
    logits_t = torch_model(spec, swapped)(torch.tensor(src), torch.tensor(tgt)).detach().numpy()
    logits_k = keras_model(spec, swapped)(src, tgt).numpy()
    assert relative_error(logits_t, ref)[1] > BROKEN and relative_error(logits_k, ref)[1] > BROKEN


GATE_SWAPS = [("lstm", True, "i", "f"), ("lstm", True, "g", "o"), ("gru", True, "z", "r"),
              ("gru", False, "r", "n")]


@pytest.mark.parametrize("cell, reset_after, a, b", GATE_SWAPS)
@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_canary_swapping_two_gates_in_the_mapping_breaks_parity(cell, reset_after, a, b, framework, monkeypatch):
    """The seq2seq cells reuse the recurrent mapping's gate orders (``specs.GATE_ORDERS``): swapping two
    gates in either framework's column breaks the encoder and decoder (measured logits error 0.26 .. 1.02 relative)."""
    spec = Seq2SeqSpec(cell, 9, 8, 4, 3, attention="general", reset_after=reset_after)
    src, tgt = padded_batch(spec)
    ref = NumpySeq2Seq(spec, random_params(spec)).forward(src, tgt)[0]

    def logits():
        if framework == "torch":
            return torch_model(spec, random_params(spec))(torch.tensor(src), torch.tensor(tgt)).detach().numpy()
        return keras_model(spec, random_params(spec))(src, tgt).numpy()

    assert relative_error(logits(), ref)[1] < AGREE
    gates = tuple(b if g == a else a if g == b else g for g in GATE_ORDERS[cell][framework])
    monkeypatch.setitem(GATE_ORDERS[cell], framework, gates)
    assert relative_error(logits(), ref)[1] > BROKEN
