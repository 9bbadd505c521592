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
    # Any valid view is accepted (x[::-1], x[:, ::2], a transpose): the frameworks get a C-contiguous
    # array (torch cannot wrap a negative stride). A contiguous array is passed on as it is.
    return np.ascontiguousarray(a)


def _fmt(shape, axes=None) -> str:
    axes = axes or ("N",) + ("?",) * (len(shape) - 1)
    inner = ", ".join(a if s is None else str(s) for s, a in zip(shape, axes))
    return "(" + inner + ("," if len(shape) == 1 else "") + ")"


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
    if mismatch := key_mismatch(shapes, state):
        raise KeyError(f"initial_state must have exactly the keys {list(shapes)}: {mismatch}")
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
        return np.ascontiguousarray(d)
    d = check_array("target", d, shape=shape, dtype=dtype, axes=("N", "T", "K")[:len(shape) - 1] + ("K",))
    if losses.takes_logits(spec.loss) and (d.min() < 0 or d.max() > 1):
        raise ValueError(f"target for {spec.loss} must lie in [0, 1], got values in [{d.min()}, {d.max()}]")
    if spec.loss == "softmax_cross_entropy":
        sums = d.sum(axis=1)
        if not np.allclose(sums, 1.0, rtol=0, atol=1e-6):
            raise ValueError("one-hot / probability targets must sum to 1 in every row, got row sums in "
                             f"[{sums.min()}, {sums.max()}] (or pass integer labels of shape ({batch},))")
    return d


def key_mismatch(expected, given) -> str:
    """``"missing [...]; unexpected [...]"`` for the keys of ``given`` against ``expected`` (in their
    orders), ``""`` when they are the same set: the tail of every "must have exactly the keys" error."""
    missing = [n for n in expected if n not in given]
    extra = [n for n in given if n not in expected]
    return "; ".join(p for p in (missing and f"missing {missing}", extra and f"unexpected {extra}") if p)


