"""SimpleRNN layer as a torch module; mirrors ``reference_numpy/rnn.py``.

Shape legend: N batch, T time, D input features, H hidden units.

    h_0 = initial state h (zeros if none)                         (N, H)
    h_t = f(x_t @ Wx + h_{t-1} @ Wh + b)        t = 1..T          (N, H)   f = tanh, relu or sigmoid
    output = [h_1, ..., h_T]                                      (N, T, H)

torch's ``nn.RNN`` computes ``h_t = f(x_t @ weight_ih.T + bias_ih + h_{t-1} @ weight_hh.T + bias_hh)``:
``weight_ih_l0 (H, D)`` is ``Wx.T``, ``weight_hh_l0 (H, H)`` is ``Wh.T``, and torch keeps TWO biases
whose sum is the canonical ``b`` (the mapping is in ``weights.py``; it is why torch counts 320
parameters for SimpleRNN(16) on 2 inputs where Keras counts 304).

Bidirectional: a second set of parameters (suffix ``_reverse``) runs the same recurrence from
``x_T`` back to ``x_1``, starting from ``h_reverse``; its output at step t is stored at step t, and
the per-step outputs are ``[forward, backward]`` on the last axis ``(N, T, 2H)``.

``nn.RNN`` takes ``nonlinearity="tanh"`` or ``"relu"`` only: torch has no built-in for the notes'
sigmoid SimpleRNN, so ``SigmoidRNN`` below writes the same recurrence by hand (a loop over time)
with ``nn.RNN``'s interface and parameter names (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``,
``bias_hh_l0``, two biases as in ``nn.RNN``), so that one mapping serves both.
The backward direction of a hand-written layer is the same loop on the time-flipped input
(``HandWrittenRecurrent``, shared with the hand-written GRU in ``gru.py``).

The helpers at the end (shared with ``lstm.py`` and ``gru.py``) convert between the state dict
keyed like ``spec.state_shapes()`` and torch's ``(directions, N, H)`` state tensors.
"""

import math

import torch
import torch.nn as nn


class SimpleRNN(nn.Module):
    """``forward(x, state) -> (output (N, T, dirs*H), final state {"h", "h_reverse"})``."""

    def __init__(self, in_features, hidden, activation="tanh", bidirectional=False, dtype=None):
        super().__init__()
        self.directions = ("", "_reverse") if bidirectional else ("",)
        if activation in ("tanh", "relu"):
            self.layer = nn.RNN(in_features, hidden, nonlinearity=activation, batch_first=True,
                                bidirectional=bidirectional, dtype=dtype)
        elif activation == "sigmoid":
            self.layer = SigmoidRNN(in_features, hidden, bidirectional=bidirectional, dtype=dtype)
        else:
            raise ValueError(f"unknown SimpleRNN activation {activation!r}; expected tanh, relu or sigmoid")

    def forward(self, x, state=None):
        h0 = stack_state(state, "h", self.directions)          # (dirs, N, H) or None
        output, h_n = self.layer(x, h0)                        # (N, T, dirs*H), (dirs, N, H)
        return output, unstack_state(h_n, "h", self.directions)


class HandWrittenRecurrent(nn.Module):
    """What the two hand-written layers (``SigmoidRNN`` here, ``GRUResetBefore`` in ``gru.py``)
    share: ``nn.RNN``-style parameters (``weight_ih_l0 (G*H, D)``, ``weight_hh_l0 (G*H, H)``, the
    named biases ``(G*H,)``, all again with suffix ``_reverse`` when bidirectional; ``nn.RNN``'s
    default uniform initialization) and ``nn.RNN``'s ``forward(x, h0) -> (output, h_n)``; a
    subclass writes one direction's loop over time, ``_direction(x, h, d) -> (hs, h_T)``."""

    def __init__(self, in_features, hidden, gates, biases, bidirectional=False, dtype=None):
        super().__init__()
        self.hidden = hidden
        self.directions = ("", "_reverse") if bidirectional else ("",)
        shapes = {"weight_ih_l0": (gates * hidden, in_features), "weight_hh_l0": (gates * hidden, hidden),
                  **{name: (gates * hidden,) for name in biases}}
        for d in self.directions:
            for name, shape in shapes.items():
                self.register_parameter(f"{name}{d}", nn.Parameter(torch.empty(shape, dtype=dtype)))
        bound = 1 / math.sqrt(hidden)                          # nn.RNN's default initialization
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _direction(self, x, h, d):
        raise NotImplementedError

    def forward(self, x, h0=None):
        if h0 is None:
            h0 = x.new_zeros(len(self.directions), x.shape[0], self.hidden)   # (dirs, N, H)
        output, h_n = self._direction(x, h0[0], "")                             # (N, T, H), (N, H)
        if len(self.directions) == 1:
            return output, h_n[None]
        output_rev, h_n_rev = self._direction(x.flip(1), h0[1], "_reverse")    # steps T..1
        return (torch.cat([output, output_rev.flip(1)], dim=-1),               # (N, T, 2H)
                torch.stack([h_n, h_n_rev]))                                    # (2, N, H)


class SigmoidRNN(HandWrittenRecurrent):
    """``nn.RNN`` with a sigmoid nonlinearity, which torch does not offer (see the module docstring)."""

    def __init__(self, in_features, hidden, bidirectional=False, dtype=None):
        super().__init__(in_features, hidden, 1, ("bias_ih_l0", "bias_hh_l0"), bidirectional, dtype)

    def _direction(self, x, h, d):
        W_ih, W_hh = getattr(self, f"weight_ih_l0{d}"), getattr(self, f"weight_hh_l0{d}")
        b_ih, b_hh = getattr(self, f"bias_ih_l0{d}"), getattr(self, f"bias_hh_l0{d}")
        ax = x @ W_ih.T + b_ih                                 # (N, T, H) all steps in one product
        hs = []
        for t in range(x.shape[1]):
            h = torch.sigmoid(ax[:, t] + h @ W_hh.T + b_hh)    # (N, H)
            hs.append(h)
        return torch.stack(hs, dim=1), h                       # (N, T, H), (N, H)


# -- state dict <-> torch's (directions, N, H) tensors ----------------------------------


def stack_state(state, name, directions):
    """``{"h": (N, H), "h_reverse": (N, H)}`` -> ``(dirs, N, H)`` (None stays None: zeros).
    ``torch.stack`` keeps the given tensors in the graph, so their gradients flow back."""
    if state is None:
        return None
    return torch.stack([state[f"{name}{d}"] for d in directions])


def unstack_state(tensor, name, directions):
    """``(dirs, N, H)`` -> ``{"h": (N, H), "h_reverse": (N, H)}``."""
    return {f"{name}{d}": tensor[i] for i, d in enumerate(directions)}
