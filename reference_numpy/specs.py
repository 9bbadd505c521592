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
    CNN (layers numbered over the layers that have parameters, as the notes'
    SimpleConvNet: W1/b1 the conv layer, W2/b2 and W3/b3 the affine layers):
        conv l:   Wl (F, C, KH, KW)  bl (F,)      filters OIHW, images NCHW
        dense l:  Wl (in, out)       bl (out,)    the first dense layer reads the
                                                  NCHW features flattened in (C, H, W) order
    RecurrentNet (H hidden, gates stacked along the last axis in the order given):
        rnn:               Wx (D, H)    Wh (H, H)    b (H,)
        lstm (i, f, g, o): Wx (D, 4H)   Wh (H, 4H)   b (4H,)
        gru  (z, r, n), reset_after=True:  Wx (D, 3H)  Wh (H, 3H)  b (3H,)  bh (3H,)
        gru  (z, r, n), reset_after=False: Wx (D, 3H)  Wh (H, 3H)  b (3H,)
        bidirectional: the same again with the suffix ``_reverse`` (time-reversed direction)
        head:              W_out (H or 2H, K)  b_out (K,)
    MLP / CNN with ``batch_norm`` (regularization options, below): a hidden layer k (dense or
    conv) has no bias -- BatchNorm subtracts the batch mean, so a bias before it is redundant
    (its gradient is exactly 0 in training mode) -- and a scale and shift instead:
        Wk (in, out) or (F, C, KH, KW)   gammak (out,) or (F,)   betak (out,) or (F,)
    and non-trainable *buffers* (``buffer_shapes``): running_meank, running_vark, same shape.
    The output layer keeps its bias. E.g. MLP (D -> H1 -> H2 -> K) with batch_norm:
        W1 (D, H1) gamma1 (H1,) beta1 (H1,)  W2 (H1, H2) gamma2 beta2  W3 (H2, K) b3 (K,)

Every spec also says what its input looks like (``input_shape``, without the
batch axis; ``None`` = any length), what its output looks like
(``output_shape(x_shape)``) and which recurrent states it carries
(``state_shapes()``: empty for feed-forward models).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np

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


def _python_scalars(spec) -> None:
    """Turn NumPy scalars in a spec's fields (``np.int64(4)``, ``np.float32(0.125)``, ``np.bool_``,
    also inside tuples) into the Python ``int`` / ``float`` / ``bool`` they stand for, so the checks
    below and every framework see plain Python numbers (a float32 value converts exactly)."""
    def plain(v):
        if isinstance(v, np.bool_):
            return bool(v)
        if isinstance(v, np.integer):
            return int(v)
        if isinstance(v, np.floating):
            return float(v)
        if isinstance(v, tuple):
            return tuple(plain(u) for u in v)
        return v

    for f in fields(spec):
        value = getattr(spec, f.name)
        if plain(value) is not value:
            object.__setattr__(spec, f.name, plain(value))


def _positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _check_loss_head(loss: str, output: str, out_features: int | None = None) -> None:
    _choice("loss", loss, LOSSES)
    if loss == "softmax_cross_entropy" and out_features == 1:
        raise ValueError("softmax_cross_entropy needs out_features >= 2: a softmax over one class is "
                         "always 1, so the loss is always 0 and every gradient 0 (for one output "
                         "use output='sigmoid', loss='sigmoid_binary_cross_entropy')")
    needed = LOSS_NEEDS_OUTPUT.get(loss)
    if needed is not None and output != needed:
        raise ValueError(f"loss {loss!r} is computed from logits and needs output={needed!r}, "
                         f"got output={output!r}")
    if output == "softmax" and loss != "softmax_cross_entropy":
        raise ValueError("output='softmax' is only paired with loss='softmax_cross_entropy' "
                         f"in this suite, got loss={loss!r}")


# -- regularization options (MLPSpec, CNNSpec) ----------------------------------------

def _number(name: str, value, low: float, high: float, *, low_open: bool, high_open: bool, what: str) -> None:
    ok = (not isinstance(value, bool) and isinstance(value, float | int) and not math.isnan(value)
          and (low < value if low_open else low <= value) and (value < high if high_open else value <= high))
    if not ok:
        raise ValueError(f"{name} must be {what}, got {value!r}")


@dataclass(frozen=True)
class BatchNorm:
    """Batch normalization after each hidden affine / conv layer and before its activation (the
    notes' Affine -> BatchNorm -> ReLU), with every convention in which torch's ``nn.BatchNorm1d/2d``
    and Keras's ``BatchNormalization`` differ as an explicit field (equations in
    ``reference_numpy/regularization.py``):

    * ``momentum``: the weight of the NEW batch in the running averages -- torch's meaning::

          running = (1 - momentum) * running + momentum * batch statistic

      Keras's ``BatchNormalization(momentum=k)`` is the weight of the OLD average: ``k = 1 - momentum``.
      torch's default 0.1; Keras's default 0.99 is ``momentum = 1 - 0.99`` here. In (0, 1).
    * ``eps``: added to the variance under the square root (torch 1e-5, Keras 1e-3). Positive.
    * ``running_var``: how the batch variance enters the running variance. ``"unbiased"``: times
      n / (n - 1), n the values per channel in the batch (N for a dense layer, N*H*W for a conv
      layer) -- torch, no option; ``"biased"``: as it is -- Keras, no option. Training mode always
      normalizes the batch with the biased variance, in both. A framework refuses to enter training
      mode (``Adapter.train``) under the convention it does not run; inference never updates the
      running variance, so every framework runs either there.

    The defaults are torch's; ``BatchNorm.defaults("keras")`` gives Keras's.
    """

    momentum: float = 0.1
    eps: float = 1e-5
    running_var: str = "unbiased"

    RUNNING_VAR: ClassVar[tuple] = ("unbiased", "biased")
    #: Each framework's defaults (torch 2.13, Keras 3.15 signatures), in the canonical meaning.
    DEFAULTS: ClassVar[dict] = {"torch": {"momentum": 0.1, "eps": 1e-5, "running_var": "unbiased"},
                                "keras": {"momentum": 1 - 0.99, "eps": 1e-3, "running_var": "biased"}}

    def __post_init__(self):
        _python_scalars(self)
        _number("BatchNorm momentum", self.momentum, 0, 1, low_open=True, high_open=True,
                what="a number in (0, 1): the weight of the new batch in the running averages (torch's "
                     "meaning; Keras's momentum k is 1 - momentum)")
        _number("BatchNorm eps", self.eps, 0, math.inf, low_open=True, high_open=True,
                what="a positive finite number (added to the variance under the square root)")
        _choice("BatchNorm running_var", self.running_var, self.RUNNING_VAR)

    @classmethod
    def defaults(cls, framework: str, **overrides) -> BatchNorm:
        """``framework``'s (``"torch"`` or ``"keras"``) defaults and convention; ``overrides`` replace fields."""
        if framework not in cls.DEFAULTS:
            raise ValueError(f"unknown framework {framework!r}; expected torch or keras")
        return cls(**{**cls.DEFAULTS[framework], **overrides})


