"""Keras on its three backends -- ``keras-tf``, ``keras-jax``, ``keras-torch`` -- as frameworks of the suite:
the worker processes, bad input, and the backend findings, each pinned so that a Keras, JAX or torch
upgrade that changes it fails here.

Findings (Keras 3.15.1, jax 0.10.2, torch 2.13.0; the README's conventions table):

* float64 becomes float32 on JAX and torch. ``keras.backend.result_type`` maps every float64 result to
  float32 on every backend but TensorFlow (``BIT64_TO_BIT32_DTYPE`` in keras/src/backend/common/dtypes.py).
  As shipped: on JAX ``ops.tanh`` of float64 returns float32 and ``ops.mean`` sums in float32; on torch
  ``ops.matmul`` returns float32 (a float64 ``Dense`` casts it back) and every ``keras.losses.Loss``
  returns float32; a float64 tanh ``SimpleRNN`` on JAX raises (its ``lax.scan`` carry changes dtype).
  ``test_float64_promotion_as_shipped`` pins it op by op, ``test_float64_as_shipped_is_float32_accurate``
  per family (the models agree with NumPy to 1e-8 .. 1e-6 relative, not 1e-15). Handled by ONE
  workaround, ``impl_tf.keep_float64`` (float64 stays float64 in that table), which the parity rows run
  with; ``test_keep_float64_workaround`` shows it restores float64 exactly.
* Subnormal float32 results: XLA (JAX) flushes them to zero like TensorFlow; Keras on torch keeps them
  like torch (``test_subnormals_per_backend``). The harness's subnormal floor covers both.
* A known backend defect (``backends.KNOWN_DEFECTS``): Keras on torch cannot differentiate a Conv2D with
  one filter, a kernel larger than 1 x 1 and 2+ input channels -- torch 2.13's ``slow_conv2d`` refuses
  the channels-last views Keras passes (``test_torch_conv2d_with_one_filter_has_no_kernel_gradient``).
  Found by the random-spec tests; no parity case has such a layer.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import impl_tf
from reference_numpy.cases import CASES, CASES_BY_NAME
from reference_numpy.initializers import init_params
from reference_numpy.specs import CNNSpec, Conv2D, OptimizerSpec
from reports import backends, harness, training

ROOT = Path(__file__).resolve().parents[1]
REMOTE = ("keras-jax", "keras-torch")


# -- run in a worker (module-level functions: the worker imports this module to run them) ---------------

def float64_probe(keep: bool) -> dict:
    """What this process's Keras does with float64, with the workaround on (``keep``) or as shipped."""
    import keras
    from keras import ops

    impl_tf.keep_float64(keep)
    try:
        rng = np.random.default_rng(0)
        A, B = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
        a, b = ops.convert_to_tensor(A), ops.convert_to_tensor(B)

        def dtype(t):
            return keras.backend.standardize_dtype(t.dtype)

        def rel(t, exact):
            return float(np.max(np.abs(np.asarray(ops.convert_to_numpy(t), dtype=np.float64) - exact))
                         / np.max(np.abs(exact)))

        out = {"backend": keras.backend.backend(), "result_type": keras.backend.result_type("float64"),
               "tanh": (dtype(ops.tanh(a)), rel(ops.tanh(a), np.tanh(A))),
               "matmul": (dtype(ops.matmul(a, b)), rel(ops.matmul(a, b), A @ B)),
               "mean": (dtype(ops.mean(b)), rel(ops.mean(b), B.mean())),
               "mse": dtype(keras.losses.MeanSquaredError(dtype="float64")(b, 1.5 * b))}
        try:
            rnn = keras.layers.SimpleRNN(2, activation="tanh", dtype="float64")
            out["simple_rnn"] = dtype(rnn(ops.convert_to_tensor(rng.standard_normal((1, 3, 2)))))
        except TypeError as error:
            out["simple_rnn"] = f"TypeError: {error}"
        return out
    finally:
        impl_tf.keep_float64(True)


def subnormal_probe() -> list[float]:
    """``x * 1`` in float32 for x = [tiny / 64 (subnormal), tiny]."""
    from keras import ops

    tiny = np.finfo(np.float32).tiny
    x = ops.convert_to_tensor(np.array([tiny / 64, tiny], dtype=np.float32))
    return np.asarray(ops.convert_to_numpy(ops.multiply(x, ops.convert_to_tensor(np.float32(1.0))))).tolist()


