"""The adapter protocol (``reference_numpy/adapter.py``) for torch.

Gradients come from ``torch.autograd.grad``: of the loss for ``loss_and_grads``,
of ``sum(upstream * y)`` (``grad_outputs=upstream``) for ``vjp``.
"""

from __future__ import annotations

import numpy as np
import torch

from impl_torch import weights
from impl_torch.mlp import MLP
from impl_torch.regression import LinearRegression, PolynomialRegression
from reference_numpy.adapter import Adapter, Gradients

TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32}


#: ``spec.model`` -> model class (the same names as in reference_numpy).
MODELS = {"MLP": MLP, "LinearRegression": LinearRegression, "PolynomialRegression": PolynomialRegression}


class TorchAdapter(Adapter):
    framework = "torch"

    def _build(self, params):
        self.model = MODELS[self.spec.model](self.spec, dtype=TORCH_DTYPES[self.dtype.name])
        weights.load_canonical(self.model, self.spec, params)
        self.names = [name for name, _ in self.model.named_parameters()]

    def _tensor(self, a: np.ndarray, requires_grad: bool = False) -> torch.Tensor:
        t = torch.tensor(a)          # a copy; int64 labels stay int64 (torch.long)
        return t.requires_grad_(requires_grad)

    def _forward(self, x):
        with torch.no_grad():
            return self.model(self._tensor(x)).numpy()

    def _grads(self, out, x_t, grad_outputs=None):
        params = [self.model.get_parameter(n) for n in self.names]
        gx, *gp = torch.autograd.grad(out, [x_t, *params], grad_outputs=grad_outputs)
        return gx.numpy(), weights.to_canonical(self.spec, dict(zip(self.names, gp)))

    def _loss_and_grads(self, x, target):
        x_t = self._tensor(x, requires_grad=True)
        loss = self.model.objective(x_t, self._tensor(target))
        gx, grads = self._grads(loss, x_t)
        return Gradients(loss.item(), gx, grads)

    def _vjp(self, x, upstream):
        x_t = self._tensor(x, requires_grad=True)
        y = self.model(x_t)
        gx, grads = self._grads(y, x_t, grad_outputs=self._tensor(upstream))
        return Gradients(None, gx, grads)

    def _get_params(self):
        return weights.read_canonical(self.model, self.spec)

    def _param_count(self):
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)

    def _set_optimizer(self, optimizer):
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=optimizer.lr)

    def _train_step(self, x, target):
        self.optimizer.zero_grad()
        loss = self.model.objective(self._tensor(x), self._tensor(target))
        loss.backward()
        self.optimizer.step()
        return loss.item()
