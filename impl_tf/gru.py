"""GRU layer as a Keras layer (both formulations); mirrors ``reference_numpy/gru.py``.

Shape legend: N batch, T time, D input features, H hidden units.

Canonical gates stacked on the last axis in the order (z, r, n); Keras calls the same order
(z, r, h) -- its "h" is the candidate n. Update convention of torch and Keras (the notes' z is
this 1 - z):

    h_0 = initial state h (zeros if none)                                 (N, H)
    ax  = x_t @ Wx + b                                                     (N, 3H)
    z   = sigmoid(ax[:, 0:H]  + (h_{t-1} @ Wh + bh)[:, 0:H])   update gate (N, H)
    r   = sigmoid(ax[:, H:2H] + (h_{t-1} @ Wh + bh)[:, H:2H])  reset gate  (N, H)

  reset_after=True (Keras's default, torch's nn.GRU; recurrent bias bh inside the reset product):
    n   = tanh(ax[:, 2H:] + r * (h_{t-1} @ Wh[:, 2H:] + bh[2H:]))          (N, H)
  reset_after=False (the notes' original formula; one bias, bh = 0 above):
    n   = tanh(ax[:, 2H:] + (r * h_{t-1}) @ Wh[:, 2H:])                    (N, H)

    h_t = z * h_{t-1} + (1 - z) * n                                        (N, H)
    output = [h_1, ..., h_T]                                               (N, T, H)

Keras's ``GRU`` stores ``kernel (D, 3H)`` = Wx and ``recurrent_kernel (H, 3H)`` = Wh; its
``bias`` is ``(2, 3H)`` = stack(b, bh) (input bias, recurrent bias) when ``reset_after=True``
and ``(3H,)`` = b when ``reset_after=False`` (``weights.py``). ``recurrent_activation`` is set
to the true ``"sigmoid"`` explicitly. Bidirectional: ``keras.layers.Bidirectional``
(``backward_layer`` = suffix ``_reverse``); per-step outputs ``[forward, backward]``.
"""

import keras

from impl_tf.model import BuiltOnFirstCall
from impl_tf.rnn import run_layer


class GRU(BuiltOnFirstCall, keras.layers.Layer):
    """``call(x, state) -> (output (N, T, dirs*H), final state {"h", "h_reverse"})``."""

    def __init__(self, hidden, reset_after=True, bidirectional=False, dtype="float64", **kwargs):
        super().__init__(dtype=dtype, **kwargs)
        self.state_names = ("h", "h_reverse") if bidirectional else ("h",)
        layer = keras.layers.GRU(hidden, activation="tanh", recurrent_activation="sigmoid",
                                 reset_after=reset_after, return_sequences=True, return_state=True,
                                 dtype=dtype)
        self.layer = keras.layers.Bidirectional(layer, dtype=dtype) if bidirectional else layer

    def call(self, x, state=None):
        return run_layer(self.layer, x, state, self.state_names)
