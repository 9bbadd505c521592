"""How Keras on torch runs and differentiates the suite's Keras models: torch autograd through the Keras model.

The same functions as ``engine_tf.py`` (see its docstring for the contract). On the torch
backend a trainable Keras variable holds a ``torch.nn.Parameter`` (``variable.value``,
``requires_grad=True``) and every Keras op is a torch op, so autograd records the Keras model
like any torch module; the differentiated inputs become leaf tensors with ``requires_grad=True``::

    y = fn(*inputs)
    grads = torch.autograd.grad(y, [*inputs, *(v.value for v in variables)], grad_outputs=upstream)

The training step applies the gradients eagerly with ``optimizer.apply_gradients`` (Keras's torch
optimizer updates the parameters in place, under ``torch.no_grad``). float64 stays float64 only
with ``impl_tf.keep_float64()`` (called on import: Keras's type promotion maps float64 to float32
on torch -- ``matmul`` among others -- see there).
"""

from __future__ import annotations

import keras
import numpy as np
import torch

import impl_tf
from impl_tf import weights

BACKEND = "torch"
impl_tf.keep_float64()                  # float64 computed in float64 (the workaround, impl_tf/__init__.py)


def check_dtype(dtype: str) -> None:
    """Every float dtype of the suite runs as it is on torch."""


def build(model, spec, params) -> None:
    """Create the variables (one call on a one-example batch) and assign the canonical parameters."""
    weights.load_canonical(model, spec, params)


def tensor(array: np.ndarray):
    return torch.tensor(array)                             # a copy, same dtype


def to_numpy(value):
    return keras.tree.map_structure(lambda t: t.detach().cpu().numpy() if torch.is_tensor(t) else np.asarray(t),
                                    value)


def evaluate(fn, *args, variables=()):
    with torch.no_grad():
        return to_numpy(fn(*args))


def gradients(fn, inputs, variables, upstream=None, constants=(), context=()):
    """``(y, input_grads, variable_grads)`` as NumPy (``engine_tf.py``)."""
    inputs = [t.detach().requires_grad_() for t in inputs]            # leaves that record their gradient
    y = fn(*inputs, *constants)
    grads = torch.autograd.grad(y, [*inputs, *(v.value for v in variables)],
                                grad_outputs=None if upstream is None else torch.as_tensor(upstream, dtype=y.dtype),
                                materialize_grads=True)                  # unused: zeros, as on JAX
    grads = to_numpy(list(grads))
    return to_numpy(y), grads[:len(inputs)], grads[len(inputs):]


def train_step(loss_fn, inputs, variables, optimizer, context=()) -> float:
    loss = loss_fn(*inputs)
    grads = torch.autograd.grad(loss, [v.value for v in variables])
    optimizer.apply_gradients(zip(grads, variables))
    return float(loss)
