"""Each model's loss, checked against its framework's OWN loss function applied to that
framework's OWN logits -- written out here, sharing nothing with the models but the data.

The parity tests compare the frameworks with each other, so code that all three share can be
wrong in all three at once: making the shared ``takes_logits`` false for the binary
cross-entropy (every framework computing BCE on ``sigmoid(u)``) left NumPy and torch agreeing on
the wrong loss. Here, for every case and each framework, the loss the adapter reports
(``loss_and_grads(...).loss``, what the parity tests compare) must equal:

    torch   F.mse_loss / F.cross_entropy / F.binary_cross_entropy_with_logits on the torch
            model's ``logits(x)`` (the notes' 1/2 sum of squares, which torch lacks, inline)
    Keras   keras.losses.MeanSquaredError / (Sparse)CategoricalCrossentropy /
            BinaryCrossentropy, ``from_logits=True`` and the model's dtype, on the Keras model's
            ``logits(x)``
    NumPy   the textbook formulas inline (BCE as -mean(d log s + (1 - d) log(1 - s))) on the
            NumPy model's logits (``cache["logits"]``)

and for seq2seq, the cross-entropy averaged over the real (non-padding) target tokens:
``F.cross_entropy(ignore_index=pad)``, ``SparseCategoricalCrossentropy(ignore_class=pad)``, inline.

The output activation that the squared errors read (identity or sigmoid) is applied here
with the framework's own function. Tolerance 1e-12 relative in float64: each pair computes the
same function in the same framework on the same logits (measured: torch and Keras
bit-identical, NumPy's inline formulas within 1.6e-16); a
convention bug moves the loss by >= 1e-8 (a float32 cast) or O(1) (logits vs
probabilities, a missing 1/2, swapped arguments).
"""

from __future__ import annotations

import impl_tf  # noqa: F401  (selects the TensorFlow backend before keras is imported)

# isort: split
import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
import torch.nn.functional as F

from reference_numpy.cases import CASES, REG_CASES
from reports.harness import case_adapter, make_adapter, run_case

RTOL = 1e-12
FRAMEWORKS = ("numpy", "torch", "keras")


def numpy_own_loss(spec, u: np.ndarray, d: np.ndarray) -> float:
    """The textbook formulas on NumPy logits ``u`` (N, K) or (N, T, K)."""
    n = u.shape[0]
    if spec.loss == "softmax_cross_entropy":
        onehot = np.eye(u.shape[-1])[d] if np.issubdtype(d.dtype, np.integer) else d       # (N, K)
        log_p = u - np.log(np.sum(np.exp(u - u.max(axis=-1, keepdims=True)), axis=-1, keepdims=True)) \
            - u.max(axis=-1, keepdims=True)                                                 # log softmax
        return float(-np.sum(onehot * log_p) / n)
    s = 1.0 / (1.0 + np.exp(-u))                                                           # sigmoid
    if spec.loss == "sigmoid_binary_cross_entropy":
        return float(-np.mean(d * np.log(s) + (1.0 - d) * np.log(1.0 - s)))
    y = {"identity": u, "sigmoid": s}[spec.output]
    if spec.loss == "mse":
        return float(np.mean((y - d) ** 2))
    assert spec.loss == "half_sse", spec.loss
    return float(0.5 * np.sum((y - d) ** 2) / n)


def torch_own_loss(spec, u: torch.Tensor, d: torch.Tensor) -> float:
    if spec.loss == "softmax_cross_entropy":
        return F.cross_entropy(u, d).item()                     # int64 labels or probability rows
    if spec.loss == "sigmoid_binary_cross_entropy":
        return F.binary_cross_entropy_with_logits(u, d).item()
    y = {"identity": u, "sigmoid": torch.sigmoid(u)}[spec.output]
    if spec.loss == "mse":
        return F.mse_loss(y, d).item()
    assert spec.loss == "half_sse", spec.loss
    return (0.5 * torch.sum((y - d) ** 2) / y.shape[0]).item()


def keras_own_loss(spec, u, d, dtype: str) -> float:
    if spec.loss == "softmax_cross_entropy":
        loss = (keras.losses.SparseCategoricalCrossentropy if "int" in str(d.dtype)
                else keras.losses.CategoricalCrossentropy)(from_logits=True, dtype=dtype)
        return float(loss(d, u))
    if spec.loss == "sigmoid_binary_cross_entropy":
        return float(keras.losses.BinaryCrossentropy(from_logits=True, dtype=dtype)(d, u))
    y = {"identity": u, "sigmoid": keras.activations.sigmoid(u)}[spec.output]
    if spec.loss == "mse":
        return float(keras.losses.MeanSquaredError(dtype=dtype)(d, y))
    assert spec.loss == "half_sse", spec.loss
    return float(0.5 * keras.ops.sum(keras.ops.square(y - d)) / y.shape[0])


