"""A recurrent network (SimpleRNN, LSTM or GRU, optionally bidirectional) and a dense head,
forward and backward written out.

Shape legend: N batch, T time, D input features, H hidden units, K outputs,
dirs = 2 if bidirectional else 1.
Parameters (canonical layout, ``RNNSpec.param_shapes``): the layer's ``Wx, Wh, b`` (GRU
reset_after=True also ``bh``; the backward direction the same with suffix ``_reverse``; see
``rnn.py``, ``lstm.py``, ``gru.py``), then the head ``W_out (dirs*H, K)``, ``b_out (K,)``
(the notes' ``W_out``, applied at every step in their binary-addition RNN).

Forward::

    hs, state = layer(x, initial_state)       (N, T, dirs*H), {"h", ["c"], ["h_reverse", ...]: (N, H)}
    many-to-many (return_sequences):
        z = hs                                                   (N, T, dirs*H)
    many-to-one:
        z = [state["h"], state["h_reverse"]]                     (N, dirs*H)
    u = z @ W_out + b_out                                        (N, T, K) or (N, K); the logits
    y = f_out(u)

The many-to-one head reads the forward state after step T and the backward direction's FINAL
state (after it has read x_T ... x_1), as Keras's ``Bidirectional(return_sequences=False)``
does; not ``hs[:, -1]``, whose backward half has seen x_T only (see ``impl_torch/recurrent.py``).

Backward, given ``du = dL/du``::

    dW_out = z.T @ du          (z, du flattened over N (and T))      (dirs*H, K)
    db_out = sum du                                                  (K,)
    dz     = du @ W_out.T                                            (N, T, dirs*H) or (N, dirs*H)
    many-to-many: d(hs) = dz, d(final state) = 0
    many-to-one:  d(hs) = 0,  d(final h) = dz split by direction, d(final c) = 0
    dx, d(layer params), d(initial state) = layer.backward(d(hs), d(final state))   (BPTT)
"""

from __future__ import annotations

import numpy as np

from reference_numpy.gru import GRU
from reference_numpy.layers import dense_backward, dense_forward
from reference_numpy.lstm import LSTM
from reference_numpy.model import Model
from reference_numpy.rnn import SimpleRNN


def recurrent_layer(spec):
    """The spec's recurrent layer (``SimpleRNN``, ``LSTM`` or ``GRU``)."""
    if spec.cell == "rnn":
        return SimpleRNN(spec.in_features, spec.hidden, spec.activation, spec.bidirectional)
    if spec.cell == "lstm":
        return LSTM(spec.in_features, spec.hidden, spec.bidirectional)
    return GRU(spec.in_features, spec.hidden, spec.reset_after, spec.bidirectional)


class RecurrentNet(Model):
    def __init__(self, spec, params, dtype="float64"):
        super().__init__(spec, params, dtype)
        self.recurrent = recurrent_layer(spec)

    def logits(self, x, initial_state=None):
        spec = self.spec
        hs, state, layer_cache = self.recurrent.forward(self.params, x, initial_state)  # (N, T, dirs*H)
        if spec.return_sequences:
            z = hs                                                                 # (N, T, dirs*H)
        else:
            z = np.concatenate([state[f"h{d}"] for d in spec.directions], axis=-1)  # (N, dirs*H), not hs[:, -1]
        u2, head_cache = dense_forward(z.reshape(-1, z.shape[-1]),
                                       self.params["W_out"], self.params["b_out"])   # (N*T or N, K)
        u = u2.reshape(*z.shape[:-1], -1)                                          # (N, T, K) or (N, K)
        cache = {"layer": layer_cache, "head": head_cache, "x_shape": x.shape, "logits": u, "final_state": state}
        return u, cache

    def logits_backward(self, du, cache, input_grad=True):
        spec, H = self.spec, self.spec.hidden
        N, T, _ = cache["x_shape"]
        dz, dW_out, db_out = dense_backward(du.reshape(-1, du.shape[-1]), cache["head"])  # (N*T or N, dirs*H)
        dirs_h = len(spec.directions) * H
        dfinal = {n: np.zeros((N, H), dtype=du.dtype) for n in spec.state_shapes()}
        if spec.return_sequences:
            dhs = dz.reshape(N, T, dirs_h)                                         # (N, T, dirs*H)
        else:
            dhs = None                        # many-to-one: no gradient into h_t before the last step
            for k, d in enumerate(spec.directions):
                dfinal[f"h{d}"] = dz[:, k * H:(k + 1) * H]                         # (N, H)
        dx, grads, dstate = self.recurrent.backward(dhs, dfinal, cache["layer"], input_grad)   # BPTT
        grads = grads | {"W_out": dW_out, "b_out": db_out}
        grads = {name: grads[name] for name in spec.param_shapes()}               # canonical order
        return dx, grads, dstate
