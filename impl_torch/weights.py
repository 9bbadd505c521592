"""The one place that maps canonical parameters to torch modules and back.

Canonical layout (``reference_numpy/specs.py``): ``W (in, out)``, ``b (out,)``,
row-vector math ``x @ W + b``. torch's ``nn.Linear`` stores ``weight (out, in)``
and computes ``x @ weight.T + bias``, so every dense ``W`` is transposed on the
way in and on the way out; biases are copied as they are.

    canonical   torch parameter          transform
    W1, b1      layers.0.weight / .bias  W.T / b          (MLP, layer l -> layers.{l-1})
    W, b        dense.weight / .bias     W.T / b          (regression)

Each mapping is a ``Link`` between a group of canonical arrays and a group of
torch parameters (usually one to one; a recurrent bias that torch splits in two
is one canonical array to two parameters). A link says how values go to torch,
how parameters come back, and how *gradients* come back -- which differ when
torch holds redundant parameters (two biases whose sum is the canonical one:
the parameter is the sum, its gradient is either one's gradient).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from reference_numpy.specs import MLPSpec


@dataclass(frozen=True)
class Link:
    canonical: tuple[str, ...]
    torch: tuple[str, ...]
    to_torch: Callable[..., tuple[np.ndarray, ...]]           # canonical arrays -> torch arrays
    from_torch: Callable[..., tuple[np.ndarray, ...]]         # torch parameters -> canonical
    grad_from_torch: Callable[..., tuple[np.ndarray, ...]] | None = None   # default: from_torch

    def grads(self, *arrays):
        return (self.grad_from_torch or self.from_torch)(*arrays)


def same(name: str, torch_name: str) -> Link:
    """Copied as it is."""
    return Link((name,), (torch_name,), lambda a: (a,), lambda a: (a,))


def transposed(name: str, torch_name: str) -> Link:
    """A dense ``W (in, out)`` <-> ``nn.Linear.weight (out, in)``."""
    return Link((name,), (torch_name,), lambda a: (a.T,), lambda a: (a.T,))


def dense_links(W: str, b: str, module: str) -> list[Link]:
    return [transposed(W, f"{module}.weight"), same(b, f"{module}.bias")]


def param_map(spec) -> list[Link]:
    """Every canonical parameter's link, in canonical order."""
    if isinstance(spec, MLPSpec):
        return [link for l in range(1, spec.n_layers + 1)
                for link in dense_links(f"W{l}", f"b{l}", f"layers.{l - 1}")]
    return dense_links("W", "b", "dense")


def _check_module(model, spec) -> None:
    have = {name for name, _ in model.named_parameters()}
    want = {t for link in param_map(spec) for t in link.torch}
    if have != want:
        raise KeyError(f"torch module parameters {sorted(have)} do not match the mapping {sorted(want)}: "
                       f"unmapped {sorted(have - want)}, missing {sorted(want - have)}")


def load_canonical(model, spec, params: dict[str, np.ndarray]) -> None:
    """Copy canonical parameters into the module (shapes checked here)."""
    _check_module(model, spec)
    with torch.no_grad():
        for link in param_map(spec):
            values = link.to_torch(*(params[c] for c in link.canonical))
            for torch_name, value in zip(link.torch, values, strict=True):
                target = model.get_parameter(torch_name)
                if tuple(target.shape) != value.shape:
                    raise ValueError(f"{link.canonical} maps to {torch_name} of shape "
                                     f"{tuple(target.shape)}, got {value.shape} after transform")
                target.copy_(torch.from_numpy(np.ascontiguousarray(value)))


def to_canonical(spec, tensors: dict[str, torch.Tensor], kind: str = "params") -> dict[str, np.ndarray]:
    """Parameters (``kind="params"``) or their gradients (``kind="grads"``), keyed by
    torch name -> canonical dict of NumPy arrays."""
    if kind not in ("params", "grads"):
        raise ValueError(f"kind must be 'params' or 'grads', got {kind!r}")
    out = {}
    for link in param_map(spec):
        arrays = [tensors[t].detach().cpu().numpy() for t in link.torch]
        values = link.from_torch(*arrays) if kind == "params" else link.grads(*arrays)
        for name, value in zip(link.canonical, values, strict=True):
            out[name] = np.ascontiguousarray(value).copy()
    return {name: out[name] for name in spec.param_shapes()}


def read_canonical(model, spec) -> dict[str, np.ndarray]:
    _check_module(model, spec)
    return to_canonical(spec, dict(model.named_parameters()))
