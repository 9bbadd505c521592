"""An encoder-decoder (LSTM or GRU) with optional attention, as a Keras model; mirrors
``reference_numpy/seq2seq.py`` (the spec: ``Seq2SeqSpec`` in ``reference_numpy/specs.py``).

Written with ``keras.layers`` and ``keras.ops`` only (no ``tf.*``), so the same model runs on
Keras's TensorFlow, JAX and torch backends.

Shape legend: N batch, S source steps, T target steps, E embedding size, H hidden units,
V_src / V_tgt vocabulary sizes; ``pad = spec.pad_id`` (= 0), ``bos``, ``eos`` likewise.

Teacher forcing, step by step as the code computes it (``run``: ``encode``, ``decode``, ``attend``,
``project``, the NumPy model's steps)::

    encode:
        e_src   = E_src[src]                                          (N, S, E)   Embedding(mask_zero=True)
        mask    = src != pad                                          (N, S)      its compute_mask(src)
        enc, *state = encoder(e_src, mask=mask)                       (N, S, H)   LSTM / GRU,
                  state = h (and c) after each row's LAST REAL token  (N, H)      return_state=True
    decode:
        dec_in  = [bos, tgt_1, ..., tgt_{T-1}]                        (N, T)
        dec, *_ = decoder(E_tgt[dec_in], initial_state=state)        (N, T, H)   no mask
    attend (attention is not None), ``return_attention_scores=True`` gives ``a``:
        dot       Attention(use_scale=False, score_mode="dot")([dec, enc], mask=[None, mask])
                  scores = dec @ enc^T                                (N, T, S)   unscaled
        general   Attention(...)([dec @ W_a, enc], mask=[None, mask])   W_a: Dense(H, use_bias=False)
                  scores = (dec @ W_a) @ enc^T                        (N, T, S)   W_a on the QUERY side
        additive  AdditiveAttention(use_scale=True)([dec @ W_q, enc, enc @ W_k], mask=[None, mask])
                  ([query, value, key]; W_q, W_k: Dense(H, use_bias=False))
                  scores = sum_h scale * tanh(dec @ W_q [:, :, None] + enc @ W_k [:, None])
                         = tanh(...) @ v                              (N, T, S)   its scale vector IS v
        a        = softmax(where(mask, scores, scores - 1e9))         (N, T, S)   0 at padding (see below)
        context  = a @ enc                                            (N, T, H)
        z        = [dec; context]                                     (N, T, 2H)
    no attention:  z = dec                                            (N, T, H)
    project:
        logits   = z @ W_out + b_out                                  (N, T, V_tgt)   Dense
    loss = SparseCategoricalCrossentropy(from_logits=True, ignore_class=pad)(tgt, logits)
                                                                      sum over tgt != pad / their count

Conventions handled here (each pinned in ``parity_tests/test_seq2seq_conventions.py``):

* ``Embedding(mask_zero=True)`` on the SOURCE: id 0 is reserved for padding and the mask it
  computes goes to the encoder and the attention. The row ``E_src[0]`` is an ordinary trainable
  row (unlike torch's ``padding_idx``); its gradient is exactly 0 here because masked steps
  never reach the logits. The TARGET embedding has no mask: the decoder is not masked (it is
  causal), and logits at padded target positions are computed from ``E_tgt[pad]`` as in the
  canonical model. (A decoder given the target mask would repeat its last real output at the
  steps that read the pad id, two or more after eos: those logits move by 0.18 relative,
  measured; the loss and its gradients do not, E_tgt[pad]'s vjp becomes 0 like torch's
  ``padding_idx``.)
* The source mask is passed EXPLICITLY (``mask=``) to the encoder and the attention. Keras 3.15
  fills a layer's ``mask`` from the input's ``_keras_mask`` only when the call has a single tensor
  argument (``keras/src/layers/layer.py``, "Populate mask argument(s)"): an RNN called with
  ``initial_state=`` -- the decoder of the classic Keras seq2seq recipe -- silently runs unmasked
  even after ``Embedding(mask_zero=True)``, in the functional API too.
* Masked LSTM / GRU: the final state is the state after each row's last real token (Keras
  carries the state through masked steps); the per-step output at a padded step REPEATS the
  last real output (``zero_output_for_mask=False``, the default), where torch's
  ``pad_packed_sequence`` gives zeros. The attention gives those steps weight 0, so this never
  reaches the logits.
* Attention masking: Keras subtracts ``1e9`` from masked scores (``65504`` in float16) instead
  of masking exactly. ``exp(score - 1e9 - max)`` underflows to exactly 0 in float32 and float64
  as long as the real scores do not sit ~1e9 below a masked one, which holds for any sane
  model; the NumPy reference masks exactly (``np.where``).
* Scaling: ``Attention(use_scale=False)`` (the default) leaves the dot score unscaled, Luong's
  dot; ``use_scale=True`` would multiply by a trainable scalar (init 1: equal at first, a
  different model once trained; ``weights.py`` rejects it as an unmapped variable), and
  ``score_mode="concat"`` is a different, parameter-free additive score. ``AdditiveAttention``'s
  ``use_scale=True`` (its default) creates the ``scale`` vector ``(H,)`` = Bahdanau's ``v``;
  with ``use_scale=False`` the score would be ``sum(tanh(...))``, i.e. ``v`` fixed at ones.
* ``general``: Luong's ``h_t^T W_a s = (dec @ W_a) . enc`` applies ``W_a`` to the QUERY (a Dense
  whose kernel is ``W_a`` as it is). Applying a Dense to the keys instead needs its kernel to
  be ``W_a.T`` (``dec . (enc @ W_a.T)``); ``W_a`` on the key side is the transposed score.
* Loss: ``ignore_class=pad`` masks the padded targets, and Keras's default
  ``"sum_over_batch_size"`` reduction with a mask divides by the number of UNMASKED entries:
  the canonical mean over real tokens. ``sample_weight=(tgt != pad)`` with the same reduction
  divides by N*T instead (smaller by real/(N*T): 13/24 in the test batch);
  ``reduction="mean_with_sample_weight"``
  divides by the sum of the weights, also canonical. The loss is built with the model's dtype
  (``impl_tf/losses.py``: Keras losses compute in float32 otherwise, 7e-9 relative off).

Variables (mapping to the canonical names in ``weights.py``)::

    src_embedding.embeddings (V_src, E) = E_src    tgt_embedding.embeddings (V_tgt, E) = E_tgt
    encoder.cell.*, decoder.cell.*   kernel, recurrent_kernel, bias (the recurrent layouts)
    W_a.kernel = W_a    W_q.kernel = W_q    W_k.kernel = W_k    attention.scale (H,) = v
    out.kernel (H or 2H, V_tgt) = W_out    out.bias = b_out
"""

