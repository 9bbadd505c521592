"""Activations by the canonical names of ``reference_numpy/activations.py``, as Keras has them.

``keras.activations.sigmoid`` is the true logistic function (not a hard sigmoid);
``softmax`` normalizes over the last axis.
"""

import keras

ACTIVATIONS = {
    "sigmoid": keras.activations.sigmoid,
    "tanh": keras.activations.tanh,
    "relu": keras.activations.relu,
    "identity": keras.activations.linear,
    "softmax": keras.activations.softmax,
}


def get(name: str):
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]
