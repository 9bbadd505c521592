"""Shared pytest set-up: the Keras backend is chosen before anything imports keras; the Keras
backends that run in worker processes (``reports/backends.py``) get the selected parity cases
queued ahead and are shut down at the end of the session.

Under pytest-xdist (``-n 2``, as ``python -m parity_tests`` runs), the tests that need a Keras-backend
worker are one unit of work (``pytest_xdist_make_scheduler``), so one pytest process runs them all and
starts the JAX and torch workers once; the other pytest processes never start one. The pytest processes
share the case results they compute (``harness.share_results``, a directory of this run), and the parity
tests of Keras-on-TensorFlow against a worker's backend run last (``pytest_collection_modifyitems``): by
then the other process has usually computed the Keras-on-TensorFlow side, which costs seconds per case."""

import atexit
import gc
import os
import re
import shutil
import tempfile
from pathlib import Path

# One BLAS / OpenMP / TensorFlow thread per process, set before NumPy, torch or TensorFlow is imported
# (here, in the xdist processes and in the Keras-backend workers, which inherit it): the tests' arrays
# are small, so more threads buy nothing, and with several processes on the cores each library's idle
# threads waiting (spinning) for work only take CPU time from the other processes.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
              "TF_NUM_INTEROP_THREADS"):
    os.environ.setdefault(_name, "1")

# No garbage collection while the test modules import TensorFlow, torch and jax (each of the collector's
# full passes walks everything imported so far); collection ends by freezing what was imported and turning
# the collector back on (``pytest_collection_finish``: ``backends.settle_garbage_collector``).
gc.disable()

import pytest  # noqa: E402

import impl_tf  # noqa: E402, F401  (sets KERAS_BACKEND=tensorflow)
from reports import backends, harness  # noqa: E402

#: The run's directory of shared case results: made by the controlling process, inherited by the xdist ones.
SHARED_RESULTS = "PARITY_TESTS_SHARED_RESULTS"
if "PYTEST_XDIST_WORKER" in os.environ and os.environ.get(SHARED_RESULTS):
    harness.share_results(os.environ[SHARED_RESULTS])

#: The xdist scope of the tests that need a Keras-backend worker (``pytest_xdist_make_scheduler``).
WORKER_GROUP = "keras-backend-workers"
#: Modules (``test_x.py``) and tests (``test_x.py::test_y``) that call the workers without a parameter
#: naming a remote framework.
WORKER_TESTS = ("test_backends.py", "test_properties.py", "test_report.py", "test_report_page.py", "test_seq2seq.py",
                "test_bad_input_cnn_rnn.py", "test_bad_input.py::test_bad_call_fails_identically_in_every_framework",
                "test_bad_input.py::test_integer_label_dtypes_behave_the_same_everywhere")
#: A test id with a parameter naming a remote framework (alone or in a pair): ``[keras-jax-x_rank1]``.
REMOTE_PARAMETER = re.compile(r"\[.*\bkeras-(jax|torch)\b")


def calls_a_worker(nodeid: str) -> bool:
    """Does the test ``nodeid`` need a Keras-backend worker?"""
    module, _, test = nodeid.partition("::")
    name = Path(module).name
    return (name in WORKER_TESTS or f"{name}::{test.split('[')[0]}" in WORKER_TESTS
            or bool(REMOTE_PARAMETER.search(nodeid)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """xdist's load scheduling, except that the tests needing a Keras-backend worker are one unit of work
    (what ``--dist loadgroup`` does with ``xdist_group`` marks, which pytest 9.2 + xdist 3.8 lose)."""
    from xdist.scheduler import LoadScopeScheduling

    class WorkerGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return WORKER_GROUP if calls_a_worker(nodeid) else nodeid

    return WorkerGroupScheduling(config, log)


def pytest_configure(config):
    if "PYTEST_XDIST_WORKER" not in os.environ and getattr(config.option, "numprocesses", None):
        os.environ[SHARED_RESULTS] = tempfile.mkdtemp(prefix="parity-results-")
        gc.enable()                                   # the controlling process collects no tests
    # At interpreter exit, Python's last garbage collections walk every object still alive -- the frameworks'
    # and the caches' millions: 1.5 s for a process that ran 180 cases, 2 to 4 s for the suite's. Frozen
    # (moved out of the collector's reach), they are not walked; reference counting still frees what it
    # frees, and this runs after pytest's own last collection (unraisable exceptions are still reported).
    atexit.register(gc.freeze)


def pytest_unconfigure(config):
    if "PYTEST_XDIST_WORKER" not in os.environ and os.environ.get(SHARED_RESULTS):
        shutil.rmtree(os.environ.pop(SHARED_RESULTS), ignore_errors=True)


def runs_last(item) -> bool:
    """A parity test of Keras-on-TensorFlow against the JAX or torch worker: it needs the Keras-on-TensorFlow
    result in the worker group's process too."""
    pair = getattr(item, "callspec", None) and item.callspec.params.get("pair")
    return (getattr(item, "originalname", None) == "test_parity" and pair is not None
            and "keras-tf" in pair and any(backends.is_remote(fw) for fw in pair))


def pytest_collection_modifyitems(items):
    """Move the parity tests of Keras-on-TensorFlow against a worker to the end (the same order in every
    xdist process, as xdist requires)."""
    items.sort(key=runs_last)                         # stable: the order is kept within each part


def queue_parity_runs(items) -> None:
    """Queue ``(case, framework, dtype)`` of every ``test_parity`` item, in test order, for the workers
    (``harness.prefetch`` keeps the remote ones; nothing starts when there are none)."""
    runs = [(item.callspec.params["case"], framework, item.callspec.params["dtype"])
            for item in items if getattr(item, "originalname", None) == "test_parity"
            for framework in item.callspec.params["pair"]]
    if runs:
        harness.prefetch(runs)


def pytest_collection_finish(session):
    """Queue every (case, framework, dtype) that the selected ``test_parity`` items need from a worker,
    in test order: the JAX and torch workers compute them while this process runs the other tests
    (``harness.prefetch``). Nothing starts for ``--collect-only`` or a selection without such items.
    An xdist process queues them when it starts the group's first test (``pytest_runtest_setup``): only
    then does it know that the group is its own."""
    if not (session.config.option.collectonly or hasattr(session.config, "workerinput")):
        queue_parity_runs(session.items)
    backends.settle_garbage_collector()              # (off while the test modules imported: see the top)


_queued_here = False          # this xdist process has queued the parity runs (it runs the group)


def pytest_runtest_setup(item):
    global _queued_here
    if hasattr(item.config, "workerinput") and calls_a_worker(item.nodeid) and not _queued_here:
        _queued_here = True
        queue_parity_runs(item.session.items)


def pytest_sessionfinish(session):
    backends.shutdown()