from __future__ import annotations

import keras
from keras import ops

from impl_tf.model import BuiltOnFirstCall
from reference_numpy import validation


def cell_layer(spec, dtype, name):
    """The encoder's / decoder's recurrent layer, returning every step's output and the final
    state(s); ``recurrent_activation`` is the true sigmoid (``impl_tf/lstm.py``)."""
    kwargs = {"activation": "tanh", "recurrent_activation": "sigmoid", "return_sequences": True,
              "return_state": True, "dtype": dtype, "name": name}
    if spec.cell == "lstm":
        return keras.layers.LSTM(spec.hidden, **kwargs)
    return keras.layers.GRU(spec.hidden, reset_after=spec.reset_after, **kwargs)


class Seq2Seq(BuiltOnFirstCall, keras.Model):
    """``call(src, tgt) -> logits``, ``run(src, tgt) -> (logits, attention)``,
    ``objective(src, tgt) -> loss``, ``generate(src, max_len) -> ids``; ids are int tensors."""

    def __init__(self, spec, dtype="float64", **kwargs):
        super().__init__(dtype=dtype, **kwargs)
        self.spec = spec
        E, H = spec.embed, spec.hidden
        self.src_embedding = keras.layers.Embedding(spec.src_vocab, E, mask_zero=True, dtype=dtype,
                                                    name="src_embedding")
        self.tgt_embedding = keras.layers.Embedding(spec.tgt_vocab, E, dtype=dtype, name="tgt_embedding")
        self.encoder = cell_layer(spec, dtype, "encoder")
        self.decoder = cell_layer(spec, dtype, "decoder")
        if spec.attention in ("dot", "general"):
            self.attention = keras.layers.Attention(use_scale=False, score_mode="dot", dtype=dtype,
                                                    name="attention")
        if spec.attention == "general":
            self.W_a = keras.layers.Dense(H, use_bias=False, dtype=dtype, name="W_a")
        elif spec.attention == "additive":
            self.W_q = keras.layers.Dense(H, use_bias=False, dtype=dtype, name="W_q")
            self.W_k = keras.layers.Dense(H, use_bias=False, dtype=dtype, name="W_k")
            self.attention = keras.layers.AdditiveAttention(use_scale=True, dtype=dtype, name="attention")
        self.out = keras.layers.Dense(spec.tgt_vocab, dtype=dtype, name="out")
        self.loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=spec.pad_id,
                                                                  dtype=dtype)

    # -- the steps (the NumPy model's names and order) --------------------------------------
    def encode(self, src):
        """``(enc (N, S, H), state, mask (N, S))``; ``state`` is the list of final states
        (``[h, c]`` for the LSTM, ``[h]`` for the GRU, each ``(N, H)``) after each row's last
        real token."""
        e_src = self.src_embedding(src)                                # (N, S, E)
        mask = self.src_embedding.compute_mask(src)                    # (N, S) src != 0
        enc, *state = self.encoder(e_src, mask=mask)                   # (N, S, H), (N, H) each
        return enc, state, mask

    def decode(self, tgt, state):
        """``dec (N, T, H)``: teacher forcing, the decoder reads ``[bos, tgt_1, ..., tgt_{T-1}]``
        from ``state``."""
        bos = ops.full_like(tgt[:, :1], self.spec.bos_id)             # (N, 1)
        dec_in = ops.concatenate([bos, tgt[:, :-1]], axis=1)           # (N, T)
        dec, *_ = self.decoder(self.tgt_embedding(dec_in), initial_state=state)   # (N, T, H)
        return dec

    def attend(self, dec, enc, mask):
        """``(z, a)``: ``z = [dec; context]`` (N, T, 2H) and the weights ``a`` (N, T, S) of the
        masked attention of ``dec`` over ``enc``; without attention ``(dec, None)``."""
        kind = self.spec.attention
        if kind is None:
            return dec, None
        if kind == "dot":
            inputs = [dec, enc]                                        # query, value (= key)
        elif kind == "general":
            inputs = [self.W_a(dec), enc]                              # query dec @ W_a (N, T, H)
        else:
            inputs = [self.W_q(dec), enc, self.W_k(enc)]               # query, value, key
        context, a = self.attention(inputs, mask=[None, mask], return_attention_scores=True)   # (N, T, H), (N, T, S)
        return ops.concatenate([dec, context], axis=-1), a             # (N, T, 2H)

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

    def call(self, src, tgt):
        return self.run(src, tgt)[0]                                   # (N, T, V_tgt)

    def objective(self, src, tgt):
        """Softmax cross-entropy over the real target tokens, summed and divided by their count."""
        return self.loss_fn(tgt, self(src, tgt))                       # (y_true, y_pred)

    def generate(self, src, max_len: int):
        """Greedy decoding: ``ids (N, L)``, ``L <= max_len``; each row ends with ``eos``
        (included) unless cut at ``max_len``; after ``eos`` a row holds ``pad``. Stops when every
        row has emitted ``eos``. (``ops.argmax`` on ties: TensorFlow does not promise the first
        index; ties do not occur with float64 logits of random weights.)"""
        max_len = validation.check_max_len(max_len)                   # the NumPy model's check and message
        spec = self.spec
        enc, state, mask = self.encode(src)                            # (N, S, H)
        n = ops.shape(src)[0]
        token = ops.full((n, 1), spec.bos_id, dtype="int64")           # (N, 1)
        finished = ops.zeros((n, 1), dtype="bool")                     # (N, 1)
        out = []
        for _ in range(max_len):
            dec, *state = self.decoder(self.tgt_embedding(token), initial_state=state)   # (N, 1, H) one step
            z, _ = self.attend(dec, enc, mask)                         # (N, 1, H or 2H)
            logits = self.project(z)                                   # (N, 1, V_tgt)
            token = ops.where(finished, spec.pad_id, ops.argmax(logits, axis=-1))   # (N, 1)
            token = ops.cast(token, "int64")
            out.append(token)
            finished = ops.logical_or(finished, ops.equal(token, spec.eos_id))
            if bool(ops.all(finished)):
                break
        return ops.concatenate(out, axis=1)                            # (N, L)
