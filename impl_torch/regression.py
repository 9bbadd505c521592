"""Linear and polynomial regression as torch modules; mirrors ``reference_numpy/regression.py``.

Shape legend: N batch, D input features, P degree, F = D or P*D features, K outputs.

    phi = x                             (N, D)     LinearRegression
    phi = [x, x**2, ..., x**P]          (N, P*D)   PolynomialRegression (power-major)
    y   = phi @ W + b                   (N, K)     ``self.dense``, an nn.Linear (weight = W.T)
"""

import torch
import torch.nn as nn

from impl_torch.model import Model
from reference_numpy.model import no_initial_state


class LinearRegression(Model):
    def __init__(self, spec, dtype=None):
        super().__init__(spec)
        self.dense = nn.Linear(spec.n_features, spec.out_features, dtype=dtype)

    def features(self, x):
        return x                                                        # (N, D)

    def logits(self, x, initial_state=None):
        no_initial_state(self.spec, initial_state)
        return self.dense(self.features(x))                             # (N, K)


class PolynomialRegression(LinearRegression):
    def features(self, x):
        powers = torch.arange(1, self.spec.degree + 1, device=x.device)    # (P,)
        phi = x[:, None, :] ** powers[None, :, None]                       # (N, P, D)
        return phi.reshape(x.shape[0], -1)                                 # (N, P*D)
