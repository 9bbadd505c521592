"""The suite's models as Keras 3 models, plus the mapping to and from the canonical parameter
layout (``weights.py``, the only place that knows Keras's variable layouts).

The models are ONE definition, written with ``keras.layers`` and ``keras.ops`` only, so they run
on each of Keras's backends that can take gradients: TensorFlow, JAX and torch. What differs per
backend -- how gradients and vector-Jacobian products are taken and how an optimizer step is
run -- lives in one engine per backend (``engine_tf.py``: ``tf.GradientTape``;
``engine_jax.py``: ``jax.vjp`` of a stateless function; ``engine_torch.py``: torch autograd),
picked by ``engine()`` for the backend this process runs.

A Keras backend is fixed per process: ``KERAS_BACKEND`` is read once, when keras is first
imported. Importing this package sets it to ``tensorflow`` unless it is already set (an
explicit choice is kept, and checked: an unknown name raises here). The suite runs the other
backends in worker processes (``reports/backends.py``), each started with ``configure(backend)``
before anything imports keras.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

#: Keras backend -> (the Python package it needs, the pip requirement pinned in pyproject.toml).
BACKENDS = {
    "tensorflow": ("tensorflow", "tensorflow-cpu==2.21.* (tensorflow==2.21.* on macOS)"),
    "jax": ("jax", "jax==0.10.2 jaxlib==0.10.2"),
    "torch": ("torch", "torch==2.13.0"),
}
ENGINES = {"tensorflow": "impl_tf.engine_tf", "jax": "impl_tf.engine_jax", "torch": "impl_tf.engine_torch"}


def check_backend(backend: str) -> str:
    """``backend`` if it is one of ``BACKENDS``, else a ``ValueError`` naming the valid ones."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown Keras backend {backend!r}; the suite runs on {', '.join(map(repr, BACKENDS))} "
                         "(the Keras backends that take gradients)")
    return backend


def require_backend(backend: str) -> str:
    """``check_backend``, then make sure the backend's package is installed: a missing one is a
    ``ModuleNotFoundError`` that says how to install it (checked before a worker starts, so the
    message is this one and not a broken process pool)."""
    package, requirement = BACKENDS[check_backend(backend)]
    if importlib.util.find_spec(package) is None:
        raise ModuleNotFoundError(
            f"the Keras backend {backend!r} needs the Python package {package!r}, which is not installed in "
            f"{sys.executable}. Install the suite's dependencies (`python3 -m parity_tests` sets up .venv, or "
            f"`pip install -e .` in the repository root), or just that package: pip install {requirement}",
            name=package)
    return backend


def configure(backend: str) -> None:
    """Choose ``backend`` for this process; must run before anything imports keras. Sets
    ``KERAS_BACKEND``, ``JAX_ENABLE_X64=true`` (without it JAX computes float64 in float32) and
    ``TF_CPP_MIN_LOG_LEVEL`` (TensorFlow's C++ start-up chatter; keras imports TensorFlow on every
    backend when it is installed)."""
    require_backend(backend)
    if "keras" in sys.modules and os.environ.get("KERAS_BACKEND") != backend:
        raise RuntimeError(f"keras is already imported with KERAS_BACKEND={os.environ.get('KERAS_BACKEND')!r}; "
                           f"a backend is fixed per process, so {backend!r} needs a new process")
    os.environ["KERAS_BACKEND"] = backend
    if backend == "jax":
        os.environ["JAX_ENABLE_X64"] = "true"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def keep_float64(keep: bool = True) -> None:
    """The suite's one workaround for a Keras defect: float64 stays float64 in Keras's type promotion.

    Keras 3.15's ``keras.backend.result_type`` (``keras/src/backend/common/dtypes.py``) ends with
    ``BIT64_TO_BIT32_DTYPE``, which turns every float64 result into float32 on every backend but
    TensorFlow ("to be aligned with JAX's default behavior", whatever ``JAX_ENABLE_X64`` says).
    Every op that picks its dtype through it computes a float64 tensor in float32: on JAX ``tanh``
    (and ``sin``, ``cos``, ...) returns float32 and ``mean`` sums in float32; on torch ``matmul`` /
    ``dot`` return float32 (a float64 ``Dense`` casts the result back: float64 dtype, float32
    accuracy), ``mean`` sums in float32 and ``divide_no_nan`` -- the last step of every
    ``keras.losses.Loss`` -- returns float32. So a float64 Keras model on JAX or torch is float32
    accurate (about 1e-7 relative), and a float64 tanh ``SimpleRNN`` on JAX fails outright (its
    ``lax.scan`` carry goes in float64 and comes out float32).

    ``keep_float64()`` maps float64 to itself in that table (``keep=False`` restores Keras as
    shipped, for the tests that measure the defect); nothing else changes (int64 still maps to
    int32 as shipped). The engines of the JAX and torch backends call it when imported.
    ``parity_tests/test_backends.py`` pins the shipped behaviour, so an upgrade that fixes it fails
    there and this workaround can go.
    """
    from keras.src.backend.common import dtypes

    table = getattr(dtypes, "BIT64_TO_BIT32_DTYPE", None)
    if not isinstance(table, dict) or table.get("float64") not in ("float32", "float64"):
        raise RuntimeError("keras.src.backend.common.dtypes.BIT64_TO_BIT32_DTYPE is gone or changed: the float64 "
                           "workaround in impl_tf/__init__.py (keep_float64) must be re-checked for this Keras")
    if dtypes.config.backend() == "tensorflow":
        return                                              # float64 -> float64 there as shipped
    table["float64"] = "float64" if keep else "float32"


def engine():
    """The engine module (``engine_tf``, ``engine_jax``, ``engine_torch``) of this process's Keras backend."""
    import keras

    return importlib.import_module(ENGINES[check_backend(keras.backend.backend())])


# Keras picks its backend from this variable when it is first imported; an explicit choice is kept.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
check_backend(os.environ["KERAS_BACKEND"])
if os.environ["KERAS_BACKEND"] == "jax":
    os.environ.setdefault("JAX_ENABLE_X64", "true")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # keep TensorFlow's C++ start-up chatter out of reports
