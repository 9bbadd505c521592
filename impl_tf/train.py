"""Keras training loops as Keras users write them: ``model.fit`` and a compiled train step.

``KerasAdapter.fit(batches, loop=...)`` runs one of (``"eager"``, the engine's tape +
``apply_gradients`` op by op, is the third; on JAX the engine's step is one ``jax.jit`` program)::

    "fit"       model.compile(optimizer, loss, metrics=[BatchLoss]); model.fit(PyDataset(batches),
                epochs=1, shuffle=False, verbose=0, callbacks=[...])       (any Keras backend)
    "compiled"  @tf.function                                                 (TensorFlow backend)
                def train_step(x, d):
                    with tf.GradientTape() as tape:
                        loss = model.objective(x, d)
                    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
                    return loss

``adapter.train_step`` runs the ``"compiled"`` step on TensorFlow (traced once per optimizer and
training mode; the divergence check's copy of the variables and its finiteness test run inside the
same graph) and the ``"eager"`` one on JAX and torch.

Both take the batches in the order given (``reference_numpy.data.batches``: one seeded NumPy source
for every framework) with the adapter's optimizer (``set_optimizer``), so they take the same steps
as NumPy's and torch's loops.

What ``model.fit`` needs that the adapter's models do not have:

* a model whose output is what the loss reads: the logits for the cross-entropies (computed
  ``from_logits``), the output otherwise -- ``FitModel`` wraps the model (same variables);
* a loss in the model's dtype: a ``keras.losses.Loss`` casts to its own dtype, floatx (float32)
  unless told -- ``ObjectiveLoss`` wraps the model's own loss function with the model's dtype;
* the loss of every step: fit's ``logs["loss"]`` is the running mean over the epoch, kept in
  floatx (float32: compile's loss container casts every loss value to floatx), so a float64 run
  cannot be read from it -- ``BatchLoss`` is a metric in the model's dtype that holds the loss of
  the last batch (computed in fit's train step from the same prediction, before the update). The
  float32 cast does not reach the gradients (the derivative of a cast is exact): fit's steps equal
  the compiled step's bit for bit (``parity_tests/test_trajectories.py``);
* the suite's divergence check: ``Steps`` (a callback) checks the loss and the parameters after
  every step, restores the parameters of a step that went non-finite and raises the adapter's
  ``FloatingPointError`` naming the step; it also drives the tqdm bar (fit runs with verbose=0).

``jit_compile=False``: XLA fuses and reorders floating-point work, which is not how the other
loops compute; fit's own graph (``tf.function`` on TensorFlow) is kept.
"""

from __future__ import annotations

import keras
import numpy as np

from impl_tf.model import BuiltOnFirstCall
from reference_numpy.losses import takes_logits


class FitModel(BuiltOnFirstCall, keras.Model):
    """The adapter's model with the output the loss reads (logits for a cross-entropy)."""

    def __init__(self, model, **kwargs):
        super().__init__(dtype=model.dtype_policy, **kwargs)
        self.inner = model
        self.logits = takes_logits(model.spec.loss)

    def call(self, x):
        return self.inner.logits(x) if self.logits else self.inner(x)


class ObjectiveLoss(keras.losses.Loss):
    """The model's loss function ``loss_fn(d, y)`` (a scalar), in the model's dtype."""

    def __init__(self, loss_fn, dtype):
        super().__init__(name="objective", reduction="sum_over_batch_size", dtype=dtype)
        self.loss_fn = loss_fn

    def __call__(self, y_true, y_pred, sample_weight=None):
        # not Loss.__call__, which casts y_true to the loss's dtype (int labels -> float64)
        return self.loss_fn(y_true, y_pred)

    def call(self, y_true, y_pred):
        return self.loss_fn(y_true, y_pred)


