"""The model cases every framework is compared on (tests and report share this list).

A case is a spec plus everything needed to make its inputs reproducibly from a
seed: parameters (random weights *and* random nonzero biases -- zero biases hide
mapping bugs), a batch, a target, and a random upstream gradient for the
output's vector-Jacobian product (never ``sum()`` of the output: for a softmax
output that would give an all-zero gradient and prove nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference_numpy import data
from reference_numpy.initializers import init_params
from reference_numpy.specs import LinearRegressionSpec, MLPSpec, PolynomialRegressionSpec


@dataclass(frozen=True)
class Case:
    name: str
    spec: object
    seed: int
    batch: int = 8
    init: str = "xavier"
    inputs: str = "normal"          # "normal", "iris", "linear_task", "polynomial_task"
    labels: str = "onehot"          # softmax cross-entropy targets: "int" or "onehot"

    @property
    def family(self) -> str:
        return self.spec.family

    def params(self, dtype="float64") -> dict[str, np.ndarray]:
        return init_params(self.spec, self.seed, self.init, bias="normal", bias_std=0.5, dtype=dtype)

    def batch_data(self, dtype="float64"):
        """``(x, target, upstream)`` for this case, made in float64 and cast once."""
        rng = np.random.default_rng(self.seed + 1)
        spec, n = self.spec, self.batch
        if self.inputs == "iris":
            xs, ys = data.iris()
            idx = rng.choice(len(xs), size=n, replace=False)
            x, labels = xs[idx], ys[idx]
        elif self.inputs == "linear_task":
            x, d = data.linear_task(self.seed, n)
        elif self.inputs == "polynomial_task":
            x, d = data.polynomial_task(self.seed, n)
        else:
            x = rng.standard_normal((n, spec.in_features))
        k = spec.out_features
        if spec.loss == "softmax_cross_entropy":
            if self.inputs != "iris":
                labels = rng.integers(0, k, size=n)
            target = labels.astype(np.int64) if self.labels == "int" else np.eye(k)[labels]
        elif spec.loss == "sigmoid_binary_cross_entropy":
            target = (rng.random((n, k)) < 0.5).astype(np.float64)
        elif self.inputs in ("linear_task", "polynomial_task"):
            target = d
        else:
            target = rng.standard_normal((n, k))
        upstream = rng.standard_normal((n, k))
        cast = lambda a: a if np.issubdtype(a.dtype, np.integer) else a.astype(dtype)  # noqa: E731
        return cast(x), cast(target), cast(upstream)


def _mlp(name, activation, head, seed, hidden=(16, 12), labels="onehot", inputs="normal", batch=8):
    output, loss, k = {
        "ce": ("softmax", "softmax_cross_entropy", 3),
        "mse": ("identity", "mse", 2),
        "half_sse": ("identity", "half_sse", 2),
        "bce": ("sigmoid", "sigmoid_binary_cross_entropy", 2),
        "sigmoid_mse": ("sigmoid", "mse", 2),
    }[head]
    spec = MLPSpec(in_features=4, hidden=hidden, out_features=k, activation=activation,
                   output=output, loss=loss)
    return Case(name, spec, seed, batch=batch, labels=labels, inputs=inputs)


CASES: tuple[Case, ...] = (
    _mlp("mlp_relu_ce_iris", "relu", "ce", 1, labels="int", inputs="iris"),
    _mlp("mlp_sigmoid_ce", "sigmoid", "ce", 2, hidden=(10, 8, 6)),
    _mlp("mlp_tanh_ce", "tanh", "ce", 3, labels="int"),
    _mlp("mlp_relu_mse", "relu", "mse", 4),
    _mlp("mlp_sigmoid_mse", "sigmoid", "mse", 5),
    _mlp("mlp_tanh_mse", "tanh", "mse", 6, hidden=(9, 7, 5)),
    _mlp("mlp_sigmoid_half_sse", "sigmoid", "half_sse", 7),
    _mlp("mlp_tanh_bce", "tanh", "bce", 8),
    _mlp("mlp_relu_sigmoid_mse", "relu", "sigmoid_mse", 9, batch=1),
    Case("linear_regression", LinearRegressionSpec(1, 1, "mse"), 10, batch=16, inputs="linear_task"),
    Case("linear_regression_multi", LinearRegressionSpec(3, 2, "half_sse"), 11, batch=8),
    Case("polynomial_regression_cubic", PolynomialRegressionSpec(1, 1, "mse", degree=3), 12,
         batch=16, inputs="polynomial_task"),
    Case("polynomial_regression_multi", PolynomialRegressionSpec(2, 2, "half_sse", degree=2), 13,
         batch=8),
)

CASES_BY_NAME = {case.name: case for case in CASES}
