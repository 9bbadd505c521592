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
objective adds the L1 / L2 penalty of ``spec.l1``, ``spec.l2`` there too.

Backward, given du_L = dL/du_L (from the loss, or f_out's VJP of an upstream dy)::

    dW_l     = z_{l-1}.T @ du_l        (H_{l-1}, H_l)
    db_l     = sum_n du_l              (H_l,)
    dz_{l-1} = du_l @ W_l.T            (N, H_{l-1})
    dz_{l-1} = drop_{l-1}'(dz_{l-1})   (N, H_{l-1})    dz * mask / (1 - p), with dropout
    da_{l-1} = f'(a_{l-1}) * dz_{l-1}  (N, H_{l-1})    (elementwise; see activations.py)
    du_{l-1}, dgamma_{l-1}, dbeta_{l-1} = BN_{l-1}'(da_{l-1})      with batch norm (else du = da)

and dx = dz_0.

The whole net is one ``DenseStack`` (``layers.py``), ``self.dense_stack``: its ``layers`` are
``dense{l}``, ``bn{l}``, ``act{l}``, ``dropout{l}`` -- the layers above, walked forward by
``logits`` and back in reverse by ``logits_backward``.
"""

from __future__ import annotations

from reference_numpy.layers import DenseStack
from reference_numpy.model import no_initial_state
from reference_numpy.regularization import RegularizedModel


class MLP(RegularizedModel):
    def __init__(self, spec, params, dtype="float64"):
        super().__init__(spec, params, dtype)
        numbers = [str(l) for l in range(1, spec.n_layers + 1)]            # W1 .. WL
        self.dense_stack = DenseStack(self, numbers)

    def logits(self, x, initial_state=None):
        no_initial_state(self.spec, initial_state)
        u, stack_cache = self.dense_stack.forward(x)                       # (N, K)
        return u, {"dense_stack": stack_cache, "logits": u, "final_state": {}}

    def logits_backward(self, du, cache, input_grad=True):
        dx, grads = self.dense_stack.backward(du, cache["dense_stack"], input_grad)   # (N, D)
        grads = {name: grads[name] for name in self.spec.param_shapes()}  # canonical order
        return dx, grads, {}