def variables_only_gradient(name: str) -> tuple[float, float]:
    """The engine differentiates a function of the variables alone (no input: seq2seq's token ids):
    ``sum(W1**2)`` for the case's model; ``(its value's error, its gradient's error)`` against 2 W1."""
    from keras import ops

    case = CASES_BY_NAME[name]
    adapter = harness.make_adapter(harness.backends.framework_name(impl_tf.engine().BACKEND), case.spec,
                                   case.params())
    W1 = adapter.model.dense_stack.layers["dense1"].kernel
    value, inputs, grads = adapter.engine.gradients(lambda: ops.sum(W1 * W1), [], adapter.variables)
    W = case.params()["W1"]
    return abs(float(value) - float(np.sum(W * W))), float(np.max(np.abs(grads[0] - 2 * W))) + len(inputs)


def garbage_collector_state() -> tuple:
    """``(collector on, its thresholds, objects frozen)`` of the process it runs in."""
    import gc

    return gc.isenabled(), gc.get_threshold(), gc.get_freeze_count()


def program_reuse_probe() -> dict:
    """In the JAX worker: how often the engine traces a kept function, and how many programs it keeps."""
    from impl_tf import engine_jax

    case = CASES_BY_NAME["mlp_tanh_mse"]
    adapter = harness.make_adapter("keras-jax", case.spec, case.params())
    x, target, _ = case.batch_data()
    traced = []

    def forward(x_t, s_t):                                 # runs in Python only when it is traced
        traced.append(x_t.shape)
        return adapter.model(x_t, s_t)

    adapter.fns.forward = forward
    first, second = adapter.forward(x), adapter.forward(x)
    adapter.forward(x[:1])                                 # a new input shape: traced again
    same = bool(np.array_equal(first, second))
    for k in range(engine_jax.KEEP_PROGRAMS + 8):          # more functions than are kept
        engine_jax.evaluate(lambda v, k=k: v * k, np.ones(2))
    return {"traces": len(traced), "same": same, "kept": len(engine_jax._PROGRAMS),
            "limit": engine_jax.KEEP_PROGRAMS}


class Unrebuildable(Exception):
    """Like JAX's tracer errors: pickles, but its class cannot be rebuilt from its args."""

    def __init__(self, tracer, context):
        super().__init__(f"{tracer} in {context}")


def raise_unrebuildable():
    raise Unrebuildable("a tracer", "a trace")


# -- the frameworks ------------------------------------------------------------------------------------

def test_every_pair_of_five_frameworks():
    assert list(harness.FRAMEWORKS) == ["numpy", "torch", "keras-tf", "keras-jax", "keras-torch"]
    assert len(harness.PAIRS) == 10 and len(set(map(frozenset, harness.PAIRS))) == 10
    assert {fw for pair in harness.PAIRS for fw in pair} == set(harness.FRAMEWORKS)


def test_keras_is_another_name_for_keras_tf_here():
    """This process runs TensorFlow: keras-tf (alias keras) is the in-process KerasAdapter, the other two
    backends are RemoteAdapter classes bound to their framework."""
    from impl_tf.adapter import KerasAdapter

    assert harness.adapter_class("keras") is harness.adapter_class("keras-tf") is KerasAdapter
    assert [backends.is_remote(fw) for fw in ("numpy", "torch", "keras", "keras-tf", *REMOTE)] == [
        False, False, False, False, True, True]
    assert harness.adapter_class("keras-jax").harness_name == "keras-jax"
    assert harness.adapter_class("keras-torch").clip_eps == KerasAdapter.clip_eps


@pytest.mark.parametrize("framework", REMOTE)
def test_remote_adapter_is_the_same_protocol(framework):
    """A worker's adapter refuses bad input with the message every framework gives, and counts the same
    parameters as Keras on TensorFlow."""
    case = CASES_BY_NAME["mlp_tanh_ce"]
    remote = harness.make_adapter(framework, case.spec, case.params())
    local = harness.make_adapter("numpy", case.spec, case.params())
    assert remote.backend == backends.keras_backend(framework)
    assert remote.param_count() == harness.make_adapter("keras-tf", case.spec, case.params()).param_count()
    bad = np.zeros((2, case.spec.in_features + 1))
    with pytest.raises(ValueError) as expected:
        local.forward(bad)
    with pytest.raises(ValueError, match=f"^{re.escape(str(expected.value))}$"):
        remote.forward(bad)


