"""Sequence-to-sequence encoder-decoder (LSTM or GRU) with optional attention; every backward
written out. The notes' day 3 "Seq2Seq" (encoder RNN -> thought vector -> decoder RNN) and
"Attention Mechanism"; the semantics are ``Seq2SeqSpec``'s (``specs.py``) and ``notes/SEQ2SEQ.md``'s.

Shape legend: N batch, S source length, T target length, E embedding size, H hidden units,
V target vocabulary (V_src the source's), G gate blocks (4 LSTM, 3 GRU), C = number of real
target tokens in the batch.

Parameters (canonical order, ``Seq2SeqSpec.param_shapes``)::

    E_src (V_src, E)   E_tgt (V, E)                                       embeddings (embedding.py)
    enc_Wx (E, G*H)  enc_Wh (H, G*H)  enc_b (G*H,)  [enc_bh (G*H,)]      encoder cell
    dec_Wx (E, G*H)  dec_Wh (H, G*H)  dec_b (G*H,)  [dec_bh (G*H,)]      decoder cell
    W_a (H, H) | W_q (H, H), W_k (H, H), v (H,)                           general | additive attention
    W_out (H or 2H, V)   b_out (V,)                                       output projection

The cells are ``lstm.LSTM`` / ``gru.GRU`` run by ``rnn.Recurrent``'s time loop: gate blocks side by
side on the last axis in the order i, f, g, o (LSTM) or z, r, n (GRU, ``h = z*h_prev + (1-z)*n``,
``bh`` only for ``reset_after=True``); the prefix ``enc_`` / ``dec_`` is stripped before they are
handed to the layer. Inputs: ``src (N, S)``, ``tgt (N, T)`` int64, right-padded with ``pad_id = 0``;
each target row's last real token is ``eos_id`` (``validation.check_seq2seq_batch``).

Forward under teacher forcing (``forward``; the steps are methods of the same names)::

  encode:
    mask   = src != pad                                  (N, S)  bool, True at real tokens
    len    = sum_s mask                                  (N,)    real tokens per row (right-padded)
    x      = E_src[src]                                  (N, S, E)
    ax     = x @ enc_Wx + enc_b                          (N, S, G*H) every step in one product
    enc_s  = cell(ax_s, state_{s-1}),  state_0 = 0       (N, S, H)   s = 1..S, padded steps included
    state  = state_{len[n]} of row n (h, and c)          (N, H) each: after its LAST REAL token
  decode:
    dec_in = [bos, tgt_1, ..., tgt_{T-1}]                (N, T)  teacher forcing, no masking
    dec_t  = cell(E_tgt[dec_in] @ dec_Wx + dec_b, ...)   (N, T, H)   from the encoder's state
  attend (attention.py; none: z = dec):
    a      = masked_softmax(score(dec, enc), mask)       (N, T, S)   exactly 0 at source padding
    ctx    = a @ enc                                     (N, T, H)
    z      = [dec; ctx]                                  (N, T, 2H)
  project:
    logits = z @ W_out + b_out                           (N, T, V)
  loss (over the C positions with tgt != pad):
    L      = 1/C sum_{(n,t): tgt != pad} (logsumexp(logits[n,t]) - logits[n,t,tgt[n,t]])

Backward (``objective_backward`` = the loss's gradient, then ``backward``, the VJP of the logits)::

    dlogits[n,t] = (softmax(logits[n,t]) - onehot(tgt[n,t])) / C   at real positions, 0 at padding
  project:
    dW_out = z.T @ dlogits,  db_out = sum dlogits,  dz = dlogits @ W_out.T     (flattened over N, T)
  attend:
    ddec = dz[..., :H] + (attention's ddec from dctx = dz[..., H:]);  denc, d(W_a | W_q, W_k, v)
    (no attention: ddec = dz, denc = 0)
  decode (BPTT, rnn.py; no gradient at the final state):
    d(dec cell params), d(E_tgt[dec_in]) = Recurrent.backward(ddec, 0)
    dstate = the gradient of the decoder's initial state = of the encoder's gathered state
    dE_tgt = scatter-add of d(E_tgt[dec_in]) at dec_in                          (embedding.py)
  encode (BPTT with per-row lengths, rnn.py):
    dstate enters row n at its step len[n] (where the state was gathered), denc at every step
    (exactly 0 at padding: a = 0 there); the padded steps after len[n] then carry only zeros, so
    they add exactly nothing to any gradient
    d(enc cell params), d(E_src[src]) = Recurrent.backward(denc, dstate, lengths)
    dE_src = scatter-add of d(E_src[src]) at src

Embedding rows of tokens absent from the batch get gradient exactly 0; the pad row gets what the
scatter-add gives (no special padding row; torch's ``padding_idx`` would zero it).

Greedy decoding (``generate``): encode, then from ``bos`` one decoder step at a time for all rows
at once (the same cell, attention and projection as above; only the loop over time):
``y_t = argmax logits_t`` (the first index on ties), the next input. A row that has emitted
``eos_id`` is finished: its later positions are ``pad_id`` (its decoder keeps running on them; what
it computes is discarded). Stops when every row is finished or after ``max_len`` tokens; the result
``(N, L)`` int64, ``L <= max_len``, keeps each row's ``eos``. The argmax ranges over the whole
vocabulary, so an untrained model may emit ``pad`` or ``bos`` as a token (it does not end the row).
"""

