"""The NumPy seq2seq reference (``reference_numpy/seq2seq.py``, ``attention.py``, ``embedding.py``,
the token-id checks in ``validation.py`` and the tasks in ``data.py``) on its own, in float64.

* (a) every parameter's gradient -- of the loss, and of ``sum(upstream * logits)`` for a random
  upstream -- agrees with central differences (``gradcheck.check_gradient`` at its default
  ``rtol = 1e-7``) for every cell (LSTM, GRU reset_after True / False) x attention (none, dot,
  general, additive) on a padded batch of mixed source and target lengths;
* (b) embedding rows the batch does not touch get gradient exactly 0;
* (c) padding is invisible: each row alone gives the same logits, attention, loss and gradients as
  inside the padded batch (<= 1e-12 relative), and dropping either padding mechanism (the
  per-row encoder state, the attention mask) breaks that;
* (d) attention weights are exactly 0 at padded source positions, also for extreme scores, and
  rows sum to 1;
* (e) greedy decoding: shape and stopping rules, and each token equals the argmax that teacher
  forcing on the decoded prefix gives;
* (f) the tasks decode to what they claim (reversal, integer addition);
* (g) bad token ids give errors that name the problem.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest

from reference_numpy import data, validation
from reference_numpy.attention import masked_softmax
from reference_numpy.embedding import Embedding
from reference_numpy.gradcheck import check_gradient, relative_error
from reference_numpy.gru import GRU
from reference_numpy.initializers import init_params
from reference_numpy.lstm import LSTM
from reference_numpy.seq2seq import Seq2Seq
from reference_numpy.specs import Seq2SeqSpec

CELLS = (("lstm", True), ("gru", True), ("gru", False))
ATTENTIONS = (None, "dot", "general", "additive")
COMBOS = [(cell, reset_after, att) for cell, reset_after in CELLS for att in ATTENTIONS]
IDS = [f"{'lstm' if c == 'lstm' else 'gru_after' if r else 'gru_before'}-{a or 'none'}" for c, r, a in COMBOS]
V_SRC, V_TGT, EMBED, HIDDEN = 11, 9, 4, 3
PAD, BOS, EOS = 0, 1, 2

# A padded batch of mixed lengths: source lengths 5, 2, 3 (S = 5), target lengths 2, 4, 1 (T = 4;
# the last row is eos alone). Source ids 9 and 10 and target ids 7 and 8 do not occur.
SRC = np.array([[4, 5, 6, 7, 8],
                [3, 1, 0, 0, 0],
                [2, 8, 6, 0, 0]], dtype=np.int64)
TGT = np.array([[3, 2, 0, 0],
                [4, 5, 6, 2],
                [2, 0, 0, 0]], dtype=np.int64)
SRC_LEN, TGT_LEN = (5, 2, 3), (2, 4, 1)

# Three times the Xavier scale (biases N(0, 1.5^2)): at the plain scale the hidden states stay ~0.1,
# the attention is nearly uniform and the general / additive attention gradients are ~1e-4, where
# the central difference's rounding noise (eps |L| / h ~ 1e-11 absolute) alone is 1e-7 relative; at
# this scale every parameter's largest gradient entry is >= 1e-3 (asserted) and the measured errors
# are <= 9e-9 (lstm-general, W_a), a tenth of the check's rtol.
SCALE = 3.0


def make_spec(cell, reset_after, attention) -> Seq2SeqSpec:
    return Seq2SeqSpec(cell, V_SRC, V_TGT, EMBED, HIDDEN, attention=attention, reset_after=reset_after)


def make_model(cell, reset_after, attention, seed=0, scale=SCALE) -> Seq2Seq:
    spec = make_spec(cell, reset_after, attention)
    params = init_params(spec, seed, "xavier", bias="normal", bias_std=0.5)
    return Seq2Seq(spec, {n: scale * p for n, p in params.items()})


def upstream(shape, seed=1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


@contextlib.contextmanager
def strict():
    """Floating-point overflow / invalid operations and any warning raise inside the block."""
    with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"), warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# ------------------------------------------------------------------- (a) gradient check

@pytest.mark.parametrize("what", ["loss", "vjp"])
@pytest.mark.parametrize("cell, reset_after, attention", COMBOS, ids=IDS)
def test_gradients_match_central_differences(cell, reset_after, attention, what):
    model = make_model(cell, reset_after, attention)
    _, cache = model.objective(SRC, TGT)
    g = upstream(cache["logits"].shape)

    def f(_):
        """The loss, or the random projection of the logits, at the current (nudged) parameters."""
        return model.objective(SRC, TGT)[0] if what == "loss" else np.sum(g * model.forward(SRC, TGT)[0])

    grads = model.objective_backward(TGT, cache) if what == "loss" else model.backward(g, cache)
    assert list(grads) == list(model.spec.param_shapes())                        # canonical names and order
    for name, p in model.params.items():
        # not vacuous: every gradient is well above the difference quotient's noise (see SCALE)
        assert np.max(np.abs(grads[name])) > 1e-3, name
        check_gradient(f, p, grads[name], name=name)


def test_loss_is_the_mean_over_real_target_tokens():
    """L = sum over the C = 7 real target tokens / C: not a mean of per-row means, not over N*T."""
    model = make_model("gru", True, "dot")
    loss, cache = model.objective(SRC, TGT)
    logits = cache["logits"]                                                     # (N, T, V)
    logp = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    nll = -np.take_along_axis(logp, TGT[..., None], axis=-1)[..., 0]             # (N, T)
    real = TGT != PAD
    assert real.sum() == sum(TGT_LEN) == 7
    np.testing.assert_allclose(loss, nll[real].sum() / 7, rtol=1e-14)            # a few rounding steps apart
    per_row_means = np.mean([nll[n, :k].mean() for n, k in enumerate(TGT_LEN)])
    assert abs(loss - per_row_means) > 1e-3 and abs(loss - nll[real].sum() / TGT.size) > 1e-3


# ----------------------------------------------------------- (b) untouched embedding rows

@pytest.mark.parametrize("cell, reset_after, attention", COMBOS, ids=IDS)
def test_untouched_embedding_rows_have_exactly_zero_gradient(cell, reset_after, attention):
    model = make_model(cell, reset_after, attention)
    _, cache = model.objective(SRC, TGT)
    g_loss = model.objective_backward(TGT, cache)
    g_vjp = model.backward(upstream(cache["logits"].shape), cache)
    dec_in = np.concatenate([np.full((3, 1), BOS), TGT[:, :-1]], axis=1)         # (N, T)
    # Source: only the real tokens reach anything (padded steps carry exactly zero gradient), so the
    # pad row too is exactly 0, for the loss and for any upstream.
    src_used = np.unique(SRC[SRC != PAD])
    for g in (g_loss, g_vjp):
        unused = np.setdiff1d(np.arange(V_SRC), src_used)                        # 0, 9, 10
        assert np.all(g["E_src"][unused] == 0), unused
        assert np.all(np.any(g["E_src"][src_used] != 0, axis=1))
    # Target, loss: only the decoder inputs at real target positions matter.
    tgt_used = np.unique(dec_in[TGT != PAD])                                     # 1, 3, 4, 5, 6
    unused = np.setdiff1d(np.arange(V_TGT), tgt_used)                            # 0, 2, 7, 8
    assert np.all(g_loss["E_tgt"][unused] == 0), unused
    assert np.all(np.any(g_loss["E_tgt"][tgt_used] != 0, axis=1))
    # Target, random upstream over every position: every decoder input counts, the pad row included
    # (the canonical gradient has no special padding row; torch's padding_idx would zero it).
    unused = np.setdiff1d(np.arange(V_TGT), np.unique(dec_in))                   # 7, 8
    assert np.all(g_vjp["E_tgt"][unused] == 0), unused
    assert np.all(np.any(g_vjp["E_tgt"][np.unique(dec_in)] != 0, axis=1)) and np.any(g_vjp["E_tgt"][PAD] != 0)


def test_embedding_is_the_one_hot_product():
    """``E[ids] = onehot(ids) @ E`` exactly; the scatter-add is ``onehot^T @ de`` with repeated ids
    summed (``dE[ids] += de`` would keep one of them)."""
    rng = np.random.default_rng(3)
    E = rng.standard_normal((6, 4))
    ids = np.array([[1, 3, 3, 0], [5, 3, 1, 1]])
    onehot = np.eye(6)[ids]                                                      # (N, L, V)
    emb = Embedding()
    e, cache = emb.forward(E, ids)
    np.testing.assert_array_equal(e, onehot @ E)            # each entry is 1 * E[v] plus exact zeros
    de = rng.standard_normal(e.shape)
    dE = emb.backward(de, cache)
    np.testing.assert_allclose(dE, np.einsum("nlv,nle->ve", onehot, de), rtol=0, atol=1e-15)   # summation order
    assert np.all(dE[[2, 4]] == 0)
    np.testing.assert_allclose(dE[3], de[0, 1] + de[0, 2] + de[1, 1], rtol=1e-15)


# --------------------------------------------------------------- (c) padding is invisible

def alone(n):
    """Row n of the batch without its padding: src (1, S_n), tgt (1, T_n)."""
    return SRC[n:n + 1, :SRC_LEN[n]], TGT[n:n + 1, :TGT_LEN[n]]


def close(a, b, tol=1e-12) -> float:
    """Normwise relative error; the tolerance: the same operations on the same numbers, only the
    summation order inside a matrix product may change with the batch shape (a few eps)."""
    rel = relative_error(a, b)[1]
    assert rel <= tol, rel
    return rel


@pytest.mark.parametrize("cell, reset_after, attention", COMBOS, ids=IDS)
def test_padding_is_invisible(cell, reset_after, attention):
    model = make_model(cell, reset_after, attention)
    loss, cache = model.objective(SRC, TGT)
    grads = model.objective_backward(TGT, cache)
    C = sum(TGT_LEN)
    weighted = {name: np.zeros_like(g) for name, g in grads.items()}
    row_sums = []
    for n in range(3):
        src, tgt = alone(n)
        loss_n, cache_n = model.objective(src, tgt)
        # logits and attention at the row's real positions; the source padding gets weight 0
        close(cache["logits"][n, :TGT_LEN[n]], cache_n["logits"][0])
        if attention:
            close(cache["attention"][n, :TGT_LEN[n], :SRC_LEN[n]], cache_n["attention"][0])
        # loss: the batch's L = sum_n c_n L_n / C with c_n the row's real target tokens; the gradient
        # accordingly is sum_n (c_n / C) grad L_n
        row_sums.append(TGT_LEN[n] * loss_n)
        for name, g in model.objective_backward(tgt, cache_n).items():
            weighted[name] += TGT_LEN[n] / C * g
        # exact per row: an upstream on row n's real positions only gives the row's own VJP
        g_row = upstream((1, TGT_LEN[n], V_TGT), seed=10 + n)
        g_batch = np.zeros_like(cache["logits"])
        g_batch[n, :TGT_LEN[n]] = g_row[0]
        vjp_batch, vjp_alone = model.backward(g_batch, cache), model.backward(g_row, cache_n)
        for name in grads:
            close(vjp_batch[name], vjp_alone[name])
    close(np.array(C * loss), np.array(sum(row_sums)))
    for name in grads:
        close(grads[name], weighted[name])


class NoLengths(Seq2Seq):
    """Canary: the decoder starts from the encoder's state after step S (padding included)."""

    def encode(self, src):
        mask = src != PAD
        x, emb_cache = self.embedding.forward(self.params["E_src"], src)
        enc, state, rnn_cache = self.encoder.forward(self._cell("enc"), x, None)
        return enc, state, mask, (emb_cache, rnn_cache)