def seq2seq_own_loss(framework: str, spec, logits, tgt, dtype: str) -> float:
    """The masked softmax cross-entropy of a seq2seq model: the mean over the real target tokens
    (``tgt != pad``) of ``logsumexp(logits) - logits[tgt]``."""
    if framework == "numpy":
        real = tgt != spec.pad_id                                                      # (N, T)
        m = logits.max(axis=-1, keepdims=True)
        log_p = logits - m - np.log(np.sum(np.exp(logits - m), axis=-1, keepdims=True))   # (N, T, V)
        picked = np.take_along_axis(log_p, tgt[..., None], axis=-1)[..., 0]           # (N, T)
        return float(-np.sum(picked[real]) / np.count_nonzero(real))
    if framework == "torch":
        return F.cross_entropy(logits.flatten(0, 1), tgt.flatten(), ignore_index=spec.pad_id).item()
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=spec.pad_id, dtype=dtype)
    return float(loss(tgt, logits))


def model_and_own_loss(case, framework: str, dtype: str = "float64") -> tuple[float, float]:
    """``(the model's loss, the framework's own loss on the model's own logits)`` for one case.
    The model's loss is the one the parity tests compare (``harness.run_case``, cached, so the
    parity tests reuse it); the logits come from the model of the same adapter, through the framework
    model's own ``logits`` (a seq2seq model's output is its teacher-forced logits)."""
    x, target, _ = case.batch_data(dtype)
    state = case.initial_state(dtype)
    model_loss = float(run_case(case.name, framework, dtype)["loss"])
    model = case_adapter(case.name, framework, dtype).model          # the adapter run_case used (shared)
    seq2seq = case.family == "seq2seq"
    if framework == "numpy":
        if seq2seq:
            return model_loss, seq2seq_own_loss("numpy", case.spec, model.forward(x, target)[0], target, dtype)
        _, cache = model.forward(x, state)
        return model_loss, numpy_own_loss(case.spec, cache["logits"], target)
    if framework == "torch":
        with torch.no_grad():
            if seq2seq:
                logits = model(torch.tensor(x), torch.tensor(target))
                return model_loss, seq2seq_own_loss("torch", case.spec, logits, torch.tensor(target), dtype)
            u = model.logits(torch.tensor(x), None if state is None else {n: torch.tensor(a) for n, a in state.items()})
        return model_loss, torch_own_loss(case.spec, u, torch.tensor(target))
    assert framework == "keras", framework
    if seq2seq:
        logits = model(tf.constant(x), tf.constant(target))
        return model_loss, seq2seq_own_loss("keras", case.spec, logits, tf.constant(target), dtype)
    u = model.logits(tf.constant(x), None if state is None else {n: tf.constant(a) for n, a in state.items()})
    return model_loss, keras_own_loss(case.spec, u, tf.constant(target), dtype)


def assert_own_loss(case, framework: str, dtype: str = "float64") -> None:
    model_loss, own = model_and_own_loss(case, framework, dtype)
    rel = abs(model_loss - own) / max(abs(own), abs(model_loss))
    assert rel <= RTOL, (f"{case.name} [{framework}, {case.spec.loss}]: the model's loss {model_loss!r} is not "
                         f"the framework's own {case.spec.loss} on its logits, {own!r} (rel. error {rel:.2e})")


def assert_own_loss_everywhere(case, dtype: str = "float64") -> None:
    """``assert_own_loss`` in every framework, reporting every framework that disagrees."""
    failures = []
    for framework in FRAMEWORKS:
        try:
            assert_own_loss(case, framework, dtype)
        except AssertionError as e:
            failures.append(str(e))
    assert not failures, "\n".join(failures)


# The regularization cases add a penalty to the loss and run in a mode with loaded running statistics:
# test_regularization.py checks their loss against each framework's own loss and own penalty.
OWN_LOSS_CASES = [c for c in CASES if c not in REG_CASES]


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("case", OWN_LOSS_CASES, ids=[c.name for c in OWN_LOSS_CASES])
def test_model_loss_is_the_frameworks_own_loss_on_its_logits(case, framework):
    assert_own_loss(case, framework)


def test_every_loss_and_head_is_covered():
    """The check above sees every loss, both squared-error heads and both label kinds."""
    heads = {(c.spec.loss, c.spec.output) for c in CASES if c.family != "seq2seq"}
    assert heads == {("mse", "identity"), ("mse", "sigmoid"), ("half_sse", "identity"),
                     ("softmax_cross_entropy", "softmax"), ("sigmoid_binary_cross_entropy", "sigmoid")}
    labels = {c.batch_data()[1].dtype.kind for c in CASES
              if c.spec.loss == "softmax_cross_entropy" and c.family != "seq2seq"}
    assert labels == {"i", "f"}


def test_logits_are_not_the_output():
    """Guard: for the heads with an output activation, logits and output differ -- so a loss
    read from the wrong one would show. (Identity heads are checked through their values.)"""
    case = next(c for c in CASES if c.spec.loss == "sigmoid_binary_cross_entropy")
    x, _, _ = case.batch_data()
    adapter = make_adapter("numpy", case.spec, case.params())
    y, cache = adapter.model.forward(x)
    assert np.max(np.abs(y - cache["logits"])) > 0.1
