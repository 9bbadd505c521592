"""Multi-layer perceptron as a torch module; mirrors ``reference_numpy/mlp.py``.

Shape legend: N batch, D input features, H_l units of layer l, K outputs, L layers.

    u_l = z_{l-1} @ W_l + b_l          (N, H_l)   nn.Linear computes z @ weight.T + bias
    z_l = f(u_l)                       (N, H_l)   l = 1..L-1
    y   = f_out(u_L)                   (N, K)

Layer l is ``self.layers[l-1]``, an ``nn.Linear`` whose ``weight`` is
``(H_l, H_{l-1})`` -- the canonical ``W_l`` transposed (see ``weights.py``).
"""

import torch.nn as nn

from impl_torch import activations
from impl_torch.model import Model
from reference_numpy.model import no_initial_state


class MLP(Model):
    def __init__(self, spec, dtype=None):
        super().__init__(spec)
        self.layers = nn.ModuleList(
            nn.Linear(n_in, n_out, dtype=dtype) for n_in, n_out in zip(spec.sizes[:-1], spec.sizes[1:]))
        self.activation = activations.get(spec.activation)

    def logits(self, x, initial_state=None):
        no_initial_state(self.spec, initial_state)
        L = self.spec.n_layers
        z = x                                               # (N, D)
        for l, layer in enumerate(self.layers, start=1):
            u = layer(z)                                    # (N, H_l)
            if l < L:
                z = self.activation(u)                      # (N, H_l)
        return u                                            # (N, K)