@pytest.mark.parametrize("framework", REMOTE)
@pytest.mark.parametrize("case", ["mlp_tanh_mse", "lstm_last_h0_T1_N3_H4", "seq2seq_reversal"])
def test_sgd_steps_on_every_backend(framework, case):
    """Five SGD steps with global-norm clipping (active: the clip norm is below the gradients' norm),
    through the worker's adapter (JAX: ``optimizer.stateless_apply`` in one compiled step; torch:
    ``apply_gradients``), agree with NumPy to the float64 parity tolerance: losses and final weights."""
    case = CASES_BY_NAME[case]
    batches = training.minibatches(case, 5)
    optimizer = OptimizerSpec("sgd", lr=0.125, clip_norm=0.25, clip_eps=0.0)       # Keras's eps: none
    ref = training.train("numpy", case.spec, case.params(), batches, optimizer)
    run = training.train(framework, case.spec, case.params(), batches, optimizer)
    rows = harness.compare_results(case.name, case.family, ("numpy", framework), "float64",
                                   {"loss": ref.losses, **ref.params}, {"loss": run.losses, **run.params})
    assert len(rows) == 1 + len(case.spec.param_shapes())
    harness.assert_rows_pass(rows)
    first = next(iter(case.spec.param_shapes()))                    # W1 / Wx: the steps did move it
    assert not np.allclose(run.params[first], case.params()[first])


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_engine_differentiates_a_function_of_the_variables_alone(backend):
    value_err, grad_err = backends.call(backend, variables_only_gradient, "mlp_tanh_ce")
    assert value_err < 1e-12 and grad_err < 1e-12


# -- bad input -----------------------------------------------------------------------------------------

