"""``OptimizerSpec`` -> ``keras.optimizers``: the one place that maps the suite's optimizers to Keras's
(keras API only).

    sgd        SGD(learning_rate, weight_decay)
    momentum   SGD(learning_rate, momentum, weight_decay)           m = mu m - lr g;  w += m
    nesterov   SGD(learning_rate, momentum, nesterov=True)          w += mu m - lr g
    adagrad    Adagrad(learning_rate, initial_accumulator_value, epsilon)   eps inside the sqrt
    rmsprop    RMSprop(learning_rate, rho, momentum, epsilon, centered)     eps inside the sqrt
    adam       Adam(learning_rate, beta_1, beta_2, epsilon)         bias correction in the step size
    adamw      AdamW(learning_rate, weight_decay, beta_1, beta_2, epsilon)
    amsgrad    Adam(..., amsgrad=True)

Every Keras ``weight_decay`` is decoupled (``w -= lr wd w`` before the update); ``0`` maps to
``None`` (no decay step at all). ``clip_norm`` maps to ``global_clipnorm`` (clip eps 0). What Keras
cannot run (eps outside the square root, Adam's bias-corrected moments, coupled L2 weight decay,
dampening) is refused by ``KerasAdapter.check_optimizer`` (the table ``CONVENTIONS``) before any of
this runs.

Keras keeps ``learning_rate`` in a float32 variable (floatx) and casts Python-float hyperparameters
with ``ops.cast(value, float64)``, which goes through a float32 tensor: 0.9 -> 0.8999999761581421
(``reference_numpy.optimizers.float32_fields`` lists where; ``float32_hyperparameters=True`` makes
NumPy do the same).

Optimizer state (``state``) in the canonical convention of ``reference_numpy/optimizers.py``:

    canonical     Keras variable
    momentum      momentums (SGD):   m = -lr buf, so buf = -m / lr
                  _momentums (RMSprop): mom = lr buf, so buf = mom / lr
    accumulator   _accumulators (Adagrad)
    square_avg    _velocities (RMSprop);   grad_avg  _average_gradients (centered)
    m, v, vmax    _momentums, _velocities, _velocity_hats (Adam family)
    step          iterations (one counter for every variable)
"""

from __future__ import annotations

import keras  # (a module of the impl_tf package: impl_tf/__init__.py has chosen the backend)
import numpy as np

from impl_tf import weights
from reference_numpy.optimizers import slot_names
from reference_numpy.specs import OptimizerSpec

#: The conventions Keras runs (``Adapter.optimizer_conventions``).
CONVENTIONS = {
    "eps_placement": ("inside",),
    "bias_correction": ("step_size",),
    "weight_decay_mode": ("decoupled",),
    "float32_hyperparameters": (True,),
    "dampening": (0.0,),
}


def make(spec: OptimizerSpec) -> keras.optimizers.Optimizer:
    """The Keras optimizer for ``spec`` (not built yet)."""
    o = keras.optimizers
    common = {"learning_rate": spec.lr, "global_clipnorm": spec.clip_norm,
              "weight_decay": spec.weight_decay or None}
    if spec.name in ("sgd", "momentum", "nesterov"):
        return o.SGD(momentum=spec.momentum or 0.0, nesterov=spec.name == "nesterov", **common)
    if spec.name == "adagrad":
        return o.Adagrad(initial_accumulator_value=spec.initial_accumulator, epsilon=spec.eps, **common)
    if spec.name == "rmsprop":
        return o.RMSprop(rho=spec.rho, momentum=spec.momentum, epsilon=spec.eps, centered=spec.centered, **common)
    adam = {"beta_1": spec.beta1, "beta_2": spec.beta2, "epsilon": spec.eps, "amsgrad": spec.name == "amsgrad"}
    if spec.name == "adamw":
        return o.AdamW(**adam, **common)
    return o.Adam(**adam, **common)


#: canonical slot -> the Keras optimizer attribute holding it (one variable per model variable)
SLOT_ATTRIBUTES = {"accumulator": "_accumulators", "square_avg": "_velocities", "grad_avg": "_average_gradients",
                   "m": "_momentums", "v": "_velocities", "vmax": "_velocity_hats"}


def _slot_variables(optimizer, spec: OptimizerSpec, slot: str) -> list:
    if slot == "momentum":
        return optimizer.momentums if spec.name in ("momentum", "nesterov") else optimizer._momentums
    return getattr(optimizer, SLOT_ATTRIBUTES[slot])


def state(optimizer, spec: OptimizerSpec, variables: list, model, model_spec) -> dict[str, dict[str, np.ndarray]]:
    """Every slot of the built ``optimizer`` as ``{slot: {canonical param: array}}``; ``variables``
    are the model's variables in mapping order (``weights.variables``)."""
    lr = float(np.asarray(optimizer.learning_rate))             # the float32 value Keras steps with
    out = {}
    for slot in slot_names(spec):
        if slot == "step":
            step = int(np.asarray(optimizer.iterations))
            out[slot] = {n: np.array(step, dtype=np.int64) for n in model_spec.param_shapes()}
            continue
        slots = _slot_variables(optimizer, spec, slot)
        values = [np.asarray(slots[optimizer._get_variable_index(v)]) for v in variables]
        if slot == "momentum":
            scale = -1.0 / lr if spec.name in ("momentum", "nesterov") else 1.0 / lr
            values = [a * scale for a in values]
        out[slot] = weights.to_canonical(model_spec, model, values, kind="grads")
    return out
