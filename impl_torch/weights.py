"""The one place that maps canonical parameters to torch modules and back.

Canonical layout (``reference_numpy/specs.py``): ``W (in, out)``, ``b (out,)``,
row-vector math ``x @ W + b``. torch's ``nn.Linear`` stores ``weight (out, in)``
and computes ``x @ weight.T + bias``, so every ``W`` is transposed on the way in
and on the way out; biases are copied as they are.

    canonical   torch parameter          transform
    W1, b1      layers.0.weight / .bias  W.T / b          (MLP, layer l -> layers.{l-1})
    W, b        dense.weight / .bias     W.T / b          (regression)
"""

from __future__ import annotations

import numpy as np
import torch

from reference_numpy.specs import MLPSpec


def param_map(spec) -> list[tuple[str, str, bool]]:
    """``(canonical name, torch parameter name, transpose?)`` for every parameter."""
    if isinstance(spec, MLPSpec):
        rows = []
        for l in range(1, spec.n_layers + 1):
            rows += [(f"W{l}", f"layers.{l - 1}.weight", True), (f"b{l}", f"layers.{l - 1}.bias", False)]
        return rows
    return [("W", "dense.weight", True), ("b", "dense.bias", False)]


def _check_module(model, spec) -> None:
    have = {name for name, _ in model.named_parameters()}
    want = {torch_name for _, torch_name, _ in param_map(spec)}
    if have != want:
        raise KeyError(f"torch module parameters {sorted(have)} do not match the mapping {sorted(want)}")


def load_canonical(model, spec, params: dict[str, np.ndarray]) -> None:
    """Copy canonical parameters into the module (shapes checked by torch's copy_)."""
    _check_module(model, spec)
    with torch.no_grad():
        for name, torch_name, transpose in param_map(spec):
            value = params[name].T if transpose else params[name]
            target = model.get_parameter(torch_name)
            if tuple(target.shape) != value.shape:
                raise ValueError(f"{name} maps to {torch_name} of shape {tuple(target.shape)}, "
                                 f"got {value.shape} after transform")
            target.copy_(torch.from_numpy(np.ascontiguousarray(value)))


def to_canonical(spec, tensors: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Parameters or gradients keyed by torch name -> canonical dict of NumPy arrays."""
    out = {}
    for name, torch_name, transpose in param_map(spec):
        a = tensors[torch_name].detach().cpu().numpy()
        out[name] = np.ascontiguousarray(a.T if transpose else a).copy()
    return out


def read_canonical(model, spec) -> dict[str, np.ndarray]:
    _check_module(model, spec)
    return to_canonical(spec, dict(model.named_parameters()))