def _check_regularization(spec, where: str) -> None:
    """The options ``batch_norm``, ``dropout``, ``l1``, ``l2`` of an MLP / CNN spec; ``where`` names
    the layers they act on, for the error when there are none."""
    if spec.batch_norm is not None and not isinstance(spec.batch_norm, BatchNorm):
        raise ValueError(f"batch_norm must be None or a BatchNorm(momentum, eps, running_var), got {spec.batch_norm!r}")
    _number("dropout", spec.dropout, 0, 1, low_open=False, high_open=True,
            what="a rate in [0, 1): the probability of dropping a unit (1 would drop every unit)")
    for name in ("l1", "l2"):
        _number(name, getattr(spec, name), 0, math.inf, low_open=False, high_open=True,
                what="a non-negative finite number (the penalty's lambda)")
    if spec.batch_norm is not None and not spec.norm_layers():
        raise ValueError(f"batch_norm normalizes {where}; this {type(spec).__name__} has none")
    if spec.dropout and not spec.dropout_layers():
        raise ValueError(f"dropout acts after each hidden dense activation; this {type(spec).__name__} has "
                         "no hidden dense layer (hidden=())")


class Regularization:
    """What ``MLPSpec`` and ``CNNSpec`` share about their regularization options (fields
    ``batch_norm``, ``dropout``, ``l1``, ``l2``; defaults off). A subclass says which layers there
    are: ``_hidden_layers()`` -> ``[(k, kind, units)]`` for every layer followed by an activation
    (``kind`` "dense" or "conv"; ``k`` the number in its parameter names ``Wk``).

    * ``batch_norm``: a ``BatchNorm`` after every such layer, before its activation;
    * ``dropout``: inverted dropout with this rate after every hidden *dense* activation (the
      CNN's head; not after conv layers), named ``dropoutk``;
    * ``l1``, ``l2``: the penalty ``sum_k l1 * sum|Wk| + l2 / 2 * sum Wk**2`` over every weight
      matrix / filter ``Wk`` of the model (the output layer's included, as the book's
      ``MultiLayerNet.loss``), never a bias, gamma or beta -- the notes' lasso and ridge
      (``ridge`` adds ``rate * param`` to the gradient: the gradient of ``rate / 2 * ||W||^2``).
    """

    def _hidden_layers(self) -> list[tuple[str, str, int]]:
        raise NotImplementedError

    @property
    def regularized(self) -> bool:
        """Whether any regularization option is on."""
        return self.batch_norm is not None or bool(self.dropout) or bool(self.l1) or bool(self.l2)

    def norm_layers(self) -> dict[str, int]:
        """``k -> units`` of the layers a batch norm follows (every hidden dense and conv layer)."""
        return {k: units for k, _, units in self._hidden_layers()}

    def dropout_layers(self) -> dict[str, int]:
        """``k -> units`` of the hidden dense layers (where dropout acts when ``dropout > 0``)."""
        return {k: units for k, kind, units in self._hidden_layers() if kind == "dense"}

    def has_bias(self, k: str) -> bool:
        """Whether layer k has a bias ``bk`` (not when a batch norm follows it)."""
        return self.batch_norm is None or k not in self.norm_layers()

    def buffer_shapes(self) -> dict[str, tuple[int, ...]]:
        """The non-trainable buffers: ``running_meank``, ``running_vark`` (units,) per batch norm."""
        if self.batch_norm is None:
            return {}
        return {f"{stat}{k}": (units,) for k, units in self.norm_layers().items()
                for stat in ("running_mean", "running_var")}

    def buffer_conventions(self) -> dict[str, tuple[str, str]]:
        """Buffers whose training-mode update follows a convention a framework may not run:
        ``running_vark -> ("running_var", self.batch_norm.running_var)`` (``BatchNorm`` field, value)."""
        if self.batch_norm is None:
            return {}
        return {f"running_var{k}": ("running_var", self.batch_norm.running_var) for k in self.norm_layers()}

    def dropout_shapes(self) -> dict[str, tuple[int, ...]]:
        """Each dropout layer's mask shape per example: ``dropoutk -> (units,)``; the mask of a
        batch is ``(N, units)`` (empty without dropout)."""
        if not self.dropout:
            return {}
        return {f"dropout{k}": (units,) for k, units in self.dropout_layers().items()}

    def penalized(self) -> tuple[str, ...]:
        """The parameters the L1 / L2 penalty covers: every ``Wk`` (empty when l1 = l2 = 0)."""
        if not (self.l1 or self.l2):
            return ()
        return tuple(n for n in self.param_shapes() if n.startswith("W"))

    def _layer_shapes(self, k: str, weight: tuple[int, ...], units: int) -> dict[str, tuple[int, ...]]:
        """``Wk`` and either ``bk`` or ``gammak``, ``betak``."""
        if self.has_bias(k):
            return {f"W{k}": weight, f"b{k}": (units,)}
        return {f"W{k}": weight, f"gamma{k}": (units,), f"beta{k}": (units,)}


