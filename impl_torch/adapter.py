"""The adapter protocol (``reference_numpy/adapter.py``) for torch.

Gradients come from ``torch.autograd.grad``: of the loss for ``loss_and_grads``,
of ``sum(upstream * y)`` (``grad_outputs=upstream``) for ``vjp``.
"""

from __future__ import annotations

import importlib
import math

import numpy as np
import torch

from impl_torch import optimizers, weights
from reference_numpy.adapter import Adapter, Gradients
from reference_numpy.optimizers import CLIP_EPS

TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32}


#: ``spec.model`` -> the module defining that class (the same names and files as in reference_numpy).
MODULES = {"MLP": "mlp", "LinearRegression": "regression", "PolynomialRegression": "regression",
           "CNN": "cnn", "RecurrentNet": "recurrent", "Seq2Seq": "seq2seq"}


def model_class(spec):
    """The impl_torch model class named by ``spec.model``."""
    return getattr(importlib.import_module(f"impl_torch.{MODULES[spec.model]}"), spec.model)


class TorchAdapter(Adapter):
    framework = "torch"
    clip_eps = CLIP_EPS["torch"]
    optimizer_conventions = optimizers.CONVENTIONS
    loops = ("torch",)               # zero_grad / backward / clip_grad_norm_ / step (_train_step)
    #: nn.BatchNorm updates running_var with the unbiased batch variance, no option (regularization.py)
    batch_norm_conventions = {"running_var": ("unbiased",)}

    def _build(self, params):
        self.model = model_class(self.spec)(self.spec, dtype=TORCH_DTYPES[self.dtype.name])
        weights.load_canonical(self.model, self.spec, params)
        self.names = [name for name, _ in self.model.named_parameters()]
        # the parameter tensors themselves, detached (weights.py assigns values in place, never new tensors):
        # the divergence check reads them at every step without walking the module tree
        self._detached = [p.detach() for p in self.model.parameters()]
        self._saved = None           # train_step's copy of the parameters before a step (_snapshot)
        self.model.eval()            # an nn.Module starts in training mode; the adapter in inference (Adapter.train)

    def _tensor(self, a: np.ndarray, requires_grad: bool = False) -> torch.Tensor:
        # the NumPy array's own memory, no copy (the models never write into an input); int64 labels
        # stay int64 (torch.long). The adapter base class hands over C-contiguous arrays (torch cannot
        # wrap a view with a negative stride); a read-only array is copied (torch tensors are writable).
        t = torch.from_numpy(a) if a.flags.writeable else torch.tensor(a)
        return t.requires_grad_(requires_grad)

    def _state(self, state, requires_grad=False):
        if state is None:
            return None
        return {n: self._tensor(a, requires_grad) for n, a in state.items()}

    def _forward(self, x, initial_state):
        with torch.no_grad():
            return self.model(self._tensor(x), self._state(initial_state)).numpy()

    def _forward_and_state(self, x, initial_state):
        with torch.no_grad():
            u, state = self.model.run(self._tensor(x), self._state(initial_state))
            y = self.model.output_activation(u)
        return y.numpy(), {n: t.numpy() for n, t in state.items()}

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

    # -- seq2seq: token ids in (no input gradient), teacher-forced logits out -----------------
    def _s2s_forward(self, src, tgt):
        with torch.no_grad():
            return self.model(self._tensor(src), self._tensor(tgt)).numpy()

    def _s2s_attention(self, src, tgt):
        with torch.no_grad():
            return self.model.run(self._tensor(src), self._tensor(tgt))[1].numpy()

    def _s2s_grads(self, out, grad_outputs=None):
        params = [self.model.get_parameter(n) for n in self.names]
        grads = torch.autograd.grad(out, params, grad_outputs=grad_outputs)
        return weights.to_canonical(self.spec, dict(zip(self.names, grads)), kind="grads")

    def _s2s_loss_and_grads(self, src, tgt):
        loss = self.model.objective(self._tensor(src), self._tensor(tgt))
        return Gradients(loss.item(), None, self._s2s_grads(loss))

    def _s2s_vjp(self, src, tgt, upstream):
        logits = self.model(self._tensor(src), self._tensor(tgt))
        return Gradients(None, None, self._s2s_grads(logits, grad_outputs=self._tensor(upstream)))

    def _s2s_generate(self, src, max_len):
        with torch.no_grad():
            return self.model.generate(self._tensor(src), max_len).numpy()

    def _get_params(self):
        return weights.read_canonical(self.model, self.spec)

    def _param_count(self):
        return sum(p.numel() for p in self.model.parameters())

    def _set_mode(self, training, masks):
        self.model.train(training)                          # nn.BatchNorm / nn.Dropout follow module.training
        if hasattr(self.model, "set_dropout_masks"):
            self.model.set_dropout_masks(None if masks is None else {n: torch.from_numpy(m) for n, m in masks.items()})

    def _buffers(self):
        return weights.read_buffers(self.model, self.spec)

    def _set_buffers(self, buffers):
        weights.load_buffers(self.model, self.spec, buffers)

    def _set_params(self, params):
        weights.load_canonical(self.model, self.spec, params)

    def _snapshot(self):
        # one fused copy into buffers kept from step to step (no allocation per step)
        if self._saved is None:
            self._saved = [torch.empty_like(p) for p in self._detached]
        torch._foreach_copy_(self._saved, self._detached)
        return self._saved

    def _restore(self, snapshot):
        torch._foreach_copy_(self._detached, snapshot)

    def _params_finite(self):
        # A sum is finite only if every entry is (a NaN or an inf propagates), so one sum per parameter
        # settles the usual case; a non-finite sum may still be an overflow of finite entries, and then
        # each parameter's max and min decide (a NaN propagates through both).
        params = self._detached
        if math.isfinite(float(torch.stack([p.sum() for p in params]).sum())):
            return True
        return bool(torch.isfinite(torch.stack([p.amax() for p in params] + [p.amin() for p in params])).all())

    def _set_optimizer(self, optimizer):
        # (clip_eps and the conventions are checked in the base class: clip_grad_norm_ scales by
        # clip_norm / (norm + 1e-6); optimizers.CONVENTIONS lists what torch.optim runs)
        # torch's second SimpleRNN / LSTM bias only duplicates the first (weights.py): stepping it
        # would move the canonical b twice and count dL/db twice in the clipping norm.
        redundant = weights.redundant_parameters(self.spec)
        trainable = [p for n, p in self.model.named_parameters() if n not in redundant]
        self.clip_norm, self.trainable = optimizer.clip_norm, trainable
        self.optimizer = optimizers.make(optimizer, trainable)

    def _optimizer_state(self):
        return optimizers.state(self.optimizer, self._optimizer_spec, self.model, self.spec)

    def _train_step(self, x, target):
        self.optimizer.zero_grad()
        loss = self.model.objective(self._tensor(x), self._tensor(target))
        loss.backward()
        if self.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.trainable, self.clip_norm)
        self.optimizer.step()
        return loss.item()