class BatchLoss(keras.metrics.Metric):
    """The loss of the last batch, in the model's dtype (fit's own ``loss`` log is an epoch mean in floatx)."""

    def __init__(self, loss_fn, dtype):
        super().__init__(name="batch_loss", dtype=dtype)
        self.loss_fn = loss_fn
        self.value = self.add_variable(shape=(), initializer="zeros", dtype=dtype, name="value")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.value.assign(keras.ops.cast(self.loss_fn(y_true, y_pred), self.dtype))

    def result(self):
        return keras.ops.convert_to_tensor(self.value)     # a tensor, not the Variable (JAX traces this)

    def reset_state(self):
        self.value.assign(keras.ops.zeros((), dtype=self.dtype))


class Batches(keras.utils.PyDataset):
    """The precomputed batches, in order (one worker, no shuffling)."""

    def __init__(self, batches):
        super().__init__(workers=1, use_multiprocessing=False)
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, i):
        return self.batches[i]


class Steps(keras.callbacks.Callback):
    """Per-step loss, divergence check and progress bar for ``model.fit``."""

    def __init__(self, adapter, bar):
        super().__init__()
        self.adapter, self.bar, self.losses, self.before = adapter, bar, [], None

    def _sync(self):
        """On JAX, fit keeps the variables' values in its own state during an epoch (the variables
        are emptied); ``jax_state_sync`` writes them back so they can be read (and restored)."""
        if hasattr(self.model, "jax_state_sync"):
            self.model.jax_state_sync()

    def on_train_begin(self, logs=None):
        self._sync()
        self.before = self.adapter.get_params()

    def on_train_batch_end(self, batch, logs=None):
        adapter = self.adapter
        loss = float(np.asarray(logs["batch_loss"]))
        self._sync()
        after = adapter.get_params()
        bad = [n for n, a in after.items() if not np.all(np.isfinite(a))]
        if not np.isfinite(loss) or bad:
            adapter._set_params(self.before)
            raise adapter._diverged(adapter._steps + 1, loss, bad)
        adapter._steps += 1
        self.losses.append(loss)
        self.before = after                          # nothing changes the parameters until the next step
        self.bar.update()


def fit(adapter, batches, bar) -> list[float]:
    """``model.fit`` over ``batches`` with ``adapter``'s model and optimizer; the loss before each step."""
    model, dtype = adapter.model, adapter.dtype.name
    wrapper = FitModel(model)
    wrapper.compile(optimizer=adapter.optimizer, loss=ObjectiveLoss(model.loss_fn, dtype),
                    metrics=[BatchLoss(model.loss_fn, dtype)], jit_compile=False)
    steps = Steps(adapter, bar)
    wrapper.fit(Batches(batches), epochs=1, shuffle=False, verbose=0, callbacks=[steps])
    return steps.losses


def compiled_step(adapter):
    """``step(x, d) -> (loss, finite, before)`` as one ``tf.function`` (the TensorFlow backend only):
    the loss before the update, whether every variable is finite after it, and the variables'
    values before it (for the adapter's divergence check to restore), all computed in the graph."""
    if keras.backend.backend() != "tensorflow":
        raise ValueError(f"the 'compiled' loop is a tf.function; this process runs Keras on "
                         f"{keras.backend.backend()!r} (use loop='fit' or 'eager')")
    import tensorflow as tf

    from impl_tf.engine_tf import dense_gradients

    model, variables, optimizer = adapter.model, adapter.variables, adapter.optimizer

    @tf.function(reduce_retracing=True, jit_compile=False)
    def train_step(x, d):
        before = [tf.identity(v.value) for v in variables]
        with tf.GradientTape() as tape:
            loss = model.objective(x, d)
        # an Embedding's IndexedSlices made dense: see engine_tf.dense_gradients
        optimizer.apply_gradients(zip(dense_gradients(tape.gradient(loss, variables)), variables))
        # (read after the update: tf.function runs stateful operations in program order)
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(v.value)) for v in variables])
        return loss, finite, before

    return lambda x, d: train_step(tf.constant(x), tf.constant(d))
