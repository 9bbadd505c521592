"""LSTM layer as a torch module; mirrors ``reference_numpy/lstm.py``.

Shape legend: N batch, T time, D input features, H hidden units.

Gates stacked on the last axis in the order (i, f, g, o), canonical and torch alike:

    h_0, c_0 = initial state h, c (zeros if none)                       (N, H)
    a   = x_t @ Wx + h_{t-1} @ Wh + b                                    (N, 4H)
    i   = sigmoid(a[:, 0:H])        input gate                           (N, H)
    f   = sigmoid(a[:, H:2H])       forget gate                          (N, H)
    g   = tanh(a[:, 2H:3H])         candidate cell                       (N, H)
    o   = sigmoid(a[:, 3H:4H])      output gate                          (N, H)
    c_t = f * c_{t-1} + i * g                                            (N, H)
    h_t = o * tanh(c_t)                                                  (N, H)
    output = [h_1, ..., h_T]                                             (N, T, H)

torch's ``nn.LSTM`` stores ``weight_ih_l0 (4H, D)`` = ``Wx.T``, ``weight_hh_l0 (4H, H)`` = ``Wh.T``
(gate blocks i, f, g, o along the first axis) and two biases ``bias_ih_l0``, ``bias_hh_l0`` whose
sum is the canonical ``b`` (``weights.py``). Bidirectional: parameters with suffix ``_reverse``
run from ``x_T`` back to ``x_1``; per-step outputs ``[forward, backward]`` ``(N, T, 2H)``, the
backward one stored at the step it belongs to.
"""

import torch.nn as nn

from impl_torch.rnn import stack_state, unstack_state


class LSTM(nn.Module):
    """``forward(x, state) -> (output (N, T, dirs*H), final state {"h", "c", "h_reverse", "c_reverse"})``."""

    def __init__(self, in_features, hidden, bidirectional=False, dtype=None):
        super().__init__()
        self.directions = ("", "_reverse") if bidirectional else ("",)
        self.layer = nn.LSTM(in_features, hidden, batch_first=True, bidirectional=bidirectional, dtype=dtype)

    def forward(self, x, state=None):
        hc0 = None
        if state is not None:
            hc0 = (stack_state(state, "h", self.directions),        # (dirs, N, H)
                   stack_state(state, "c", self.directions))        # (dirs, N, H)
        output, (h_n, c_n) = self.layer(x, hc0)                     # (N, T, dirs*H), 2 x (dirs, N, H)
        h, c = unstack_state(h_n, "h", self.directions), unstack_state(c_n, "c", self.directions)
        final = {n: s[n] for d in self.directions for n, s in ((f"h{d}", h), (f"c{d}", c))}  # h, c per direction
        return output, final
