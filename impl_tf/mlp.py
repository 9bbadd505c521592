"""Multi-layer perceptron as a Keras model; mirrors ``reference_numpy/mlp.py``.

Shape legend: N batch, D input features, H_l units of layer l, K outputs, L layers.

    u_l = z_{l-1} @ W_l + b_l          (N, H_l)   keras Dense computes z @ kernel + bias
    a_l = BN_l(u_l)                    (N, H_l)   l = 1..L-1, BatchNormalization (with spec.batch_norm;
                                                  the Dense has no bias then)
    z_l = f(a_l)                       (N, H_l)   l = 1..L-1
    z_l = drop_l(z_l)                  (N, H_l)   l = 1..L-1, Dropout (with spec.dropout)
    y   = f_out(u_L)                   (N, K)

The whole net is one ``DenseStack`` (``layers.py``), ``self.dense_stack``: its ``layers`` are
``dense{l}`` -- a ``Dense`` whose ``kernel`` is ``(H_{l-1}, H_l)``, the canonical ``W_l`` as it is
(see ``weights.py``) -- and, for a hidden layer, ``bn{l}``, ``act{l}``, ``dropout{l}`` (batch norm and
dropout when the spec has them, called with ``training=self.train_mode``; ``regularization.py``).
"""

from impl_tf.layers import DenseStack
from impl_tf.regularization import RegularizedModel
from reference_numpy.model import no_initial_state


class MLP(RegularizedModel):
    def __init__(self, spec, dtype="float64"):
        super().__init__(spec, dtype=dtype)
        numbers = [str(l) for l in range(1, spec.n_layers + 1)]            # W1 .. WL
        self.dense_stack = DenseStack(spec, numbers, spec.sizes, dtype=dtype, name="dense_stack")

    def logits(self, x, initial_state=None):
        no_initial_state(self.spec, initial_state)
        return self.dense_stack(x, training=self.train_mode)               # (N, K)
