"""Convolutional network as a Keras model; mirrors ``reference_numpy/cnn.py``.

Shape legend: N batch, C channels, H height, W width (of a layer's input), F filters,
KH x KW kernel / pooling window, SH x SW stride, OH x OW output size, D = C*H*W flattened
features, H_l units of dense layer l, K outputs, L dense layers.

The model takes the canonical NCHW image and converts it to NHWC ONCE, at its entry
(Keras's CPU convolution and pooling kernels are channels_last only); every layer after
that is channels_last, and the gradient with respect to the input comes back NCHW through
the same transpose. The equations below are the canonical NCHW ones; in this file every
``[n, c, i, j]`` is stored at ``[n, i, j, c]``. Conv layer (``spec.layers[i]`` a ``Conv2D``,
canonical filters ``W (F, C, KH, KW)``, bias ``b (F,)``, pads
``((pt, pb), (pl, pr)) = spec.layers[i].pads(H, W)``)::

    x_p = zero-pad(x)                                       (N, C, H + pt + pb, W + pl + pr)
    u[n, f, i, j] = sum_{c, p, q} x_p[n, c, i*SH + p, j*SW + q] * W[f, c, p, q] + b[f]
                                                            (N, F, OH, OW)
    a = BN_k(u)                                             (N, F, OH, OW)  BatchNormalization over the
                                                            channel axis, with spec.batch_norm (no bias then)
    z = g(a)                                                (N, F, OH, OW)  g = layers[i].activation

(the NumPy reference computes the sum as im2col: one ``(N*OH*OW, C*KH*KW) @ (C*KH*KW, F)``
product). Pooling layer (``Pool2D``, no padding)::

    max:  z[n, c, i, j] = max_{p, q}  x[n, c, i*SH + p, j*SW + q]    (N, C, OH, OW)
    avg:  z[n, c, i, j] = mean_{p, q} x[n, c, i*SH + p, j*SW + q]    (N, C, OH, OW)

(on a tie the max-pool gradient goes to the first maximum of the window in row-major
order). Head, on the last feature map flattened in (C, H, W) order::

    z_0 = z.reshape(N, C*H*W)          (N, D)
    u_l = z_{l-1} @ W_l + b_l          (N, H_l)   keras Dense computes z @ kernel + bias
    a_l = BN_k(u_l)                    (N, H_l)   l = 1..L-1, BatchNormalization (with spec.batch_norm)
    z_l = f(a_l)                       (N, H_l)   l = 1..L-1, f = spec.activation
    z_l = drop_k(z_l)                  (N, H_l)   l = 1..L-1, Dropout (with spec.dropout)
    y   = f_out(u_L)                   (N, K)

Keras specifics: ``Conv2D.kernel`` is HWIO ``(KH, KW, C, F)`` = the canonical ``W``
transposed (2, 3, 1, 0); ``Flatten`` of the NHWC map gives the features in (H, W, C) order,
not (C, H, W), so the first Dense ``kernel``'s rows are the canonical ``W_1``'s rows permuted
to match. Both conversions live in ``weights.py``, not here. Padding: "same" is Keras's own
``Conv2D(padding="same")`` (the canonical rule is Keras's); explicit pads are a
``ZeroPadding2D(((pt, pb), (pl, pr)))`` before a "valid" conv (``self.paddings[i]``,
``Identity`` when there is none).

``self.conv_layers[i]`` is the layer of ``spec.layers[i]`` (``Conv2D``, ``MaxPooling2D`` or
``AveragePooling2D``), ``self.conv_norms[i]`` the ``BatchNormalization`` after conv layer i
(``None`` after a pool or without batch norm). The head is a ``DenseStack`` (``layers.py``, the
MLP's), ``self.dense_stack``, whose ``layers`` are ``dense{k}``, ``bn{k}``, ``act{k}``,
``dropout{k}``. Layers are named by canonical parameter number (``conv1``, ``dense2``, ...) so
variable paths read like the canonical names. Batch norms and dropouts are called with
``training=self.train_mode``, and every Conv2D and Dense carries the spec's L1 / L2
``kernel_regularizer`` (``regularization.py``).
"""

import keras

from impl_tf import activations
from impl_tf.layers import DenseStack
from impl_tf.regularization import RegularizedModel, batch_norm, kernel_regularizer
from reference_numpy.model import no_initial_state
from reference_numpy.specs import Conv2D

POOLS = {"max": keras.layers.MaxPooling2D, "avg": keras.layers.AveragePooling2D}
NCHW_TO_NHWC = (0, 2, 3, 1)


def conv_and_padding(layer, k, dtype, use_bias=True, kernel_regularizer=None):
    """``(padding layer, Conv2D)`` for the ``Conv2D`` spec ``layer`` with parameters ``W{k}``, ``b{k}``."""
    if isinstance(layer.padding, str):                                  # "valid" or "same": Keras's own
        padding, mode = keras.layers.Identity(dtype=dtype), layer.padding
    else:
        padding = keras.layers.ZeroPadding2D(layer.explicit_pads(), data_format="channels_last",
                                             dtype=dtype, name=f"pad{k}")
        mode = "valid"
    conv = keras.layers.Conv2D(layer.filters, layer.kernel_size, strides=layer.strides, padding=mode,
                               data_format="channels_last", use_bias=use_bias,
                               kernel_regularizer=kernel_regularizer, dtype=dtype, name=f"conv{k}")
    return padding, conv


class CNN(RegularizedModel):
    def __init__(self, spec, dtype="float64"):
        super().__init__(spec, dtype=dtype)
        number = {i: k for kind, k, i in spec.param_names() if kind == "conv"}   # layers[i] -> k
        regularizer = kernel_regularizer(spec)
        self.paddings, self.conv_layers, self.conv_activations, self.conv_norms = [], [], [], []
        for i, layer in enumerate(spec.layers):
            norm = None
            if isinstance(layer, Conv2D):
                padding, module = conv_and_padding(layer, number[i], dtype, spec.has_bias(number[i]), regularizer)
                self.conv_activations.append(activations.get(layer.activation))
                if spec.batch_norm:
                    norm = batch_norm(spec, dtype, f"bn{number[i]}", layer.filters, "conv")
            else:
                padding = keras.layers.Identity(dtype=dtype)
                module = POOLS[layer.kind](layer.pool_size, strides=layer.strides, padding="valid",
                                           data_format="channels_last", dtype=dtype, name=f"pool{i}")
                self.conv_activations.append(None)
            self.paddings.append(padding)
            self.conv_layers.append(module)
            self.conv_norms.append(norm)
        self.flatten = keras.layers.Flatten(data_format="channels_last", dtype=dtype)
        numbers = [k for kind, k, _ in spec.param_names() if kind == "dense"]      # the head's W{k}
        self.dense_stack = DenseStack(spec, numbers, spec.dense_sizes, dtype=dtype, name="dense_stack")

    def logits(self, x, initial_state=None):
        no_initial_state(self.spec, initial_state)
        z = keras.ops.transpose(x, NCHW_TO_NHWC)            # (N, H, W, C): the one layout conversion
        for pad, layer, norm, g in zip(self.paddings, self.conv_layers, self.conv_norms, self.conv_activations):
            z = layer(pad(z))                               # conv: u (N, OH, OW, F); pool: (N, OH, OW, C)
            if norm is not None:
                z = norm(z, training=self.train_mode)       # (N, OH, OW, F), per channel (the last axis)
            if g is not None:
                z = g(z)                                    # (N, OH, OW, F)
        z = self.flatten(z)                                 # (N, D), (H, W, C) order
        return self.dense_stack(z, training=self.train_mode)   # (N, K)