@dataclass(frozen=True)
class MLPSpec(Regularization):
    """A fully connected network: ``in_features -> hidden... -> out_features``.

    Every hidden layer uses ``activation``; the last layer uses ``output``. Regularization
    options (``Regularization``; defaults off): ``batch_norm``, ``dropout``, ``l1``, ``l2``.
    """

    in_features: int
    hidden: tuple[int, ...]
    out_features: int
    activation: str = "relu"
    output: str = "softmax"
    loss: str = "softmax_cross_entropy"
    batch_norm: BatchNorm | None = None
    dropout: float = 0.0
    l1: float = 0.0
    l2: float = 0.0

    family = "mlp"
    model = "MLP"                 # the class name in reference_numpy, impl_torch and impl_tf

    def __post_init__(self):
        _python_scalars(self)
        _positive_int("in_features", self.in_features)
        _positive_int("out_features", self.out_features)
        if not isinstance(self.hidden, tuple):
            raise ValueError(f"hidden must be a tuple of layer sizes, got {self.hidden!r}")
        for i, h in enumerate(self.hidden):
            _positive_int(f"hidden[{i}]", h)
        _choice("activation", self.activation, HIDDEN_ACTIVATIONS)
        _choice("output activation", self.output, OUTPUT_ACTIVATIONS)
        _check_loss_head(self.loss, self.output, self.out_features)
        _check_regularization(self, "the hidden layers")

    input_axes = ("N", "D")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.in_features,)

    def output_shape(self, x_shape) -> tuple[int, ...]:
        return (x_shape[0], self.out_features)

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        return {}

    def _hidden_layers(self) -> list[tuple[str, str, int]]:
        return [(str(l), "dense", h) for l, h in enumerate(self.hidden, start=1)]

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.in_features, *self.hidden, self.out_features)

    @property
    def n_layers(self) -> int:
        return len(self.hidden) + 1

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {}
        for i, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:]), start=1):
            shapes.update(self._layer_shapes(str(i), (n_in, n_out), n_out))
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
        _python_scalars(self)
        _positive_int("in_features", self.in_features)
        _positive_int("out_features", self.out_features)
        if self.loss not in ("mse", "half_sse"):
            raise ValueError(f"unknown regression loss {self.loss!r}; expected one of mse, half_sse")

    input_axes = ("N", "D")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.in_features,)

    def output_shape(self, x_shape) -> tuple[int, ...]:
        return (x_shape[0], self.out_features)

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        return {}

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
        _python_scalars(self)
        super().__post_init__()
        _positive_int("degree", self.degree)

    @property
    def n_features(self) -> int:
        return self.degree * self.in_features


# -- CNN -------------------------------------------------------------------------

#: Activations a conv layer may have ("identity" = none).
CONV_ACTIVATIONS = ("relu", "sigmoid", "tanh", "identity")


