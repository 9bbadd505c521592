"""What every NumPy model shares: the loss and the path from the loss back to the input.

A model implements ``forward(x, initial_state=None) -> (y, cache)``
(``cache["logits"]`` holds the last layer's pre-activation ``u``, ``cache["y"]``
the output, ``cache["final_state"]`` the recurrent states at the last step -- an
empty dict for a feed-forward model) and
``backward_logits(du, cache) -> (dx, grads, dstate)``. From those two this class gives

    backward(dy, cache)      the vector-Jacobian product of the output:
                             du = f_out'(u)^T dy, then backward_logits
    loss(x, d, initial_state=None)
                             L, with the cross-entropies read from the logits u
                             and the squared errors from the output y
    loss_backward(d, cache)  dL/dx, dL/dparams and dL/d(initial state)

Gradients are returned in the canonical layout (same names and shapes as the
parameters; ``dstate`` keyed like ``spec.state_shapes()``, empty for a
feed-forward model); nothing is written into an input array.
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
        self.output_forward, self.output_backward = activations.get(spec.output)
        self.loss_forward, self.loss_backward_fn = losses.get(spec.loss)

    def forward(self, x, initial_state=None):
        raise NotImplementedError

    def backward_logits(self, du, cache):
        raise NotImplementedError

    def backward(self, dy, cache):
        du = self.output_backward(dy, cache["logits"], cache["y"])    # (N, K) or (N, T, K)
        return self.backward_logits(du, cache)

    def _loss_input(self, cache):
        return cache["logits"] if losses.takes_logits(self.spec.loss) else cache["y"]

    def loss(self, x, d, initial_state=None):
        y, cache = self.forward(x, initial_state)
        return self.loss_forward(self._loss_input(cache), d), cache

    def loss_backward(self, d, cache):
        dz = self.loss_backward_fn(self._loss_input(cache), d)        # (N, K) or (N, T, K)
        if losses.takes_logits(self.spec.loss):
            return self.backward_logits(dz, cache)
        return self.backward(dz, cache)
