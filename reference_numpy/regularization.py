"""Regularization with hand-written backward passes: batch normalization, inverted dropout, the L1 / L2
penalty (the notes' day 2), and what an MLP / CNN needs to run them (``RegularizedModel``).

Shape legend: N batch, C channels (= units of a dense layer), H x W a feature map; a batch norm
reduces over every axis but the channel axis (``axes``): (0,) for a dense ``(N, C)`` input, (0, 2, 3)
for a conv ``(N, C, H, W)`` input; ``n`` is the number of values per channel it reduces over (N, or
N*H*W). Per-channel arrays ``gamma, beta, mean, var`` are ``(C,)``.

Batch normalization, training mode (the notes' four lines; both frameworks normalize with the
BIASED batch variance)::

    mu     = mean_axes(x)                                  (C,)
    var    = mean_axes((x - mu)**2)                        (C,)    biased: / n
    xhat   = (x - mu) / sqrt(var + eps)                    like x
    y      = gamma * xhat + beta                           like x
    running_mean <- (1 - m) * running_mean + m * mu        (C,)    m = BatchNorm.momentum, the weight
    running_var  <- (1 - m) * running_var + m * var * c    (C,)    of the new batch (torch's meaning)

with ``c = n / (n - 1)`` for ``running_var="unbiased"`` (torch) and ``c = 1`` for ``"biased"``
(Keras). Backward (``s = sqrt(var + eps)``; every sum over ``axes``; mu and var depend on x)::

    dbeta  = sum dy                                        (C,)
    dgamma = sum dy * xhat                                 (C,)
    dxhat  = dy * gamma                                    like x
    dx     = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / s      like x

Inference mode normalizes with the running statistics, which are constants here::

    xhat   = (x - running_mean) / sqrt(running_var + eps)  y = gamma * xhat + beta
    dx     = dy * gamma / sqrt(running_var + eps)          dgamma, dbeta as above

Inverted dropout with rate p (the notes' ``Dropout`` keeps ``x * mask`` in training and scales by
``1 - p`` at test time; torch's ``nn.Dropout`` and Keras's ``Dropout`` -- and this suite -- scale in
training instead, so inference is the identity)::

    training    y  = x * mask * (1 / (1 - p))              mask[n, j] in {0, 1}: 1 = kept, P(1) = 1 - p
                dx = dy * mask * (1 / (1 - p))
    inference   y  = x,  dx = dy

L1 / L2 penalty over the weights ``Wk`` of ``spec.penalized()`` (never a bias, gamma or beta;
the notes' ``lasso`` and ``ridge`` add ``rate * sign(W)`` and ``rate * W`` to the gradient)::

    P      = sum_k l1 * sum|Wk| + l2 / 2 * sum Wk**2       the loss is the data loss + P
    dP/dWk = l1 * sign(Wk) + l2 * Wk                       (sign(0) = 0, as torch's and TF's abs)

Keras's ``regularizers.L1L2(l1, l2)`` computes ``l1 * sum|W| + l2 * sum W**2`` -- no 1/2 -- so this
``l2`` is Keras's ``l2 / 2`` (``impl_tf/regularization.py``); a torch user writes the sum by hand.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from reference_numpy.initializers import init_buffers
from reference_numpy.model import Model
from reference_numpy.validation import check_array, key_mismatch

# -- batch normalization ----------------------------------------------------------------------

def batchnorm_axes(x: np.ndarray) -> tuple[int, ...]:
    """Every axis but the channel axis 1: (0,) for (N, C), (0, 2, 3) for (N, C, H, W)."""
    return (0,) + tuple(range(2, x.ndim))


def _per_channel(a: np.ndarray, ndim: int) -> np.ndarray:
    """A (C,) array shaped to broadcast against an (N, C, ...) input."""
    return a.reshape((1, -1) + (1,) * (ndim - 2))


def batchnorm_forward(x, gamma, beta, running_mean, running_var, bn, training: bool):
    """``(y, cache, (new_running_mean, new_running_var))``; in inference mode the running
    statistics come back unchanged. ``bn`` is the spec's ``BatchNorm``."""
    axes = batchnorm_axes(x)
    n = x.size // x.shape[1]                                              # values per channel
    g, b = _per_channel(gamma, x.ndim), _per_channel(beta, x.ndim)
    if training:
        if bn.running_var == "unbiased" and n < 2:
            raise ValueError(f"batch norm in training mode with running_var='unbiased' needs at least 2 values "
                             f"per channel (n / (n - 1)), got a batch of n = {n}")
        mu = x.mean(axis=axes)                                             # (C,)
        xc = x - _per_channel(mu, x.ndim)                                  # like x
        var = (xc * xc).mean(axis=axes)                                    # (C,) biased
        s = np.sqrt(var + bn.eps)                                          # (C,)
        xhat = xc / _per_channel(s, x.ndim)                                # like x
        c = n / (n - 1) if bn.running_var == "unbiased" else 1.0
        m = bn.momentum
        running = ((1 - m) * running_mean + m * mu, (1 - m) * running_var + m * (var * c))   # (C,), (C,)
    else:
        s = np.sqrt(running_var + bn.eps)                                  # (C,)
        xhat = (x - _per_channel(running_mean, x.ndim)) / _per_channel(s, x.ndim)
        running = (running_mean, running_var)
    y = g * xhat + b                                                       # like x
    return y, (xhat, gamma, s, training, axes), running