def _pair(name: str, value) -> tuple[int, int]:
    """An int or a pair of ints -> ``(rows, cols)``."""
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    if (not isinstance(pair, tuple) or len(pair) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) for v in pair)):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return pair


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Keras's ``padding="same"`` along one axis: ``out = ceil(size / stride)`` and the
    total padding ``max((out - 1) * stride + kernel - size, 0)`` is split with the odd
    extra pixel *after* (bottom / right). (TensorFlow's rule; torch's
    ``padding="same"`` agrees at stride 1 and refuses stride > 1.)"""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _window_output(axis: str, where: str, size: int, kernel: int, stride: int,
                   pads: tuple[int, int]) -> int:
    """Output length of a sliding window; a clear error when it does not fit."""
    padded = size + pads[0] + pads[1]
    if kernel > padded:
        raise ValueError(f"{where}: kernel {kernel} is larger than the padded input {axis} "
                         f"{padded} (= {size} + padding {pads[0]} + {pads[1]})")
    if (padded - kernel) % stride:
        dropped = (padded - kernel) % stride
        raise ValueError(f"{where}: stride {stride} does not fit the padded input {axis} {padded} "
                         f"with kernel {kernel}: (padded - kernel) % stride = {dropped}, so the last "
                         f"{dropped} row(s)/column(s) would be silently dropped; change the "
                         "stride, the padding or the input size")
    return (padded - kernel) // stride + 1


@dataclass(frozen=True)
class Conv2D:
    """A convolution (+ activation). ``padding`` is ``"valid"``, ``"same"`` (Keras's
    rule, see ``same_padding``), an int (that many zeros on every side), ``(ph, pw)``
    or ``((top, bottom), (left, right))``."""

    filters: int
    kernel: int | tuple[int, int]
    stride: int | tuple[int, int] = 1
    padding: str | int | tuple = "valid"
    activation: str = "relu"

    def __post_init__(self):
        _python_scalars(self)
        _positive_int("filters", self.filters)
        for name in ("kernel", "stride"):
            for v in _pair(name, getattr(self, name)):
                _positive_int(name, v)
        _choice("conv activation", self.activation, CONV_ACTIVATIONS)
        if isinstance(self.padding, str):
            _choice("padding", self.padding, ("valid", "same"))
        else:
            self.explicit_pads()

    @property
    def kernel_size(self) -> tuple[int, int]:
        return _pair("kernel", self.kernel)

    @property
    def strides(self) -> tuple[int, int]:
        return _pair("stride", self.stride)

    def explicit_pads(self) -> tuple[tuple[int, int], tuple[int, int]]:
        p = self.padding
        if isinstance(p, tuple) and len(p) == 2 and all(isinstance(q, tuple) for q in p):
            pads = (_pair("padding", p[0]), _pair("padding", p[1]))
        else:
            ph, pw = _pair("padding", p)
            pads = ((ph, ph), (pw, pw))
        for (before, after), k, axis in zip(pads, self.kernel_size, ("height", "width")):
            for v in (before, after):
                if v < 0 or v >= k:
                    raise ValueError(f"padding {self.padding!r} does not fit kernel {self.kernel_size}: "
                                     f"each {axis} pad must lie in [0, {k - 1}] (a pad >= the kernel "
                                     "gives windows that see only zeros)")
        return pads

    def pads(self, height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """``((top, bottom), (left, right))`` for an input of this size."""
        if self.padding == "valid":
            return (0, 0), (0, 0)
        if self.padding == "same":
            (kh, kw), (sh, sw) = self.kernel_size, self.strides
            return same_padding(height, kh, sh), same_padding(width, kw, sw)
        return self.explicit_pads()

    def output_shape(self, in_shape: tuple[int, int, int], where: str = "Conv2D") -> tuple[int, int, int]:
        _, h, w = in_shape
        (pt, pb), (pl, pr) = self.pads(h, w)
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        return (self.filters, _window_output("height", where, h, kh, sh, (pt, pb)),
                _window_output("width", where, w, kw, sw, (pl, pr)))


@dataclass(frozen=True)
class Pool2D:
    """Max or average pooling over ``size`` windows, ``stride`` = ``size`` unless given;
    no padding (the window must tile the input exactly)."""

    kind: str = "max"
    size: int | tuple[int, int] = 2
    stride: int | tuple[int, int] | None = None

    def __post_init__(self):
        _python_scalars(self)
        _choice("pooling", self.kind, ("max", "avg"))
        for v in self.pool_size:
            _positive_int("size", v)
        for v in self.strides:
            _positive_int("stride", v)

    @property
    def pool_size(self) -> tuple[int, int]:
        return _pair("size", self.size)

    @property
    def strides(self) -> tuple[int, int]:
        return self.pool_size if self.stride is None else _pair("stride", self.stride)

    def output_shape(self, in_shape: tuple[int, int, int], where: str = "Pool2D") -> tuple[int, int, int]:
        c, h, w = in_shape
        (kh, kw), (sh, sw) = self.pool_size, self.strides
        return (c, _window_output("height", where, h, kh, sh, (0, 0)),
                _window_output("width", where, w, kw, sw, (0, 0)))


@dataclass(frozen=True)
class CNNSpec(Regularization):
    """Conv / pooling layers on an NCHW image, then Flatten and a dense head.

    ``layers`` is a tuple of ``Conv2D`` and ``Pool2D``; the head has hidden sizes
    ``hidden`` (with ``activation``) and ``out_features`` outputs (with ``output``).
    The notes' simple conv net is ``(Conv2D(30, 5), Pool2D("max", 2))``, hidden
    ``(100,)`` -- conv-relu-pool-affine-relu-affine-softmax. Regularization options
    (``Regularization``; defaults off): ``batch_norm`` (after every conv layer, per channel, and
    every hidden dense layer), ``dropout`` (after every hidden dense activation), ``l1``, ``l2``.
    """

    in_channels: int
    height: int
    width: int
    layers: tuple
    hidden: tuple[int, ...]
    out_features: int
    activation: str = "relu"
    output: str = "softmax"
    loss: str = "softmax_cross_entropy"
    batch_norm: BatchNorm | None = None
    dropout: float = 0.0
    l1: float = 0.0
    l2: float = 0.0

    family = "cnn"
    model = "CNN"
    input_axes = ("N", "C", "H", "W")

    def __post_init__(self):
        _python_scalars(self)
        for name in ("in_channels", "height", "width", "out_features"):
            _positive_int(name, getattr(self, name))
        if not isinstance(self.layers, tuple) or not self.layers:
            raise ValueError(f"layers must be a non-empty tuple of Conv2D / Pool2D, got {self.layers!r}")
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Conv2D | Pool2D):
                raise ValueError(f"layers[{i}] must be a Conv2D or a Pool2D, got {layer!r}")
        if not isinstance(self.hidden, tuple):
            raise ValueError(f"hidden must be a tuple of layer sizes, got {self.hidden!r}")
        for i, h in enumerate(self.hidden):
            _positive_int(f"hidden[{i}]", h)
        _choice("activation", self.activation, HIDDEN_ACTIVATIONS)
        _choice("output activation", self.output, OUTPUT_ACTIVATIONS)
        _check_loss_head(self.loss, self.output, self.out_features)
        self.feature_shapes()          # raises if a kernel, stride or pad does not fit
        _check_regularization(self, "the conv layers and the hidden dense layers")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.height, self.width)

    def output_shape(self, x_shape) -> tuple[int, ...]:
        return (x_shape[0], self.out_features)

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        return {}

    def feature_shapes(self) -> list[tuple[int, int, int]]:
        """``(C, H, W)`` after each layer of ``layers``."""
        shape, shapes = self.input_shape, []
        for i, layer in enumerate(self.layers):
            shape = layer.output_shape(shape, where=f"layers[{i}] {type(layer).__name__} on input "
                                                    f"(C, H, W) = {shape}")
            shapes.append(shape)
        return shapes

    @property
    def flat_features(self) -> int:
        return math.prod(self.feature_shapes()[-1])

    @property
    def dense_sizes(self) -> tuple[int, ...]:
        return (self.flat_features, *self.hidden, self.out_features)

    def param_names(self) -> list[tuple[str, str, int]]:
        """``(kind, suffix, index)``: ``("conv", "1", i)`` for layers[i], ``("dense", "3", j)``
        for the j-th dense layer; ``W{suffix}`` / ``b{suffix}`` are its parameters."""
        out, n = [], 0
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Conv2D):
                n += 1
                out.append(("conv", str(n), i))
        for j in range(len(self.hidden) + 1):
            n += 1
            out.append(("dense", str(n), j))
        return out

    def _hidden_layers(self) -> list[tuple[str, str, int]]:
        last = len(self.hidden)                                   # the output layer's dense index
        return [(k, kind, self.layers[i].filters if kind == "conv" else self.dense_sizes[i + 1])
                for kind, k, i in self.param_names() if kind == "conv" or i < last]

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {}
        channels = [self.in_channels] + [s[0] for s in self.feature_shapes()]
        for kind, k, i in self.param_names():
            if kind == "conv":
                layer = self.layers[i]
                shapes.update(self._layer_shapes(k, (layer.filters, channels[i], *layer.kernel_size),
                                                 layer.filters))
            else:
                shapes.update(self._layer_shapes(k, (self.dense_sizes[i], self.dense_sizes[i + 1]),
                                                 self.dense_sizes[i + 1]))
        return shapes


# -- recurrent networks --------------------------------------------------------

CELLS = ("rnn", "lstm", "gru")
#: SimpleRNN activations (the notes' experiments); LSTM and GRU use tanh.
RNN_ACTIVATIONS = ("tanh", "relu", "sigmoid")
#: The gate order of every recurrent cell in the three frameworks, side by side: the order of the
#: gate blocks along the last axis of the canonical Wx, Wh, b (NumPy) and along the gate axis of
#: torch's ``weight_ih_l0`` etc. and Keras's ``kernel`` etc. Every entry is written with the
#: canonical letters; Keras's own source calls the LSTM candidate "c" and the GRU candidate "h"
#: (``KERAS_GATE_NAMES``), here g and n. Both ``weights.py`` read their order from this table
#: (``gate_order``) and permute the blocks by name. (The notes' second book orders LSTM f, g, i, o.)
#:
#:      cell       canonical = NumPy              torch                          Keras (c = g, h = n)
GATE_ORDERS = {
    "rnn":  {"numpy": ("h",),               "torch": ("h",),               "keras": ("h",)},
    "lstm": {"numpy": ("i", "f", "g", "o"), "torch": ("i", "f", "g", "o"), "keras": ("i", "f", "g", "o")},
    "gru":  {"numpy": ("z", "r", "n"),      "torch": ("r", "z", "n"),      "keras": ("z", "r", "n")},
}
#: Keras's own name of a canonical gate where the two differ (``keras.layers.LSTM`` / ``GRU`` source).
KERAS_GATE_NAMES = {"rnn": {}, "lstm": {"g": "c"}, "gru": {"n": "h"}}
#: Gate blocks, in the order they are stacked along the last axis of Wx, Wh, b.
GATES = {cell: orders["numpy"] for cell, orders in GATE_ORDERS.items()}


def gate_order(cell: str, framework: str) -> list[int]:
    """For each of ``framework``'s gate blocks ("torch" or "keras"), the index of the same gate
    among the canonical blocks (what ``to_gates`` / ``from_gates`` take)."""
    canonical, theirs = GATE_ORDERS[cell]["numpy"], GATE_ORDERS[cell][framework]
    if sorted(canonical) != sorted(theirs):
        raise ValueError(f"{framework} gates {theirs} of the {cell} cell do not name the canonical gates {canonical}")
    return [canonical.index(g) for g in theirs]


def to_gates(a: np.ndarray, order: list[int]) -> np.ndarray:
    """Canonical gate blocks on the last axis -> a framework's block order, where ``order[k]``
    is the canonical index of the framework's k-th block (both ``weights.py`` use this)."""
    blocks = np.split(a, len(order), axis=-1)
    return np.concatenate([blocks[k] for k in order], axis=-1)


