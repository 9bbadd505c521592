"""The adapter protocol (``reference_numpy/adapter.py``) for torch.

Gradients come from ``torch.autograd.grad``: of the loss for ``loss_and_grads``,
of ``sum(upstream * y)`` (``grad_outputs=upstream``) for ``vjp``.
"""

from __future__ import annotations

import importlib

import numpy as np
import torch

from impl_torch import weights
from reference_numpy.adapter import Adapter, Gradients
from reference_numpy.optimizers import CLIP_EPS

TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32}


#: ``spec.model`` -> the module defining that class (the same names and files as in reference_numpy).
MODULES = {"MLP": "mlp", "LinearRegression": "regression", "PolynomialRegression": "regression",
           "CNN": "cnn", "RecurrentNet": "recurrent"}


def model_class(spec):
    """The impl_torch model class named by ``spec.model``."""
    return getattr(importlib.import_module(f"impl_torch.{MODULES[spec.model]}"), spec.model)


class TorchAdapter(Adapter):
    framework = "torch"
    clip_eps = CLIP_EPS["torch"]

    def _build(self, params):
        self.model = model_class(self.spec)(self.spec, dtype=TORCH_DTYPES[self.dtype.name])
        weights.load_canonical(self.model, self.spec, params)
        self.names = [name for name, _ in self.model.named_parameters()]

    def _tensor(self, a: np.ndarray, requires_grad: bool = False) -> torch.Tensor:
        # a copy; int64 labels stay int64 (torch.long). torch cannot wrap a NumPy view with a
        # negative stride (x[::-1]); the adapter base class hands over C-contiguous arrays.
        t = torch.tensor(a)
        return t.requires_grad_(requires_grad)

    def _state(self, state, requires_grad=False):
        if state is None:
            return None
        return {n: self._tensor(a, requires_grad) for n, a in state.items()}

    def _forward(self, x, initial_state):
        with torch.no_grad():
            return self.model(self._tensor(x), self._state(initial_state)).numpy()

    def _final_state(self, x, initial_state):
        with torch.no_grad():
            _, state = self.model.run(self._tensor(x), self._state(initial_state))
        return {n: t.numpy() for n, t in state.items()}

    def _grads(self, out, x_t, s_t, grad_outputs=None):
        params = [self.model.get_parameter(n) for n in self.names]
        states = list(s_t.values()) if s_t else []
        gx, *rest = torch.autograd.grad(out, [x_t, *states, *params], grad_outputs=grad_outputs)
        gs, gp = rest[:len(states)], rest[len(states):]
        grad_state = {n: g.numpy() for n, g in zip(s_t or {}, gs)}
        return gx.numpy(), weights.to_canonical(self.spec, dict(zip(self.names, gp)), kind="grads"), grad_state

    def _loss_and_grads(self, x, target, initial_state):
        x_t, s_t = self._tensor(x, requires_grad=True), self._state(initial_state, requires_grad=True)
        loss = self.model.objective(x_t, self._tensor(target), s_t)
        return Gradients(loss.item(), *self._grads(loss, x_t, s_t))

    def _vjp(self, x, upstream, initial_state):
        x_t, s_t = self._tensor(x, requires_grad=True), self._state(initial_state, requires_grad=True)
        y = self.model(x_t, s_t)
        return Gradients(None, *self._grads(y, x_t, s_t, grad_outputs=self._tensor(upstream)))

    def _get_params(self):
        return weights.read_canonical(self.model, self.spec)

    def _param_count(self):
        return sum(p.numel() for p in self.model.parameters())

    def _set_params(self, params):
        weights.load_canonical(self.model, self.spec, params)

    def _set_optimizer(self, optimizer):
        # (clip_eps is checked in the base class: clip_grad_norm_ scales by clip_norm / (norm + 1e-6))
        # torch's second SimpleRNN / LSTM bias only duplicates the first (weights.py): stepping it
        # would move the canonical b twice and count dL/db twice in the clipping norm.
        redundant = weights.redundant_parameters(self.spec)
        trainable = [p for n, p in self.model.named_parameters() if n not in redundant]
        sgd = torch.optim.SGD(trainable, lr=optimizer.lr)
        self.clip_norm, self.trainable, self.optimizer = optimizer.clip_norm, trainable, sgd

    def _train_step(self, x, target):
        self.optimizer.zero_grad()
        loss = self.model.objective(self._tensor(x), self._tensor(target))
        loss.backward()
        if self.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.trainable, self.clip_norm)
        self.optimizer.step()
        return loss.item()