from __future__ import annotations

import numpy as np

from reference_numpy import losses, validation
from reference_numpy.attention import Attention
from reference_numpy.embedding import Embedding
from reference_numpy.gru import GRU
from reference_numpy.layers import dense_backward, dense_forward
from reference_numpy.lstm import LSTM
from reference_numpy.specs import Seq2SeqSpec, cell_param_shapes


class Seq2Seq:
    """``forward(src, tgt) -> (logits (N, T, V), cache)``, ``objective(src, tgt) -> (L, cache)``
    (torch's ``forward`` / Keras's ``call`` and ``objective``: the output IS the logits, there is
    no output activation), their backward ``backward(dlogits, cache) -> grads`` and
    ``objective_backward(tgt, cache) -> grads`` (canonical names and order), and
    ``generate(src, max_len) -> ids (N, L)``. ``cache["attention"]`` is ``a (N, T, S)`` (None
    without attention). Parameters in C order are used as given, not copied (a gradient check
    nudges ``model.params[name]`` in place)."""

    def __init__(self, spec, params, dtype="float64"):
        if not isinstance(spec, Seq2SeqSpec):
            raise TypeError(f"spec must be a Seq2SeqSpec, got {type(spec).__name__}")
        self.spec = spec
        self.dtype = validation.check_dtype_name(dtype)
        self.params = validation.check_params(spec, params, self.dtype)
        self.encoder, self.decoder = (LSTM(spec.embed, spec.hidden) if spec.cell == "lstm"
                                      else GRU(spec.embed, spec.hidden, spec.reset_after) for _ in range(2))
        self.cell_names = tuple(cell_param_shapes(spec.cell, spec.embed, spec.hidden, spec.reset_after))
        self.embedding = Embedding()
        self.attention = Attention(spec.attention) if spec.attention else None

    def _cell(self, part):
        return {n: self.params[f"{part}_{n}"] for n in self.cell_names}

    # -- the steps -------------------------------------------------------------
    def encode(self, src):
        """``(enc (N, S, H), state {h, [c]: (N, H)} after each row's last real token, mask (N, S), cache)``."""
        mask = src != self.spec.pad_id                                             # (N, S)
        lengths = mask.sum(axis=1)                                                 # (N,) right-padded
        x, emb_cache = self.embedding.forward(self.params["E_src"], src)          # (N, S, E)
        enc, state, rnn_cache = self.encoder.forward(self._cell("enc"), x, None, lengths=lengths)  # (N, S, H)
        return enc, state, mask, (emb_cache, rnn_cache)

    def encode_backward(self, denc, dstate, cache):
        emb_cache, rnn_cache = cache
        dx, g, _ = self.encoder.backward(denc, dstate, rnn_cache)                 # (N, S, E)
        return {"E_src": self.embedding.backward(dx, emb_cache)} | {f"enc_{n}": g[n] for n in self.cell_names}

    def decode(self, tgt, state):
        """``(dec (N, T, H), cache)``: teacher forcing on ``[bos, tgt[:, :-1]]`` from ``state``."""
        bos = np.full((tgt.shape[0], 1), self.spec.bos_id, dtype=tgt.dtype)       # (N, 1)
        dec_in = np.concatenate([bos, tgt[:, :-1]], axis=1)                       # (N, T)
        x, emb_cache = self.embedding.forward(self.params["E_tgt"], dec_in)       # (N, T, E)
        dec, final, rnn_cache = self.decoder.forward(self._cell("dec"), x, state)  # (N, T, H)
        return dec, (emb_cache, rnn_cache, final)

    def decode_backward(self, ddec, cache):
        """``(grads, dstate)``: the decoder's gradients and that of its initial state."""
        emb_cache, rnn_cache, final = cache
        dfinal = {n: np.zeros_like(v) for n, v in final.items()}                   # the final state is unused
        dx, g, dstate = self.decoder.backward(ddec, dfinal, rnn_cache)            # (N, T, E)
        grads = {"E_tgt": self.embedding.backward(dx, emb_cache)} | {f"dec_{n}": g[n] for n in self.cell_names}
        return grads, dstate

    def attend(self, dec, enc, mask):
        """``(z, a, cache)``: ``z = [dec; context]`` (N, T, 2H) and ``a`` (N, T, S); without attention
        ``(dec, None, None)``."""
        if self.attention is None:
            return dec, None, None
        context, a, cache = self.attention.forward(self.params, dec, enc, mask)   # (N, T, H), (N, T, S)
        return np.concatenate([dec, context], axis=-1), a, cache                   # (N, T, 2H)

    def attend_backward(self, dz, cache, enc_shape):
        """``(ddec, denc, grads)`` from ``dz``; ``denc`` is 0 ``(N, S, H)`` without attention."""
        if self.attention is None:
            return dz, np.zeros(enc_shape, dtype=dz.dtype), {}
        H = self.spec.hidden
        ddec_att, denc, grads = self.attention.backward(dz[..., H:], cache)       # (N, T, H), (N, S, H)
        return dz[..., :H] + ddec_att, denc, grads

    def project(self, z):
        """``(logits (N, T, V), cache)``."""
        N, T, F = z.shape
        u, cache = dense_forward(z.reshape(N * T, F), self.params["W_out"], self.params["b_out"])  # (N*T, V)
        return u.reshape(N, T, -1), (cache, z.shape)

    def project_backward(self, dlogits, cache):
        dense_cache, z_shape = cache
        dz, dW_out, db_out = dense_backward(dlogits.reshape(-1, dlogits.shape[-1]), dense_cache)  # (N*T, F)
        return dz.reshape(z_shape), {"W_out": dW_out, "b_out": db_out}

    # -- the model -------------------------------------------------------------
    def forward(self, src, tgt):
        src, tgt = validation.check_seq2seq_batch(self.spec, src, tgt)
        enc, state, mask, enc_cache = self.encode(src)                             # (N, S, H)
        dec, dec_cache = self.decode(tgt, state)                                   # (N, T, H)
        z, a, att_cache = self.attend(dec, enc, mask)                              # (N, T, H or 2H)
        logits, proj_cache = self.project(z)                                       # (N, T, V)
        cache = {"encode": enc_cache, "decode": dec_cache, "attend": att_cache, "project": proj_cache,
                 "enc_shape": enc.shape, "logits": logits, "attention": a, "tgt": tgt}
        return logits, cache

    def backward(self, dlogits, cache):
        """The gradients of ``sum(dlogits * logits)`` (canonical dict, canonical order)."""
        if not isinstance(dlogits, np.ndarray) or dlogits.shape != cache["logits"].shape:
            raise ValueError(f"dlogits must be an array of the logits' shape {cache['logits'].shape}, got "
                             f"{getattr(dlogits, 'shape', type(dlogits).__name__)}")
        dz, g_out = self.project_backward(dlogits, cache["project"])               # (N, T, H or 2H)
        ddec, denc, g_att = self.attend_backward(dz, cache["attend"], cache["enc_shape"])  # (N, T, H), (N, S, H)
        g_dec, dstate = self.decode_backward(ddec, cache["decode"])                # dstate (N, H) each
        g_enc = self.encode_backward(denc, dstate, cache["encode"])
        grads = g_enc | g_dec | g_att | g_out
        return {n: grads[n] for n in self.spec.param_shapes()}

    def objective(self, src, tgt):
        """Softmax cross-entropy summed over the real target tokens, divided by their number C."""
        logits, cache = self.forward(src, tgt)
        real = cache["tgt"] != self.spec.pad_id                                     # (N, T)
        return losses.softmax_cross_entropy(logits[real], cache["tgt"][real]), cache   # mean over (C, V)

    def objective_backward(self, tgt, cache):
        tgt = validation.check_token_ids("tgt", tgt, self.spec.tgt_vocab, self.spec.pad_id, eos_id=self.spec.eos_id)
        logits = cache["logits"]                                                   # (N, T, V)
        if tgt.shape != logits.shape[:2]:
            raise ValueError(f"tgt must have the shape {logits.shape[:2]} of the forward pass, got {tgt.shape}")
        real = tgt != self.spec.pad_id                                              # (N, T)
        dlogits = np.zeros_like(logits)                                             # (N, T, V), 0 at padding
        dlogits[real] = losses.softmax_cross_entropy_backward(logits[real], tgt[real])  # (C, V) / C
        return self.backward(dlogits, cache)

    def generate(self, src, max_len):
        """Greedy decoding: ``(N, L)`` int64, ``L <= max_len``; see the module docstring."""
        spec = self.spec
        src = validation.check_token_ids("src", src, spec.src_vocab, spec.pad_id)
        max_len = validation.check_max_len(max_len)
        enc, state, mask, _ = self.encode(src)                                     # (N, S, H)
        P, N = self._cell("dec"), src.shape[0]
        token = np.full((N, 1), spec.bos_id, dtype=np.int64)                       # (N, 1)
        finished = np.zeros(N, dtype=bool)                                          # (N,)
        out = []
        for _ in range(max_len):
            x, _ = self.embedding.forward(self.params["E_tgt"], token)             # (N, 1, E)
            dec, state, _ = self.decoder.forward(P, x, state)                       # (N, 1, H)
            z, _, _ = self.attend(dec, enc, mask)                                   # (N, 1, H or 2H)
            logits, _ = self.project(z)                                             # (N, 1, V)
            y = np.where(finished, spec.pad_id, np.argmax(logits[:, 0], axis=-1))  # (N,) first max on ties
            out.append(y)
            finished = finished | (y == spec.eos_id)
            if finished.all():
                break
            token = y[:, None].astype(np.int64)                                     # (N, 1)
        return np.stack(out, axis=1).astype(np.int64)                               # (N, L)