def from_gates(a: np.ndarray, order: list[int]) -> np.ndarray:
    """A framework's gate blocks on the last axis -> canonical block order (``to_gates`` undone)."""
    blocks = np.split(a, len(order), axis=-1)
    return np.concatenate([blocks[order.index(k)] for k in range(len(order))], axis=-1)


def cell_param_shapes(cell: str, in_features: int, hidden: int, reset_after: bool = True) -> dict[str, tuple[int, ...]]:
    """The parameters of one recurrent cell (one direction), gate blocks side by side::

        Wx (D, G*H)   Wh (H, G*H)   b (G*H,)   [bh (G*H,): GRU with reset_after=True]
    """
    g, d, h = len(GATES[cell]), in_features, hidden
    shapes = {"Wx": (d, g * h), "Wh": (h, g * h), "b": (g * h,)}
    if cell == "gru" and reset_after:
        shapes["bh"] = (g * h,)
    return shapes


@dataclass(frozen=True)
class RNNSpec:
    """A recurrent layer (SimpleRNN, LSTM or GRU), optionally bidirectional, then a
    dense head on the last state (many-to-one) or on every step's state
    (``return_sequences=True``, many-to-many).

    Inputs are batch-first ``(N, T, D)`` with any ``T >= 1``; an initial state may be
    given (``state_shapes()`` names it) or is zero. GRU: ``reset_after=True`` is
    torch's and Keras's default formulation, ``False`` the notes' original
    ``h_bar = tanh(x W + (r * h) U)``. Both use the frameworks' update convention
    ``h = z * h_prev + (1 - z) * n`` (the notes' z is this 1 - z).
    """

    cell: str
    in_features: int
    hidden: int
    out_features: int
    activation: str = "tanh"
    reset_after: bool = True
    return_sequences: bool = False
    bidirectional: bool = False
    output: str = "identity"
    loss: str = "mse"

    model = "RecurrentNet"
    input_axes = ("N", "T", "D")

    def __post_init__(self):
        _python_scalars(self)
        _choice("cell", self.cell, CELLS)
        for name in ("in_features", "hidden", "out_features"):
            _positive_int(name, getattr(self, name))
        _choice("activation", self.activation, RNN_ACTIVATIONS)
        if self.cell != "rnn" and self.activation != "tanh":
            raise ValueError(f"activation={self.activation!r} is a SimpleRNN option; the {self.cell} "
                             "cell uses tanh (with sigmoid gates)")
        for name in ("reset_after", "return_sequences", "bidirectional"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a bool, got {getattr(self, name)!r}")
        if self.cell != "gru" and not self.reset_after:
            raise ValueError("reset_after=False is a GRU option")
        _choice("output activation", self.output, OUTPUT_ACTIVATIONS)
        _check_loss_head(self.loss, self.output, self.out_features)
        if self.return_sequences and self.loss == "softmax_cross_entropy":
            raise ValueError("softmax_cross_entropy is for many-to-one outputs here; a many-to-many "
                             "head takes mse, half_sse or sigmoid_binary_cross_entropy")

    @property
    def family(self) -> str:
        return self.cell

    @property
    def gates(self) -> tuple[str, ...]:
        return GATES[self.cell]

    @property
    def directions(self) -> tuple[str, ...]:
        """Parameter / state name suffixes: ``""`` forward, ``"_reverse"`` backward."""
        return ("", "_reverse") if self.bidirectional else ("",)

    @property
    def input_shape(self) -> tuple[None, int]:
        return (None, self.in_features)

    def output_shape(self, x_shape) -> tuple[int, ...]:
        if self.return_sequences:
            return (x_shape[0], x_shape[1], self.out_features)
        return (x_shape[0], self.out_features)

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-example state shapes: ``h`` (and ``c`` for the LSTM) per direction."""
        names = ("h", "c") if self.cell == "lstm" else ("h",)
        return {f"{n}{d}": (self.hidden,) for d in self.directions for n in names}

    def cell_param_shapes(self) -> dict[str, tuple[int, ...]]:
        """One direction's cell parameters (no suffix)."""
        return cell_param_shapes(self.cell, self.in_features, self.hidden, self.reset_after)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = {f"{n}{d}": s for d in self.directions for n, s in self.cell_param_shapes().items()}
        shapes["W_out"] = (len(self.directions) * self.hidden, self.out_features)
        shapes["b_out"] = (self.out_features,)
        return shapes


# -- sequence to sequence ------------------------------------------------------

#: Attention scores of a seq2seq decoder (None = no attention).
ATTENTIONS = (None, "dot", "general", "additive")


@dataclass(frozen=True)
class Seq2SeqSpec:
    """An encoder-decoder (the notes' day 3 "Seq2Seq" and "Attention Mechanism").

    Source ids ``src (N, S)`` and target ids ``tgt (N, T)`` are int64, right-padded with
    ``pad_id``; every target row ends with ``eos_id`` before its padding. Under teacher forcing::

        e_src = E_src[src]                                   (N, S, E)   embedding lookup
        enc, state = encoder(e_src)                          (N, S, H)   state = the state after
                                                                         each row's last real token
        dec_in = [bos, tgt_1, ..., tgt_{T-1}]                (N, T)
        dec, _ = decoder(E_tgt[dec_in], state)               (N, T, H)   no masking (causal: padded
                                                                         steps come after real ones)
        attention (not None), source padding masked out (weight exactly 0):
            dot        score(t, s) = dec_t . enc_s                     (Luong, unscaled)
            general    score(t, s) = (dec_t @ W_a) . enc_s             (Luong's h_t^T W_a s)
            additive   score(t, s) = v . tanh(dec_t @ W_q + enc_s @ W_k) (Bahdanau)
            a = masked softmax over s                                   (N, T, S)
            context = a @ enc                                           (N, T, H)
            z = [dec; context]                                          (N, T, 2H)
        no attention:  z = dec                                          (N, T, H)
        logits = z @ W_out + b_out                           (N, T, V_tgt)
        loss = mean over real target tokens (tgt != pad) of softmax cross-entropy

    Canonical parameters (``param_shapes``), in this order::

        E_src (V_src, E)    E_tgt (V_tgt, E)
        enc_Wx (E, G*H)  enc_Wh (H, G*H)  enc_b (G*H,)  [enc_bh (G*H,)]   (RNNSpec's cell layout,
        dec_Wx (E, G*H)  dec_Wh (H, G*H)  dec_b (G*H,)  [dec_bh (G*H,)]    gates i,f,g,o / z,r,n)
        general:   W_a (H, H)
        additive:  W_q (H, H)   W_k (H, H)   v (H,)
        W_out (H or 2H, V_tgt)   b_out (V_tgt,)

    ``pad_id`` is 0: Keras's ``Embedding(mask_zero=True)`` reserves id 0 for padding, and the
    suite follows it so the Keras model reads as Keras users write it.
    """

    cell: str
    src_vocab: int
    tgt_vocab: int
    embed: int
    hidden: int
    attention: str | None = None
    reset_after: bool = True
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2
    max_len: int | None = None     # the longest target allowed (and greedy decoding's default limit)

    family = "seq2seq"
    model = "Seq2Seq"
    input_axes = ("N", "S")
    output = "softmax"
    loss = "softmax_cross_entropy"
    differentiable_input = False   # token ids: no grad_input / vjp_input (reports/harness.py)

    @property
    def extra_quantities(self) -> tuple[str, ...]:
        """Compared beyond output, loss and gradients: the attention weights (N, T, S)."""
        return ("attention",) if self.attention else ()

    def __post_init__(self):
        _python_scalars(self)
        _choice("cell", self.cell, ("lstm", "gru"))
        for name in ("src_vocab", "tgt_vocab", "embed", "hidden"):
            _positive_int(name, getattr(self, name))
        if self.attention not in ATTENTIONS:
            raise ValueError(f"unknown attention {self.attention!r}; expected one of "
                             f"{', '.join(map(repr, ATTENTIONS))}")
        if not isinstance(self.reset_after, bool):
            raise ValueError(f"reset_after must be a bool, got {self.reset_after!r}")
        if self.cell != "gru" and not self.reset_after:
            raise ValueError("reset_after=False is a GRU option")
        for name in ("pad_id", "bos_id", "eos_id"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be a non-negative int, got {v!r}")
        if self.pad_id != 0:
            raise ValueError(f"pad_id must be 0 (Keras's mask_zero reserves id 0 for padding), got {self.pad_id}")
        if len({self.pad_id, self.bos_id, self.eos_id}) != 3:
            raise ValueError(f"pad_id, bos_id and eos_id must differ, got {self.pad_id}, {self.bos_id}, "
                             f"{self.eos_id}")
        if max(self.bos_id, self.eos_id) >= self.tgt_vocab:
            raise ValueError(f"bos_id {self.bos_id} and eos_id {self.eos_id} must lie in the target "
                             f"vocabulary [0, {self.tgt_vocab})")
        if self.max_len is not None:
            _positive_int("max_len", self.max_len)
        if self.src_vocab < 2:
            raise ValueError(f"src_vocab must hold the padding id and at least one token, got {self.src_vocab}")

    @property
    def gates(self) -> tuple[str, ...]:
        return GATES[self.cell]

    @property
    def input_shape(self) -> tuple[None]:
        return (None,)

    @property
    def out_features(self) -> int:
        return self.tgt_vocab

    def output_shape(self, x_shape, target_shape=None) -> tuple[int, ...]:
        """Teacher-forced logits ``(N, T, V_tgt)`` for a target of shape ``(N, T)``."""
        if target_shape is None:
            raise ValueError("a seq2seq output shape needs the target shape (N, T) (teacher forcing)")
        return (x_shape[0], target_shape[1], self.tgt_vocab)

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        return {}

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        h = self.hidden
        shapes: dict[str, tuple[int, ...]] = {"E_src": (self.src_vocab, self.embed),
                                              "E_tgt": (self.tgt_vocab, self.embed)}
        for part in ("enc", "dec"):
            shapes.update({f"{part}_{n}": s
                           for n, s in cell_param_shapes(self.cell, self.embed, h, self.reset_after).items()})
        if self.attention == "general":
            shapes["W_a"] = (h, h)
        elif self.attention == "additive":
            shapes.update({"W_q": (h, h), "W_k": (h, h), "v": (h,)})
        shapes["W_out"] = (2 * h if self.attention else h, self.tgt_vocab)
        shapes["b_out"] = (self.tgt_vocab,)
        return shapes


@dataclass(frozen=True)
class OptimizerSpec:
    """A framework-neutral optimizer: which update, its hyperparameters, and every convention in
    which torch.optim and keras.optimizers differ, as an explicit field (the update equations are
    written out in ``optimizers.py``).

    ``name`` is one of ``NAMES``: ``sgd``, ``momentum`` (heavy ball), ``nesterov``, ``adagrad``,
    ``rmsprop`` (plain, with ``momentum > 0``, ``centered=True``), ``adam``, ``adamw`` (Adam with
    decoupled weight decay), ``amsgrad`` (Adam with ``vmax = max(vmax, v)``). A field an optimizer
    does not read stays ``None`` (setting it is an error); a field it reads and that is left ``None``
    takes torch.optim's default (``TORCH_DEFAULTS``; ``momentum`` 0.9, the notes' value, where
    torch has no default). Presets: ``OptimizerSpec.defaults(name, "torch" | "keras")`` (that
    framework's defaults and conventions) and ``OptimizerSpec.matched(name)`` (settings under
    which NumPy, torch and Keras take the same steps).

    Hyperparameters: ``lr``; ``momentum`` (mu) and torch's ``dampening``; ``rho`` (RMSprop's
    decay: torch ``alpha``); ``beta1``, ``beta2``; ``eps``; ``initial_accumulator`` (AdaGrad's
    h_0); ``weight_decay``; ``centered`` (RMSprop).

    Conventions (the first value is torch's, the second Keras's):

    * ``eps_placement``: ``"outside"`` ``g / (sqrt(h) + eps)`` or ``"inside"`` ``g / sqrt(h + eps)``
      (AdaGrad, RMSprop);
    * ``momentum_form``: ``"buffer"`` ``buf = mu buf + g, w -= lr buf`` or ``"velocity"``
      ``v = mu v - lr g, w += v`` (the notes' form); the same update at a constant lr (v = -lr buf),
      so every framework runs either; it fixes how NumPy rounds;
    * ``bias_correction``: ``"moments"`` (Adam's m_hat, v_hat) or ``"step_size"`` (Keras folds
      both corrections into the step size; = torch with eps replaced by eps / sqrt(1 - beta2^t));
    * ``weight_decay_mode``: ``"coupled"`` (L2: ``g += wd w``; torch's ``weight_decay``) or
      ``"decoupled"`` (``w -= lr wd w`` beside the update; torch ``AdamW``, every Keras optimizer);
    * ``float32_hyperparameters``: Keras keeps ``lr`` in a float32 variable and casts ``momentum``
      (SGD), ``beta1``/``beta2`` (in the bias corrections), ``weight_decay`` and
      ``initial_accumulator`` through float32 even for a float64 model (0.9 -> 0.8999999761581421).
      ``True`` makes NumPy do the same; ``False`` uses the values as given; ``None`` (the default)
      lets each framework do what it does (Keras rounds, NumPy and torch do not).

    Gradient clipping by global norm (the notes' ``gradient_clipping`` exercise, over all
    parameters at once): with ``norm = sqrt(sum_p ||g_p||^2)``, every gradient is scaled by
    ``min(1, clip_norm / (norm + clip_eps))`` before the step. ``clip_eps`` is explicit because the
    frameworks differ: Keras's ``global_clipnorm`` (``tf.clip_by_global_norm``) uses 0, torch's
    ``clip_grad_norm_`` adds 1e-6 to the norm (see ``optimizers.py``).
    """

    name: str = "sgd"
    lr: float = 0.125
    clip_norm: float | None = None
    clip_eps: float = 0.0
    momentum: float | None = None
    dampening: float | None = None
    rho: float | None = None
    centered: bool | None = None
    beta1: float | None = None
    beta2: float | None = None
    eps: float | None = None
    initial_accumulator: float | None = None
    weight_decay: float | None = None
    eps_placement: str | None = None
    momentum_form: str | None = None
    bias_correction: str | None = None
    weight_decay_mode: str | None = None
    float32_hyperparameters: bool | None = None

    NAMES: ClassVar[tuple] = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "amsgrad")
    #: The optional fields each optimizer reads (every optimizer also reads lr, the clip and
    #: weight-decay fields and float32_hyperparameters).
    FIELDS: ClassVar[dict] = {
        "sgd": (),
        "momentum": ("momentum", "dampening", "momentum_form"),
        "nesterov": ("momentum", "momentum_form"),
        "adagrad": ("eps", "initial_accumulator", "eps_placement"),
        "rmsprop": ("rho", "eps", "momentum", "centered", "eps_placement", "momentum_form"),
        "adam": ("beta1", "beta2", "eps", "bias_correction"),
        "adamw": ("beta1", "beta2", "eps", "bias_correction"),
        "amsgrad": ("beta1", "beta2", "eps", "bias_correction"),
    }
    COMMON: ClassVar[tuple] = ("weight_decay", "weight_decay_mode", "float32_hyperparameters")
    CHOICES: ClassVar[dict] = {"eps_placement": ("outside", "inside"), "momentum_form": ("buffer", "velocity"),
               "bias_correction": ("moments", "step_size"), "weight_decay_mode": ("coupled", "decoupled")}
    #: torch.optim's defaults (torch 2.13 signatures) and conventions; ``momentum`` 0.9 for the SGD
    #: family, where torch's default 0 would be plain SGD.
    TORCH_DEFAULTS: ClassVar[dict] = {
        "*": {"momentum_form": "buffer", "eps_placement": "outside", "bias_correction": "moments",
              "weight_decay": 0.0, "weight_decay_mode": "coupled", "float32_hyperparameters": False},
        "sgd": {"lr": 1e-3}, "momentum": {"lr": 1e-3, "momentum": 0.9, "dampening": 0.0},
        "nesterov": {"lr": 1e-3, "momentum": 0.9},
        "adagrad": {"lr": 1e-2, "eps": 1e-10, "initial_accumulator": 0.0},
        "rmsprop": {"lr": 1e-2, "rho": 0.99, "eps": 1e-8, "momentum": 0.0, "centered": False},
        "adam": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
        "adamw": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 1e-2,
                  "weight_decay_mode": "decoupled"},
        "amsgrad": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
    }
    #: keras.optimizers' defaults (Keras 3.15 signatures) and conventions.
    KERAS_DEFAULTS: ClassVar[dict] = {
        "*": {"momentum_form": "velocity", "eps_placement": "inside", "bias_correction": "step_size",
              "weight_decay": 0.0, "weight_decay_mode": "decoupled", "float32_hyperparameters": True},
        "sgd": {"lr": 1e-2}, "momentum": {"lr": 1e-2, "momentum": 0.9, "dampening": 0.0},
        "nesterov": {"lr": 1e-2, "momentum": 0.9},
        "adagrad": {"lr": 1e-3, "eps": 1e-7, "initial_accumulator": 0.1},
        "rmsprop": {"lr": 1e-3, "rho": 0.9, "eps": 1e-7, "momentum": 0.0, "centered": False},
        "adam": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7},
        "adamw": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7, "weight_decay": 0.004},
        "amsgrad": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7},
    }

    def __post_init__(self):
        _python_scalars(self)
        _choice("optimizer", self.name, self.NAMES)
        reads = self.FIELDS[self.name] + self.COMMON
        for f in fields(self)[4:]:
            if f.name not in reads and getattr(self, f.name) is not None:
                users = [n for n in self.NAMES if f.name in self.FIELDS[n]]
                raise ValueError(f"{f.name} is not a setting of {self.name!r} (it is one of "
                                 f"{', '.join(users)})")
        defaults = {**self.TORCH_DEFAULTS["*"], **self.TORCH_DEFAULTS[self.name]}
        defaults["float32_hyperparameters"] = None          # None: as each framework does
        for name in reads:
            if getattr(self, name) is None and name != "float32_hyperparameters":
                object.__setattr__(self, name, defaults[name])

        def number(name, value, low, high, low_open=False, what=None):
            ok = (not isinstance(value, bool) and isinstance(value, float | int) and not math.isnan(value)
                  and (low < value if low_open else low <= value) and value < high)
            if not ok:
                raise ValueError(f"{name} must be {what}, got {value!r}")

        number("lr", self.lr, 0, math.inf, True, "a positive finite number")
        if self.clip_norm is not None:
            number("clip_norm", self.clip_norm, 0, math.inf, True, "None or a positive finite number")
        number("clip_eps", self.clip_eps, 0, math.inf, what="a non-negative finite number")
        for name in ("eps", "initial_accumulator", "weight_decay"):
            if name in reads:
                number(name, getattr(self, name), 0, math.inf, what="a non-negative finite number")
        for name in ("beta1", "beta2", "rho", "dampening"):
            if name in reads and getattr(self, name) is not None:
                number(name, getattr(self, name), 0, 1, what="a number in [0, 1)")
        if self.name in ("momentum", "nesterov"):
            number("momentum", self.momentum, 0, 1, True,
                   f"a number in (0, 1) for {self.name!r} (momentum 0 is plain 'sgd')")
        elif self.name == "rmsprop":
            number("momentum", self.momentum, 0, 1, what="a number in [0, 1)")
        for name, allowed in self.CHOICES.items():
            if name in reads:
                _choice(name, getattr(self, name), allowed)
        for name in ("centered", "float32_hyperparameters"):
            value = getattr(self, name)
            if name in reads and not (isinstance(value, bool) or (value is None and name != "centered")):
                raise ValueError(f"{name} must be {'True or False' if name == 'centered' else 'None, True or False'}"
                                 f", got {value!r}")
        if self.name == "momentum" and self.dampening != 0 and self.momentum_form == "velocity":
            raise ValueError("dampening is an option of the 'buffer' momentum form (torch's SGD); "
                             f"the 'velocity' form has none, got dampening={self.dampening!r}")
        if self.name == "adamw" and self.weight_decay_mode != "decoupled":
            raise ValueError("adamw is Adam with decoupled weight decay; for coupled L2 use 'adam' with "
                             f"weight_decay_mode='coupled', got weight_decay_mode={self.weight_decay_mode!r}")

    def __repr__(self) -> str:
        """Only the fields this optimizer reads (the others are None)."""
        shown = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)[1:]
                 if getattr(self, f.name) is not None or f.name in ("clip_norm", "float32_hyperparameters")]
        return f"OptimizerSpec({self.name!r}, {', '.join(shown)})"

    @classmethod
    def defaults(cls, name: str, framework: str, **overrides) -> OptimizerSpec:
        """``name`` with ``framework``'s (``"torch"`` or ``"keras"``) default hyperparameters and
        conventions; ``overrides`` replace fields. With ``clip_norm`` the framework's ``clip_eps``
        is filled in (torch 1e-6, Keras 0)."""
        table = {"torch": cls.TORCH_DEFAULTS, "keras": cls.KERAS_DEFAULTS}
        if framework not in table:
            raise ValueError(f"unknown framework {framework!r}; expected torch or keras")
        _choice("optimizer", name, cls.NAMES)
        reads = cls.FIELDS[name] + cls.COMMON + ("lr",)
        values = {k: v for k, v in {**table[framework]["*"], **table[framework][name]}.items() if k in reads}
        if overrides.get("clip_norm") is not None and "clip_eps" not in overrides:
            values["clip_eps"] = {"torch": 1e-6, "keras": 0.0}[framework]
        return cls(name, **{**values, **overrides})

    @classmethod
    def matched(cls, name: str, dtype: str = "float64", **overrides) -> OptimizerSpec:
        """``name`` under settings where NumPy, torch and Keras take the same steps in a ``dtype``
        model: Keras's default hyperparameters rounded to float32 (so Keras's float32 storage
        changes nothing) and ``eps = finfo(dtype).tiny``, the smallest normal number: it keeps 0 / 0
        away from a parameter whose gradient has been exactly 0 so far (0 / eps = 0 in every
        convention) and is otherwise lost in rounding, so eps inside / outside the square root and
        the two Adam bias-correction forms give the same update
        (``optimizers.convention_matters``). Conventions that cannot change the update then take
        torch's values; ``momentum_form`` is run by every framework."""
        keras = cls.defaults(name, "keras")
        values = {k: (float(np.float32(v)) if isinstance(v, float) else v) for k, v in
                  ((f.name, getattr(keras, f.name)) for f in fields(cls)[4:]) if v is not None}
        values.update(lr=float(np.float32(keras.lr)), float32_hyperparameters=False,
                      **{k: v for k, v in cls.TORCH_DEFAULTS["*"].items() if k in values and k not in
                         ("weight_decay", "weight_decay_mode", "float32_hyperparameters")})
        if "eps" in values:
            values["eps"] = float(np.finfo(dtype).tiny)
        if name == "adamw":
            values["weight_decay_mode"] = "decoupled"
        return cls(name, **{**values, **overrides})

ModelSpec = MLPSpec | LinearRegressionSpec | PolynomialRegressionSpec | CNNSpec | RNNSpec | Seq2SeqSpec
