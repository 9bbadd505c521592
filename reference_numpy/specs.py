"""Model specs: the only way a model is described, in every framework.

A spec is a frozen dataclass that fixes sizes, activations and the loss. It also
defines the model's *canonical parameter layout* (``param_shapes``): the names
and shapes every framework package converts to and from. Row-vector math
throughout (``u = x @ W + b``, ``W`` is ``(in, out)``), as in the course notes
(``u = np.dot(x, W) + b``).

Names used in the layouts::

    MLP with hidden sizes (H1, ..., HL-1) and output K:
        W1 (D, H1)   b1 (H1,)   W2 (H1, H2)   b2 (H2,)   ...   WL (HL-1, K)   bL (K,)
    LinearRegression:            W (D, K)     b (K,)
    PolynomialRegression, degree P:
                                 W (P*D, K)   b (K,)    (features x, x**2, ..., x**P)
"""

from __future__ import annotations

from dataclasses import dataclass

#: Hidden-layer activations of an MLP. (``activations.py`` also has the notes' step
#: function; its derivative is 0 almost everywhere, so it cannot be trained or
#: compared by gradient and is not offered as a layer activation.)
HIDDEN_ACTIVATIONS = ("sigmoid", "relu", "tanh")
#: Output-layer activations.
OUTPUT_ACTIVATIONS = ("identity", "sigmoid", "softmax")
#: Losses. The two cross-entropies are computed from the logits (pre-activation).
LOSSES = ("mse", "half_sse", "softmax_cross_entropy", "sigmoid_binary_cross_entropy")
#: Which output activation a logit-based loss belongs to.
LOSS_NEEDS_OUTPUT = {
    "softmax_cross_entropy": "softmax",
    "sigmoid_binary_cross_entropy": "sigmoid",
}


def _choice(kind: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {kind} {value!r}; expected one of {', '.join(allowed)}")


def _positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _check_loss_head(loss: str, output: str) -> None:
    _choice("loss", loss, LOSSES)
    needed = LOSS_NEEDS_OUTPUT.get(loss)
    if needed is not None and output != needed:
        raise ValueError(f"loss {loss!r} is computed from logits and needs output={needed!r}, "
                         f"got output={output!r}")
    if output == "softmax" and loss != "softmax_cross_entropy":
        raise ValueError("output='softmax' is only paired with loss='softmax_cross_entropy' "
                         f"in this suite, got loss={loss!r}")


@dataclass(frozen=True)
class MLPSpec:
    """A fully connected network: ``in_features -> hidden... -> out_features``.

    Every hidden layer uses ``activation``; the last layer uses ``output``.
    """

    in_features: int
    hidden: tuple[int, ...]
    out_features: int
    activation: str = "relu"
    output: str = "softmax"
    loss: str = "softmax_cross_entropy"

    family = "mlp"
    model = "MLP"                 # the class name in reference_numpy, impl_torch and impl_tf

    def __post_init__(self):
        _positive_int("in_features", self.in_features)
        _positive_int("out_features", self.out_features)
        if not isinstance(self.hidden, tuple):
            raise ValueError(f"hidden must be a tuple of layer sizes, got {self.hidden!r}")
        for i, h in enumerate(self.hidden):
            _positive_int(f"hidden[{i}]", h)
        _choice("activation", self.activation, HIDDEN_ACTIVATIONS)
        _choice("output activation", self.output, OUTPUT_ACTIVATIONS)
        _check_loss_head(self.loss, self.output)

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.in_features, *self.hidden, self.out_features)

    @property
    def n_layers(self) -> int:
        return len(self.hidden) + 1

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {}
        for i, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:]), start=1):
            shapes[f"W{i}"] = (n_in, n_out)
            shapes[f"b{i}"] = (n_out,)
        return shapes


@dataclass(frozen=True)
class LinearRegressionSpec:
    """``y = x @ W + b`` with a squared-error loss (the notes' ``d = 3x + 2`` task)."""

    in_features: int = 1
    out_features: int = 1
    loss: str = "mse"

    family = "regression"
    model = "LinearRegression"
    output = "identity"

    def __post_init__(self):
        _positive_int("in_features", self.in_features)
        _positive_int("out_features", self.out_features)
        if self.loss not in ("mse", "half_sse"):
            raise ValueError(f"unknown regression loss {self.loss!r}; expected one of mse, half_sse")

    @property
    def n_features(self) -> int:
        return self.in_features

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"W": (self.n_features, self.out_features), "b": (self.out_features,)}


@dataclass(frozen=True)
class PolynomialRegressionSpec(LinearRegressionSpec):
    """``y = phi(x) @ W + b`` with ``phi(x) = [x, x**2, ..., x**degree]`` (power-major).

    The notes fit ``d = -0.4x^3 + 1.6x^2 - 2.8x + 1`` with features ``x**0..x**3``
    and no bias; here the bias ``b`` plays the role of the ``x**0`` column.
    """

    degree: int = 3

    model = "PolynomialRegression"

    def __post_init__(self):
        super().__post_init__()
        _positive_int("degree", self.degree)

    @property
    def n_features(self) -> int:
        return self.degree * self.in_features


@dataclass(frozen=True)
class OptimizerSpec:
    """A framework-neutral optimizer. Only plain (mini-batch) SGD so far:
    ``w <- w - lr * dL/dw``.

    Keras stores hyperparameters as float32 variables even for float64 models
    (``lr=0.1`` becomes ``0.10000000149011612``); matched float64 runs use a
    learning rate that float32 represents exactly (e.g. ``0.125``).
    """

    name: str = "sgd"
    lr: float = 0.125

    def __post_init__(self):
        _choice("optimizer", self.name, ("sgd",))
        if isinstance(self.lr, bool) or not isinstance(self.lr, float | int) or not 0 < self.lr < float("inf"):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")


ModelSpec = MLPSpec | LinearRegressionSpec | PolynomialRegressionSpec
