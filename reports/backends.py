"""Keras on each of its backends as a framework of the harness: ``keras-tf``, ``keras-jax``, ``keras-torch``.

Why worker processes. Keras reads ``KERAS_BACKEND`` once, when it is first imported, and every
Keras object (layer, variable, optimizer) belongs to that backend: one process runs one backend.
The parent process runs TensorFlow (``impl_tf`` sets it, as it always has: the in-process tests
reach into the TensorFlow-backed Keras models); each other backend gets ONE long-lived worker
process per session -- a ``ProcessPoolExecutor(max_workers=1)`` with the ``spawn`` start method
(a fresh interpreter: fork would copy the parent's TensorFlow threads and its Keras) and an
initializer that chooses the backend (``impl_tf.configure``: ``KERAS_BACKEND``,
``JAX_ENABLE_X64=true``) before anything imports keras. Nothing in this module imports keras at
import time, so the worker can import it first. Starting a worker costs a few seconds (it imports
keras, TensorFlow -- which keras imports on every backend when installed -- and jax or torch);
after that a call costs the computation plus a pickle of the arrays.

What crosses the process boundary is NumPy only (specs, canonical parameters, batches in; arrays
and dicts of arrays out), and the work per call is large: ``run_case`` computes all the quantities
of one case in one call (``harness.compute_case`` in the worker, the very function the parent uses
for its own frameworks), so the harness never makes one call per quantity. ``prefetch`` submits
cases ahead of time: the worker computes them while the parent computes its own frameworks, so the
two cores both work. ``RemoteAdapter`` puts the whole adapter protocol behind the same worker (one
call per method) for whatever needs an adapter (training runs, parameter counts, timings).

Clean exit. Workers ignore SIGINT (Ctrl-C interrupts the parent, which then shuts them down);
``shutdown()`` cancels what is still queued and joins the processes (no zombies), and runs at
interpreter exit before ``concurrent.futures`` waits for queued work (which it would otherwise
finish first: minutes of prefetched cases nobody reads after a failing ``pytest -x``). A worker
whose parent dies reads EOF from its queue and exits. A worker that stops skips jax's, TensorFlow's
and torch's exit hooks (``_exit_now``): with them, stopping the two workers took 1.7 s on an idle
machine, 4 s at the end of the suite. A worker's stdout and stderr go to ``os.devnull``
(TensorFlow and XLA write start-up lines straight to file descriptor 2), or to the file named by
``SUITE_WORKER_LOG`` (``{backend}`` in the name is replaced); its Python exceptions come back to
the parent as they were raised.

Speed. Compiling is most of what the JAX worker does (one XLA program per engine call, see
``impl_tf/engine_jax.py``), so it compiles with ``--xla_backend_optimization_level=0`` and, when it
runs from the suite's ``.venv``, keeps JAX's persistent compilation cache in ``.venv/jax-cache``
(the first session compiles everything, later ones mostly read it back).
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import faulthandler
import gc
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import traceback
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reference_numpy.specs import CNNSpec, Conv2D

ROOT = Path(__file__).resolve().parents[1]
#: The harness's Keras framework names and the Keras backend each runs on.
KERAS_FRAMEWORKS = {"keras-tf": "tensorflow", "keras-jax": "jax", "keras-torch": "torch"}
#: Accepted for a Keras framework name: "keras" is what the suite called Keras on TensorFlow before it
#: ran the other backends (the README's Python API, the in-process convention tests); it is never a label.
ALIASES = {"keras": "keras-tf"}

_POOLS: dict[str, concurrent.futures.ProcessPoolExecutor] = {}
_PREFETCHED: dict[tuple[str, str, str], concurrent.futures.Future] = {}
#: backend -> prefetched runs not handed to its worker yet, in order (a dict as an ordered set).
_PENDING: dict[str, dict[tuple[str, str, str], None]] = {}
#: How many prefetched runs a worker holds at once. The rest wait in ``_PENDING``, so that a direct call
#: (``call``, a ``RemoteAdapter``, a run not prefetched) waits for at most this many, not for the queue.
IN_FLIGHT = 1
#: backend -> handles of worker adapters whose RemoteAdapter was garbage-collected. A finalizer only
#: appends here: it runs inside the garbage collector, possibly while this very thread holds the
#: executor's (non-reentrant) lock in ``submit`` -- submitting from there would deadlock.
_DROPPED: dict[str, list[int]] = {}
_LOCK = threading.RLock()


@dataclass(frozen=True)
class KnownDefect:
    """A defect of a backend, not of the suite: the model cannot be run there as specified. Listed
    here, narrowly, each pinned in ``parity_tests/test_backends.py`` with a minimal reproduction."""

    name: str
    framework: str
    what: str
    applies: Callable[[object], bool]          # spec -> does this model hit it


def _one_filter_conv_over_channels(spec) -> bool:
    """A Conv2D with ONE filter, a kernel larger than 1 x 1 and at least two input channels."""
    if not isinstance(spec, CNNSpec):
        return False
    channels = spec.in_channels
    for layer in spec.layers:
        if isinstance(layer, Conv2D):
            if layer.filters == 1 and layer.kernel_size != (1, 1) and channels >= 2:
                return True
            channels = layer.filters
    return False


#: Every known backend defect. None touches a case of ``reference_numpy.cases``: the parity table
#: has no rows for them; the random-spec tests (test_properties.py) leave such a framework out.
KNOWN_DEFECTS = (
    KnownDefect("torch-conv2d-one-filter-gradient", "keras-torch",
                "torch 2.13 (CPU) cannot take the kernel gradient of a conv2d with one output channel, a kernel "
                "larger than 1 x 1 and 2+ input channels when the weight and input are channels-last views, "
                "which is how Keras's torch backend calls it: RuntimeError 'slow_conv2d: grad_weight must be "
                "contiguous' (float32 and float64)", _one_filter_conv_over_channels),
)


def known_defect(framework: str, spec) -> KnownDefect | None:
    """The ``KNOWN_DEFECTS`` entry that keeps ``framework`` from running a model of ``spec``, if any."""
    framework = ALIASES.get(framework, framework)
    return next((d for d in KNOWN_DEFECTS if d.framework == framework and d.applies(spec)), None)


def keras_backend(framework: str) -> str | None:
    """The Keras backend of a harness framework name (``None`` for numpy and torch)."""
    return KERAS_FRAMEWORKS.get(ALIASES.get(framework, framework))


def framework_name(backend: str) -> str:
    """The harness framework name of a Keras backend: ``jax`` -> ``keras-jax``."""
    import impl_tf

    impl_tf.check_backend(backend)
    return next(name for name, b in KERAS_FRAMEWORKS.items() if b == backend)


def local_backend() -> str:
    """The Keras backend of this process (TensorFlow unless ``KERAS_BACKEND`` said otherwise)."""
    import impl_tf  # noqa: F401  (sets the default before keras is imported)

    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    return os.environ["KERAS_BACKEND"]


def is_remote(framework: str) -> bool:
    """Does ``framework`` run in a worker process (a Keras backend other than this process's)?"""
    backend = keras_backend(framework)
    return backend is not None and backend != local_backend()


# -- the worker side -------------------------------------------------------------------------

_WORKER_ERROR: BaseException | None = None
_ADAPTERS: dict[int, object] = {}


def _init_worker(backend: str, log: str) -> None:
    """Runs first in a new worker: output off the console, SIGINT to the parent, the backend chosen
    before keras is imported. An error is kept and raised by every call (``_run``), so the parent
    sees it instead of a broken pool."""
    global _WORKER_ERROR
    gc.disable()                                         # until the imports are done (as in conftest.py)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    target = os.open(log.replace("{backend}", backend) if log else os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(target, 1)
    os.dup2(target, 2)
    faulthandler.enable()                                # a crash leaves its traceback in the log
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    # This process only compiles tiny programs once or twice each: XLA's slowest optimizations
    # (LLVM's) would cost more compile time than they save run time.
    os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
    if backend == "jax" and Path(sys.prefix).resolve() == (ROOT / ".venv").resolve():
        # Compiling is most of a JAX run here; JAX's persistent cache (keyed by the program, the
        # compile options and the jax / jaxlib versions) keeps the compiled programs in .venv for the
        # next session: about 4x faster from the second run on, about 25 MB.
        os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(ROOT / ".venv" / "jax-cache"))
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
    try:
        import impl_tf

        impl_tf.configure(backend)
        import keras

        if keras.backend.backend() != backend:
            raise RuntimeError(f"the worker for {backend!r} started Keras on {keras.backend.backend()!r}")
        impl_tf.engine()
    except BaseException as error:                       # noqa: BLE001  (re-raised by every call)
        _WORKER_ERROR = error
    settle_garbage_collector()
    # Registered after the imports, so it runs before their own exit hooks (atexit runs the last first).
    atexit.register(_exit_now)


