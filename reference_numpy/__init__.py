"""The canonical definition of every model: specs, parameter layout, NumPy layers
with hand-written backward passes, losses, optimizers, initializers, numerical
gradient checks, data sets and tasks. Imports neither torch nor TensorFlow."""

from reference_numpy.specs import LinearRegressionSpec, MLPSpec, OptimizerSpec, PolynomialRegressionSpec  # noqa: F401

__all__ = ["LinearRegressionSpec", "MLPSpec", "OptimizerSpec", "PolynomialRegressionSpec"]