def test_unknown_backend_or_framework_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown Keras backend 'tensorflw'; the suite runs on 'tensorflow', "
                                         r"'jax', 'torch'"):
        impl_tf.check_backend("tensorflw")
    with pytest.raises(ValueError, match=r"unknown framework 'keras-jx'; expected one of numpy, torch, keras-tf, "
                                         r"keras-jax, keras-torch"):
        harness.make_adapter("keras-jx", CASES_BY_NAME["mlp_tanh_ce"].spec, CASES_BY_NAME["mlp_tanh_ce"].params())
    # KERAS_BACKEND itself: Keras's numpy backend exists but takes no gradients
    env = {**os.environ, "KERAS_BACKEND": "numpy"}
    proc = subprocess.run([sys.executable, "-c", "import impl_tf"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0 and "unknown Keras backend 'numpy'" in proc.stderr


def test_missing_backend_package_says_how_to_install(monkeypatch):
    """Simulated: ``sys.modules["jax"] = None`` is how Python marks a module that cannot be imported.
    The error comes before any worker starts."""
    monkeypatch.setitem(sys.modules, "jax", None)
    with pytest.raises(ModuleNotFoundError, match=r"needs the Python package 'jax'.*pip install jax==0\.10\.2"):
        impl_tf.require_backend("jax")
    monkeypatch.setattr(backends, "_POOLS", {})                  # no worker yet: the harness must start one
    case = CASES_BY_NAME["mlp_tanh_ce"]
    with pytest.raises(ModuleNotFoundError, match=r"pip install jax==0\.10\.2"):
        harness.make_adapter("keras-jax", case.spec, case.params())
    assert backends._POOLS == {}


def test_a_worker_that_cannot_start_says_why():
    """An error in the worker's start-up comes back with the first call, not as a broken pool."""
    import concurrent.futures
    import multiprocessing

    pool = concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                                  initializer=backends._init_worker, initargs=("numpy", ""))
    try:
        with pytest.raises(ValueError, match="unknown Keras backend 'numpy'"):
            pool.submit(backends._run, sum, [1, 2]).result(timeout=120)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def test_an_error_that_cannot_travel_comes_back_as_a_worker_error():
    """The pool survives it (an exception the parent cannot unpickle would otherwise break the pool)."""
    with pytest.raises(backends.WorkerError, match=r"Unrebuildable: a tracer in a trace(.|\n)*in the worker"):
        backends.call("torch", raise_unrebuildable)
    assert backends.call("torch", sum, [1, 2]) == 3


# -- the worker processes ------------------------------------------------------------------------------

EXIT_SCRIPT = textwrap.dedent("""
    from reference_numpy.cases import CASES
    from reports import backends, harness
    runs = [(c.name, "keras-torch", d) for c in CASES[:20] for d in ("float64", "float32")]
    harness.prefetch(runs)
    print(backends._POOLS["torch"]._processes and list(backends._POOLS["torch"]._processes)[0], flush=True)
    assert backends.call("torch", sum, [1, 2]) == 3
    assert len(backends._PENDING["torch"]) >= len(runs) - 2      # the call went ahead of the queued runs
    assert "output" in harness.run_case(*runs[0])
    assert "keras" not in __import__("sys").modules     # this process never needed Keras
    backends.call("torch", print, "a line the worker has not flushed")
    worker = next(iter(backends._POOLS["torch"]._processes.values()))
    # atexit hooks run after the pools' shutdown (registered with threading's earlier hooks): the worker has ended
    __import__("atexit").register(lambda: print(worker.exitcode, flush=True))
""")


@pytest.mark.parametrize("where", ["this process", "jax", "torch"])
def test_the_garbage_collector_is_on_with_the_imports_frozen(where):
    """``backends.settle_garbage_collector`` ran after the start-up of this pytest process (its tests collected)
    and of each worker (its backend imported): the collector is on again -- it is off during the imports --
    with the suite's thresholds, and the imported objects are frozen out of its reach."""
    on, thresholds, frozen = garbage_collector_state() if where == "this process" else backends.call(
        where, garbage_collector_state)
    assert on and thresholds == backends.GC_THRESHOLDS
    assert frozen > 100_000                                # torch, Keras and its backend: millions of objects


def test_workers_leave_no_output_no_process_and_no_wait_at_exit(tmp_path):
    """A script queues 40 cases for the torch worker, makes a direct call (served after at most one queued
    case, ``backends.IN_FLIGHT``, not after all 40), uses one case and exits without shutting anything down:
    it exits at once (the queued work is cancelled, not finished), prints nothing but its own lines (no
    TensorFlow / XLA start-up lines from the worker) and the worker process is gone (joined: no zombie).
    The worker ends with exit code 0 by ``backends._exit_now``, which skips the libraries' own exit hooks
    but not the worker's output: a line it printed without flushing is in its log."""
    log = tmp_path / "worker-{backend}.log"
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", EXIT_SCRIPT], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**{k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
                                            "SUITE_WORKER_LOG": str(log)})     # (buffered: what a flush must save)
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "" and len(proc.stdout.splitlines()) == 2, (proc.stdout, proc.stderr)
    pid, exitcode = map(int, proc.stdout.split())
    assert exitcode == 0
    assert "a line the worker has not flushed" in Path(str(log).replace("{backend}", "torch")).read_text()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert elapsed < 120, f"exit took {elapsed:.0f} s: queued work was finished instead of cancelled"


# -- findings ------------------------------------------------------------------------------------------

#: As shipped (``keep=False``), what each backend gives for float64 (``float64_probe``).
AS_SHIPPED = {
    "tensorflow": {"result_type": "float64", "tanh": "float64", "matmul": "float64", "mse": "float64",
                   "simple_rnn": "float64", "imprecise": set()},
    "jax": {"result_type": "float32", "tanh": "float32", "matmul": "float64", "mse": "float64",
            "simple_rnn": "TypeError", "imprecise": {"tanh", "mean"}},
    "torch": {"result_type": "float32", "tanh": "float64", "matmul": "float32", "mse": "float32",
              "simple_rnn": "float64", "imprecise": {"matmul", "mean"}},
}


def probe(backend: str, keep: bool) -> dict:
    return float64_probe(keep) if backend == "tensorflow" else backends.call(backend, float64_probe, keep)


@pytest.mark.parametrize("backend", AS_SHIPPED)
def test_float64_promotion_as_shipped(backend):
    """Fails when Keras changes it (then ``impl_tf.keep_float64`` may go): float64 ops return float32 or
    compute in float32 on JAX and torch -- relative error ~1e-7 where float64 gives ~1e-16 -- and the
    float64 tanh SimpleRNN on JAX raises."""
    got, want = probe(backend, keep=False), AS_SHIPPED[backend]
    assert got["backend"] == backend
    assert {k: got[k] for k in ("result_type", "mse")} == {k: want[k] for k in ("result_type", "mse")}
    assert {k: got[k][0] for k in ("tanh", "matmul")} == {k: want[k] for k in ("tanh", "matmul")}
    assert {k for k in ("tanh", "matmul", "mean") if got[k][1] > 1e-10} == want["imprecise"]
    assert all(1e-9 < got[k][1] < 1e-5 for k in want["imprecise"])             # float32 rounding, not a bug
    assert got["simple_rnn"].startswith(want["simple_rnn"])
    if backend == "jax":
        assert "carry" in got["simple_rnn"] and "float64" in got["simple_rnn"] and "float32" in got["simple_rnn"]


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_keep_float64_workaround(backend):
    got = probe(backend, keep=True)
    assert (got["result_type"], got["mse"], got["simple_rnn"]) == ("float64", "float64", "float64")
    assert all(got[k][0] == "float64" and got[k][1] < 1e-15 for k in ("tanh", "matmul", "mean"))


