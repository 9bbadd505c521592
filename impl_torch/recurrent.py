"""A recurrent network (SimpleRNN, LSTM or GRU, optionally bidirectional) and a dense head,
as a torch module; mirrors ``reference_numpy/recurrent.py``.

Shape legend: N batch, T time, D input features, H hidden units, K outputs,
dirs = 2 if bidirectional else 1.

    hs, state = layer(x, initial_state)     (N, T, dirs*H), {"h", ["c"], ["h_reverse", ...]: (N, H)}
    many-to-many (return_sequences):
        z = hs                                                   (N, T, dirs*H)
    many-to-one:
        z = [state["h"], state["h_reverse"]]                     (N, dirs*H)
    u = z @ W_out + b_out                                        (N, T, K) or (N, K); the logits
    y = f_out(u)

The many-to-one head reads the forward state after step T and the backward direction's FINAL
state (after it has read x_T ... x_1) -- what Keras's ``Bidirectional(return_sequences=False)``
returns. Porting pitfall: in torch that is ``h_n``, NOT ``output[:, -1]``: the backward half of
``output[:, -1]`` is the backward direction's state after its FIRST step (it has seen x_T only).
(For one direction the two agree.)

The head is ``self.head``, an ``nn.Linear`` whose ``weight (K, dirs*H)`` is ``W_out.T``; the
layer is ``self.recurrent`` (``rnn.py``, ``lstm.py``, ``gru.py``; mapping in ``weights.py``).
"""

import torch
import torch.nn as nn

from impl_torch.gru import GRU
from impl_torch.lstm import LSTM
from impl_torch.model import Model
from impl_torch.rnn import SimpleRNN


def recurrent_layer(spec, dtype=None):
    """The spec's recurrent layer (``SimpleRNN``, ``LSTM`` or ``GRU``)."""
    if spec.cell == "rnn":
        return SimpleRNN(spec.in_features, spec.hidden, spec.activation, spec.bidirectional, dtype=dtype)
    if spec.cell == "lstm":
        return LSTM(spec.in_features, spec.hidden, spec.bidirectional, dtype=dtype)
    return GRU(spec.in_features, spec.hidden, spec.reset_after, spec.bidirectional, dtype=dtype)


class RecurrentNet(Model):
    def __init__(self, spec, dtype=None):
        super().__init__(spec)
        self.recurrent = recurrent_layer(spec, dtype=dtype)
        self.head = nn.Linear(len(spec.directions) * spec.hidden, spec.out_features, dtype=dtype)

    def run(self, x, initial_state=None):
        """``(u, final_state)``: the head's pre-activation and the states after the last step."""
        hs, state = self.recurrent(x, initial_state)               # (N, T, dirs*H)
        if self.spec.return_sequences:
            z = hs                                                 # (N, T, dirs*H)
        else:
            z = torch.cat([state[f"h{d}"] for d in self.spec.directions], dim=-1)   # (N, dirs*H), not hs[:, -1]
        return self.head(z), state                                 # (N, T, K) or (N, K)

    def logits(self, x, initial_state=None):
        return self.run(x, initial_state)[0]
