"""GRU layer, both formulations, with backpropagation through time written out.

Shape legend: N batch, T time, D input features, H hidden units.

Gates are stacked on the last axis of ``Wx (D, 3H)``, ``Wh (H, 3H)``, ``b (3H,)`` (and ``bh (3H,)``)
in the order (z, r, n): Keras's (z, r, h) with its "h" = the candidate n; torch stores (r, z, n)
(the mappings permute the blocks). The update convention is torch's and Keras's,
``h_t = z * h_{t-1} + (1 - z) * n``: the course notes write ``h_new = (1 - z) * h + z * h_bar``,
so their z is this 1 - z.

    h_0 = initial state h (zeros if none)                                  (N, H)
    ax  = x_t @ Wx + b                                                      (N, 3H)

reset_after=True (torch's ``nn.GRU``, Keras's default; a recurrent bias ``bh`` inside the reset
product)::

    ah  = h_{t-1} @ Wh + bh                                                 (N, 3H)
    z   = sigmoid(ax[:, 0:H]  + ah[:, 0:H])        update gate              (N, H)
    r   = sigmoid(ax[:, H:2H] + ah[:, H:2H])       reset gate               (N, H)
    n   = tanh(ax[:, 2H:] + r * ah[:, 2H:])        candidate                (N, H)

reset_after=False (the notes' original ``h_bar = tanh(x W + (r * h) U)``; no ``bh``)::

    ah  = h_{t-1} @ Wh[:, 0:2H]                                             (N, 2H)
    z   = sigmoid(ax[:, 0:H]  + ah[:, 0:H])                                 (N, H)
    r   = sigmoid(ax[:, H:2H] + ah[:, H:2H])                                (N, H)
    n   = tanh(ax[:, 2H:] + (r * h_{t-1}) @ Wh[:, 2H:])                     (N, H)

both::

    h_t = z * h_{t-1} + (1 - z) * n                                         (N, H)
    output = [h_1, ..., h_T]                                                (N, T, H)

Backward through one step, given ``dh = dL/dh_t`` (from the output and from step t+1)::

    dz   = dh * (h_{t-1} - n),   dn = dh * (1 - z),   dh_{t-1} = dh * z     (N, H) each
    dan  = dn * (1 - n^2)                                                   (N, H)
    daz  = dz * z (1 - z)                                                   (N, H)
  reset_after=True:
    dr   = dan * ah[:, 2H:],     dar = dr * r (1 - r)                       (N, H)
    dah  = [daz, dar, dan * r]                                              (N, 3H)
    dh_{t-1} += dah @ Wh.T                                                  (N, H)
  reset_after=False:
    d(r h) = dan @ Wh[:, 2H:].T                                             (N, H)
    dr   = d(r h) * h_{t-1},     dar = dr * r (1 - r)                       (N, H)
    dah  = [daz, dar]                                                       (N, 2H)
    dh_{t-1} += d(r h) * r + dah @ Wh[:, :2H].T                             (N, H)
  both:
    dax  = [daz, dar, dan]                                                  (N, 3H)

The recurrent weights' gradients, for every step at once after the loop (``recurrent_grads``: one
product each over the stacked steps, ``sum_t`` below)::

  reset_after=True:
    dWh = sum_t h_{t-1}.T @ dah_t,   dbh = sum_{t,n} dah_t                   (H, 3H), (3H,)
  reset_after=False:
    dWh[:, :2H] = sum_t h_{t-1}.T @ dah_t                                   (H, 2H)
    dWh[:, 2H:] = sum_t (r_t * h_{t-1}).T @ dan_t                            (H, H)

``dx``, ``dWx``, ``db`` follow from ``dax`` of every step as in ``rnn.py``. In the code the gate blocks
are on the first axis (``rnn.py``'s gate-major layout): ``ah (3, N, H)``, ``ah[2]`` is ``ah[:, 2H:]``
above, ``dax (3, N, H)``, and ``dah @ Wh.T`` is ``sum_k dah[k] @ Wh_g[k].T``.
"""

from __future__ import annotations

import numpy as np

from reference_numpy.activations import sigmoid_gate
from reference_numpy.rnn import Recurrent


class GRU(Recurrent):
    gates = 3

    def __init__(self, in_features, hidden, reset_after=True, bidirectional=False):
        super().__init__(in_features, hidden, bidirectional)
        self.reset_after = reset_after
        self.recurrent_params = ("Wh", "bh") if reset_after else ("Wh",)

    def step(self, ax_t, state, P, h_out):
        h_prev = state["h"]                                               # (N, H)
        Wh = P["Wh_g"]                                                    # (3, H, H) gate-major
        if self.reset_after:
            ah = h_prev @ Wh                                              # (3, N, H)
            ah += P["bh_g"]
        else:
            ah = h_prev @ Wh[0:2]                                         # (2, N, H)
        zr = ax_t[0:2] + ah[0:2]                                          # (2, N, H)
        sigmoid_gate(zr, out=zr)                                          # both gates in one call
        z, r = zr                                                         # (N, H) each, contiguous
        if self.reset_after:
            n = r * ah[2]                                                 # (N, H)
        else:
            n = (r * h_prev) @ Wh[2]                                      # (N, H)
        n += ax_t[2]
        np.tanh(n, out=n)                                                 # tanh(ax_n + ...)
        h = np.add(z * h_prev, (1.0 - z) * n, out=h_out)                  # (N, H)
        return {"h": h}, (h_prev, ah, z, r, n)

    def step_backward(self, dstate, cache, P, dax_out):
        WhT = P["WhT_g"]                                                  # (3, H, H): [k] is Wh_g[k].T
        h_prev, ah, z, r, n = cache
        dh = dstate["h"]                                                  # (N, H)
        dax = dax_out                                                     # (3, N, H) gate-major
        daz, dar, dan = dax                                               # (N, H) each, views of dax
        np.multiply(dh * (1.0 - z), 1.0 - n * n, out=dan)                 # dn * (1 - n^2)
        np.multiply(dh * (h_prev - n) * z, 1.0 - z, out=daz)              # dz * z (1 - z)
        dh_prev = dh * z                                                  # (N, H)
        if self.reset_after:
            np.multiply(dan * ah[2] * r, 1.0 - r, out=dar)                # (N, H)
            dah = dax.copy()                                              # (3, N, H) [daz, dar, dan * r]
            dah[2] *= r
            dh_prev += (dah @ WhT).sum(axis=0)                            # sum_k dah[k] @ Wh_g[k].T
        else:
            drh = dan @ WhT[2]                                            # (N, H) d(r * h_prev)
            np.multiply(drh * h_prev * r, 1.0 - r, out=dar)               # (N, H)
            dah = dax[0:2]                                                # (2, N, H) [daz, dar]
            dh_prev += drh * r
            dh_prev += (dah @ WhT[0:2]).sum(axis=0)                       # (N, H)
        return dax, {"h": dh_prev}, dah

    def recurrent_grads(self, h_prev, dax, dah, step_caches):
        if self.reset_after:
            return {"Wh": h_prev.T @ dah, "bh": dah.sum(axis=1)}          # (3, H, H), (3, H)
        r = np.stack([cache[3] for cache in step_caches]).reshape(h_prev.shape)   # (T*N, H)
        return {"Wh": np.concatenate([h_prev.T @ dah, ((r * h_prev).T @ dax[2])[None]])}   # (3, H, H)
