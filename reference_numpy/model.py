"""What every NumPy model shares: the output activation, the loss, and the path from the loss back
to the input -- the same steps under the same names as ``impl_torch/model.py`` and ``impl_tf/model.py``.

A model implements ``logits(x, initial_state=None) -> (u, cache)`` (``u`` the last layer's
pre-activation, the logits, also kept as ``cache["logits"]``; ``cache["final_state"]`` the recurrent
states after the last step -- an empty dict for a feed-forward model) and its hand-written backward
``logits_backward(du, cache) -> (dx, grads, dstate)``. From those two this class gives

    forward(x, s)             y = f_out(logits(x)), returned with the cache (``cache["y"] = y``)
    objective(x, d, s)        L, with the cross-entropies read from the logits u and the squared
                              errors from the output y; returned with the cache
and the backward of each (torch's autograd and Keras's GradientTape have none to write):
    backward(dy, cache)       the vector-Jacobian product of the output (a ``forward`` cache):
                              du = f_out'(u)^T dy, then ``logits_backward``
    objective_backward(d, cache)
                              dL/dx, dL/dparams and dL/d(initial state) (an ``objective`` cache)

Gradients are returned in the canonical layout (same names and shapes as the
parameters; ``dstate`` keyed like ``spec.state_shapes()``, empty for a
feed-forward model); nothing is written into an input array.

``input_grad=False`` (on ``logits_backward``, ``backward`` and ``objective_backward``) skips dL/dx,
returned as None: a training step needs only the parameters' gradients, so the first layer's
``du @ W.T`` (the CNN's col2im, the recurrent layer's ``dax @ Wx.T``) is work thrown away -- torch
and Keras skip it too, as the input is not a variable they differentiate. The parameter gradients
are the same either way (the same products on the same arrays).
"""

from __future__ import annotations

from reference_numpy import activations, losses
from reference_numpy.validation import check_dtype_name, check_params


def no_initial_state(spec, initial_state) -> None:
    if initial_state is not None:
        raise ValueError(f"{type(spec).__name__} is feed-forward and takes no initial_state")


class Model:
    def __init__(self, spec, params, dtype="float64"):
        self.spec = spec
        self.dtype = check_dtype_name(dtype)
        self.params = check_params(spec, params, self.dtype)
        self.output_activation, self.output_activation_backward = activations.get(spec.output)
        self.loss_fn, self.loss_fn_backward = losses.get(spec.loss)

    def logits(self, x, initial_state=None):
        raise NotImplementedError

    def logits_backward(self, du, cache, input_grad=True):
        raise NotImplementedError

    def forward(self, x, initial_state=None):
        u, cache = self.logits(x, initial_state)
        y = self.output_activation(u)                                     # (N, K) or (N, T, K)
        cache["y"] = y
        return y, cache

    def backward(self, dy, cache, input_grad=True):
        du = self.output_activation_backward(dy, cache["logits"], cache["y"])  # (N, K) or (N, T, K)
        return self.logits_backward(du, cache, input_grad)

    def _loss_input(self, cache):
        return cache["logits"] if losses.takes_logits(self.spec.loss) else cache["y"]

    def objective(self, x, d, initial_state=None):
        y, cache = self.forward(x, initial_state)
        return self.loss_fn(self._loss_input(cache), d), cache

    def objective_backward(self, d, cache, input_grad=True):
        dz = self.loss_fn_backward(self._loss_input(cache), d)        # (N, K) or (N, T, K)
        if losses.takes_logits(self.spec.loss):
            return self.logits_backward(dz, cache, input_grad)
        return self.backward(dz, cache, input_grad)
