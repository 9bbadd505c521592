"""Pins two conventions of the README table that no other test pinned directly
(``reports/conventions.py`` names these tests as their pins):

* cross-entropy from logits: torch's ``F.cross_entropy`` takes logits with int labels or
  probability rows; Keras takes logits only with ``from_logits=True`` (``Sparse...`` for int
  labels); the binary cross-entropy likewise (``binary_cross_entropy_with_logits`` /
  ``BinaryCrossentropy(from_logits=True)``). Fed logits without ``from_logits``, Keras treats
  them as probabilities and computes something else.
* initializers: the notes' (and ``reference_numpy/initializers.py``'s) Xavier is N(0, 1/fan_in)
  and He N(0, 2/fan_in), untruncated; Keras's ``glorot_normal`` has variance 2/(fan_in + fan_out)
  and ``he_normal`` 2/fan_in, both truncated at two standard deviations of the underlying normal.

Tolerances: the loss values agree to 1e-15 relative in float64 (one log-sum-exp each; measured
<= 2e-16), a wrong reading of logits is off by O(1). The initializer checks use 40,000 draws:
the sample standard deviation's relative standard error is 1/sqrt(2 * 40000) = 0.35%, so 2%
is ~6 standard errors; the truncation bound is exact (Keras clips at 2 sigma).
"""

import impl_tf  # noqa: F401  (sets KERAS_BACKEND=tensorflow before keras is imported)

# isort: split
import keras
import numpy as np
import torch
import torch.nn.functional as F

from reference_numpy import losses as np_losses
from reference_numpy.initializers import init_params
from reference_numpy.specs import MLPSpec

SAME = 1e-15
STD_RTOL = 0.02
#: Keras's truncated normal: stddev = sqrt(variance) / TRUNCATION, cut at 2 stddev.
TRUNCATION = 0.87962566103423978


def test_cross_entropy_from_logits_in_both_with_int_or_probability_targets():
    rng = np.random.default_rng(0)
    u = 3.0 * rng.standard_normal((6, 4))                     # logits
    labels = rng.integers(0, 4, size=6)
    onehot = np.eye(4)[labels]
    reference = np_losses.softmax_cross_entropy(u, labels)
    torch_int = F.cross_entropy(torch.tensor(u), torch.tensor(labels)).item()
    torch_prob = F.cross_entropy(torch.tensor(u), torch.tensor(onehot)).item()
    keras_sparse = float(keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype="float64")(labels, u))
    keras_dense = float(keras.losses.CategoricalCrossentropy(from_logits=True, dtype="float64")(onehot, u))
    for value in (torch_int, torch_prob, keras_sparse, keras_dense):
        assert abs(value - reference) <= SAME * abs(reference)
    # without from_logits Keras reads the logits as (unnormalised) probabilities
    as_probs = float(keras.losses.CategoricalCrossentropy(dtype="float64")(onehot, u))
    assert abs(as_probs - reference) > 1e-2 * abs(reference)

    d = (rng.random((6, 4)) < 0.5).astype(np.float64)
    reference = np_losses.sigmoid_binary_cross_entropy(u, d)
    torch_bce = F.binary_cross_entropy_with_logits(torch.tensor(u), torch.tensor(d)).item()
    keras_bce = float(keras.losses.BinaryCrossentropy(from_logits=True, dtype="float64")(d, u))
    assert abs(torch_bce - reference) <= SAME * abs(reference)
    assert abs(keras_bce - reference) <= SAME * abs(reference)
    assert abs(float(keras.losses.BinaryCrossentropy(dtype="float64")(d, u)) - reference) > 1e-2 * reference


def test_notes_xavier_and_he_are_not_keras_glorot_and_he_normal():
    fan_in, fan_out = 400, 100
    spec = MLPSpec(fan_in, (), fan_out)
    for method, notes_std in (("xavier", 1 / np.sqrt(fan_in)), ("he", np.sqrt(2 / fan_in))):
        w = init_params(spec, 0, method)["W1"]                                  # (400, 100)
        assert abs(w.std() / notes_std - 1) < STD_RTOL, method
        assert np.max(np.abs(w)) > 3 * notes_std, method                       # not truncated
    for initializer, std in ((keras.initializers.GlorotNormal(seed=0), np.sqrt(2 / (fan_in + fan_out))),
                             (keras.initializers.HeNormal(seed=0), np.sqrt(2 / fan_in))):
        w = keras.ops.convert_to_numpy(initializer((fan_in, fan_out), dtype="float64"))
        assert abs(w.std() / std - 1) < STD_RTOL, type(initializer).__name__
        assert np.max(np.abs(w)) <= 2 * std / TRUNCATION, type(initializer).__name__   # truncated
    # Glorot's variance is not the notes' Xavier's (1/fan_in) for a non-square layer
    assert abs(np.sqrt(2 / (fan_in + fan_out)) / (1 / np.sqrt(fan_in)) - 1) > 10 * STD_RTOL