#: One small case per family; float64, as shipped: (case, backend) -> what the defect does to it.
#: Measured here: relative errors 9e-9 .. 5e-7 against NumPy (1e-15 with the workaround).
AS_SHIPPED_CASES = ["mlp_tanh_mse", "linear_regression", "cnn_same_stride2_even_kernel", "rnn_tanh_last_T1_N1_H1",
                    "lstm_last_h0_T1_N3_H4", "gru_reset_before_last_T1_N1_H1"]


@pytest.mark.parametrize("framework", REMOTE)
@pytest.mark.parametrize("case", AS_SHIPPED_CASES)
def test_float64_as_shipped_is_float32_accurate(case, framework):
    """The size of the defect on whole models: float32-accurate (between 1e-9 and 1e-5 relative, far above
    the 1e-10 tolerance), and the float64 tanh SimpleRNN on JAX fails outright."""
    result = backends.call(backends.keras_backend(framework), backends.compute_case_as_shipped, case, framework,
                           "float64")
    if framework == "keras-jax" and case.startswith("rnn_tanh"):
        assert isinstance(result, str) and result.startswith("TypeError"), result
        return
    assert not isinstance(result, str), result
    reference = harness.run_case(case, "numpy", "float64")
    worst = max(r.max_rel_err for r in harness.compare_results(case, "", ("numpy", framework), "float64",
                                                                reference, result)
                if not r.quantity.startswith("buffer:"))
    assert 1e-9 < worst < 1e-5, worst


ONE_FILTER = CNNSpec(2, 5, 5, layers=(Conv2D(1, (1, 2)),), hidden=(), out_features=1, output="identity", loss="mse")


def test_torch_conv2d_with_one_filter_has_no_kernel_gradient():
    """The known defect ``torch-conv2d-one-filter-gradient`` (``backends.KNOWN_DEFECTS``), minimal, in torch
    alone: a conv2d on channels-last views (what Keras's torch backend passes) with one output channel,
    a kernel larger than 1 x 1 and 2 input channels has no kernel gradient. Fails when torch fixes it."""
    import torch

    for dtype in (torch.float64, torch.float32):
        w = torch.ones((1, 2, 2, 1), dtype=dtype, requires_grad=True)           # HWIO, one filter
        x = torch.ones((1, 4, 4, 2), dtype=dtype)                               # NHWC
        y = torch.nn.functional.conv2d(x.permute(0, 3, 1, 2), w.permute(3, 2, 0, 1))
        with pytest.raises(RuntimeError, match="slow_conv2d: grad_weight must be contiguous"):
            torch.autograd.grad(y.sum(), [w])
    w2 = torch.ones((1, 2, 2, 2), dtype=torch.float64, requires_grad=True)      # two filters: fine
    y = torch.nn.functional.conv2d(x.permute(0, 3, 1, 2).double(), w2.permute(3, 2, 0, 1))
    assert torch.autograd.grad(y.sum(), [w2])[0].shape == w2.shape


