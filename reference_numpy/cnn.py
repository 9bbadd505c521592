"""Convolutional network, forward and backward written out (the notes' SimpleConvNet,
conv - relu - pool - affine - relu - affine - softmax, generalized to any stack of layers).

Shape legend: N batch, C channels, H height, W width (of a layer's input), F filters,
KH x KW kernel / pooling window, SH x SW stride, OH x OW output size, D = C*H*W flattened
features, H_l units of dense layer l, K outputs, L dense layers.

Parameters (canonical layout, ``CNNSpec.param_shapes``), numbered over the layers that
have parameters (``spec.param_names()``): the conv layers of ``spec.layers`` first, then
the dense layers -- e.g. the notes' net: ``W1 (F, C, KH, KW), b1 (F,)`` the conv filters
(OIHW) and bias, ``W2 (D, H_1), b2 (H_1,)`` and ``W3 (H_1, K), b3 (K,)`` the dense head.

Forward, for each ``spec.layers[i]`` in turn (x is NCHW; the layer equations and their
im2col form are in ``conv.py``). Conv layer (``Conv2D``, parameters ``W (F, C, KH, KW)``,
``b (F,)``, pads ``((pt, pb), (pl, pr)) = spec.layers[i].pads(H, W)``)::

    x_p = zero-pad(x)                                       (N, C, H + pt + pb, W + pl + pr)
    u[n, f, i, j] = sum_{c, p, q} x_p[n, c, i*SH + p, j*SW + q] * W[f, c, p, q] + b[f]
                                                            (N, F, OH, OW)
    a = BN_k(u)                                             (N, F, OH, OW)  with spec.batch_norm: per
                                                            channel f over (n, i, j); u has no b then
    z = g(a)                                                (N, F, OH, OW)  g = layers[i].activation

computed as ``u_col = im2col(x) @ W.reshape(F, -1).T + b``: one
``(N*OH*OW, C*KH*KW) @ (C*KH*KW, F)`` product. Pooling layer (``Pool2D``, no padding)::

    max:  z[n, c, i, j] = max_{p, q}  x[n, c, i*SH + p, j*SW + q]    (N, C, OH, OW)
    avg:  z[n, c, i, j] = mean_{p, q} x[n, c, i*SH + p, j*SW + q]    (N, C, OH, OW)

Head, on the last feature map flattened in (C, H, W) order::

    z_0 = z.reshape(N, C*H*W)          (N, D)
    u_l = z_{l-1} @ W_l + b_l          (N, H_l)   l = 1..L
    a_l = BN_k(u_l)                    (N, H_l)   l = 1..L-1, with spec.batch_norm (u_l has no b_l then)
    z_l = f(a_l)                       (N, H_l)   l = 1..L-1, f = spec.activation
    z_l = drop_k(z_l)                  (N, H_l)   l = 1..L-1, with spec.dropout (training mode)
    y   = f_out(u_L)                   (N, K)     f_out = spec.output; u_L are the logits

(k the layer's parameter number; batch norm, dropout and the L1 / L2 penalty the loss adds are
written out in ``regularization.py``: the notes' Conv / Affine -> BatchNorm -> ReLU (-> Dropout)).

Backward, given du_L = dL/du_L (from the loss, or f_out's VJP of an upstream dy). Head, as
in ``mlp.py``::

    dW_l     = z_{l-1}.T @ du_l        (H_{l-1}, H_l)
    db_l     = sum_n du_l              (H_l,)
    dz_{l-1} = du_l @ W_l.T            (N, H_{l-1})
    dz_{l-1} = drop'(dz_{l-1})         (N, H_{l-1})    l > 1, with dropout: dz * mask / (1 - p)
    da_{l-1} = f'(a_{l-1}) * dz_{l-1}  (N, H_{l-1})    l > 1
    du_{l-1} = BN'(da_{l-1})           (N, H_{l-1})    l > 1, with batch norm (+ dgamma, dbeta)
    dz       = dz_0.reshape(N, C, H, W)                (N, C, H, W)   un-flatten

then through ``spec.layers`` in reverse (``conv.py`` has each step written out)::

    conv:  da = g'(a) * dz                                  (N, F, OH, OW)
           du = BN'(da) with batch norm (+ dgamma, dbeta), else da
           du_col = du -> NHWC .reshape(N*OH*OW, F)         (N*OH*OW, F)
           db = sum_rows du_col                             (F,)
           dW = (du_col.T @ im2col(x)).reshape(F, C, KH, KW)    (F, C, KH, KW)
           dx = col2im(du_col @ W.reshape(F, -1))           (N, C, H, W)
    max:   dx = dz routed whole to the first maximum of each window (row-major), summed
           over overlapping windows                         (N, C, H, W)
    avg:   dx = dz / (KH*KW) spread over each window, summed over overlapping windows
                                                            (N, C, H, W)

and dL/dx is the dx of ``spec.layers[0]``.

``self.conv_activations[i]`` is the ``(forward, backward)`` pair of ``spec.layers[i]``'s
activation (``None`` for a pooling layer), ``self.pads[i]`` its pads (computed once from
``spec.feature_shapes()``), ``self.conv_numbers[i]`` the k of its ``Wk``, ``bk``. The head is a
``DenseStack`` (``layers.py``, the MLP's), ``self.dense_stack``, whose ``layers`` are ``dense{k}``,
``bn{k}``, ``act{k}``, ``dropout{k}``, walked forward and back.
"""

