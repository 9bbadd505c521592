"""What every Keras model shares: the output activation and the loss.

A model implements ``logits(x, initial_state=None)`` (the last layer's
pre-activation ``u``; ``initial_state`` is for recurrent models, a dict keyed like
``spec.state_shapes()``, and feed-forward models refuse one); then

    call(x, s)       y = f_out(logits(x))
    objective(x, d, s)  L, with the cross-entropies read from the logits u
                     (``from_logits=True``) and the squared errors from the output y

Mirrors ``reference_numpy/model.py``; ``tf.GradientTape`` replaces the hand-written backward.
"""

import keras

from impl_tf import activations, losses
from reference_numpy.losses import takes_logits


class BuiltOnFirstCall:
    """Mixed in ahead of ``keras.Model`` / ``keras.layers.Layer`` by this package's models and wrapper
    layers, whose variables all belong to Keras layers inside them."""

    def build(self, input_shape):
        """Nothing to create here: each Keras layer inside creates its variables in its own ``build`` on
        the first call, which is an eager call on a one-example batch (``weights.build``). Without a
        ``build`` of its own, Keras would first trace ``call`` on symbolic inputs just to find those
        shapes -- for a recurrent net a whole graph with its time loop, most of a model's set-up time."""


class Model(BuiltOnFirstCall, keras.Model):
    def __init__(self, spec, dtype="float64", **kwargs):
        super().__init__(dtype=dtype, **kwargs)
        self.spec = spec
        self.output_activation = activations.get(spec.output)
        self.loss_fn = losses.get(spec.loss, dtype)

    def logits(self, x, initial_state=None):
        raise NotImplementedError

    def call(self, x, initial_state=None):
        return self.output_activation(self.logits(x, initial_state))

    def objective(self, x, d, initial_state=None):
        u = self.logits(x, initial_state)
        if takes_logits(self.spec.loss):
            return self.loss_fn(d, u)
        return self.loss_fn(d, self.output_activation(u))
