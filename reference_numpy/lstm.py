"""LSTM layer with backpropagation through time written out.

Shape legend: N batch, T time, D input features, H hidden units.

Gates are stacked on the last axis of ``Wx (D, 4H)``, ``Wh (H, 4H)``, ``b (4H,)`` in the order
(i, f, g, o) -- torch's order, and Keras's (i, f, c, o) with its "c" = the candidate g. (The
course's second book orders them f, g, i, o: a port from it must permute the blocks.)

Forward, all four gates from one product per step (the input part ``x @ Wx + b`` for every step
at once, in ``rnn.Recurrent``; in the code the gate blocks are on the first axis, ``a (4, N, H)``, and
``a[0]`` is ``a[:, 0:H]`` below: ``rnn.py``'s gate-major layout)::

    h_0, c_0 = initial state h, c (zeros if none)                         (N, H)
    a   = x_t @ Wx + b + h_{t-1} @ Wh                                      (N, 4H)
    i   = sigmoid(a[:, 0:H])        input gate                             (N, H)
    f   = sigmoid(a[:, H:2H])       forget gate                            (N, H)
    g   = tanh(a[:, 2H:3H])         candidate cell                         (N, H)
    o   = sigmoid(a[:, 3H:4H])      output gate                            (N, H)
    c_t = f * c_{t-1} + i * g                                              (N, H)
    h_t = o * tanh(c_t)                                                    (N, H)
    output = [h_1, ..., h_T]                                               (N, T, H)

Backward through one step, given ``dh_t`` (from the output and from step t+1) and ``dc_t``
(from step t+1, or the final cell state)::

    dc    = dc_t + dh_t * o * (1 - tanh(c_t)^2)      both paths into c_t   (N, H)
    do    = dh_t * tanh(c_t)                                               (N, H)
    di    = dc * g,   df = dc * c_{t-1},   dg = dc * i                     (N, H) each
    da    = [di * i (1 - i), df * f (1 - f), dg * (1 - g^2), do * o (1 - o)]   (N, 4H)
    dh_{t-1} = da @ Wh.T                                                   (N, H)
    dc_{t-1} = dc * f                                                      (N, H)

``dWh``, ``dx``, ``dWx``, ``db`` follow from ``da`` of every step as in ``rnn.py`` (one product each).
"""

from __future__ import annotations

import numpy as np

from reference_numpy.activations import sigmoid_gate
from reference_numpy.rnn import Recurrent


class LSTM(Recurrent):
    state_names = ("h", "c")
    gates = 4

    def step(self, ax_t, state, P, h_out):
        h_prev, c_prev = state["h"], state["c"]                           # (N, H) each
        a = h_prev @ P["Wh_g"]                                            # (4, N, H) gate-major
        a += ax_t                                                         # x_t @ Wx + b + h_{t-1} @ Wh
        # the activations overwrite a in place (i and f in one call): the gates are views of it
        sigmoid_gate(a[0:2], out=a[0:2])
        np.tanh(a[2], out=a[2])
        sigmoid_gate(a[3], out=a[3])
        i, f, g, o = a                                                    # (N, H) each, contiguous
        c = f * c_prev                                                    # (N, H)
        c += i * g                                                        # f * c_{t-1} + i * g
        tanh_c = np.tanh(c)                                               # (N, H)
        h = np.multiply(o, tanh_c, out=h_out)                             # (N, H)
        return {"h": h, "c": c}, (h_prev, c_prev, i, f, g, o, tanh_c)

    def step_backward(self, dstate, cache, P, dax_out):
        h_prev, c_prev, i, f, g, o, tanh_c = cache
        dh = dstate["h"]                                                  # (N, H)
        dc = dstate["c"] + dh * o * (1.0 - tanh_c * tanh_c)               # (N, H)
        da = dax_out                                                      # (4, N, H) gate-major
        di, df, dg, do = da                                               # (N, H) each, views of da
        np.multiply(dc * g, i, out=di)
        di *= 1.0 - i                                                     # di * i (1 - i)
        np.multiply(dc * c_prev, f, out=df)
        df *= 1.0 - f                                                     # df * f (1 - f)
        np.multiply(dc * i, 1.0 - g * g, out=dg)                          # dg * (1 - g^2)
        np.multiply(dh * tanh_c, o, out=do)
        do *= 1.0 - o                                                     # do * o (1 - o)
        dh_prev = (da @ P["WhT_g"]).sum(axis=0)                           # (N, H) = sum_k da[k] @ Wh_g[k].T
        dc_prev = dc * f                                                  # (N, H)
        return da, {"h": dh_prev, "c": dc_prev}, da
