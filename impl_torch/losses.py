"""Losses by the canonical names of ``reference_numpy/losses.py``, as torch computes them.

torch's loss functions take ``(input, target)`` -- prediction first (Keras: the reverse).

    mse                           F.mse_loss(y, d)                       mean over every element
    half_sse                      0.5 * F.mse_loss(y, d, reduction="sum") / N     (the notes' form)
    softmax_cross_entropy         F.cross_entropy(u, d)    from logits; d is int64 labels (N,)
                                                           or probability rows (N, K)
    sigmoid_binary_cross_entropy  F.binary_cross_entropy_with_logits(u, d)   from logits
"""

import torch.nn.functional as F


def half_sse(y, d):
    return 0.5 * F.mse_loss(y, d, reduction="sum") / y.shape[0]


LOSSES = {
    "mse": F.mse_loss,
    "half_sse": half_sse,
    "softmax_cross_entropy": F.cross_entropy,
    "sigmoid_binary_cross_entropy": F.binary_cross_entropy_with_logits,
}


def get(name: str):
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(LOSSES)}")
    return LOSSES[name]
