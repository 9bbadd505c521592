"""LSTM layer as a Keras layer; mirrors ``reference_numpy/lstm.py``.

Shape legend: N batch, T time, D input features, H hidden units.

Gates stacked on the last axis in the order (i, f, g, o); Keras calls the same order
(i, f, c, o) -- its "c" is the candidate g:

    h_0, c_0 = initial state h, c (zeros if none)                       (N, H)
    a   = x_t @ Wx + h_{t-1} @ Wh + b                                    (N, 4H)
    i   = sigmoid(a[:, 0:H])        input gate                           (N, H)
    f   = sigmoid(a[:, H:2H])       forget gate                          (N, H)
    g   = tanh(a[:, 2H:3H])         candidate cell                       (N, H)
    o   = sigmoid(a[:, 3H:4H])      output gate                          (N, H)
    c_t = f * c_{t-1} + i * g                                            (N, H)
    h_t = o * tanh(c_t)                                                  (N, H)
    output = [h_1, ..., h_T]                                             (N, T, H)

Keras's ``LSTM`` stores ``kernel (D, 4H)`` = Wx, ``recurrent_kernel (H, 4H)`` = Wh and one
``bias (4H,)`` = b -- the canonical layout (``weights.py``). ``recurrent_activation`` is set to
the true ``"sigmoid"`` explicitly; ``unit_forget_bias`` only changes the initial bias, which is
overwritten. Bidirectional: ``keras.layers.Bidirectional`` (``backward_layer`` = suffix
``_reverse``); per-step outputs ``[forward, backward]`` ``(N, T, 2H)``, the backward one stored
at the step it belongs to. Keras returns the final states as h, c per direction, the order of
``spec.state_shapes()``.
"""

import keras

from impl_tf.model import BuiltOnFirstCall
from impl_tf.rnn import run_layer


class LSTM(BuiltOnFirstCall, keras.layers.Layer):
    """``call(x, state) -> (output (N, T, dirs*H), final state {"h", "c", "h_reverse", "c_reverse"})``."""

    def __init__(self, hidden, bidirectional=False, dtype="float64", **kwargs):
        super().__init__(dtype=dtype, **kwargs)
        self.state_names = ("h", "c", "h_reverse", "c_reverse") if bidirectional else ("h", "c")
        layer = keras.layers.LSTM(hidden, activation="tanh", recurrent_activation="sigmoid",
                                  return_sequences=True, return_state=True, dtype=dtype)
        self.layer = keras.layers.Bidirectional(layer, dtype=dtype) if bidirectional else layer

    def call(self, x, state=None):
        return run_layer(self.layer, x, state, self.state_names)
