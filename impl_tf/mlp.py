"""Multi-layer perceptron as a Keras model; mirrors ``reference_numpy/mlp.py``.

Shape legend: N batch, D input features, H_l units of layer l, K outputs, L layers.

    u_l = z_{l-1} @ W_l + b_l          (N, H_l)   keras Dense computes z @ kernel + bias
    z_l = f(u_l)                       (N, H_l)   l = 1..L-1
    y   = f_out(u_L)                   (N, K)

Layer l is ``self.layers_[l-1]``, a ``Dense`` whose ``kernel`` is ``(H_{l-1}, H_l)``
-- the canonical ``W_l`` as it is (see ``weights.py``). (torch's mirror calls the
list ``layers``; Keras reserves ``Model.layers``, hence the underscore.) The activation is applied
outside the Dense layer so the logits ``u_L`` stay available to the loss.
"""

import keras

from impl_tf import activations
from impl_tf.model import Model
from reference_numpy.model import no_initial_state


class MLP(Model):
    def __init__(self, spec, dtype="float64"):
        super().__init__(spec, dtype=dtype)
        self.layers_ = [keras.layers.Dense(n_out, dtype=dtype, name=f"dense{l}")
                        for l, n_out in enumerate(spec.sizes[1:], start=1)]
        self.activation = activations.get(spec.activation)

    def logits(self, x, initial_state=None):
        no_initial_state(self.spec, initial_state)
        L = self.spec.n_layers
        z = x                                               # (N, D)
        for l, layer in enumerate(self.layers_, start=1):
            u = layer(z)                                    # (N, H_l)
            if l < L:
                z = self.activation(u)                      # (N, H_l)
        return u                                            # (N, K)
