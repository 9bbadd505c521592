"""Layers with hand-written backward passes: functions (``forward`` returns a cache, ``backward``
takes it) and, on top of them, the layer objects of the dense stack that the MLP and the CNN's head
share (``DenseStack``).

Shape legend: N batch, D input features, H output units, P polynomial degree; in the dense stack
H_l the units of dense layer l, K outputs, L dense layers, k layer l's parameter number (``W{k}``;
k = l in an MLP, after the conv layers in a CNN).

Dense (the notes' ``u = np.dot(x, W) + b``)::

    forward   u  = x @ W + b                  x (N, D), W (D, H), b (H,) -> u (N, H)
    backward  dx = du @ W.T                   (N, D)
              dW = x.T @ du                   (D, H)
              db = sum_n du                   (H,)

PolynomialFeatures (power-major columns, as the notes' ``x ** i`` features)::

    forward   phi = [x, x**2, ..., x**P]       x (N, D) -> phi (N, P*D)
              phi[:, (p-1)*D : p*D] = x**p
    backward  dx = sum_p dphi[:, (p-1)*D : p*D] * p * x**(p-1)       (N, D)

DenseStack (the notes' ``self.layers``: Affine -> BatchNorm -> ReLU (-> Dropout) for each hidden
layer, then the last Affine; an ordered dict of layers walked forward, and back in reverse)::

    u_l = z_{l-1} @ W_k + b_k          (N, H_l)   Dense "dense{k}"   (no b_k with spec.batch_norm)
    a_l = BN_k(u_l)                    (N, H_l)   BatchNorm "bn{k}"  l = 1..L-1, with spec.batch_norm
    z_l = f(a_l)                       (N, H_l)   Activation "act{k}"  l = 1..L-1, f = spec.activation
    z_l = drop_k(z_l)                  (N, H_l)   Dropout "dropout{k}"  l = 1..L-1, with spec.dropout
    return u_L                         (N, K)     the logits: the output activation is the model's

Backward, given du_L, each layer's backward in reverse order (BN_k and drop_k written out in
``regularization.py``, f' in ``activations.py``)::

    dz_{l-1} = du_l @ W_k.T,  dW_k = z_{l-1}.T @ du_l,  db_k = sum_n du_l
    dz_{l-1} = drop'(dz_{l-1})         dz * mask / (1 - p), with dropout
    da_{l-1} = f'(a_{l-1}) * dz_{l-1}
    du_{l-1}, dgamma, dbeta = BN'(da_{l-1})                  with batch norm (else du = da)

Every layer object has ``forward(x) -> (y, cache)`` and ``backward(dy, cache) -> (dx, grads)``
(``grads`` keyed by canonical parameter name). The cache is returned, not kept on the layer, so a
model may run forward twice and then go back through the first run. ``Dense`` reads its parameters
from the model by name at every call (a gradient check nudges ``model.params[name]`` in place);
``BatchNorm`` and ``Dropout`` run the model's own ``batchnorm`` / ``dropout`` (its mode, running
statistics and dropout masks: ``regularization.RegularizedModel``).
"""

from __future__ import annotations

import numpy as np

from reference_numpy import activations
from reference_numpy.regularization import batchnorm_backward, dropout_backward


def dense_forward(x, W, b=None):
    u = x @ W                     # (N, H)
    if b is not None:
        u += b                    # x @ W + b, without a second (N, H) array
    return u, (x, W)


def dense_backward(du, cache, input_grad=True):
    x, W = cache
    dx = du @ W.T if input_grad else None    # (N, D); None: not asked for (a training step's first layer)
    dW = x.T @ du                 # (D, H)
    db = du.sum(axis=0)           # (H,)
    return dx, dW, db


def polynomial_features_forward(x, degree: int):
    powers = np.arange(1, degree + 1, dtype=x.dtype)       # (P,) in x's dtype: int64 powers would give float64
    phi = x[:, None, :] ** powers[None, :, None]           # (N, P, D)
    return phi.reshape(x.shape[0], -1), (x, degree)        # (N, P*D)


