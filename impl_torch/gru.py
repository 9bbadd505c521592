"""GRU layer as a torch module (both formulations); mirrors ``reference_numpy/gru.py``.

Shape legend: N batch, T time, D input features, H hidden units.

Canonical gates stacked on the last axis in the order (z, r, n); torch's are (r, z, n) (the
mapping permutes the blocks, ``weights.py``). Update convention of torch and Keras (the
notes' z is this 1 - z):

    h_0 = initial state h (zeros if none)                                 (N, H)
    ax  = x_t @ Wx + b                                                     (N, 3H)
    z   = sigmoid(ax[:, 0:H]  + (h_{t-1} @ Wh + bh)[:, 0:H])   update gate (N, H)
    r   = sigmoid(ax[:, H:2H] + (h_{t-1} @ Wh + bh)[:, H:2H])  reset gate  (N, H)

  reset_after=True (torch's nn.GRU, Keras's default; recurrent bias bh inside the reset product):
    n   = tanh(ax[:, 2H:] + r * (h_{t-1} @ Wh[:, 2H:] + bh[2H:]))          (N, H)
  reset_after=False (the notes' original formula; one bias, bh = 0 above):
    n   = tanh(ax[:, 2H:] + (r * h_{t-1}) @ Wh[:, 2H:])                    (N, H)

    h_t = z * h_{t-1} + (1 - z) * n                                        (N, H)
    output = [h_1, ..., h_T]                                               (N, T, H)

torch's ``nn.GRU`` stores ``weight_ih_l0 (3H, D)``, ``weight_hh_l0 (3H, H)`` with gate blocks
(r, z, n) along the first axis, ``bias_ih_l0`` = b and ``bias_hh_l0`` = bh (both permuted).

torch has no built-in for ``reset_after=False`` (``nn.GRU`` always multiplies the reset gate
after the recurrent product), so ``GRUResetBefore`` below writes it by hand (a loop over time)
with ``nn.GRU``'s interface, parameter names and gate order (r, z, n), and a single bias
``bias_ih_l0`` (a second bias would only add to the first). The backward direction of the
hand-written layer is the same loop on the time-flipped input.
Bidirectional: parameters with suffix ``_reverse``; per-step outputs ``[forward, backward]``.
"""

import torch
import torch.nn as nn

from impl_torch.rnn import HandWrittenRecurrent, stack_state, unstack_state


class GRU(nn.Module):
    """``forward(x, state) -> (output (N, T, dirs*H), final state {"h", "h_reverse"})``."""

    def __init__(self, in_features, hidden, reset_after=True, bidirectional=False, dtype=None):
        super().__init__()
        self.directions = ("", "_reverse") if bidirectional else ("",)
        if reset_after:
            self.layer = nn.GRU(in_features, hidden, batch_first=True, bidirectional=bidirectional, dtype=dtype)
        else:
            self.layer = GRUResetBefore(in_features, hidden, bidirectional=bidirectional, dtype=dtype)

    def forward(self, x, state=None):
        h0 = stack_state(state, "h", self.directions)          # (dirs, N, H) or None
        output, h_n = self.layer(x, h0)                        # (N, T, dirs*H), (dirs, N, H)
        return output, unstack_state(h_n, "h", self.directions)


class GRUResetBefore(HandWrittenRecurrent):
    """A GRU with ``reset_after=False``, which torch does not offer (see the module docstring)."""

    def __init__(self, in_features, hidden, bidirectional=False, dtype=None):
        super().__init__(in_features, hidden, 3, ("bias_ih_l0",), bidirectional, dtype)   # one bias

    def _direction(self, x, h, d):
        H = self.hidden
        W_ih, W_hh = getattr(self, f"weight_ih_l0{d}"), getattr(self, f"weight_hh_l0{d}")
        b_ih = getattr(self, f"bias_ih_l0{d}")
        ax = x @ W_ih.T + b_ih                                 # (N, T, 3H) blocks r, z, n; all steps at once
        hs = []
        for t in range(x.shape[1]):
            ah = h @ W_hh[:2 * H].T                            # (N, 2H) blocks r, z
            z = torch.sigmoid(ax[:, t, H:2 * H] + ah[:, H:])   # (N, H) update gate: torch's block 2
            r = torch.sigmoid(ax[:, t, :H] + ah[:, :H])        # (N, H) reset gate: torch's block 1
            n = torch.tanh(ax[:, t, 2 * H:] + (r * h) @ W_hh[2 * H:].T)   # (N, H) reset before the product
            h = z * h + (1 - z) * n                            # (N, H)
            hs.append(h)
        return torch.stack(hs, dim=1), h                       # (N, T, H), (N, H)