def batchnorm_backward(dy, cache):
    """``(dx, dgamma, dbeta)``."""
    xhat, gamma, s, training, axes = cache
    dbeta = dy.sum(axis=axes)                                              # (C,)
    dgamma = (dy * xhat).sum(axis=axes)                                    # (C,)
    dxhat = dy * _per_channel(gamma, dy.ndim)                              # like x
    if training:
        dxhat = (dxhat - dxhat.mean(axis=axes, keepdims=True)
                 - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True))  # like x
    dx = dxhat / _per_channel(s, dy.ndim)                                  # like x
    return dx, dgamma, dbeta


# -- dropout -------------------------------------------------------------------------------------

def check_mask_fits(name: str, mask, x_shape) -> None:
    """The one message every framework gives when a dropout mask does not fit the batch (an axis of
    unknown size, ``None`` in a traced Keras graph, is not checked)."""
    if len(mask.shape) != len(x_shape) or any(n is not None and m != n for m, n in zip(mask.shape, x_shape)):
        raise ValueError(f"dropout mask {name!r} has shape {tuple(mask.shape)}, but this batch needs "
                         f"{tuple(x_shape)} (N, units): give masks for this batch size to adapter.train()")


def dropout_forward(x, mask, rate: float, name: str = "dropout"):
    """Training mode under a given 0/1 ``mask`` (bool, like x): ``(y, cache)``."""
    check_mask_fits(name, mask, x.shape)
    scale = 1.0 / (1.0 - rate)
    keep = mask.astype(x.dtype)                                            # like x
    return x * keep * scale, (keep, scale)


def dropout_backward(dy, cache):
    keep, scale = cache
    return dy * keep * scale                                               # like x


def random_mask(rng: np.random.Generator, shape, rate: float) -> np.ndarray:
    """A keep-mask like the frameworks draw: each unit kept with probability 1 - rate."""
    return rng.random(shape) >= rate


# -- penalty -------------------------------------------------------------------------------------

def penalty(params, names, l1: float, l2: float) -> float:
    """``sum_k l1 * sum|Wk| + l2 / 2 * sum Wk**2`` over ``names``."""
    total = 0.0
    for name in names:
        W = params[name]
        total += l1 * np.abs(W).sum() + 0.5 * l2 * (W * W).sum()
    return total


def penalty_grads(params, names, l1: float, l2: float) -> dict[str, np.ndarray]:
    return {name: l1 * np.sign(params[name]) + l2 * params[name] for name in names}


# -- buffers and masks (checked for every framework by the adapter base class) --------------------

def check_buffers(spec, buffers, dtype) -> dict[str, np.ndarray]:
    """Exactly ``spec.buffer_shapes()``, each of the model's dtype, finite; running variances >= 0."""
    expected = spec.buffer_shapes()
    if not isinstance(buffers, Mapping):
        raise TypeError(f"buffers must be a dict of name -> numpy.ndarray with keys {list(expected)}, "
                        f"got {type(buffers).__name__}")
    if mismatch := key_mismatch(expected, buffers):
        raise KeyError(f"buffers for {type(spec).__name__} must be exactly {list(expected)}: {mismatch}")
    out = {n: check_array(f"buffer {n!r}", buffers[n], shape=shape, dtype=dtype) for n, shape in expected.items()}
    for n, a in out.items():
        if n.startswith("running_var") and a.min() < 0:
            raise ValueError(f"buffer {n!r} is a variance and must be >= 0, got a minimum of {a.min()}")
    return out