class NoMask(Seq2Seq):
    """Canary: attention over every source position (the padding's encoder states leak in)."""

    def attend(self, dec, enc, mask):
        return super().attend(dec, enc, np.ones_like(mask))


@pytest.mark.parametrize("canary", [NoLengths, NoMask], ids=["final_state_after_padding", "no_attention_mask"])
def test_padding_canaries_are_detected(canary):
    model = make_model("lstm", True, "general")
    broken = canary(model.spec, model.params)
    src, tgt = alone(1)                                             # source length 2 of 5 in the batch
    batch_logits = broken.forward(SRC, TGT)[0][1, :TGT_LEN[1]]
    assert relative_error(batch_logits, broken.forward(src, tgt)[0][0])[1] > 1e-3


def test_per_row_lengths_keep_the_full_length_behaviour():
    """``Recurrent`` with every length = T is bit for bit the plain loop (forward and backward)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 5, 2))
    for layer in (LSTM(2, 3), GRU(2, 3, True), GRU(2, 3, False)):
        G = 4 if isinstance(layer, LSTM) else 3
        P = {"Wx": rng.standard_normal((2, G * 3)), "Wh": rng.standard_normal((3, G * 3)),
             "b": rng.standard_normal(G * 3), "bh": rng.standard_normal(G * 3)}
        out, final, cache = layer.forward(P, x)
        out_l, final_l, cache_l = layer.forward(P, x, lengths=np.full(3, 5))
        dout = rng.standard_normal(out.shape)
        dfinal = {n: rng.standard_normal((3, 3)) for n in final}
        dx, grads, dstate = layer.backward(dout, dfinal, cache)
        dx_l, grads_l, dstate_l = layer.backward(dout, dfinal, cache_l)
        for a, b in [(out, out_l), (dx, dx_l)] + [(d[k], d_l[k]) for d, d_l in
                                                   ((final, final_l), (grads, grads_l), (dstate, dstate_l)) for k in d]:
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="unidirectional"):
        LSTM(2, 3, bidirectional=True).forward({}, x, lengths=np.full(3, 5))


# ----------------------------------------------------------------- (d) attention weights

@pytest.mark.parametrize("cell, reset_after, attention", [c for c in COMBOS if c[2]],
                         ids=[i for c, i in zip(COMBOS, IDS) if c[2]])
def test_attention_weights_are_zero_at_padding_and_sum_to_one(cell, reset_after, attention):
    a = make_model(cell, reset_after, attention).forward(SRC, TGT)[1]["attention"]   # (N, T, S)
    assert a.shape == (3, 4, 5)
    pad = (SRC == PAD)[:, None, :] & np.ones((1, 4, 1), dtype=bool)              # (N, T, S)
    assert np.all(a[pad] == 0) and np.all(a[~pad] > 0)
    # a sum of S = 5 terms in [0, 1] after one division each: a few eps
    np.testing.assert_allclose(a.sum(axis=-1), 1.0, rtol=0, atol=4 * np.finfo(np.float64).eps)


def test_masked_softmax_ignores_any_score_at_padding():
    """Whatever sits at a padded position -- a huge score, inf, NaN -- its weight is exactly 0 and the
    rest is the softmax of the real scores; a large negative fill (``-1e9``) is not: real scores
    below it (here -1e12) hand the padding all the weight."""
    mask = np.array([[True, True, False, False]])
    scores = np.array([[[0.5, -1.0, 1e300, np.inf], [-1e12, -1e12 - 1, np.nan, -np.inf]]])  # (1, 2, 4)
    with strict():
        a = masked_softmax(scores, mask)
    e = np.exp([0.0, -1.0])
    np.testing.assert_array_equal(a[..., 2:], 0.0)
    np.testing.assert_allclose(a[0, 0, :2], np.exp([0.5, -1.0]) / np.exp([0.5, -1.0]).sum(), rtol=1e-15)
    np.testing.assert_allclose(a[0, 1, :2], e / e.sum(), rtol=1e-15)
    filled = np.where(mask[:, None, :], scores[:, 1:], -1e9)
    naive = np.exp(filled - filled.max()) / np.exp(filled - filled.max()).sum()
    assert naive[0, 0, 2:].sum() == 1.0


# ------------------------------------------------------------------ (e) greedy decoding

GEN_SRC = np.array([[4, 5, 6, 7, 8], [3, 1, 0, 0, 0], [2, 8, 6, 0, 0], [9, 0, 0, 0, 0], [10, 3, 3, 5, 0]],
                   dtype=np.int64)


def decode_model(cell, reset_after, attention, eos_bias, seed=0):
    """Random weights (twice the Xavier scale) with the pad logit pushed down by 50 (so a decoded
    prefix is a valid target for the teacher-forcing recomputation) and ``eos_bias`` added to the
    eos logit."""
    model = make_model(cell, reset_after, attention, seed, scale=2.0)
    params = {n: p.copy() for n, p in model.params.items()}
    params["b_out"][PAD] -= 50.0
    params["b_out"][EOS] += eos_bias
    return Seq2Seq(model.spec, params)


def teacher_forced_greedy(model, src_row, max_len):
    """The greedy tokens of one row by teacher forcing: token k is the argmax of forward()'s logits
    at position k with the decoded prefix y_1..y_{k-1} followed by eos as the target."""
    prefix = []
    while len(prefix) < max_len:
        tgt = np.array([prefix + [EOS]], dtype=np.int64)
        y = int(np.argmax(model.forward(src_row, tgt)[0][0, len(prefix)]))
        prefix.append(y)
        if y == EOS:
            break
    return prefix


def eos_steps(out) -> list[int | None]:
    """Per row: the position (1-based) of its eos, None if it has none."""
    return [int(np.argmax(row == EOS)) + 1 if np.any(row == EOS) else None for row in out]


def check_greedy(model, max_len):
    out = model.generate(GEN_SRC, max_len)
    assert out.dtype == np.int64 and out.ndim == 2 and out.shape[0] == len(GEN_SRC) and 1 <= out.shape[1] <= max_len
    for n, row in enumerate(out):
        ref = teacher_forced_greedy(model, GEN_SRC[n:n + 1], max_len)
        assert row[:len(ref)].tolist() == ref, (n, row, ref)
        assert np.all(row[len(ref):] == PAD)                        # finished rows are padded
    steps = eos_steps(out)
    # stops as soon as every row is finished, else after max_len tokens
    assert out.shape[1] == (max_len if None in steps else max(steps))
    return steps


@pytest.mark.parametrize("cell, reset_after, attention", COMBOS, ids=IDS)
def test_greedy_decoding(cell, reset_after, attention):
    # no eos ever (eos logit pushed down): every row runs to max_len
    assert check_greedy(decode_model(cell, reset_after, attention, -50.0), 6) == [None] * 5
    # plain random weights (pad pushed down only): whatever they give, token for token
    check_greedy(decode_model(cell, reset_after, attention, 0.0), 8)
    # weights for which every row finishes, at different steps: the first (seed, eos bias) of a fixed
    # grid that gives this (deterministic; a combination without one fails the test)
    for seed in range(4):
        for bias in np.arange(0.0, 6.01, 0.25):
            model = decode_model(cell, reset_after, attention, bias, seed)
            steps = eos_steps(model.generate(GEN_SRC, 8))
            if None not in steps and len(set(steps)) > 1 and max(steps) < 8:
                break
        else:
            continue
        break
    else:
        raise AssertionError("no (seed, eos bias) in the grid makes every row stop before 8 tokens, at different steps")
    assert check_greedy(model, 8) == steps
    # max_len cuts the longest rows short; max_len = 1 decodes exactly one token
    assert None in check_greedy(model, max(steps) - 1)
    assert model.generate(GEN_SRC, 1).shape == (5, 1)


# ------------------------------------------------------------------------------ (f) tasks

def test_sequence_reversal_task():
    src, tgt, v_src, v_tgt = data.sequence_reversal(0, n=40, min_len=2, max_len=6, vocab=9)
    assert v_src is v_tgt and len(v_src) == 9 and (v_src.pad_id, v_src.bos_id, v_src.eos_id) == (PAD, BOS, EOS)
    assert src.dtype == tgt.dtype == np.int64 and src.shape == (40, 6) and tgt.shape == (40, 7)
    validation.check_token_ids("src", src, 9)
    validation.check_token_ids("tgt", tgt, 9, eos_id=EOS)            # right-padded, ends with eos
    texts = v_src.decode_batch(src)
    assert {len(t) for t in texts} == set(range(2, 7))               # variable lengths, all of them
    assert set("".join(texts)) == set("abcdef")                      # vocab - 3 letters
    assert v_tgt.decode_batch(tgt) == [t[::-1] for t in texts]
    assert np.array_equal(v_src.encode_batch(texts), src)
    again = data.sequence_reversal(0, n=40, min_len=2, max_len=6, vocab=9)
    assert np.array_equal(again[0], src) and np.array_equal(again[1], tgt)


def test_digit_addition_task():
    src, tgt, v_src, v_tgt = data.digit_addition(1, n=60, max_digits=3)
    assert len(v_src) == 14 and len(v_tgt) == 13
    assert v_src.decode(v_src.encode("57+648")) == "57+648" and v_tgt.encode("705", eos=True) == [10, 3, 8, 2]
    validation.check_token_ids("src", src, 14)
    validation.check_token_ids("tgt", tgt, 13, eos_id=EOS)
    assert src.shape[1] == 7 and tgt.shape[1] <= 5
    digits = set()
    for s, t in zip(v_src.decode_batch(src), v_tgt.decode_batch(tgt)):
        a, b = s.split("+")
        assert int(a) + int(b) == int(t) and str(int(t)) == t
        assert all(str(int(x)) == x for x in (a, b))                 # no leading zeros
        digits.update((len(a), len(b)))
    assert digits == {1, 2, 3}


def test_task_batches_run_through_the_model():
    src, tgt, v_src, v_tgt = data.digit_addition(2, n=6, max_digits=2)
    spec = Seq2SeqSpec("gru", len(v_src), len(v_tgt), EMBED, HIDDEN, attention="additive")
    model = Seq2Seq(spec, init_params(spec, 0, bias="normal"))
    loss, cache = model.objective(src, tgt)
    assert np.isfinite(loss) and cache["logits"].shape == (*tgt.shape, len(v_tgt))
    assert model.generate(src, 5).shape[0] == 6


def test_init_params_draws_every_seq2seq_parameter():
    spec = make_spec("lstm", True, "additive")
    params = init_params(spec, 0)                                    # default: zero biases
    for name in ("E_src", "E_tgt", "enc_Wx", "enc_Wh", "dec_Wx", "dec_Wh", "W_q", "W_k", "v", "W_out"):
        assert np.all(params[name] != 0) and len(np.unique(params[name])) == params[name].size, name
    for name in ("enc_b", "dec_b", "b_out"):
        assert np.all(params[name] == 0), name


# ------------------------------------------------------------------------- (g) bad input

GOOD_SRC, GOOD_TGT = SRC, TGT
BAD = [
    # (src, tgt, exception, message)
    (SRC.astype(np.float64), TGT, TypeError, "src must hold token ids of dtype int64, got float dtype float64"),
    (SRC, TGT.astype(np.int32), TypeError, "tgt must hold token ids of dtype int64, got integer dtype int32"),
    (SRC != 0, TGT, TypeError, "src must hold token ids of dtype int64, got non-integer dtype bool"),
    ([[3, 4], [5]], TGT, ValueError, r"src has rows of different lengths \(2, 1\); right-pad them"),
    (SRC.tolist(), TGT, TypeError, r"src must be a numpy.ndarray of int64 token ids of shape \(N, L\), got list"),
    (SRC[0], TGT, ValueError, r"src must have rank 2 with shape \(N, L\).*got rank 1"),
    (SRC[None], TGT, ValueError, r"src must have rank 2 .*got rank 3"),
    (SRC[:, :0], TGT, ValueError, r"src must hold at least one row and one position, got shape \(3, 0\)"),
    (np.where(SRC == 6, 11, SRC), TGT, ValueError,
     r"src\[0\] has id 11 at position 2, outside the vocabulary \[0, 11\)"),
    (SRC, np.where(TGT == 5, 9, TGT), ValueError, r"tgt\[1\] has id 9 at position 1, outside the vocabulary \[0, 9\)"),
    (np.where(SRC == 3, -3, SRC), TGT, ValueError, r"src\[1\] has a negative id -3 at position 0"),
    (np.where(np.arange(3)[:, None] == 1, 0, SRC), TGT, ValueError, r"src\[1\] is all padding \(pad_id 0\)"),
    (SRC, np.array([[3, 2, 0, 0], [4, 0, 5, 2], [2, 0, 0, 0]]), ValueError,
     r"tgt\[1\] has padding in the middle \(position 1\) followed by token 5; sequences must be right-padded"),
    (np.array([[4, 0, 0, 7], [3, 0, 0, 0], [2, 0, 0, 0]]), TGT, ValueError,
     r"src\[0\] has padding in the middle \(position 1\) followed by token 7"),
    (SRC, np.array([[3, 4, 0, 0], [4, 5, 6, 2], [2, 0, 0, 0]]), ValueError,
     r"tgt\[0\] does not end with eos_id 2: its last real token \(position 1\) is 4"),
    (SRC, np.array([[3, 2, 0, 0], [4, 2, 6, 2], [2, 0, 0, 0]]), ValueError,
     r"tgt\[1\] has eos_id 2 at position 1 before its last real token \(position 3\)"),
    (SRC, TGT[:2], ValueError, "src and tgt must have the same batch size N, got 3 and 2"),
]


@pytest.mark.parametrize("src, tgt, exc, message", BAD, ids=[m[:40] for *_, m in BAD])
def test_bad_token_ids_are_rejected_with_a_clear_error(src, tgt, exc, message):
    model = make_model("lstm", True, "dot")
    with pytest.raises(exc, match=message):
        model.forward(src, tgt)
    with pytest.raises(exc, match=message):
        model.objective(src, tgt)
    if tgt is GOOD_TGT and "tgt" not in message:                     # the same source checks in generate
        with pytest.raises(exc, match=message):
            model.generate(src, 3)


@pytest.mark.parametrize("max_len, exc, message", [(0, ValueError, "max_len must be a positive int, got 0"),
                                                   (2.0, TypeError, r"max_len must be a positive int, got 2.0"),
                                                   (True, TypeError, "max_len must be a positive int, got True"),
                                                   (None, TypeError, "max_len must be a positive int")])
def test_bad_max_len(max_len, exc, message):
    with pytest.raises(exc, match=message):
        make_model("gru", False, None).generate(SRC, max_len)


def test_target_longer_than_allowed_and_mismatched_backward():
    with pytest.raises(ValueError, match="tgt has length 4, longer than the allowed 3"):
        validation.check_token_ids("tgt", TGT, V_TGT, eos_id=EOS, max_len=3)
    model = make_model("gru", True, None)
    _, cache = model.objective(SRC, TGT)
    with pytest.raises(ValueError, match=r"tgt must have the shape \(3, 4\) of the forward pass"):
        model.objective_backward(np.array([[3, 2]] * 3), cache)
    with pytest.raises(ValueError, match=r"dlogits must be an array of the logits' shape \(3, 4, 9\)"):
        model.backward(np.zeros((3, 4, 8)), cache)
    with pytest.raises(TypeError, match="spec must be a Seq2SeqSpec"):
        Seq2Seq(object(), {})