def test_known_defects_are_narrow_and_real():
    """The list names exactly the models that fail: keras-torch on ONE_FILTER raises that error (the
    other frameworks run it), and no parity case is affected."""
    params = init_params(ONE_FILTER, 0)
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5))
    assert [fw for fw in harness.FRAMEWORKS if backends.known_defect(fw, ONE_FILTER)] == ["keras-torch"]
    with pytest.raises(RuntimeError, match="grad_weight must be contiguous"):
        harness.make_adapter("keras-torch", ONE_FILTER, params).vjp(x, np.ones((2, 1)))
    harness.make_adapter("keras-jax", ONE_FILTER, params).vjp(x, np.ones((2, 1)))
    two = dataclasses.replace(ONE_FILTER, layers=(Conv2D(2, (1, 2)),))
    assert backends.known_defect("keras-torch", two) is None
    assert not [c.name for c in CASES for fw in harness.FRAMEWORKS if backends.known_defect(fw, c.spec)]


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_subnormals_per_backend(backend):
    """float32 ``x * 1`` for a subnormal x: TensorFlow and XLA (JAX) flush it to 0, torch keeps it."""
    got = subnormal_probe() if backend == "tensorflow" else backends.call(backend, subnormal_probe)
    tiny = float(np.finfo(np.float32).tiny)
    assert got[1] == tiny
    assert got[0] == (float(np.float32(tiny / 64)) if backend == "torch" else 0.0)


# -- the suite's own scheduling (parity_tests/conftest.py) ---------------------------------------------

@pytest.mark.parametrize("nodeid, needs", [
    ("parity_tests/test_parity.py::test_parity[mlp_tanh_mse-numpy-keras-jax-float64]", True),
    ("parity_tests/test_parity.py::test_parity[mlp_tanh_mse-torch-keras-torch-float32]", True),
    ("parity_tests/test_parity.py::test_parity[mlp_tanh_mse-numpy-keras-tf-float64]", False),
    ("parity_tests/test_bad_input.py::test_bad_call_is_rejected_and_adapter_still_works[keras-jax-x_rank1]", True),
    ("parity_tests/test_bad_input.py::test_bad_call_is_rejected_and_adapter_still_works[torch-x_rank1]", False),
    ("parity_tests/test_bad_input.py::test_bad_call_fails_identically_in_every_framework[x_rank1]", True),
    ("parity_tests/test_properties.py::test_random_mlp_parity_float64", True),
    ("parity_tests/test_gradcheck.py::test_model_vjp[gru_last_bi_T50_N3_H1-x]", False),
])
def test_the_tests_that_need_a_worker_are_one_unit_of_work(nodeid, needs):
    """What ``python -m parity_tests`` keeps in one pytest process: a test that needs a Keras JAX / torch
    worker elsewhere would start a second set of workers (seconds each, and JAX compiling again)."""
    from parity_tests.conftest import calls_a_worker

    assert calls_a_worker(nodeid) is needs


@pytest.mark.parametrize("pair, last", [(("keras-tf", "keras-jax"), True), (("keras-tf", "keras-torch"), True),
                                        (("numpy", "keras-jax"), False), (("numpy", "keras-tf"), False),
                                        (("keras-jax", "keras-torch"), False)])
def test_keras_tf_against_a_worker_runs_last(pair, last):
    """Those tests need the Keras-on-TensorFlow result in the worker group's process too: run last, they find
    it shared by the other process (``harness.share_results``) instead of computing it a second time."""
    from types import SimpleNamespace

    from parity_tests.conftest import runs_last

    item = SimpleNamespace(originalname="test_parity", callspec=SimpleNamespace(params={"pair": pair}))
    assert runs_last(item) is last
    assert not runs_last(SimpleNamespace(originalname="test_own_loss", callspec=SimpleNamespace(params={})))


@pytest.fixture
def shared_results(tmp_path):
    """``harness.share_results(tmp_path)`` for one test, with empty in-process caches; as it was afterwards."""
    before = harness._shared_dir
    harness.clear_caches()
    harness.share_results(tmp_path)
    yield tmp_path
    harness.share_results(before)
    harness.clear_caches()


def test_a_shared_result_is_read_back_exactly_and_never_while_isolated(shared_results, monkeypatch):
    """A result another pytest process wrote is read back with every quantity, dtype and bit as computed;
    under a patch (``harness.isolated``) nothing is read or written."""
    case = "lstm_last_bi_h0_T50_N1_H4"
    written = harness.run_case(case, "keras-tf", "float32")           # computed here, and written
    assert [p.name for p in shared_results.iterdir()] == [f"{case}--keras-tf--float32.npz"]
    harness.clear_caches()                                           # as in another pytest process
    monkeypatch.setattr(harness, "compute_case", lambda *key: pytest.fail(f"recomputed {key}"))
    read = harness.run_case(case, "keras", "float32")                # the alias names the same result
    assert list(read) == list(written)
    for name in written:
        assert read[name].dtype == written[name].dtype and np.array_equal(read[name], written[name]), name
    # a patched framework (test_mutations.py): computed under the patch, neither read nor written
    monkeypatch.setattr(harness, "compute_case", lambda *key: {"patched": np.zeros(1)})
    with harness.isolated():
        assert list(harness.run_case(case, "keras-tf", "float32")) == ["patched"]
        assert list(harness.run_case(case, "numpy", "float32")) == ["patched"]
    assert sorted(p.name for p in shared_results.iterdir()) == [f"{case}--keras-tf--float32.npz"]
    assert list(harness.run_case(case, "keras-tf", "float32")) == list(written)   # the cache cleared on exit


