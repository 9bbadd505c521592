"""Multi-layer perceptron, forward and backward written out.

Shape legend: N batch, D input features, H_l units of layer l, K outputs, L layers.
Parameters (canonical layout, ``MLPSpec.param_shapes``): ``W1 (D, H1), b1 (H1,),
..., WL (H_{L-1}, K), bL (K,)`` -- the notes' ``network['W1']``, ``network['b1']``.

Forward (z_0 = x)::

    u_l = z_{l-1} @ W_l + b_l          (N, H_l)        l = 1..L
    z_l = f(u_l)                       (N, H_l)        l = 1..L-1, f = spec.activation
    y   = f_out(u_L)                   (N, K)          f_out = spec.output; u_L are the logits

Backward, given du_L = dL/du_L (from the loss, or f_out's VJP of an upstream dy)::

    dW_l     = z_{l-1}.T @ du_l        (H_{l-1}, H_l)
    db_l     = sum_n du_l              (H_l,)
    dz_{l-1} = du_l @ W_l.T            (N, H_{l-1})
    du_{l-1} = f'(u_{l-1}) * dz_{l-1}  (N, H_{l-1})    (elementwise; see activations.py)

and dx = dz_0.
"""

from __future__ import annotations

from reference_numpy import activations
from reference_numpy.layers import dense_backward, dense_forward
from reference_numpy.model import Model, no_initial_state


class MLP(Model):
    def __init__(self, spec, params, dtype="float64"):
        super().__init__(spec, params, dtype)
        self.act_forward, self.act_backward = activations.get(spec.activation)

    def forward(self, x, initial_state=None):
        no_initial_state(self.spec, initial_state)
        L = self.spec.n_layers
        layers = []
        z = x                                                              # (N, D)
        for l in range(1, L + 1):
            u, dense_cache = dense_forward(z, self.params[f"W{l}"], self.params[f"b{l}"])  # (N, H_l)
            if l < L:
                z = self.act_forward(u)                                    # (N, H_l)
                layers.append((dense_cache, u, z))
            else:
                layers.append((dense_cache, u, None))
        y = self.output_forward(u)                                         # (N, K)
        return y, {"layers": layers, "logits": u, "y": y, "final_state": {}}

    def backward_logits(self, du, cache):
        L = self.spec.n_layers
        grads = {}
        for l in range(L, 0, -1):
            dense_cache, _, _ = cache["layers"][l - 1]
            dz, grads[f"W{l}"], grads[f"b{l}"] = dense_backward(du, dense_cache)  # dz (N, H_{l-1})
            if l > 1:
                _, u_prev, z_prev = cache["layers"][l - 2]
                du = self.act_backward(dz, u_prev, z_prev)                 # (N, H_{l-1})
        grads = {name: grads[name] for name in self.spec.param_shapes()}  # canonical order
        return dz, grads, {}
