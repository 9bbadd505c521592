"""``OptimizerSpec`` -> ``torch.optim``: the one place that maps the suite's optimizers to torch's.

    sgd        SGD(lr, weight_decay)
    momentum   SGD(lr, momentum, dampening, weight_decay)          buf = mu buf + (1 - dampening) g
    nesterov   SGD(lr, momentum, nesterov=True, weight_decay)
    adagrad    Adagrad(lr, eps, initial_accumulator_value, weight_decay)      eps outside the sqrt
    rmsprop    RMSprop(lr, alpha=rho, eps, momentum, centered, weight_decay)  eps outside the sqrt
    adam       Adam(lr, betas, eps, weight_decay, decoupled_weight_decay)     bias-corrected moments
    adamw      AdamW(lr, betas, eps, weight_decay)                            decoupled weight decay
    amsgrad    Adam(..., amsgrad=True)

torch's ``weight_decay`` is coupled L2 (``g += wd w``) everywhere but in ``AdamW`` and
``Adam(decoupled_weight_decay=True)``; for plain SGD the two are the same update, so decoupled
decay maps to coupled there. What torch cannot run (eps inside the square root, Keras's Adam
step-size form, float32-rounded hyperparameters, decoupled decay for momentum / AdaGrad /
RMSprop) is refused by ``TorchAdapter.check_optimizer`` (the table ``CONVENTIONS``) before any of
this runs. Every optimizer runs its single-tensor loop (``foreach=False``), the reference code path
on CPU.

Optimizer state (``state``) in the canonical convention of ``reference_numpy/optimizers.py``:

    canonical     torch state key
    momentum      momentum_buffer   (SGD family: None until the first step; RMSprop with momentum)
    accumulator   sum               (Adagrad)
    square_avg    square_avg        (RMSprop);   grad_avg   grad_avg   (centered)
    m, v, vmax    exp_avg, exp_avg_sq, max_exp_avg_sq   (Adam family)
    step          step              (a float tensor in torch, an int in the canonical state)
"""

from __future__ import annotations

import numpy as np
import torch

from impl_torch import weights
from reference_numpy.optimizers import slot_names
from reference_numpy.specs import OptimizerSpec

#: The conventions torch runs (``Adapter.optimizer_conventions``; ``"*"``: every other optimizer).
CONVENTIONS = {
    "eps_placement": ("outside",),
    "bias_correction": ("moments",),
    "weight_decay_mode": {"adam": ("coupled", "decoupled"), "amsgrad": ("coupled", "decoupled"),
                          "adamw": ("decoupled",), "*": ("coupled",)},
    "float32_hyperparameters": (False,),
}

#: canonical slot -> torch state key
STATE_KEYS = {"momentum": "momentum_buffer", "accumulator": "sum", "square_avg": "square_avg",
              "grad_avg": "grad_avg", "m": "exp_avg", "v": "exp_avg_sq", "vmax": "max_exp_avg_sq",
              "step": "step"}


def make(spec: OptimizerSpec, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The torch optimizer for ``spec`` over ``params``."""
    o, wd = torch.optim, spec.weight_decay
    decoupled = spec.weight_decay_mode == "decoupled" and wd != 0
    if spec.name in ("sgd", "momentum", "nesterov"):
        return o.SGD(params, lr=spec.lr, momentum=spec.momentum or 0.0, dampening=spec.dampening or 0.0,
                     nesterov=spec.name == "nesterov", weight_decay=wd, foreach=False)
    if spec.name == "adagrad":
        return o.Adagrad(params, lr=spec.lr, eps=spec.eps, initial_accumulator_value=spec.initial_accumulator,
                         weight_decay=wd, foreach=False)
    if spec.name == "rmsprop":
        return o.RMSprop(params, lr=spec.lr, alpha=spec.rho, eps=spec.eps, momentum=spec.momentum,
                         centered=spec.centered, weight_decay=wd, foreach=False)
    betas = (spec.beta1, spec.beta2)
    if spec.name == "adamw":
        return o.AdamW(params, lr=spec.lr, betas=betas, eps=spec.eps, weight_decay=wd, foreach=False)
    return o.Adam(params, lr=spec.lr, betas=betas, eps=spec.eps, weight_decay=wd, amsgrad=spec.name == "amsgrad",
                  decoupled_weight_decay=decoupled, foreach=False)


def state(optimizer: torch.optim.Optimizer, spec: OptimizerSpec, model, model_spec) -> dict[str, dict[str, np.ndarray]]:
    """Every slot of ``optimizer`` as ``{slot: {canonical param: array}}``. A parameter the optimizer
    does not step (torch's redundant second RNN / LSTM bias) contributes zeros, which the weight
    mapping drops (it reads a bias slot from ``bias_ih``, as it reads a bias gradient)."""
    named = dict(model.named_parameters())
    out = {}
    for slot in slot_names(spec):
        tensors = {}
        for name, p in named.items():
            value = optimizer.state.get(p, {}).get(STATE_KEYS[slot]) if p in optimizer.state else None
            if value is None:                      # not stepped yet (or not stepped at all): the initial value
                fill = spec.initial_accumulator if slot == "accumulator" else 0.0
                value = torch.full_like(p, fill)
            elif slot == "step":
                value = torch.full_like(p, float(value))
            tensors[name] = value.detach()
        canonical = weights.to_canonical(model_spec, tensors, kind="grads")
        if slot == "step":
            canonical = {n: np.array(int(a.flat[0]), dtype=np.int64) for n, a in canonical.items()}
        out[slot] = canonical
    return out
