"""A recurrent network (SimpleRNN, LSTM or GRU, optionally bidirectional) and a dense head,
as a Keras model; mirrors ``reference_numpy/recurrent.py``.

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
state (after it has read x_T ... x_1): exactly what ``Bidirectional(return_sequences=False)``
returns (``parity_tests/test_rnn_conventions.py`` pins it). It is not ``hs[:, -1]``, whose
backward half has seen x_T only (the torch file spells out this porting pitfall).

The head is ``self.head``, a ``Dense`` whose ``kernel (dirs*H, K)`` is ``W_out`` as it is; the
layer is ``self.recurrent`` (``rnn.py``, ``lstm.py``, ``gru.py``; mapping in ``weights.py``).
"""

import keras

from impl_tf.gru import GRU
from impl_tf.lstm import LSTM
from impl_tf.model import Model
from impl_tf.rnn import SimpleRNN


def recurrent_layer(spec, dtype="float64"):
    """The spec's recurrent layer (``SimpleRNN``, ``LSTM`` or ``GRU``)."""
    if spec.cell == "rnn":
        return SimpleRNN(spec.hidden, spec.activation, spec.bidirectional, dtype=dtype, name="recurrent")
    if spec.cell == "lstm":
        return LSTM(spec.hidden, spec.bidirectional, dtype=dtype, name="recurrent")
    return GRU(spec.hidden, spec.reset_after, spec.bidirectional, dtype=dtype, name="recurrent")


class RecurrentNet(Model):
    def __init__(self, spec, dtype="float64"):
        super().__init__(spec, dtype=dtype)
        self.recurrent = recurrent_layer(spec, dtype=dtype)
        self.head = keras.layers.Dense(spec.out_features, dtype=dtype, name="head")

    def run(self, x, initial_state=None):
        """``(u, final_state)``: the head's pre-activation and the states after the last step."""
        hs, state = self.recurrent(x, initial_state)               # (N, T, dirs*H)
        if self.spec.return_sequences:
            z = hs                                                 # (N, T, dirs*H)
        else:
            z = keras.ops.concatenate([state[f"h{d}"] for d in self.spec.directions], axis=-1)  # (N, dirs*H)
        return self.head(z), state                                 # (N, T, K) or (N, K)

    def logits(self, x, initial_state=None):
        return self.run(x, initial_state)[0]