from __future__ import annotations

import numpy as np

from reference_numpy import activations
from reference_numpy.conv import (
    conv2d_backward,
    conv2d_forward,
    flatten_backward,
    flatten_forward,
    pool2d_backward,
    pool2d_forward,
)
from reference_numpy.layers import DenseStack
from reference_numpy.model import no_initial_state
from reference_numpy.regularization import RegularizedModel, batchnorm_backward
from reference_numpy.specs import Conv2D


class CNN(RegularizedModel):
    def __init__(self, spec, params, dtype="float64"):
        super().__init__(spec, params, dtype)
        in_shapes = [spec.input_shape, *spec.feature_shapes()[:-1]]      # (C, H, W) into each layer
        self.conv_activations, self.pads = [], []
        for layer, (_, h, w) in zip(spec.layers, in_shapes):
            is_conv = isinstance(layer, Conv2D)
            self.conv_activations.append(activations.get(layer.activation) if is_conv else None)
            self.pads.append(layer.pads(h, w) if is_conv else None)
        self.conv_numbers = {i: k for kind, k, i in spec.param_names() if kind == "conv"}  # layers[i] -> k
        numbers = [k for kind, k, _ in spec.param_names() if kind == "dense"]      # the head's W{k}
        self.dense_stack = DenseStack(self, numbers)

    def _bias(self, k: str, units: int):
        """``b_k``, or a zero vector for a layer followed by a batch norm (it has no bias)."""
        return self.params[f"b{k}"] if self.spec.has_bias(k) else np.zeros(units, dtype=self.dtype)

    def _norm(self, u, k: str):
        """``(BN_k(u), cache)`` with batch norm, else ``(u, None)``."""
        return self.batchnorm(u, k) if self.spec.batch_norm else (u, None)

    def logits(self, x, initial_state=None):
        no_initial_state(self.spec, initial_state)
        conv_layers = []
        z = x                                                              # (N, C, H, W)
        for i, (layer, g) in enumerate(zip(self.spec.layers, self.conv_activations)):
            if g is not None:                                              # Conv2D, then activation g
                g_forward, _ = g
                k = self.conv_numbers[i]
                u, conv_cache = conv2d_forward(z, self.params[f"W{k}"], self._bias(k, layer.filters),
                                               layer.strides, self.pads[i])   # (N, F, OH, OW)
                a, bn_cache = self._norm(u, k)                             # (N, F, OH, OW)
                z = g_forward(a)                                           # (N, F, OH, OW)
                conv_layers.append((conv_cache, a, z, bn_cache))
            else:
                z, pool_cache = pool2d_forward(z, layer.kind, layer.pool_size,
                                               layer.strides)              # (N, C, OH, OW)
                conv_layers.append((pool_cache, None, None, None))
        z, flatten_cache = flatten_forward(z)                              # (N, D), (C, H, W) order
        u, stack_cache = self.dense_stack.forward(z)                       # (N, K)
        return u, {"conv_layers": conv_layers, "flatten": flatten_cache, "dense_stack": stack_cache,
                   "logits": u, "final_state": {}}

    def logits_backward(self, du, cache, input_grad=True):
        dz, grads = self.dense_stack.backward(du, cache["dense_stack"])   # (N, D)
        dz = flatten_backward(dz, cache["flatten"])                        # (N, C, H, W)
        for i in range(len(self.spec.layers) - 1, -1, -1):
            want_dx = input_grad or i > 0                                  # dL/dx: layers[0]'s dx
            layer_cache, a, z, bn_cache = cache["conv_layers"][i]
            g = self.conv_activations[i]
            if g is not None:
                _, g_backward = g
                k = self.conv_numbers[i]
                du = g_backward(dz, a, z)                                  # (N, F, OH, OW)
                if bn_cache is not None:
                    du, grads[f"gamma{k}"], grads[f"beta{k}"] = batchnorm_backward(du, bn_cache)
                dz, grads[f"W{k}"], db = conv2d_backward(du, layer_cache, want_dx)   # (N, C, H, W)
                if self.spec.has_bias(k):
                    grads[f"b{k}"] = db
            elif want_dx:
                dz = pool2d_backward(dz, layer_cache)                      # (N, C, H, W)
            else:
                dz = None
        grads = {name: grads[name] for name in self.spec.param_shapes()}  # canonical order
        return dz, grads, {}
