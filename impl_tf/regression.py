"""Linear and polynomial regression as Keras models; mirrors ``reference_numpy/regression.py``.

Shape legend: N batch, D input features, P degree, F = D or P*D features, K outputs.

    phi = x                             (N, D)     LinearRegression
    phi = [x, x**2, ..., x**P]          (N, P*D)   PolynomialRegression (power-major)
    y   = phi @ W + b                   (N, K)     ``self.dense``, a Dense (kernel = W)
"""

import keras
from keras import ops

from impl_tf.model import Model
from reference_numpy.model import no_initial_state


class LinearRegression(Model):
    def __init__(self, spec, dtype="float64"):
        super().__init__(spec, dtype=dtype)
        self.dense = keras.layers.Dense(spec.out_features, dtype=dtype, name="dense")

    def features(self, x):
        return x                                                        # (N, D)

    def logits(self, x, initial_state=None):
        no_initial_state(self.spec, initial_state)
        return self.dense(self.features(x))                             # (N, K)


class PolynomialRegression(LinearRegression):
    def features(self, x):
        powers = ops.arange(1, self.spec.degree + 1, dtype=x.dtype)        # (P,)
        phi = ops.power(x[:, None, :], powers[None, :, None])              # (N, P, D)
        return ops.reshape(phi, (ops.shape(x)[0], -1))                     # (N, P*D)
