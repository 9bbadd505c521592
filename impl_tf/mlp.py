"""Multi-layer perceptron as a Keras model; mirrors ``reference_numpy/mlp.py``.

Shape legend: N batch, D input features, H_l units of layer l, K outputs, L layers.

    u_l = z_{l-1} @ W_l + b_l          (N, H_l)   keras Dense computes z @ kernel + bias
    a_l = BN_l(u_l)                    (N, H_l)   l = 1..L-1, BatchNormalization (with spec.batch_norm;
                                                  the Dense has no bias then)
    z_l = f(a_l)                       (N, H_l)   l = 1..L-1
    z_l = drop_l(z_l)                  (N, H_l)   l = 1..L-1, Dropout (with spec.dropout)
    y   = f_out(u_L)                   (N, K)

Layer l is ``self.layers_[l-1]``, a ``Dense`` whose ``kernel`` is ``(H_{l-1}, H_l)``
-- the canonical ``W_l`` as it is (see ``weights.py``). (torch's mirror calls the
list ``layers``; Keras reserves ``Model.layers``, hence the underscore.) The activation is applied
outside the Dense layer so the logits ``u_L`` stay available to the loss. Its batch norm is
``self.norms[l-1]``, its dropout ``self.dropouts[l-1]`` (empty lists when off), both called with
``training=self.train_mode``; every Dense carries the L1 / L2 ``kernel_regularizer`` of the spec
(``regularization.py``).
"""

import keras

from impl_tf import activations
from impl_tf.regularization import MaskedDropout, RegularizedModel, batch_norm, kernel_regularizer
from reference_numpy.model import no_initial_state


class MLP(RegularizedModel):
    def __init__(self, spec, dtype="float64"):
        super().__init__(spec, dtype=dtype)
        self.layers_ = [keras.layers.Dense(n_out, use_bias=spec.has_bias(str(l)),
                                           kernel_regularizer=kernel_regularizer(spec), dtype=dtype, name=f"dense{l}")
                        for l, n_out in enumerate(spec.sizes[1:], start=1)]
        hidden = list(enumerate(spec.hidden, start=1))                     # (l, H_l) of the hidden layers
        self.norms = [batch_norm(spec, dtype, f"bn{l}", h, "dense") for l, h in hidden if spec.batch_norm]
        self.dropouts = [MaskedDropout(spec.dropout, f"dropout{l}", dtype=dtype, name=f"dropout{l}")
                         for l, _ in hidden if spec.dropout]
        self.activation = activations.get(spec.activation)

    def logits(self, x, initial_state=None):
        no_initial_state(self.spec, initial_state)
        L = self.spec.n_layers
        z = x                                               # (N, D)
        for l, layer in enumerate(self.layers_, start=1):
            u = layer(z)                                    # (N, H_l)
            if l < L:
                a = self.norms[l - 1](u, training=self.train_mode) if self.norms else u   # (N, H_l)
                z = self.activation(a)                      # (N, H_l)
                if self.dropouts:
                    z = self.dropouts[l - 1](z, training=self.train_mode)              # (N, H_l)
        return u                                            # (N, K)