def polynomial_features_backward(dphi, cache):
    x, degree = cache
    n, d = x.shape
    powers = np.arange(1, degree + 1, dtype=x.dtype)                    # (P,) in x's dtype, as above
    dphi = dphi.reshape(n, degree, d)                                   # (N, P, D)
    slope = powers[None, :, None] * x[:, None, :] ** (powers - 1)[None, :, None]  # (N, P, D)
    return np.sum(dphi * slope, axis=1)                                 # (N, D)


# -- the dense stack (MLP, the CNN's head) ----------------------------------------------------


class Dense:
    """``u = x @ W{k} + b{k}`` (no ``b{k}`` when ``bias`` is False: a batch norm follows)."""

    def __init__(self, model, k: str, bias: bool = True):
        self.model, self.W, self.b = model, f"W{k}", f"b{k}" if bias else None

    def forward(self, x):
        P = self.model.params
        return dense_forward(x, P[self.W], P[self.b] if self.b else None)   # (N, H)

    def backward(self, du, cache, input_grad=True):
        dx, dW, db = dense_backward(du, cache, input_grad)                  # (N, D) or None, (D, H), (H,)
        return dx, {self.W: dW} | ({self.b: db} if self.b else {})


class BatchNorm:
    """Batch norm k: the model's ``batchnorm`` (training or inference mode; running statistics)."""

    def __init__(self, model, k: str):
        self.model, self.k = model, k

    def forward(self, u):
        return self.model.batchnorm(u, self.k)                              # (N, H)

    def backward(self, da, cache):
        du, dgamma, dbeta = batchnorm_backward(da, cache)                   # (N, H), (H,), (H,)
        return du, {f"gamma{self.k}": dgamma, f"beta{self.k}": dbeta}


class Activation:
    """``z = f(a)`` elementwise (``activations.py``)."""

    def __init__(self, name: str):
        self.f, self.f_backward = activations.get(name)

    def forward(self, a):
        z = self.f(a)                                                       # (N, H)
        return z, (a, z)

    def backward(self, dz, cache):
        a, z = cache
        return self.f_backward(dz, a, z), {}                                # (N, H)


class Dropout:
    """Dropout k: the model's ``dropout`` (its mask in training mode; the identity in inference)."""

    def __init__(self, model, k: str):
        self.model, self.k = model, k

    def forward(self, z):
        return self.model.dropout(z, self.k)                                # (N, H), cache None in inference

    def backward(self, dz, cache):
        return (dz if cache is None else dropout_backward(dz, cache)), {}   # (N, H)


class DenseStack:
    """The dense layers ``numbers`` (parameter numbers k, in order) of ``model``: see the module
    docstring. ``forward(z) -> (u_L, cache)``, ``backward(du_L, cache, input_grad=True) -> (dz_0, grads)``
    (``dz_0`` None with ``input_grad=False``: the first layer's ``du_1 @ W.T`` is not computed)."""

    def __init__(self, model, numbers):
        spec = model.spec
        self.layers = {}
        L = len(numbers)
        for l, k in enumerate(numbers, start=1):
            self.layers[f"dense{k}"] = Dense(model, k, bias=spec.has_bias(k))
            if l < L:
                if spec.batch_norm:
                    self.layers[f"bn{k}"] = BatchNorm(model, k)
                self.layers[f"act{k}"] = Activation(spec.activation)
                if spec.dropout:
                    self.layers[f"dropout{k}"] = Dropout(model, k)

    def forward(self, z):
        caches = []
        for layer in self.layers.values():
            z, cache = layer.forward(z)                                     # (N, H_l); the last: u_L (N, K)
            caches.append(cache)
        return z, caches

    def backward(self, dout, caches, input_grad=True):
        grads = {}
        layers = list(self.layers.values())                                # layers[0] is always dense{k}
        for i in range(len(layers) - 1, -1, -1):
            if i == 0:                                                      # input_grad=False: no dz_0 (None)
                dout, g = layers[0].backward(dout, caches[0], input_grad)  # (N, D)
            else:
                dout, g = layers[i].backward(dout, caches[i])               # (N, H_{l-1}) ...
            grads |= g
        return dout, grads
