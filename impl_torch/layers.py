"""The dense stack of the MLP and of the CNN's head as a torch module; mirrors ``reference_numpy/layers.py``.

Shape legend: N batch, H_l units of dense layer l, K outputs, L dense layers; k is layer l's
parameter number (``W{k}``; k = l in an MLP, after the conv layers in a CNN).

    u_l = z_{l-1} @ W_k + b_k          (N, H_l)   nn.Linear computes z @ weight.T + bias (weight = W_k.T)
    a_l = BN_k(u_l)                    (N, H_l)   l = 1..L-1, nn.BatchNorm1d (with spec.batch_norm;
                                                  the nn.Linear has no bias then)
    z_l = f(a_l)                       (N, H_l)   l = 1..L-1, Activation(f), f = spec.activation
    z_l = drop_k(z_l)                  (N, H_l)   l = 1..L-1, nn.Dropout (with spec.dropout)
    return u_L                         (N, K)     the logits: the output activation is the model's

``DenseStack.layers`` holds these modules in that order, by name (``dense{k}``, ``bn{k}``, ``act{k}``,
``dropout{k}``: parameter paths ``dense_stack.layers.dense1.weight`` etc.), and ``forward`` walks
them -- an ``nn.Sequential`` with names, written out. The batch norms and dropouts follow the
module's ``train()`` / ``eval()`` mode (``regularization.py``).
"""

import torch.nn as nn

from impl_torch import activations
from impl_torch.regularization import MaskedDropout, batch_norm


class Activation(nn.Module):
    """``f(a)`` (``activations.py``) as a module, so that the stack is a list of modules."""

    def __init__(self, name: str):
        super().__init__()
        self.f = activations.get(name)

    def forward(self, a):
        return self.f(a)


class DenseStack(nn.Module):
    """Dense layers ``numbers`` (parameter numbers k) of sizes ``sizes`` (``sizes[0]`` the input)."""

    def __init__(self, spec, numbers, sizes, dtype=None):
        super().__init__()
        self.layers = nn.ModuleDict()
        L = len(numbers)
        for l, (k, n_in, n_out) in enumerate(zip(numbers, sizes[:-1], sizes[1:]), start=1):
            self.layers[f"dense{k}"] = nn.Linear(n_in, n_out, bias=spec.has_bias(k), dtype=dtype)
            if l < L:
                if spec.batch_norm:
                    self.layers[f"bn{k}"] = batch_norm(spec, "dense", n_out, dtype)
                self.layers[f"act{k}"] = Activation(spec.activation)
                if spec.dropout:
                    self.layers[f"dropout{k}"] = MaskedDropout(spec.dropout, f"dropout{k}")

    def forward(self, z):
        for layer in self.layers.values():
            z = layer(z)                                    # (N, H_l); the last: u_L (N, K)
        return z
