"""Training curves for the report: the per-step losses of the training runs, in the long format
``training.csv`` holds them in::

    task, family, framework, optimizer, step, loss, metric, value

one row per (task, framework, optimizer, step): ``loss`` is what the ``step``-th ``train_step``
returned, the loss before its update (step 1: at the initial weights); ``metric`` / ``value`` name an extra per-step
measure (empty here: the SGD trajectories record the loss only). ``figures.training_curves``
reads exactly these columns, so rows written by other training runs in this format are plotted
the same way.

``recording(sink)`` collects the curves of the runs ``reports.training.trajectory_rows`` makes
while it compares them (it wraps ``training.train`` for the duration of the block, so nothing is
trained twice); the trajectory rows themselves hold only the errors between frameworks.
"""

from __future__ import annotations

import contextlib

import numpy as np

from reports import training

CURVE_COLUMNS = ("task", "family", "framework", "optimizer", "step", "loss", "metric", "value")


def optimizer_label(optimizer) -> str:
    """``sgd lr=0.125`` (``, clip_norm=0.25 eps=1e-06`` with clipping)."""
    label = f"{optimizer.name} lr={optimizer.lr:g}"
    if optimizer.clip_norm is not None:
        label += f", clip_norm={optimizer.clip_norm:g} eps={optimizer.clip_eps:g}"
    return label


@contextlib.contextmanager
def recording(sink: list[dict], task: str, family: str, dtype: str):
    """Inside the block, every ``training.train`` call appends its loss curve to ``sink`` as
    ``CURVE_COLUMNS`` rows (plus ``dtype``)."""
    original = training.train

    def train(framework, spec, params, batches, optimizer, dtype_=dtype):
        result = original(framework, spec, params, batches, optimizer, dtype_)
        label = optimizer_label(optimizer)
        sink.extend({"task": task, "family": family, "framework": framework, "optimizer": label,
                     "step": step, "loss": float(loss), "metric": "", "value": np.nan, "dtype": dtype_}
                    for step, loss in enumerate(result.losses, start=1))
        return result

    training.train = train
    try:
        yield sink
    finally:
        training.train = original
