"""Attention of a decoder over the encoder states, with a masked softmax; backward written out.

Shape legend: N batch, T target (decoder) steps, S source (encoder) steps, H hidden units.
Inputs: the decoder states ``dec (N, T, H)`` (the queries), the encoder states ``enc (N, S, H)``
(keys and values) and ``mask (N, S)`` bool, True at real source tokens, False at padding (every row
has at least one real token).

Scores (``Seq2SeqSpec``'s three kinds; parameters in parentheses)::

    dot        s[n,t,s] = dec[n,t] . enc[n,s]                         Luong's dot, unscaled
    general    q = dec @ W_a                                 (H, H)    Luong's h_t^T W_a s
               s[n,t,s] = q[n,t] . enc[n,s]
    additive   pq = dec @ W_q  (N, T, H),  pk = enc @ W_k  (N, S, H)  (H, H) each
               u[n,t,s] = tanh(pq[n,t] + pk[n,s])             (N, T, S, H)
               s[n,t,s] = u[n,t,s] . v                        v (H,)   Bahdanau's v^T tanh(W q + W k)

Masked softmax over the source axis: padded positions get weight exactly 0 from a mask (``np.where``),
not from a large negative score (``-1e9`` becomes ``exp(-1e9 - m) = 0`` only after rounding, and in
float32 a large score can swallow it); the max is taken over the real positions only::

    m[n,t]   = max_{s real} s[n,t,s]                                    (N, T, 1)
    e        = where(mask, exp(where(mask, s - m, 0)), 0)               (N, T, S), 0 at padding
    a        = e / sum_s e                                              (N, T, S), rows sum to 1
    context  = a @ enc                                                  (N, T, H)

Backward, given ``dcontext = dL/dcontext (N, T, H)``::

    da       = dcontext @ enc^T                                         (N, T, S)
    denc     = a^T @ dcontext                                           (N, S, H)  (values path)
    ds       = a * (da - sum_s a * da)                                  (N, T, S)
               the softmax's Jacobian J = diag(a) - a a^T (symmetric, so J da is also the
               vector-Jacobian product); exactly 0 at padding, where a = 0
  dot:
    ddec     = ds @ enc                                                 (N, T, H)
    denc    += ds^T @ dec                                               (N, S, H)
  general:
    dq       = ds @ enc                                                 (N, T, H)
    ddec     = dq @ W_a^T                                               (N, T, H)
    dW_a     = sum_n dec[n]^T @ dq[n]                                   (H, H)
    denc    += ds^T @ q                                                 (N, S, H)
  additive:
    dv       = sum_{n,t,s} ds[n,t,s] u[n,t,s]                           (H,)
    dpre     = ds[..., None] * v * (1 - u^2)                            (N, T, S, H)
    dpq      = sum_s dpre,    dpk = sum_t dpre                          (N, T, H), (N, S, H)
    ddec     = dpq @ W_q^T,   dW_q = sum_n dec[n]^T @ dpq[n]            (N, T, H), (H, H)
    denc    += dpk @ W_k^T,   dW_k = sum_n enc[n]^T @ dpk[n]            (N, S, H), (H, H)

Everything is batched over N and T (matmuls / einsum); there is no loop.
"""

from __future__ import annotations

import numpy as np

KINDS = ("dot", "general", "additive")
#: The canonical parameters of each kind (``Seq2SeqSpec.param_shapes``).
PARAMS = {"dot": (), "general": ("W_a",), "additive": ("W_q", "W_k", "v")}


def masked_softmax(scores, mask):
    """Softmax over the last axis of ``scores (N, T, S)`` restricted to ``mask (N, S)``: exactly 0 where
    the mask is False; each row needs at least one True."""
    m = mask[:, None, :]                                                        # (N, 1, S)
    top = np.max(scores, axis=-1, keepdims=True, where=m, initial=-np.inf)      # (N, T, 1) over real s
    e = np.where(m, np.exp(np.where(m, scores - top, 0.0)), 0.0)                # (N, T, S), 0 at padding
    return e / np.sum(e, axis=-1, keepdims=True)                                # (N, T, S)


