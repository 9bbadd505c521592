"""Regularization as a torch user writes it: ``nn.BatchNorm1d`` / ``nn.BatchNorm2d``, ``nn.Dropout``
(a subclass that can take an injected mask) and the L1 / L2 penalty summed by hand into the loss.
Mirrors ``reference_numpy/regularization.py`` (the equations are there).

torch specifics:

* ``nn.BatchNorm1d(C, eps=eps, momentum=m)``: torch's ``momentum`` is the canonical one (the
  weight of the new batch); training mode normalizes with the biased batch variance and updates
  ``running_var`` with the UNBIASED one (times n / (n - 1)) -- no option, so a spec with
  ``running_var="biased"`` cannot be trained here (``TorchAdapter.batch_norm_conventions``).
  torch refuses training mode on one value per channel (n = 1). ``num_batches_tracked`` counts
  training forwards and matters only for ``momentum=None`` (a cumulative average), never used here.
* ``nn.Dropout(p)`` scales kept units by 1 / (1 - p) in training mode and is the identity in
  ``eval()``; ``MaskedDropout`` uses a canonical keep-mask when one is given (``set_dropout_masks``),
  torch's own RNG otherwise.
* the penalty: ``loss + l1 * sum|W| + l2 / 2 * sum W**2`` over every ``nn.Linear`` / ``nn.Conv2d``
  weight, written out like a torch user's training loop does (``weight.T`` or not, the sum is the
  same). (An optimizer's coupled ``weight_decay=l2`` adds the same ``l2 * W`` to the gradient if it
  is given the weights only -- torch's ``weight_decay`` covers every parameter of its group, biases
  and batch-norm parameters included -- but it does not add the penalty to the loss.)
"""

from __future__ import annotations

import torch
import torch.nn as nn

from impl_torch.model import Model
from reference_numpy.regularization import check_mask_fits

BATCH_NORMS = {"dense": nn.BatchNorm1d, "conv": nn.BatchNorm2d}


def batch_norm(spec, kind: str, units: int, dtype) -> nn.Module:
    """The torch batch norm after a ``kind`` ("dense" / "conv") layer of ``units`` channels."""
    bn = spec.batch_norm
    return BATCH_NORMS[kind](units, eps=bn.eps, momentum=bn.momentum, dtype=dtype)


class MaskedDropout(nn.Dropout):
    """``nn.Dropout`` that multiplies by an injected keep-mask ``(N, units)`` (``self.mask``, set by
    the adapter) in training mode when there is one: ``x * mask * (1 / (1 - p))``; otherwise
    ``nn.Dropout`` itself (its own random mask in training mode, the identity in ``eval()``).
    ``canonical`` is the layer's canonical name (``dropoutk``)."""

    def __init__(self, p: float, canonical: str):
        super().__init__(p)
        self.canonical = canonical
        self.mask: torch.Tensor | None = None

    def forward(self, x):
        if not self.training or self.mask is None:
            return super().forward(x)
        check_mask_fits(self.canonical, self.mask, x.shape)
        return x * self.mask.to(x.dtype) * (1.0 / (1.0 - self.p))


class RegularizedModel(Model):
    """A torch ``Model`` whose ``objective`` adds the spec's L1 / L2 penalty."""

    def penalized_weights(self) -> list[torch.Tensor]:
        """Every ``nn.Linear`` / ``nn.Conv2d`` weight (never a bias or a batch norm's weight = gamma)."""
        return [m.weight for m in self.modules() if isinstance(m, nn.Linear | nn.Conv2d)]

    def penalty(self) -> torch.Tensor:
        l1, l2 = self.spec.l1, self.spec.l2
        return sum(l1 * W.abs().sum() + 0.5 * l2 * W.pow(2).sum() for W in self.penalized_weights())

    def objective(self, x, d, initial_state=None):
        loss = super().objective(x, d, initial_state)
        return loss + self.penalty() if self.spec.penalized() else loss

    def set_dropout_masks(self, masks: dict[str, torch.Tensor] | None) -> None:
        """Give each ``MaskedDropout`` its canonical mask (``None``: torch's own RNG)."""
        for m in self.modules():
            if isinstance(m, MaskedDropout):
                m.mask = None if masks is None else masks[m.canonical]
