"""The one place that maps canonical parameters to Keras variables and back.

Canonical layout (``reference_numpy/specs.py``): ``W (in, out)``, ``b (out,)``,
row-vector math ``x @ W + b``. Keras's ``Dense`` stores ``kernel (in, out)`` and
computes ``x @ kernel + bias`` -- the canonical layout itself, so no transform.
(Contrast torch's ``nn.Linear``, whose ``weight`` is ``(out, in)``.)

    canonical   Keras variable                 transform
    W_l, b_l    layers_[l-1].kernel / .bias    none      (MLP, Dense named dense{l})
    W, b        dense.kernel / dense.bias      none      (regression)

Each mapping is a ``Link`` between a group of canonical arrays and a group of
Keras variables (usually one to one; Keras's GRU keeps two canonical biases in
one ``(2, 3H)`` variable). A link says how values go to Keras, how variables come
back, and how gradients come back (the same way unless a link says otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from reference_numpy.specs import MLPSpec


@dataclass(frozen=True)
class Link:
    canonical: tuple[str, ...]
    variables: tuple                                           # keras.Variable objects
    to_keras: Callable[..., tuple[np.ndarray, ...]]            # canonical arrays -> Keras arrays
    from_keras: Callable[..., tuple[np.ndarray, ...]]          # Keras values -> canonical
    grad_from_keras: Callable[..., tuple[np.ndarray, ...]] | None = None   # default: from_keras

    def grads(self, *arrays):
        return (self.grad_from_keras or self.from_keras)(*arrays)


def same(name: str, variable) -> Link:
    """Copied as it is."""
    return Link((name,), (variable,), lambda a: (a,), lambda a: (a,))


def dense_links(W: str, b: str, layer) -> list[Link]:
    return [same(W, layer.kernel), same(b, layer.bias)]


def param_map(model, spec) -> list[Link]:
    """Every canonical parameter's link, in canonical order."""
    if isinstance(spec, MLPSpec):
        return [link for l, layer in enumerate(model.layers_, start=1)
                for link in dense_links(f"W{l}", f"b{l}", layer)]
    return dense_links("W", "b", model.dense)


def _check_covered(model, spec) -> None:
    mapped = [v for link in param_map(model, spec) for v in link.variables]
    ids = {id(v) for v in mapped}
    unmapped = [v.path for v in model.trainable_variables if id(v) not in ids]
    if unmapped or len(ids) != len(mapped) or len(ids) != len(model.trainable_variables):
        raise KeyError(f"Keras variables not covered by the mapping (or mapped twice): {unmapped}")


def build(model, spec) -> None:
    """Create the variables (Keras builds layers lazily, on the first call) with a
    one-example input (a length-1 sequence for recurrent models)."""
    if not model.built:
        shape = (1, *(1 if s is None else s for s in spec.input_shape))
        model(np.zeros(shape, dtype=model.dtype_policy.variable_dtype))
    _check_covered(model, spec)


def load_canonical(model, spec, params: dict[str, np.ndarray]) -> None:
    build(model, spec)
    for link in param_map(model, spec):
        values = link.to_keras(*(params[c] for c in link.canonical))
        for variable, value in zip(link.variables, values, strict=True):
            if tuple(variable.shape) != value.shape:
                raise ValueError(f"{link.canonical} maps to {variable.path} of shape "
                                 f"{tuple(variable.shape)}, got {value.shape} after transform")
            variable.assign(value)


def variables(model, spec) -> list:
    """The Keras variables in mapping order (what gradients are taken against)."""
    return [v for link in param_map(model, spec) for v in link.variables]


def to_canonical(spec, model, values, kind: str = "params") -> dict[str, np.ndarray]:
    """Values aligned with ``variables(model, spec)`` -- parameters (``kind="params"``)
    or their gradients (``kind="grads"``) -> canonical dict."""
    if kind not in ("params", "grads"):
        raise ValueError(f"kind must be 'params' or 'grads', got {kind!r}")
    values, out = list(values), {}
    for link in param_map(model, spec):
        arrays = [np.asarray(values.pop(0)) for _ in link.variables]
        converted = link.from_keras(*arrays) if kind == "params" else link.grads(*arrays)
        for name, value in zip(link.canonical, converted, strict=True):
            out[name] = np.array(value)
    return {name: out[name] for name in spec.param_shapes()}


def read_canonical(model, spec) -> dict[str, np.ndarray]:
    _check_covered(model, spec)
    return to_canonical(spec, model, [v.numpy() for v in variables(model, spec)])
