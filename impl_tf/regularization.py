"""Regularization as a Keras user writes it: ``keras.layers.BatchNormalization``, ``keras.layers.Dropout``
(a subclass that can take an injected mask) and ``keras.regularizers.L1L2`` on every kernel, their
losses added to the loss as ``loss + sum(model.losses)``. Mirrors ``reference_numpy/regularization.py``
(the equations are there); ``keras.layers`` / ``keras.ops`` only, so it runs on every backend.

Keras specifics:

* ``BatchNormalization(momentum=k, epsilon=eps)``: Keras's ``k`` is the weight of the OLD average,
  ``moving = moving * k + batch * (1 - k)``, so ``k = 1 - spec.batch_norm.momentum`` (Keras's
  default 0.99 is the canonical 0.01; torch's 0.1 is Keras's 0.9). Training mode updates
  ``moving_variance`` with the BIASED batch variance (``ops.moments``) -- no option, so a spec with
  ``running_var="unbiased"`` cannot be trained here (``KerasAdapter.batch_norm_conventions``).
  The mode is the call argument ``training=``; the model passes ``self.train_mode`` (the adapter's
  mode) to every ``BatchNormalization`` and ``Dropout`` call, as a user passes ``model(x, training=True)``.
* ``Dropout(rate)`` scales kept units by 1 / (1 - rate) when called with ``training=True`` and is the
  identity otherwise; ``MaskedDropout`` uses a canonical keep-mask when one is given, the layer's own
  seed generator otherwise.
* ``regularizers.L1L2(l1, l2)`` is ``l1 * sum|W| + l2 * sum W**2`` -- no 1/2 -- so the canonical
  ``l2 / 2 * sum W**2`` is Keras's ``L1L2(l2=spec.l2 / 2)`` (the factor is pinned by
  ``parity_tests/test_regularization.py``); it is set as ``kernel_regularizer`` on every Dense and
  Conv2D (never a bias, gamma or beta). ``model.losses`` evaluates the regularizers on the current
  weights; ``model.fit`` adds them to the loss itself, a custom step (``objective``) adds them by hand.
"""

from __future__ import annotations

import keras

from impl_tf.model import Model
from reference_numpy.regularization import check_mask_fits


def batch_norm(spec, dtype, name: str, units: int, kind: str):
    """The Keras batch norm after a hidden ``kind`` ("dense" / "conv") layer of ``units`` channels
    (channels last: the channel axis is the last). Built here, on its known input shape, so that its
    variables hold concrete values whatever way the engine builds the rest of the model (the JAX
    engine builds under ``jax.eval_shape``, where a lazily built layer would keep traced buffers)."""
    bn = spec.batch_norm
    layer = keras.layers.BatchNormalization(axis=-1, momentum=1.0 - bn.momentum, epsilon=bn.eps, dtype=dtype,
                                            name=name)
    layer.build((None, units) if kind == "dense" else (None, None, None, units))
    return layer


def kernel_regularizer(spec):
    """``L1L2(l1, l2 / 2)`` when the spec has a penalty, else None (no regularizer at all)."""
    if not spec.penalized():
        return None
    return keras.regularizers.L1L2(l1=spec.l1, l2=spec.l2 / 2)


class MaskedDropout(keras.layers.Dropout):
    """``keras.layers.Dropout`` that multiplies by an injected keep-mask ``(N, units)``
    (``self.keep_mask``, set by the adapter) when called with ``training=True`` and there is one:
    ``x * mask * (1 / (1 - rate))``; otherwise ``Dropout`` itself (its own random mask in training,
    the identity in inference). ``canonical`` is the layer's canonical name (``dropoutk``)."""

    def __init__(self, rate: float, canonical: str, **kwargs):
        super().__init__(rate, **kwargs)
        self.canonical = canonical
        self.keep_mask = None                           # a NumPy bool array (N, units), or None

    def call(self, inputs, training=False):
        if not training or self.keep_mask is None:
            return super().call(inputs, training=training)
        check_mask_fits(self.canonical, self.keep_mask, inputs.shape)
        keep = keras.ops.cast(keras.ops.convert_to_tensor(self.keep_mask), inputs.dtype)
        return inputs * keep * (1.0 / (1.0 - self.rate))


class RegularizedModel(Model):
    """A Keras ``Model`` with a mode (``train_mode``, passed as ``training=`` to its batch norms and
    dropouts; inference at first) whose ``objective`` adds ``sum(self.losses)`` (the L1 / L2 penalty)."""

    def __init__(self, spec, dtype="float64", **kwargs):
        super().__init__(spec, dtype=dtype, **kwargs)
        self.train_mode = False

    def objective(self, x, d, initial_state=None):
        loss = super().objective(x, d, initial_state)
        return loss + sum(self.losses) if self.spec.penalized() else loss

    def set_dropout_masks(self, masks) -> None:
        """Give each ``MaskedDropout`` its canonical mask (``None``: its own seed generator)."""
        for layer in self._flatten_layers():
            if isinstance(layer, MaskedDropout):
                layer.keep_mask = None if masks is None else masks[layer.canonical]