def masked_softmax_backward(da, a):
    """``ds = J da`` with ``J = diag(a) - a a^T`` per row; 0 wherever ``a`` is 0 (the padding)."""
    return a * (da - np.sum(a * da, axis=-1, keepdims=True))                    # (N, T, S)


class Attention:
    """``forward(params, dec, enc, mask) -> (context (N, T, H), a (N, T, S), cache)`` and
    ``backward(dcontext, cache) -> (ddec, denc, grads)``; ``params`` / ``grads`` hold the kind's
    canonical parameters (``PARAMS[kind]``)."""

    def __init__(self, kind: str):
        if kind not in KINDS:
            raise ValueError(f"unknown attention {kind!r}; expected one of {', '.join(KINDS)}")
        self.kind = kind
        self.param_names = PARAMS[kind]

    def scores(self, params, dec, enc):
        """``(s (N, T, S), saved)``: the unmasked scores and what their backward needs."""
        if self.kind == "dot":
            return dec @ enc.transpose(0, 2, 1), None                           # (N, T, S)
        if self.kind == "general":
            q = dec @ params["W_a"]                                             # (N, T, H)
            return q @ enc.transpose(0, 2, 1), q                                # (N, T, S)
        pq = dec @ params["W_q"]                                                # (N, T, H)
        pk = enc @ params["W_k"]                                                # (N, S, H)
        u = np.tanh(pq[:, :, None, :] + pk[:, None, :, :])                      # (N, T, S, H)
        return u @ params["v"], u                                               # (N, T, S)

    def forward(self, params, dec, enc, mask):
        P = {n: params[n] for n in self.param_names}
        s, saved = self.scores(P, dec, enc)                                     # (N, T, S)
        a = masked_softmax(s, mask)                                             # (N, T, S)
        context = a @ enc                                                       # (N, T, H)
        return context, a, (P, dec, enc, a, saved)

    def backward(self, dcontext, cache):
        P, dec, enc, a, saved = cache
        H = dec.shape[-1]
        da = dcontext @ enc.transpose(0, 2, 1)                                  # (N, T, S)
        denc = a.transpose(0, 2, 1) @ dcontext                                  # (N, S, H) values path
        ds = masked_softmax_backward(da, a)                                     # (N, T, S), 0 at padding
        grads = {}
        if self.kind == "dot":
            ddec = ds @ enc                                                     # (N, T, H)
            denc = denc + ds.transpose(0, 2, 1) @ dec                           # (N, S, H)
        elif self.kind == "general":
            q = saved                                                           # (N, T, H)
            dq = ds @ enc                                                       # (N, T, H)
            ddec = dq @ P["W_a"].T                                              # (N, T, H)
            grads["W_a"] = dec.reshape(-1, H).T @ dq.reshape(-1, H)             # (H, H)
            denc = denc + ds.transpose(0, 2, 1) @ q                             # (N, S, H)
        else:
            u = saved                                                           # (N, T, S, H)
            grads_v = np.einsum("nts,ntsh->h", ds, u)                           # (H,)
            dpre = ds[..., None] * P["v"] * (1.0 - u * u)                       # (N, T, S, H)
            dpq, dpk = dpre.sum(axis=2), dpre.sum(axis=1)                       # (N, T, H), (N, S, H)
            ddec = dpq @ P["W_q"].T                                             # (N, T, H)
            denc = denc + dpk @ P["W_k"].T                                      # (N, S, H)
            grads = {"W_q": dec.reshape(-1, H).T @ dpq.reshape(-1, H),          # (H, H)
                     "W_k": enc.reshape(-1, H).T @ dpk.reshape(-1, H),          # (H, H)
                     "v": grads_v}
        return ddec, denc, grads
