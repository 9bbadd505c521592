"""Convolutional network as a torch module; mirrors ``reference_numpy/cnn.py``.

Shape legend: N batch, C channels, H height, W width (of a layer's input), F filters,
KH x KW kernel / pooling window, SH x SW stride, OH x OW output size, D = C*H*W flattened
features, H_l units of dense layer l, K outputs, L dense layers.

Images are NCHW throughout -- torch's native layout, so there is no layout conversion in
this file. Conv layer (``spec.layers[i]`` a ``Conv2D``, canonical filters ``W (F, C, KH, KW)``,
bias ``b (F,)``, pads ``((pt, pb), (pl, pr)) = spec.layers[i].pads(H, W)``)::

    x_p = zero-pad(x)                                       (N, C, H + pt + pb, W + pl + pr)
    u[n, f, i, j] = sum_{c, p, q} x_p[n, c, i*SH + p, j*SW + q] * W[f, c, p, q] + b[f]
                                                            (N, F, OH, OW)
    a = BN_k(u)                                             (N, F, OH, OW)  nn.BatchNorm2d, with
                                                            spec.batch_norm (the conv has no bias then)
    z = g(a)                                                (N, F, OH, OW)  g = layers[i].activation

(the NumPy reference computes the sum as im2col: one ``(N*OH*OW, C*KH*KW) @ (C*KH*KW, F)``
product). Pooling layer (``Pool2D``, no padding)::

    max:  z[n, c, i, j] = max_{p, q}  x[n, c, i*SH + p, j*SW + q]    (N, C, OH, OW)
    avg:  z[n, c, i, j] = mean_{p, q} x[n, c, i*SH + p, j*SW + q]    (N, C, OH, OW)

(on a tie the max-pool gradient goes to the first maximum of the window in row-major
order). Head, on the last feature map flattened in (C, H, W) order::

    z_0 = z.reshape(N, C*H*W)          (N, D)
    u_l = z_{l-1} @ W_l + b_l          (N, H_l)   nn.Linear computes z @ weight.T + bias
    a_l = BN_k(u_l)                    (N, H_l)   l = 1..L-1, nn.BatchNorm1d (with spec.batch_norm)
    z_l = f(a_l)                       (N, H_l)   l = 1..L-1, f = spec.activation
    z_l = drop_k(z_l)                  (N, H_l)   l = 1..L-1, nn.Dropout (with spec.dropout)
    y   = f_out(u_L)                   (N, K)

torch specifics: ``nn.Conv2d.weight`` is OIHW = the canonical ``W`` as it is, and
``torch.flatten(z, 1)`` on NCHW is already the canonical (C, H, W) order; only the dense
``weight`` is the canonical ``W_l`` transposed (see ``weights.py``). Padding is explicit,
from ``spec.layers[i].pads``: torch's ``padding="same"`` raises at stride > 1, and a
symmetric ``k//2`` pad puts the extra pixel on the wrong side where Keras's "same" pads
asymmetrically (more after: bottom / right). Symmetric pads go into ``Conv2d(padding=(ph, pw))``,
asymmetric ones into an ``nn.ZeroPad2d`` before a padding-0 conv (``self.paddings[i]``,
``nn.Identity`` when there is none).

``self.conv_layers[i]`` is the module of ``spec.layers[i]`` (``nn.Conv2d``, ``nn.MaxPool2d``
or ``nn.AvgPool2d``), ``self.conv_norms[i]`` the ``nn.BatchNorm2d`` after conv layer i
(``nn.Identity`` after a pool or without batch norm; ``regularization.py``). The head is a
``DenseStack`` (``layers.py``, the MLP's), ``self.dense_stack``, whose ``layers`` are ``dense{k}``
(``nn.Linear``), ``bn{k}``, ``act{k}``, ``dropout{k}``.
"""

import torch
import torch.nn as nn

from impl_torch import activations
from impl_torch.layers import DenseStack
from impl_torch.regularization import RegularizedModel, batch_norm
from reference_numpy.model import no_initial_state
from reference_numpy.specs import Conv2D

POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


def conv_and_padding(layer, in_shape, dtype, bias=True):
    """``(padding module, nn.Conv2d)`` for a ``Conv2D`` on an input of shape ``(C, H, W)``."""
    c, h, w = in_shape
    (pt, pb), (pl, pr) = layer.pads(h, w)
    symmetric = pt == pb and pl == pr
    conv = nn.Conv2d(c, layer.filters, layer.kernel_size, stride=layer.strides,
                     padding=(pt, pl) if symmetric else 0, bias=bias, dtype=dtype)
    return (nn.Identity() if symmetric else nn.ZeroPad2d((pl, pr, pt, pb))), conv


class CNN(RegularizedModel):
    def __init__(self, spec, dtype=None):
        super().__init__(spec)
        in_shapes = [spec.input_shape, *spec.feature_shapes()[:-1]]          # (C, H, W) into each layer
        number = {i: k for kind, k, i in spec.param_names() if kind == "conv"}   # layers[i] -> k
        self.paddings, self.conv_layers, self.conv_activations = nn.ModuleList(), nn.ModuleList(), []
        self.conv_norms = nn.ModuleList()
        for i, (layer, in_shape) in enumerate(zip(spec.layers, in_shapes)):
            norm = nn.Identity()
            if isinstance(layer, Conv2D):
                padding, module = conv_and_padding(layer, in_shape, dtype, bias=spec.has_bias(number[i]))
                self.conv_activations.append(activations.get(layer.activation))
                if spec.batch_norm:
                    norm = batch_norm(spec, "conv", layer.filters, dtype)
            else:
                padding, module = nn.Identity(), POOLS[layer.kind](layer.pool_size, stride=layer.strides)
                self.conv_activations.append(None)
            self.paddings.append(padding)
            self.conv_layers.append(module)
            self.conv_norms.append(norm)
        numbers = [k for kind, k, _ in spec.param_names() if kind == "dense"]      # the head's W{k}
        self.dense_stack = DenseStack(spec, numbers, spec.dense_sizes, dtype=dtype)

    def logits(self, x, initial_state=None):
        no_initial_state(self.spec, initial_state)
        z = x                                               # (N, C, H, W)
        for pad, layer, norm, g in zip(self.paddings, self.conv_layers, self.conv_norms, self.conv_activations):
            z = layer(pad(z))                               # conv: u (N, F, OH, OW); pool: (N, C, OH, OW)
            if g is not None:
                z = g(norm(z))                              # (N, F, OH, OW)
        z = torch.flatten(z, 1)                             # (N, D), (C, H, W) order
        return self.dense_stack(z)                          # (N, K)
