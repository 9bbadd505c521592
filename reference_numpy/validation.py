"""Input checks shared by every framework's adapter.

Bad input gets an error that names what was expected; nothing is broadcast,
cast or silently accepted. Every check runs *before* any framework sees the
data, so NumPy, torch and Keras reject the same inputs with the same message.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from reference_numpy import losses

DTYPES = ("float64", "float32")


def check_dtype_name(dtype) -> np.dtype:
    try:
        name = dtype if isinstance(dtype, str) else np.dtype(dtype).name if dtype is not None else None
    except TypeError:
        name = None
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    return np.dtype(name)


#: What each axis letter of ``spec.input_axes`` means, for error messages.
AXIS_NAMES = {"N": "batch", "D": "features", "C": "channels", "H": "height", "W": "width",
              "T": "time steps", "K": "outputs"}


def check_array(name: str, a, *, shape: tuple, dtype: np.dtype, axes: tuple[str, ...] | None = None) -> np.ndarray:
    """``a`` must be a NumPy array of exactly ``shape`` (``None`` = any size) and ``dtype``,
    with only finite values. ``axes`` (e.g. ``("N", "C", "H", "W")``) names the axes in messages."""
    if type(a) is not np.ndarray:      # subclasses (np.matrix, masked arrays) change semantics
        raise TypeError(f"{name} must be a numpy.ndarray of shape {_fmt(shape, axes)} and dtype "
                        f"{dtype}, got {type(a).__name__}")
    if a.ndim != len(shape):
        raise ValueError(f"{name} must have rank {len(shape)} with shape {_fmt(shape, axes)}, "
                         f"got rank {a.ndim} with shape {a.shape}")
    for axis, (want, got) in enumerate(zip(shape, a.shape)):
        if want is not None and want != got:
            what = f" = {AXIS_NAMES.get(axes[axis], axes[axis])}" if axes else ""
            raise ValueError(f"{name} must have shape {_fmt(shape, axes)}, got {a.shape} "
                             f"(axis {axis}{what}: expected {want}, got {got})")
    if a.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype}, got {a.dtype} "
                        "(inputs are never cast implicitly: convert with .astype)")
    if not np.all(np.isfinite(a)):
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        raise ValueError(f"{name} contains {bad} non-finite value(s) (NaN or inf)")
    return a


def _fmt(shape, axes=None) -> str:
    axes = axes or ("N",) + ("?",) * (len(shape) - 1)
    return "(" + ", ".join(a if s is None else str(s) for s, a in zip(shape, axes)) + ("," if len(shape) == 1 else "") + ")"


def check_input(spec, x, dtype) -> np.ndarray:
    """``x`` of shape ``(N, *spec.input_shape)``; every free axis (batch, time) non-empty."""
    axes = spec.input_axes
    x = check_array("x", x, shape=(None, *spec.input_shape), dtype=dtype, axes=axes)
    if x.shape[0] == 0:
        raise ValueError("x must hold at least one example, got batch size 0")
    for axis, (want, got) in enumerate(zip(spec.input_shape, x.shape[1:]), start=1):
        if want is None and got == 0:
            raise ValueError(f"x must have at least one step along axis {axis} "
                             f"({AXIS_NAMES.get(axes[axis], axes[axis])}), got shape {x.shape}")
    return x


def check_state(spec, state, batch: int, dtype) -> dict[str, np.ndarray] | None:
    """An initial state: ``None`` (zeros), or for a recurrent model a dict with exactly the
    keys of ``spec.state_shapes()``, each ``(N, H)``."""
    shapes = spec.state_shapes()
    if state is None:
        return None
    if not shapes:
        raise ValueError(f"{type(spec).__name__} is feed-forward and takes no initial_state, got {state!r:.60}")
    if not isinstance(state, Mapping):
        raise TypeError(f"initial_state must be a dict with keys {list(shapes)} of (N, H) arrays, "
                        f"got {type(state).__name__}")
    missing = [n for n in shapes if n not in state]
    extra = [n for n in state if n not in shapes]
    if missing or extra:
        raise KeyError(f"initial_state must have exactly the keys {list(shapes)}: "
                       + "; ".join(p for p in (missing and f"missing {missing}", extra and f"unexpected {extra}") if p))
    return {n: check_array(f"initial_state[{n!r}]", state[n], shape=(batch, *s), dtype=dtype, axes=("N", "hidden"))
            for n, s in shapes.items()}


def check_target(spec, d, shape: tuple[int, ...], dtype) -> np.ndarray:
    """The target for an output of ``shape`` (``spec.output_shape(x.shape)``)."""
    batch, k = shape[0], spec.out_features
    if spec.loss == "softmax_cross_entropy" and isinstance(d, np.ndarray) and np.issubdtype(d.dtype, np.integer):
        if type(d) is not np.ndarray or d.dtype != np.int64:
            raise TypeError(f"integer class labels must be a numpy.ndarray of dtype int64, got "
                            f"{type(d).__name__} of dtype {d.dtype} (torch's cross-entropy takes int64 only)")
        if d.shape != (batch,):
            raise ValueError(f"integer class labels must have shape ({batch},), got {d.shape}")
        if d.size and (d.min() < 0 or d.max() >= k):
            raise ValueError(f"class labels must lie in [0, {k}), got values in [{d.min()}, {d.max()}]")
        return d
    d = check_array("target", d, shape=shape, dtype=dtype, axes=("N", "T", "K")[:len(shape) - 1] + ("K",))
    if losses.takes_logits(spec.loss) and (d.min() < 0 or d.max() > 1):
        raise ValueError(f"target for {spec.loss} must lie in [0, 1], got values in [{d.min()}, {d.max()}]")
    if spec.loss == "softmax_cross_entropy":
        sums = d.sum(axis=1)
        if not np.allclose(sums, 1.0, rtol=0, atol=1e-6):
            raise ValueError("one-hot / probability targets must sum to 1 in every row, got row sums in "
                             f"[{sums.min()}, {sums.max()}] (or pass integer labels of shape ({batch},))")
    return d


def check_params(spec, params, dtype) -> dict[str, np.ndarray]:
    """``params`` must have exactly the spec's canonical names, shapes and dtype."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of name -> numpy.ndarray, got {type(params).__name__}")
    expected = spec.param_shapes()
    missing = [n for n in expected if n not in params]
    extra = [n for n in params if n not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"unexpected {extra}")
        raise KeyError(f"parameters for {type(spec).__name__} must be exactly "
                       f"{list(expected)}: {'; '.join(parts)}")
    return {n: check_array(f"parameter {n!r}", params[n], shape=shape, dtype=dtype)
            for n, shape in expected.items()}
