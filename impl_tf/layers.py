"""The dense stack of the MLP and of the CNN's head as a Keras layer; mirrors ``reference_numpy/layers.py``.

Shape legend: N batch, H_l units of dense layer l, K outputs, L dense layers; k is layer l's
parameter number (``W{k}``; k = l in an MLP, after the conv layers in a CNN).

    u_l = z_{l-1} @ W_k + b_k          (N, H_l)   Dense computes z @ kernel + bias (kernel = W_k as it is)
    a_l = BN_k(u_l)                    (N, H_l)   l = 1..L-1, BatchNormalization (with spec.batch_norm;
                                                  the Dense has no bias then)
    z_l = f(a_l)                       (N, H_l)   l = 1..L-1, Activation(f), f = spec.activation
    z_l = drop_k(z_l)                  (N, H_l)   l = 1..L-1, Dropout (with spec.dropout)
    return u_L                         (N, K)     the logits: the output activation is the model's

``DenseStack.layers`` holds these layers in that order, by name (``dense{k}``, ``bn{k}``, ``act{k}``,
``dropout{k}``), and ``call`` walks them, passing ``training`` on (it matters to the batch norms and
dropouts only). Every layer is built here, on its known input size, so that its variables hold
concrete values whatever way the engine builds the rest of the model (``regularization.batch_norm``
says why). The activation is a layer of its own, not ``Dense(activation=...)``, so the logits
``u_L`` stay available to the loss. Every Dense carries the L1 / L2 ``kernel_regularizer`` of the
spec (``regularization.py``). (Keras reserves ``Model.layers``; this is a ``Layer``'s own attribute.)
"""

import keras

from impl_tf import activations
from impl_tf.regularization import MaskedDropout, batch_norm, kernel_regularizer


class DenseStack(keras.layers.Layer):
    """Dense layers ``numbers`` (parameter numbers k) of sizes ``sizes`` (``sizes[0]`` the input)."""

    def __init__(self, spec, numbers, sizes, dtype="float64", **kwargs):
        super().__init__(dtype=dtype, **kwargs)
        layers = {}
        L = len(numbers)
        for l, (k, n_in, n_out) in enumerate(zip(numbers, sizes[:-1], sizes[1:]), start=1):
            layers[f"dense{k}"] = keras.layers.Dense(n_out, use_bias=spec.has_bias(k),
                                                     kernel_regularizer=kernel_regularizer(spec), dtype=dtype,
                                                     name=f"dense{k}")
            layers[f"dense{k}"].build((None, n_in))
            if l < L:
                if spec.batch_norm:
                    layers[f"bn{k}"] = batch_norm(spec, dtype, f"bn{k}", n_out, "dense")
                layers[f"act{k}"] = keras.layers.Activation(activations.get(spec.activation), dtype=dtype,
                                                            name=f"act{k}")
                if spec.dropout:
                    layers[f"dropout{k}"] = MaskedDropout(spec.dropout, f"dropout{k}", dtype=dtype, name=f"dropout{k}")
        self.layers = layers
        self.built = True

    def call(self, z, training=False):
        for layer in self.layers.values():
            z = layer(z, training=training)                 # (N, H_l); the last: u_L (N, K)
        return z
