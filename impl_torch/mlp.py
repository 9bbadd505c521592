"""Multi-layer perceptron as a torch module; mirrors ``reference_numpy/mlp.py``.

Shape legend: N batch, D input features, H_l units of layer l, K outputs, L layers.

    u_l = z_{l-1} @ W_l + b_l          (N, H_l)   nn.Linear computes z @ weight.T + bias
    a_l = BN_l(u_l)                    (N, H_l)   l = 1..L-1, nn.BatchNorm1d (with spec.batch_norm;
                                                  the nn.Linear has no bias then)
    z_l = f(a_l)                       (N, H_l)   l = 1..L-1
    z_l = drop_l(z_l)                  (N, H_l)   l = 1..L-1, nn.Dropout (with spec.dropout)
    y   = f_out(u_L)                   (N, K)

Layer l is ``self.layers[l-1]``, an ``nn.Linear`` whose ``weight`` is
``(H_l, H_{l-1})`` -- the canonical ``W_l`` transposed (see ``weights.py``); its batch norm
``self.norms[l-1]`` and dropout ``self.dropouts[l-1]`` (empty lists when off; see
``regularization.py``, which also adds the L1 / L2 penalty to the loss).
"""

import torch.nn as nn

from impl_torch import activations
from impl_torch.regularization import MaskedDropout, RegularizedModel, batch_norm
from reference_numpy.model import no_initial_state


class MLP(RegularizedModel):
    def __init__(self, spec, dtype=None):
        super().__init__(spec)
        self.layers = nn.ModuleList(
            nn.Linear(n_in, n_out, bias=spec.has_bias(str(l)), dtype=dtype)
            for l, (n_in, n_out) in enumerate(zip(spec.sizes[:-1], spec.sizes[1:]), start=1))
        hidden = list(enumerate(spec.hidden, start=1))                     # (l, H_l) of the hidden layers
        self.norms = nn.ModuleList(batch_norm(spec, "dense", h, dtype) for _, h in hidden if spec.batch_norm)
        self.dropouts = nn.ModuleList(MaskedDropout(spec.dropout, f"dropout{l}") for l, _ in hidden if spec.dropout)
        self.activation = activations.get(spec.activation)

    def logits(self, x, initial_state=None):
        no_initial_state(self.spec, initial_state)
        L = self.spec.n_layers
        z = x                                               # (N, D)
        for l, layer in enumerate(self.layers, start=1):
            u = layer(z)                                    # (N, H_l)
            if l < L:
                a = self.norms[l - 1](u) if self.norms else u       # (N, H_l)
                z = self.activation(a)                      # (N, H_l)
                if self.dropouts:
                    z = self.dropouts[l - 1](z)             # (N, H_l)
        return u                                            # (N, K)
