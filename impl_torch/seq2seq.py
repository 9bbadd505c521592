"""An encoder-decoder (LSTM or GRU) with optional attention, as a torch module; mirrors
``reference_numpy/seq2seq.py`` (the spec: ``Seq2SeqSpec`` in ``reference_numpy/specs.py``).

Shape legend: N batch, S source steps, T target steps, E embedding size, H hidden units,
V_src / V_tgt vocabulary sizes; ``pad = spec.pad_id`` (= 0), ``bos``, ``eos`` likewise.

Teacher forcing, step by step as the code computes it (``run``: ``encode``, ``decode``, ``attend``,
``project``, the NumPy model's steps)::

    encode:
        mask    = src != pad                                          (N, S)   bool, True at real tokens
        e_src   = E_src[src]                                          (N, S, E)   nn.Embedding
        enc, state = encoder(pack(e_src, lengths))                    (N, S, H)   zeros at padded steps
                    state = h (and c) after each row's LAST REAL token (1, N, H)
    decode:
        dec_in  = [bos, tgt_1, ..., tgt_{T-1}]                        (N, T)
        dec, _  = decoder(E_tgt[dec_in], state)                       (N, T, H)   no packing, no mask
    attend (attention is not None):
        dot       scores = dec @ enc^T                                (N, T, S)   torch.bmm, UNscaled
        general   scores = (dec @ W_a) @ enc^T                        (N, T, S)   W_a: nn.Linear(H, H, bias=False)
        additive  scores = tanh(dec @ W_q [:, :, None] + enc @ W_k [:, None]) @ v   (N, T, S)
        a        = softmax(scores.masked_fill(~mask, -inf))           (N, T, S)   exactly 0 at padding
        context  = a @ enc                                            (N, T, H)   torch.bmm
        z        = [dec; context]                                     (N, T, 2H)
    no attention:  z = dec                                            (N, T, H)
    project:
        logits   = z @ W_out + b_out                                  (N, T, V_tgt)   nn.Linear
    loss = F.cross_entropy(logits, tgt, ignore_index=pad)             sum over tgt != pad / their count

torch has no Luong or Bahdanau attention layer (``nn.MultiheadAttention`` is multi-head scaled
dot-product with its own projections), so ``attend`` is written out here. Note that
``F.scaled_dot_product_attention`` divides the scores by sqrt(d) by default; Luong's dot score
(and this suite's canonical one) does NOT scale -- passing ``scale=1.0`` would be needed to use it
(with the default it is 0.04 relative off on the context, measured with weights x3).

Conventions handled here (each pinned in ``parity_tests/test_seq2seq_conventions.py``):

* Encoder over a padded batch: ``pack_padded_sequence(..., enforce_sorted=False)`` so that
  ``nn.LSTM`` / ``nn.GRU`` stop at each row's last real token: ``h_n`` (``c_n``) is the state
  after that token, and ``pad_packed_sequence`` returns ZEROS at the padded steps. Keras's
  masked LSTM/GRU instead repeats the last real output at padded steps; the two never differ in
  the logits because the masked attention gives those steps weight exactly 0. The hand-written
  ``GRUResetBefore`` (reset_after=False, no torch built-in, ``impl_torch/gru.py``) takes no packed
  input: it runs over every step and the state is gathered at index ``length - 1`` (the
  recurrence is causal, so that is the packed state exactly), and its padded outputs are set to
  0 like ``pad_packed_sequence``'s.
* ``padding_idx``: the SOURCE embedding uses ``padding_idx=pad`` as torch users write it; it
  zeroes that row's gradient (and initializes the row to zeros, which ``load_canonical``
  overwrites), and that gradient is exactly 0 canonically anyway (padded source steps never
  reach the logits: packed away, and attention weight 0). The TARGET embedding does NOT use it:
  the decoder reads the pad id at the steps after a row's ``eos`` (``dec_in`` holds
  ``tgt[:, :-1]``), so the canonical gradient of ``E_tgt[pad]`` is nonzero for an upstream
  gradient on the logits at padded target positions (a vjp), and ``padding_idx`` would zero it
  (vjp of E_tgt 0.58 relative off, measured). The LOSS gradient of ``E_tgt[pad]`` is exactly 0
  in every framework either way: a pad input only feeds ignored positions.
* Loss: ``F.cross_entropy(ignore_index=pad)``'s default ``reduction="mean"`` divides by the
  number of non-ignored targets: exactly the canonical mean over real tokens (not N*T, not a
  mean of per-row means).

Parameters (mapping to the canonical names in ``weights.py``)::

    src_embedding.weight (V_src, E) = E_src    tgt_embedding.weight (V_tgt, E) = E_tgt
    encoder.*, decoder.*   nn.LSTM / nn.GRU / GRUResetBefore (weight_ih_l0, weight_hh_l0, biases)
    W_a.weight = W_a.T     W_q.weight = W_q.T   W_k.weight = W_k.T   v (H,) = v
    out.weight (V_tgt, H or 2H) = W_out.T       out.bias = b_out
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from impl_torch.gru import GRUResetBefore
from reference_numpy import validation


def cell_layer(spec, dtype=None) -> nn.Module:
    """The encoder's / decoder's recurrent layer: ``nn.LSTM``, ``nn.GRU`` or, for the GRU with
    ``reset_after=False``, the hand-written ``GRUResetBefore`` (same interface and names)."""
    if spec.cell == "lstm":
        return nn.LSTM(spec.embed, spec.hidden, batch_first=True, dtype=dtype)
    if spec.reset_after:
        return nn.GRU(spec.embed, spec.hidden, batch_first=True, dtype=dtype)
    return GRUResetBefore(spec.embed, spec.hidden, dtype=dtype)


class Seq2Seq(nn.Module):
    """``forward(src, tgt) -> logits``, ``run(src, tgt) -> (logits, attention)``,
    ``objective(src, tgt) -> loss``, ``generate(src, max_len) -> ids``; ids are int64 tensors."""

    def __init__(self, spec, dtype=None):
        super().__init__()
        self.spec = spec
        E, H = spec.embed, spec.hidden
        self.src_embedding = nn.Embedding(spec.src_vocab, E, padding_idx=spec.pad_id, dtype=dtype)
        self.tgt_embedding = nn.Embedding(spec.tgt_vocab, E, dtype=dtype)   # no padding_idx: see docstring
        self.encoder = cell_layer(spec, dtype)
        self.decoder = cell_layer(spec, dtype)
        if spec.attention == "general":
            self.W_a = nn.Linear(H, H, bias=False, dtype=dtype)
        elif spec.attention == "additive":
            self.W_q = nn.Linear(H, H, bias=False, dtype=dtype)
            self.W_k = nn.Linear(H, H, bias=False, dtype=dtype)
            self.v = nn.Parameter(torch.empty(H, dtype=dtype).uniform_(-H ** -0.5, H ** -0.5))
        self.out = nn.Linear(2 * H if spec.attention else H, spec.tgt_vocab, dtype=dtype)

    # -- the steps (the NumPy model's names and order) --------------------------------------
    def encode(self, src):
        """``(enc (N, S, H), state, mask (N, S))``; ``state`` is the decoder's initial state
        (``(h, c)`` for the LSTM, ``h`` for the GRU, each ``(1, N, H)``) after each row's last
        real token."""
        mask = src != self.spec.pad_id                                 # (N, S)
        lengths = mask.sum(dim=1)                                      # (N,) >= 1
        e_src = self.src_embedding(src)                                # (N, S, E)
        if isinstance(self.encoder, GRUResetBefore):                   # no packed input: run every step
            hs, _ = self.encoder(e_src)                                # (N, S, H)
            last = hs[torch.arange(src.shape[0]), lengths - 1]         # (N, H) after the last real token
            return hs.masked_fill(~mask[..., None], 0.0), last[None], mask   # zeros at padding, as packed
        packed = pack_padded_sequence(e_src, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, state = self.encoder(packed)                              # state (1, N, H) [each]
        enc, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])   # (N, S, H)
        return enc, state, mask

    def decode(self, tgt, state):
        """``dec (N, T, H)``: teacher forcing, the decoder reads ``[bos, tgt_1, ..., tgt_{T-1}]``
        from ``state``."""
        bos = torch.full_like(tgt[:, :1], self.spec.bos_id)           # (N, 1)
        dec_in = torch.cat([bos, tgt[:, :-1]], dim=1)                  # (N, T)
        dec, _ = self.decoder(self.tgt_embedding(dec_in), state)       # (N, T, H)
        return dec

    def attend(self, dec, enc, mask):
        """``(z, a)``: ``z = [dec; context]`` (N, T, 2H) and the weights ``a`` (N, T, S) of the
        masked softmax attention of ``dec`` over ``enc``; without attention ``(dec, None)``."""
        kind = self.spec.attention
        if kind is None:
            return dec, None
        if kind == "dot":
            scores = torch.bmm(dec, enc.transpose(1, 2))                               # (N, T, S)
        elif kind == "general":
            scores = torch.bmm(self.W_a(dec), enc.transpose(1, 2))                     # (N, T, S)
        else:
            u = torch.tanh(self.W_q(dec)[:, :, None, :] + self.W_k(enc)[:, None, :, :])   # (N, T, S, H)
            scores = u @ self.v                                                        # (N, T, S)
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))                  # exp(-inf) = 0
        a = torch.softmax(scores, dim=-1)                                              # (N, T, S)
        context = torch.bmm(a, enc)                                                    # (N, T, H)
        return torch.cat([dec, context], dim=-1), a                                    # (N, T, 2H)

    def project(self, z):
        """``logits (N, T, V_tgt)``: the output projection."""
        return self.out(z)                                             # (N, T, V_tgt)

    # -- the model ------------------------------------------------------------------------
    def run(self, src, tgt):
        """``(logits (N, T, V_tgt), attention (N, T, S) or None)`` under teacher forcing."""
        enc, state, mask = self.encode(src)                            # (N, S, H)
        dec = self.decode(tgt, state)                                  # (N, T, H)
        z, a = self.attend(dec, enc, mask)                             # (N, T, H or 2H)
        return self.project(z), a                                      # (N, T, V_tgt)

    def forward(self, src, tgt):
        return self.run(src, tgt)[0]                                   # (N, T, V_tgt)

    def objective(self, src, tgt):
        """Softmax cross-entropy over the real target tokens, summed and divided by their count."""
        logits = self(src, tgt)                                        # (N, T, V_tgt)
        return F.cross_entropy(logits.flatten(0, 1), tgt.flatten(), ignore_index=self.spec.pad_id)

    @torch.no_grad()
    def generate(self, src, max_len: int):
        """Greedy decoding: ``ids (N, L)`` int64, ``L <= max_len``; each row ends with ``eos``
        (included) unless cut at ``max_len``; after ``eos`` a row holds ``pad``. Stops when every
        row has emitted ``eos``. ``torch.argmax`` takes the first index on ties."""
        max_len = validation.check_max_len(max_len)                   # the NumPy model's check and message
        spec = self.spec
        enc, state, mask = self.encode(src)                            # (N, S, H)
        token = torch.full((src.shape[0], 1), spec.bos_id, dtype=torch.int64)   # (N, 1)
        finished = torch.zeros(src.shape[0], dtype=torch.bool)         # (N,)
        out = []
        for _ in range(max_len):
            dec, state = self.decoder(self.tgt_embedding(token), state)   # (N, 1, H) one step
            z, _ = self.attend(dec, enc, mask)                         # (N, 1, H or 2H)
            logits = self.project(z)                                   # (N, 1, V_tgt)
            token = logits.argmax(dim=-1).masked_fill(finished[:, None], spec.pad_id)   # (N, 1)
            out.append(token)
            finished = finished | (token[:, 0] == spec.eos_id)
            if bool(finished.all()):
                break
        return torch.cat(out, dim=1)                                   # (N, L)
