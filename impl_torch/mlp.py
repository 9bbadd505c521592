"""Multi-layer perceptron as a torch module; mirrors ``reference_numpy/mlp.py``.

Shape legend: N batch, D input features, H_l units of layer l, K outputs, L layers.

    u_l = z_{l-1} @ W_l + b_l          (N, H_l)   nn.Linear computes z @ weight.T + bias
    a_l = BN_l(u_l)                    (N, H_l)   l = 1..L-1, nn.BatchNorm1d (with spec.batch_norm;
                                                  the nn.Linear has no bias then)
    z_l = f(a_l)                       (N, H_l)   l = 1..L-1
    z_l = drop_l(z_l)                  (N, H_l)   l = 1..L-1, nn.Dropout (with spec.dropout)
    y   = f_out(u_L)                   (N, K)

The whole net is one ``DenseStack`` (``layers.py``), ``self.dense_stack``: its ``layers`` are
``dense{l}`` -- an ``nn.Linear`` whose ``weight`` is ``(H_l, H_{l-1})``, the canonical ``W_l``
transposed (see ``weights.py``) -- and, for a hidden layer, ``bn{l}``, ``act{l}``, ``dropout{l}``
(batch norm and dropout when the spec has them; ``regularization.py``, which also adds the L1 / L2
penalty to the loss).
"""

from impl_torch.layers import DenseStack
from impl_torch.regularization import RegularizedModel
from reference_numpy.model import no_initial_state


class MLP(RegularizedModel):
    def __init__(self, spec, dtype=None):
        super().__init__(spec)
        numbers = [str(l) for l in range(1, spec.n_layers + 1)]            # W1 .. WL
        self.dense_stack = DenseStack(spec, numbers, spec.sizes, dtype=dtype)

    def logits(self, x, initial_state=None):
        no_initial_state(self.spec, initial_state)
        return self.dense_stack(x)                                         # (N, K)
