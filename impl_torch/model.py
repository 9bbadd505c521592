"""What every torch model shares: the output activation and the loss.

A model implements ``logits(x, initial_state=None)`` (the last layer's
pre-activation ``u``; ``initial_state`` is for recurrent models, a dict keyed like
``spec.state_shapes()``, and feed-forward models refuse one); then

    forward(x, s)    y = f_out(logits(x))
    objective(x, d, s)  L, with the cross-entropies read from the logits u
                     (``F.cross_entropy`` and ``binary_cross_entropy_with_logits``
                     take logits) and the squared errors from the output y

Mirrors ``reference_numpy/model.py``; torch's autograd replaces the hand-written backward.
"""

import torch.nn as nn

from impl_torch import activations, losses
from reference_numpy.losses import takes_logits


class Model(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        self.output_activation = activations.get(spec.output)
        self.loss_fn = losses.get(spec.loss)

    def logits(self, x, initial_state=None):
        raise NotImplementedError

    def forward(self, x, initial_state=None):
        return self.output_activation(self.logits(x, initial_state))

    def objective(self, x, d, initial_state=None):
        u = self.logits(x, initial_state)
        if takes_logits(self.spec.loss):
            return self.loss_fn(u, d)
        return self.loss_fn(self.output_activation(u), d)
