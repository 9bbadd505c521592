"""The one place that maps canonical parameters to Keras variables and back.

Canonical layout (``reference_numpy/specs.py``): ``W (in, out)``, ``b (out,)``,
row-vector math ``x @ W + b``. Keras's ``Dense`` stores ``kernel (in, out)`` and
computes ``x @ kernel + bias`` -- the canonical layout itself, so no transform.
(Contrast torch's ``nn.Linear``, whose ``weight`` is ``(out, in)``.)

    canonical   Keras variable                 transform
    W_l, b_l    layers_[l-1].kernel / .bias    none      (MLP, Dense named dense{l})
    W, b        dense.kernel / dense.bias      none      (regression)
"""

from __future__ import annotations

import numpy as np

from reference_numpy.specs import MLPSpec


def param_map(model, spec) -> list[tuple[str, object]]:
    """``(canonical name, Keras variable)`` for every parameter, in canonical order."""
    if isinstance(spec, MLPSpec):
        rows = []
        for l, layer in enumerate(model.layers_, start=1):
            rows += [(f"W{l}", layer.kernel), (f"b{l}", layer.bias)]
        return rows
    return [("W", model.dense.kernel), ("b", model.dense.bias)]


def _check_covered(model, spec) -> None:
    mapped = {id(v) for _, v in param_map(model, spec)}
    unmapped = [v.path for v in model.trainable_variables if id(v) not in mapped]
    if unmapped or len(mapped) != len(model.trainable_variables):
        raise KeyError(f"Keras variables not covered by the mapping: {unmapped}")


def build(model, spec) -> None:
    """Create the variables (Keras builds layers lazily, on the first call)."""
    if not model.built:
        model(np.zeros((1, spec.in_features), dtype=model.dtype_policy.variable_dtype))
    _check_covered(model, spec)


def load_canonical(model, spec, params: dict[str, np.ndarray]) -> None:
    build(model, spec)
    for name, variable in param_map(model, spec):
        if tuple(variable.shape) != params[name].shape:
            raise ValueError(f"{name} maps to {variable.path} of shape {tuple(variable.shape)}, "
                             f"got {params[name].shape}")
        variable.assign(params[name])


def variables(model, spec) -> list:
    return [v for _, v in param_map(model, spec)]


def to_canonical(spec, model, values) -> dict[str, np.ndarray]:
    """Values aligned with ``variables(model, spec)`` (parameters or gradients) -> canonical dict."""
    names = [name for name, _ in param_map(model, spec)]
    return {name: np.array(value) for name, value in zip(names, values)}


def read_canonical(model, spec) -> dict[str, np.ndarray]:
    _check_covered(model, spec)
    return to_canonical(spec, model, [v.numpy() for v in variables(model, spec)])
