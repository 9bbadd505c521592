"""Multi-layer perceptron, forward and backward written out.

Shape legend: N batch, D input features, H_l units of layer l, K outputs, L layers.
Parameters (canonical layout, ``MLPSpec.param_shapes``): ``W1 (D, H1), b1 (H1,),
..., WL (H_{L-1}, K), bL (K,)`` -- the notes' ``network['W1']``, ``network['b1']``.
With ``spec.batch_norm`` a hidden layer l has ``gamma_l, beta_l (H_l,)`` instead of ``b_l``.

Forward (z_0 = x)::

    u_l = z_{l-1} @ W_l + b_l          (N, H_l)        l = 1..L
    a_l = BN_l(u_l)                    (N, H_l)        l = 1..L-1, with spec.batch_norm (else a_l = u_l,
                                                       and u_l has no b_l with it)
    z_l = f(a_l)                       (N, H_l)        l = 1..L-1, f = spec.activation
    z_l = drop_l(z_l)                  (N, H_l)        l = 1..L-1, with spec.dropout (training mode)
    y   = f_out(u_L)                   (N, K)          f_out = spec.output; u_L are the logits

the notes' Affine -> BatchNorm -> ReLU (-> Dropout) order. BN_l and drop_l (batch normalization,
inverted dropout) and their backward passes are written out in ``regularization.py``; the
loss adds the L1 / L2 penalty of ``spec.l1``, ``spec.l2`` there too.

Backward, given du_L = dL/du_L (from the loss, or f_out's VJP of an upstream dy)::

    dW_l     = z_{l-1}.T @ du_l        (H_{l-1}, H_l)
    db_l     = sum_n du_l              (H_l,)
    dz_{l-1} = du_l @ W_l.T            (N, H_{l-1})
    dz_{l-1} = drop_{l-1}'(dz_{l-1})   (N, H_{l-1})    dz * mask / (1 - p), with dropout
    da_{l-1} = f'(a_{l-1}) * dz_{l-1}  (N, H_{l-1})    (elementwise; see activations.py)
    du_{l-1}, dgamma_{l-1}, dbeta_{l-1} = BN_{l-1}'(da_{l-1})      with batch norm (else du = da)

and dx = dz_0.
"""

from __future__ import annotations

import numpy as np

from reference_numpy import activations
from reference_numpy.layers import dense_backward, dense_forward
from reference_numpy.model import no_initial_state
from reference_numpy.regularization import RegularizedModel, batchnorm_backward, dropout_backward


class MLP(RegularizedModel):
    def __init__(self, spec, params, dtype="float64"):
        super().__init__(spec, params, dtype)
        self.act_forward, self.act_backward = activations.get(spec.activation)

    def bias(self, k: str, units: int):
        """``b_k``, or a zero vector for a layer followed by a batch norm (it has no bias)."""
        return self.params[f"b{k}"] if self.spec.has_bias(k) else np.zeros(units, dtype=self.dtype)

    def forward(self, x, initial_state=None):
        no_initial_state(self.spec, initial_state)
        L = self.spec.n_layers
        layers = []
        z = x                                                              # (N, D)
        for l in range(1, L + 1):
            k, W = str(l), self.params[f"W{l}"]
            u, dense_cache = dense_forward(z, W, self.bias(k, W.shape[1]))  # (N, H_l)
            if l < L:
                a, bn_cache = self.batchnorm(u, k) if self.spec.batch_norm else (u, None)  # (N, H_l)
                z = self.act_forward(a)                                    # (N, H_l)
                z_dropped, drop_cache = self.dropout(z, k)                 # (N, H_l)
                layers.append((dense_cache, a, z, bn_cache, drop_cache))
                z = z_dropped
            else:
                layers.append((dense_cache, u, None, None, None))
        y = self.output_forward(u)                                         # (N, K)
        return y, {"layers": layers, "logits": u, "y": y, "final_state": {}}

    def backward_logits(self, du, cache):
        L = self.spec.n_layers
        grads = {}
        for l in range(L, 0, -1):
            dense_cache = cache["layers"][l - 1][0]
            dz, grads[f"W{l}"], db = dense_backward(du, dense_cache)      # dz (N, H_{l-1})
            if self.spec.has_bias(str(l)):
                grads[f"b{l}"] = db
            if l > 1:
                _, a_prev, z_prev, bn_cache, drop_cache = cache["layers"][l - 2]
                if drop_cache is not None:
                    dz = dropout_backward(dz, drop_cache)                  # (N, H_{l-1})
                du = self.act_backward(dz, a_prev, z_prev)                 # (N, H_{l-1})
                if bn_cache is not None:
                    du, grads[f"gamma{l - 1}"], grads[f"beta{l - 1}"] = batchnorm_backward(du, bn_cache)
        grads = {name: grads[name] for name in self.spec.param_shapes()}  # canonical order
        return dz, grads, {}