#: The garbage collector's thresholds in the suite's long-lived processes (``settle_garbage_collector``).
GC_THRESHOLDS = (700, 10, 100)


def settle_garbage_collector() -> None:
    """The end of a long-lived process's start-up (a pytest process once its tests are collected, a worker once
    it has imported its backend), with the collector off during the imports. What is alive now stays alive:
    moved out of the collector's reach (``gc.freeze``), TensorFlow's, torch's, jax's and Keras's millions of
    objects are no longer walked by every full collection. And a full collection comes after 100 collections
    of the middle generation instead of Python's 10 (``GC_THRESHOLDS``). Measured in the two pytest processes
    of a suite run: 12.4 s of garbage collection with Python's defaults, 8.1 s with the freeze alone, 3.7 s
    with both, at 80 MB more peak memory."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    gc.enable()


def _exit_now() -> None:
    """The worker's end. By interpreter exit, its pool has told it to stop, and multiprocessing has flushed
    its queues and its standard streams (``BaseProcess._bootstrap``); what is left are jax's, TensorFlow's and
    torch's own exit hooks tearing their runtimes down: seconds, with nothing to save (JAX writes its
    compilation cache as it compiles). End the process here instead."""
    os._exit(0)


class WorkerError(RuntimeError):
    """An exception from a worker that cannot travel back as itself (its class does not unpickle:
    JAX's tracer errors, for one); the message names the original type and keeps its traceback."""


def _run(fn, *args):
    if _WORKER_ERROR is not None:
        raise _WORKER_ERROR
    try:
        return fn(*args)
    except Exception as error:
        try:                                             # will the parent be able to rebuild it?
            pickle.loads(pickle.dumps(error))
        except Exception:                                # noqa: BLE001  (any failure: send a portable copy)
            trace = "".join(traceback.format_exception(error))
            raise WorkerError(f"{type(error).__module__}.{type(error).__qualname__}: {error}\n\n"
                              f"in the worker:\n{trace}") from None
        raise


def _new_adapter(framework, spec, params, dtype) -> int:
    from reports import harness

    adapter = harness.make_adapter(framework, spec, params, dtype)
    _ADAPTERS[id(adapter)] = adapter
    return id(adapter)


def _adapter_attribute(handle: int, name: str):
    """``("method", None)`` for a method of the adapter, else ``("value", its value)``."""
    value = getattr(_ADAPTERS[handle], name)
    return ("method", None) if callable(value) else ("value", value)


def _adapter_call(handle: int, name: str, args, kwargs):
    return getattr(_ADAPTERS[handle], name)(*args, **kwargs)


def _drop_adapters(handles) -> None:
    for handle in handles:
        _ADAPTERS.pop(handle, None)


def compute_case_as_shipped(case_name: str, framework: str, dtype: str):
    """``harness.compute_case`` with Keras's float64 type promotion as shipped (``impl_tf.keep_float64``
    switched off for this one call): the quantities, or the error Keras raised, as ``"Type: message"``.
    Measures the defect the workaround hides (``parity_tests/test_backends.py``)."""
    import impl_tf
    from reports import harness

    harness.clear_caches()                                # no adapter built with the workaround reused,
    impl_tf.keep_float64(False)                           # none built without it kept
    try:
        return harness.compute_case(case_name, framework, dtype)
    except Exception as error:                            # noqa: BLE001  (the defect can be an error)
        return f"{type(error).__name__}: {str(error).strip().splitlines()[0]}"
    finally:
        impl_tf.keep_float64(True)
        harness.clear_caches()


# -- the parent side -------------------------------------------------------------------------

@contextlib.contextmanager
def _main_hidden():
    """While a worker starts: ``spawn`` re-runs the parent's ``__main__`` script in the child (unless it
    is a ``-m`` package's ``__main__``), so a plain script calling the harness at top level would run
    again there and try to start workers of its own. The worker needs nothing from ``__main__``."""
    main = sys.modules["__main__"]
    saved = {name: main.__dict__[name] for name in ("__spec__", "__file__") if name in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__spec__ = None
    try:
        yield
    finally:
        main.__dict__.update(saved)
        if "__spec__" not in saved:
            main.__dict__.pop("__spec__", None)


def _noop() -> None:
    pass


def _pool(backend: str) -> concurrent.futures.ProcessPoolExecutor:
    import impl_tf

    with _LOCK:
        if backend not in _POOLS:
            impl_tf.require_backend(backend)             # a clear error here, not a broken pool later
            if not _POOLS:
                _register_shutdown()
            pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                initargs=(backend, os.environ.get("SUITE_WORKER_LOG", "")))
            with _main_hidden():
                pool.submit(_noop)                        # starts the process now, with __main__ hidden
            _POOLS[backend] = pool
        return _POOLS[backend]


def submit(backend: str, fn, *args) -> concurrent.futures.Future:
    """Run ``fn(*args)`` in the worker of ``backend`` (started on first use), after dropping the
    worker's adapters whose ``RemoteAdapter`` is gone (``_DROPPED``)."""
    pool = _pool(backend)
    dropped = _DROPPED.pop(backend, None)
    if dropped:
        pool.submit(_run, _drop_adapters, dropped)
    return pool.submit(_run, fn, *args)


def result(backend: str, future: concurrent.futures.Future):
    """The future's result; a worker that died takes its pool with it (the next call starts a new one)."""
    try:
        return future.result()
    except concurrent.futures.process.BrokenProcessPool as error:
        with _LOCK:
            if _POOLS.get(backend) is not None and _POOLS[backend]._broken:
                _POOLS.pop(backend).shutdown(wait=True, cancel_futures=True)
        raise RuntimeError(f"the worker process of the Keras backend {backend!r} died: {error}") from error


def call(backend: str, fn, *args):
    """``fn(*args)`` in the worker of ``backend``, waiting for the result."""
    return result(backend, submit(backend, fn, *args))


def prefetch(runs) -> None:
    """Queue ``(case_name, framework, dtype)`` runs of remote frameworks, in the given order, so their
    workers compute them while this process does its own work; ``case_result`` picks them up. A worker
    is handed ``IN_FLIGHT`` of them at a time (``_feed``), so direct calls go ahead of the queue."""
    queued = set()
    with _LOCK:
        for case_name, framework, dtype in runs:
            framework = ALIASES.get(framework, framework)
            key = (case_name, framework, dtype)
            if is_remote(framework) and key not in _PREFETCHED:
                queued.add(keras_backend(framework))
                _PENDING.setdefault(keras_backend(framework), {})[key] = None
    for backend in sorted(queued):
        _feed(backend)


def _feed(backend: str) -> None:
    """Hand the worker of ``backend`` its next pending runs until ``IN_FLIGHT`` are unfinished; each, once
    done, calls this again (from the executor's thread, hence the lock)."""
    from reports import harness

    while True:
        with _LOCK:
            pending = _PENDING.get(backend)
            busy = sum(not f.done() for (_, fw, _), f in _PREFETCHED.items() if keras_backend(fw) == backend)
            if not pending or busy >= IN_FLIGHT:
                return
            key = next(iter(pending))
            del pending[key]
            try:
                future = _PREFETCHED[key] = submit(backend, harness.compute_case, *key)
            except RuntimeError:                         # shut down meanwhile: nothing more to feed
                return
        future.add_done_callback(lambda _: _feed(backend))


def case_result(case_name: str, framework: str, dtype: str) -> dict[str, np.ndarray]:
    """``harness.compute_case`` in the worker of ``framework``'s backend (prefetched, or now: a run still
    pending is taken out of the queue and goes first)."""
    from reports import harness

    key = (case_name, framework, dtype)
    backend = keras_backend(framework)
    with _LOCK:
        future = _PREFETCHED.pop(key, None)
        _PENDING.get(backend, {}).pop(key, None)
    return result(backend, future or submit(backend, harness.compute_case, *key))


def shutdown() -> None:
    """Cancel queued work and stop every worker, waiting for the processes to exit -- side by side: a worker
    with jax or torch loaded takes seconds to exit."""
    with _LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
        _PREFETCHED.clear()
        _PENDING.clear()
    stopping = [threading.Thread(target=pool.shutdown, kwargs={"wait": True, "cancel_futures": True})
                for pool in pools]
    for thread in stopping:
        thread.start()
    for thread in stopping:
        thread.join()


def _register_shutdown() -> None:
    # concurrent.futures joins its workers in a threading "atexit" hook that runs before the atexit
    # module's, and waits for queued work unless it was cancelled: register there (later hooks run
    # first), falling back to atexit where that private hook does not exist.
    register = getattr(threading, "_register_atexit", None)
    try:
        register(shutdown) if register else atexit.register(shutdown)
    except RuntimeError:                                 # already shutting down
        atexit.register(shutdown)


class RemoteAdapter:
    """The adapter protocol of ``reference_numpy/adapter.py`` for a Keras backend that runs in a worker:
    the real ``KerasAdapter`` lives there, and every method call (and attribute read) is forwarded to
    it, NumPy in and out, so bad input raises the same errors with the same messages. The worker's
    adapter is dropped with the next call after this object is collected (``_DROPPED``)."""

    #: set per framework by ``adapter_class``
    harness_name: str = ""

    def __init__(self, spec, params, dtype="float64"):
        self.keras_backend = keras_backend(self.harness_name)
        self._handle = call(self.keras_backend, _new_adapter, self.harness_name, spec, params, dtype)
        self.spec, self.dtype = spec, np.dtype(dtype)            # (checked by the worker's adapter)
        weakref.finalize(self, _forget, self.keras_backend, self._handle)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        kind, value = call(self.keras_backend, _adapter_attribute, self._handle, name)
        if kind == "value":
            return value

        def method(*args, **kwargs):
            return call(self.keras_backend, _adapter_call, self._handle, name, args, kwargs)
        method.__name__ = name
        return method

    def __repr__(self):
        return f"RemoteAdapter({self.harness_name}, {type(self.spec).__name__}, {self.dtype})"


def _forget(backend: str, handle: int) -> None:
    """The finalizer of a ``RemoteAdapter``: no lock, no call into the executor (``_DROPPED``)."""
    _DROPPED.setdefault(backend, []).append(handle)


_CLASSES: dict[str, type] = {}


def adapter_class(framework: str) -> type:
    """A ``RemoteAdapter`` class for one remote Keras framework (``adapter_class("keras-jax")(spec, params)``)."""
    with _LOCK:
        if framework not in _CLASSES:
            from impl_tf.adapter import KerasAdapter  # the class attributes the harness reads

            _CLASSES[framework] = type(f"RemoteKerasAdapter_{keras_backend(framework)}", (RemoteAdapter,), {
                "harness_name": framework, "framework": KerasAdapter.framework,
                "clip_eps": KerasAdapter.clip_eps, "hyperparameter_dtype": KerasAdapter.hyperparameter_dtype})
        return _CLASSES[framework]
