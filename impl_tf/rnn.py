"""SimpleRNN layer as a Keras layer; mirrors ``reference_numpy/rnn.py``.

Shape legend: N batch, T time, D input features, H hidden units.

    h_0 = initial state h (zeros if none)                         (N, H)
    h_t = f(x_t @ Wx + h_{t-1} @ Wh + b)        t = 1..T          (N, H)   f = tanh, relu or sigmoid
    output = [h_1, ..., h_T]                                      (N, T, H)

Keras's ``SimpleRNN`` computes ``h_t = f(x_t @ kernel + bias + h_{t-1} @ recurrent_kernel)``:
``kernel (D, H)`` = Wx, ``recurrent_kernel (H, H)`` = Wh, ``bias (H,)`` = b -- the canonical
layout itself, with one bias (304 parameters for SimpleRNN(16) on 2 inputs; torch, with two
biases, counts 320). Every activation, sigmoid included, is a built-in option here.

Bidirectional: ``keras.layers.Bidirectional`` runs a copy of the layer (``backward_layer``,
canonical suffix ``_reverse``) from ``x_T`` back to ``x_1``, starting from ``h_reverse``, flips
its per-step outputs back so that step t is stored at step t, and concatenates
``[forward, backward]`` on the last axis ``(N, T, 2H)``.

The layer is built with ``return_sequences=True, return_state=True`` (every step's output and
the final states); the initial state goes in as Keras's list (forward states, then backward
states), which is the order of ``spec.state_shapes()``.
"""

import keras

from impl_tf.model import BuiltOnFirstCall


class SimpleRNN(BuiltOnFirstCall, keras.layers.Layer):
    """``call(x, state) -> (output (N, T, dirs*H), final state {"h", "h_reverse"})``."""

    def __init__(self, hidden, activation="tanh", bidirectional=False, dtype="float64", **kwargs):
        super().__init__(dtype=dtype, **kwargs)
        self.state_names = ("h", "h_reverse") if bidirectional else ("h",)
        layer = keras.layers.SimpleRNN(hidden, activation=activation, return_sequences=True,
                                       return_state=True, dtype=dtype)
        self.layer = keras.layers.Bidirectional(layer, dtype=dtype) if bidirectional else layer

    def call(self, x, state=None):
        return run_layer(self.layer, x, state, self.state_names)


def run_layer(layer, x, state, state_names):
    """Run a Keras recurrent layer built with ``return_sequences=True, return_state=True``:
    the state dict goes in as Keras's list and the final states come back as a dict
    (shared with ``lstm.py`` and ``gru.py``)."""
    initial = None if state is None else [state[n] for n in state_names]   # each (N, H)
    output, *final = layer(x, initial_state=initial)                       # (N, T, dirs*H), (N, H) each
    return output, dict(zip(state_names, final, strict=True))
