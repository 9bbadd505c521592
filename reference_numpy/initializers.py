"""Weight initializers, driven by a seed (``numpy.random.default_rng``).

As in the course notes (``np.random.randn(n_in, n_out) * std``), every weight
matrix ``W (fan_in, fan_out)`` is drawn from N(0, std^2) with

    gaussian   std = weight_init_std             (the notes' default 0.01)
    xavier     std = 1 / sqrt(fan_in)            (the notes' "Xavier": randn / sqrt(n_in))
    he         std = sqrt(2 / fan_in)            (the notes' "He":  randn / sqrt(n_in) * sqrt(2))

Note: the notes' Xavier is what Keras calls ``lecun_normal`` without truncation;
Keras ``glorot_normal`` uses sqrt(2 / (fan_in + fan_out)) and truncates at 2 std.

A seq2seq embedding ``E (V, E)`` is a weight matrix with fan_in = V. The additive attention's
score vector ``v (H,)`` (``VECTOR_WEIGHTS``) is a weight, an ``(H, 1)`` matrix with fan_in = H:
at zero every score would be 0 (uniform attention) and ``W_q``, ``W_k`` would get no gradient.

Biases start at zero (``bias="zeros"``), or -- for parity tests, where zero
biases hide mapping bugs -- from N(0, bias_std^2) with ``bias="normal"``. A batch norm's
``betak`` is a bias; its scale ``gammak`` starts at 1 (both frameworks' default), or from
1 + N(0, bias_std^2) with ``bias="normal"`` (gamma = 1 would hide a gamma / beta swap).
Its running statistics (``init_buffers``) start at mean 0, variance 1 (both frameworks'
default), or -- for parity tests -- at random values.
"""

from __future__ import annotations

import numpy as np

from reference_numpy.validation import check_dtype_name

METHODS = ("gaussian", "xavier", "he")
#: 1-D parameters that are weights, not biases (drawn like a column ``(fan_in, 1)``, never zero).
VECTOR_WEIGHTS = ("v",)


def weight_std(method: str, fan_in: int, weight_init_std: float = 0.01) -> float:
    if method == "gaussian":
        return weight_init_std
    if method == "xavier":
        return 1.0 / np.sqrt(fan_in)
    if method == "he":
        return np.sqrt(2.0 / fan_in)
    raise ValueError(f"unknown initializer {method!r}; expected one of {', '.join(METHODS)}")


def init_params(spec, seed: int, method: str = "xavier", *, weight_init_std: float = 0.01,
                bias: str = "zeros", bias_std: float = 0.1, dtype="float64") -> dict[str, np.ndarray]:
    """Canonical parameters for ``spec``, reproducible from ``seed``."""
    dtype = check_dtype_name(dtype)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative int (parameters are reproducible from it), got {seed!r}")
    for name, std in (("weight_init_std", weight_init_std), ("bias_std", bias_std)):
        if (isinstance(std, bool) or not isinstance(std, float | int | np.floating | np.integer)
                or not 0 < std < float("inf")):
            raise ValueError(f"{name} must be a positive finite number, got {std!r}")
    if bias not in ("zeros", "normal"):
        raise ValueError(f"bias must be 'zeros' or 'normal', got {bias!r}")
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in spec.param_shapes().items():
        if len(shape) >= 2 or name in VECTOR_WEIGHTS:
            fan_in = shape[0] if len(shape) <= 2 else int(np.prod(shape[1:]))
            std = weight_std(method, fan_in, weight_init_std)
            params[name] = (rng.standard_normal(shape) * std).astype(dtype)
        elif name.startswith("gamma"):                      # a batch norm's scale: 1, or 1 + noise
            noise = rng.standard_normal(shape) * bias_std if bias == "normal" else np.zeros(shape)
            params[name] = (1.0 + noise).astype(dtype)
        elif bias == "normal":
            params[name] = (rng.standard_normal(shape) * bias_std).astype(dtype)
        else:
            params[name] = np.zeros(shape, dtype=dtype)
    return params


def init_buffers(spec, seed: int | None = None, dtype="float64") -> dict[str, np.ndarray]:
    """Running statistics for ``spec.buffer_shapes()``: with ``seed=None`` the frameworks' initial
    values (``running_meank`` 0, ``running_vark`` 1); with a seed random ones for parity tests
    (means N(0, 0.5^2), variances uniform in [0.5, 2]: 0 and 1 would hide a mean / variance swap)."""
    dtype = check_dtype_name(dtype)
    shapes = spec.buffer_shapes() if hasattr(spec, "buffer_shapes") else {}
    if seed is None:
        return {n: (np.zeros if n.startswith("running_mean") else np.ones)(s, dtype=dtype) for n, s in shapes.items()}
    rng = np.random.default_rng(seed)
    return {n: (0.5 * rng.standard_normal(s) if n.startswith("running_mean")
                else rng.uniform(0.5, 2.0, s)).astype(dtype) for n, s in shapes.items()}