def check_dropout_masks(spec, masks) -> dict[str, np.ndarray] | None:
    """``None`` (each framework draws its own masks) or a mask for every dropout layer of the spec:
    bool ``(N, units)`` arrays, one N for all."""
    if masks is None:
        return None
    expected = spec.dropout_shapes() if hasattr(spec, "dropout_shapes") else {}
    if not isinstance(masks, Mapping):
        raise TypeError(f"dropout_masks must be None or a dict of name -> bool numpy.ndarray with keys "
                        f"{list(expected)}, got {type(masks).__name__}")
    if not expected and masks:
        raise ValueError(f"dropout_masks given, but this {type(spec).__name__} has no dropout layers "
                         f"(dropout={getattr(spec, 'dropout', 0)})")
    if mismatch := key_mismatch(expected, masks):
        raise KeyError(f"dropout_masks must have exactly the keys {list(expected)}: {mismatch}")
    out, batch = {}, None
    for n, units in expected.items():
        m = masks[n]
        if type(m) is not np.ndarray or m.dtype != np.bool_:
            raise TypeError(f"dropout mask {n!r} must be a numpy.ndarray of dtype bool (True = kept), got "
                            f"{type(m).__name__}" + (f" of dtype {m.dtype}" if type(m) is np.ndarray else ""))
        if m.ndim != 2 or m.shape[1:] != units or m.shape[0] == 0:
            raise ValueError(f"dropout mask {n!r} must have shape (N, {units[0]}), got {m.shape}")
        if batch is not None and m.shape[0] != batch:
            raise ValueError(f"every dropout mask must have the same batch size N, got {batch} and {m.shape[0]} "
                             f"({n!r})")
        batch = m.shape[0]
        out[n] = np.ascontiguousarray(m).copy()
    return out


# -- the NumPy models' side ----------------------------------------------------------------------

class RegularizedModel(Model):
    """A ``Model`` with the regularization options of its spec (MLP, CNN): a mode
    (``training``; inference at first), the dropout masks of the training mode, the running
    statistics (``buffers``, canonical names; updated by every training-mode forward) and the
    penalty, added to ``objective`` and its gradient ``objective_backward`` (not to the output's VJP
    ``backward``). ``batchnorm`` and ``dropout`` are what the dense stack's ``BatchNorm`` and
    ``Dropout`` layers run (``layers.py``)."""

    def __init__(self, spec, params, dtype="float64"):
        super().__init__(spec, params, dtype)
        self.training = False
        self.dropout_masks: dict[str, np.ndarray] | None = None
        self.buffers = init_buffers(spec, None, self.dtype)    # mean 0, variance 1
        self.rng = np.random.default_rng()                   # masks when none are given

    def batchnorm(self, x, k: str):
        """Batch norm k on ``x``; updates ``running_meank``, ``running_vark`` in training mode."""
        mean, var = f"running_mean{k}", f"running_var{k}"
        y, cache, (self.buffers[mean], self.buffers[var]) = batchnorm_forward(
            x, self.params[f"gamma{k}"], self.params[f"beta{k}"], self.buffers[mean], self.buffers[var],
            self.spec.batch_norm, self.training)
        return y, cache

    def dropout(self, z, k: str):
        """Dropout k on ``z``: the given mask, else a random one, in training mode; identity in inference
        (cache None)."""
        if not self.training or not self.spec.dropout:
            return z, None
        name = f"dropout{k}"
        mask = (self.dropout_masks[name] if self.dropout_masks is not None
                else random_mask(self.rng, z.shape, self.spec.dropout))
        return dropout_forward(z, mask, self.spec.dropout, name)

    def objective(self, x, d, initial_state=None):
        L, cache = super().objective(x, d, initial_state)
        if self.spec.penalized():
            L = L + penalty(self.params, self.spec.penalized(), self.spec.l1, self.spec.l2)
        return L, cache

    def objective_backward(self, d, cache, input_grad=True):
        dx, grads, dstate = super().objective_backward(d, cache, input_grad)
        for name, g in penalty_grads(self.params, self.spec.penalized(), self.spec.l1, self.spec.l2).items():
            grads[name] = grads[name] + g
        return dx, grads, dstate