# -- kept programs see every change (the JAX engine keeps one compiled program per function) -------------

def _same_results(a, b, x, target) -> None:
    """``forward`` and ``loss_and_grads`` of two adapters in the same state agree bit for bit."""
    assert np.array_equal(a.forward(x), b.forward(x)), "forward"
    ga, gb = a.loss_and_grads(x, target), b.loss_and_grads(x, target)
    assert ga.loss == gb.loss, "loss"
    for name in ga.grads:
        assert np.array_equal(ga.grads[name], gb.grads[name]), f"grad:{name}"


@pytest.mark.parametrize("case_name", ["mlp_bn_train_biased_keras_defaults", "mlp_dropout_l1_train"])
@pytest.mark.parametrize("framework", harness.FRAMEWORKS)
def test_an_adapter_follows_every_change_after_its_first_calls(framework, case_name):
    """A program compiled at an earlier call and kept (``engine_jax._PROGRAMS``, the compiled steps) must see
    every later change: new parameters, new buffers, a new mode and dropout masks, optimizer steps. After
    each change, ``forward`` and ``loss_and_grads`` equal those of a fresh adapter built in the same state,
    bit for bit; after two training-mode steps the parameters and batch norm's running statistics equal
    NumPy's (float64, 1e-12 relative: the same convention, a handful of products). A program that kept
    old parameters, statistics or mode fails here (the JAX step, before the statistics were inputs of
    its program, carried the first step's statistics into the second)."""
    case = CASES_BY_NAME[case_name]
    spec = harness.runnable_spec(case.spec, framework)
    x, target, _ = case.batch_data("float64")
    masks = case.dropout_masks()

    def fresh(params, buffers, training):
        b = harness.make_adapter(framework, spec, params, "float64")
        b.set_buffers(buffers)
        b.train(masks) if training else b.eval()
        return b

    a = harness.make_adapter(framework, spec, case.params("float64"), "float64")
    _same_results(a, fresh(case.params("float64"), a.buffers(), False), x, target)
    a.set_buffers(case.buffers("float64"))
    _same_results(a, fresh(case.params("float64"), case.buffers("float64"), False), x, target)
    a.set_optimizer(OptimizerSpec("sgd", lr=0.25))
    a.train_step(x, target)                                               # new parameters
    _same_results(a, fresh(a.get_params(), a.buffers(), False), x, target)
    a.train(masks)
    _same_results(a, fresh(a.get_params(), a.buffers(), True), x, target)   # (training mode: updates both)
    start = a.get_params(), a.buffers()
    for _ in range(2):
        a.train_step(x, target)
    if framework != "numpy":                                              # the same two steps in NumPy
        numpy = harness.make_adapter("numpy", spec, start[0])
        numpy.set_buffers(start[1])
        numpy.train(masks)
        numpy.set_optimizer(OptimizerSpec("sgd", lr=0.25))
        for _ in range(2):
            numpy.train_step(x, target)
        for kind, got, want in (("param", a.get_params(), numpy.get_params()),
                                ("buffer", a.buffers(), numpy.buffers())):
            for name in want:
                assert harness.relative_error(got[name], want[name])[1] <= 1e-12, f"{kind} {name} after two steps"
    a.eval()
    _same_results(a, fresh(a.get_params(), a.buffers(), False), x, target)


def test_the_jax_engine_reuses_a_kept_program_and_keeps_only_the_latest():
    """A second ``forward`` with the same input shape runs the kept program (no second trace); the engine
    keeps at most ``KEEP_PROGRAMS`` programs (keeping one per function for every adapter of a long-lived
    worker exhausted XLA's memory maps: "LLVM compilation error: Cannot allocate memory", a segfault)."""
    got = backends.call("jax", program_reuse_probe)
    assert got["same"]
    assert got["traces"] == 2                              # the first call and the new shape
    assert got["kept"] == got["limit"]