def check_params(spec, params, dtype) -> dict[str, np.ndarray]:
    """``params`` must have exactly the spec's canonical names, shapes and dtype."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of name -> numpy.ndarray, got {type(params).__name__}")
    expected = spec.param_shapes()
    if mismatch := key_mismatch(expected, params):
        raise KeyError(f"parameters for {type(spec).__name__} must be exactly {list(expected)}: {mismatch}")
    return {n: check_array(f"parameter {n!r}", params[n], shape=shape, dtype=dtype)
            for n, shape in expected.items()}


# -- token ids (seq2seq) ---------------------------------------------------------

def _ragged(ids) -> tuple[int, ...] | None:
    """The row lengths of a list / tuple / object array of rows of different lengths, else None."""
    try:
        lengths = tuple(len(row) for row in ids)
    except TypeError:
        return None
    return lengths if len(set(lengths)) > 1 else None


def check_token_ids(name: str, ids, vocab: int, pad_id: int = 0, *, eos_id: int | None = None,
                    max_len: int | None = None) -> np.ndarray:
    """Token ids ``(N, L)``: an int64 numpy.ndarray of rank 2, N >= 1, L >= 1, every id in
    ``[0, vocab)``, every row right-padded with ``pad_id`` and holding at least one real token (no
    padding in the middle). With ``eos_id`` (a target): each row's last real token is ``eos_id`` and
    ``eos_id`` occurs nowhere else. With ``max_len``: ``L <= max_len``. Errors name the row and
    position, e.g. ``tgt[1] has padding in the middle (position 2) followed by token 5``."""
    if type(ids) is not np.ndarray or ids.dtype == object:
        lengths = _ragged(ids) if isinstance(ids, list | tuple | np.ndarray) else None
        if lengths is not None:
            raise ValueError(f"{name} has rows of different lengths {lengths}; right-pad them with pad_id "
                             f"{pad_id} into one int64 numpy.ndarray of shape (N, L)")
        raise TypeError(f"{name} must be a numpy.ndarray of int64 token ids of shape (N, L), got "
                        f"{type(ids).__name__}" + (" of dtype object" if type(ids) is np.ndarray else "")
                        + " (convert with np.array(..., dtype=np.int64))")
    if ids.dtype != np.int64:
        kind = "float" if np.issubdtype(ids.dtype, np.floating) else "integer" \
            if np.issubdtype(ids.dtype, np.integer) else "non-integer"
        raise TypeError(f"{name} must hold token ids of dtype int64, got {kind} dtype {ids.dtype} "
                        "(ids are never cast implicitly: convert with .astype(np.int64))")
    if ids.ndim != 2:
        raise ValueError(f"{name} must have rank 2 with shape (N, L) (batch, sequence length), got rank "
                         f"{ids.ndim} with shape {ids.shape}")
    if ids.shape[0] == 0 or ids.shape[1] == 0:
        raise ValueError(f"{name} must hold at least one row and one position, got shape {ids.shape}")
    if max_len is not None and ids.shape[1] > max_len:
        raise ValueError(f"{name} has length {ids.shape[1]}, longer than the allowed {max_len}")
    neg = np.argwhere(ids < 0)
    if len(neg):
        n, t = neg[0]
        raise ValueError(f"{name}[{n}] has a negative id {ids[n, t]} at position {t}; token ids lie in [0, {vocab})")
    big = np.argwhere(ids >= vocab)
    if len(big):
        n, t = big[0]
        raise ValueError(f"{name}[{n}] has id {ids[n, t]} at position {t}, outside the vocabulary [0, {vocab})")
    real = ids != pad_id                                                        # (N, L)
    empty = np.flatnonzero(~real.any(axis=1))
    if len(empty):
        raise ValueError(f"{name}[{empty[0]}] is all padding (pad_id {pad_id}); every row needs at least "
                         "one real token")
    L = ids.shape[1]
    last = L - 1 - np.argmax(real[:, ::-1], axis=1)                             # (N,) last real position
    before_end = np.arange(L)[None, :] < last[:, None]                         # (N, L)
    holes = np.argwhere(~real & before_end)
    if len(holes):
        n, t = holes[0]
        nxt = t + np.argmax(real[n, t:])
        raise ValueError(f"{name}[{n}] has padding in the middle (position {t}) followed by token "
                         f"{ids[n, nxt]}; sequences must be right-padded")
    if eos_id is not None:
        rows = np.arange(ids.shape[0])
        wrong = np.flatnonzero(ids[rows, last] != eos_id)
        if len(wrong):
            n = wrong[0]
            raise ValueError(f"{name}[{n}] does not end with eos_id {eos_id}: its last real token (position "
                             f"{last[n]}) is {ids[n, last[n]]}; every target row ends with eos before its padding")
        early = np.argwhere((ids == eos_id) & before_end)
        if len(early):
            n, t = early[0]
            raise ValueError(f"{name}[{n}] has eos_id {eos_id} at position {t} before its last real token "
                             f"(position {last[n]}); eos must appear only at the end")
    return np.ascontiguousarray(ids)


def check_seq2seq_batch(spec, src, tgt) -> tuple[np.ndarray, np.ndarray]:
    """``src (N, S)`` and ``tgt (N, T)`` for a ``Seq2SeqSpec`` (``check_token_ids`` on each, the
    target with its eos rule), with the same batch size."""
    src = check_token_ids("src", src, spec.src_vocab, spec.pad_id)
    tgt = check_token_ids("tgt", tgt, spec.tgt_vocab, spec.pad_id, eos_id=spec.eos_id, max_len=spec.max_len)
    if src.shape[0] != tgt.shape[0]:
        raise ValueError(f"src and tgt must have the same batch size N, got {src.shape[0]} and {tgt.shape[0]}")
    return src, tgt


def check_max_len(max_len) -> int:
    """The length limit of greedy decoding: a positive int."""
    if isinstance(max_len, bool) or not isinstance(max_len, int | np.integer):
        raise TypeError(f"max_len must be a positive int, got {max_len!r} ({type(max_len).__name__})")
    if max_len < 1:
        raise ValueError(f"max_len must be a positive int, got {max_len}")
    return int(max_len)
