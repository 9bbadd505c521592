"""The generic parity helper: run any case in any framework, compare any two frameworks.

The parity tests and the report both use this module, so "what the tests
assert" and "what the report shows" are the same numbers. Which quantities are
compared follows from the spec (``expected_quantities``: every parameter, every
recurrent state, both gradient kinds); a case whose results name fewer or other
quantities fails.

Frameworks (``FRAMEWORKS``): ``numpy``, ``torch`` and Keras on each of its backends, ``keras-tf``,
``keras-jax``, ``keras-torch`` -- one model definition (``impl_tf``), three engines for gradients and
steps (``impl_tf/engine_*.py``); ``PAIRS`` is every pair of the five. ``keras`` is kept as a second
name of ``keras-tf`` for callers (the in-process convention tests, the README's Python API); every
label the harness writes says ``keras-tf``. Keras fixes its backend per process, so this process runs
TensorFlow and the other two backends run in one long-lived worker process each
(``reports/backends.py``). The design, and why: a worker per backend rather than per case (start-up
is seconds: keras, TensorFlow, jax or torch get imported), a whole case per call (``compute_case``:
one round trip per case, NumPy arrays both ways, the same function the parent runs for its own
frameworks, so there is one definition of the quantities), ``prefetch`` (the workers compute queued
cases while this process computes its own: the two cores both work), and the workers never touch the
tests' in-process objects (``make_adapter`` of a worker's framework gives a ``RemoteAdapter`` that
forwards the adapter protocol). Their float64 runs use ``impl_tf.keep_float64``: as shipped, Keras
computes float64 in float32 on JAX and torch (``parity_tests/test_backends.py`` pins and measures it).

Error measures (normwise, never signed), for arrays ``a`` and ``b``::

    max_abs_err = max |a - b|
    max_rel_err = max |a - b| / max(max |a|, max |b|)

Tolerances, on ``max_rel_err`` (``tolerance(case, dtype)``):

    float64  1e-10  the foundation issue's bound, for every case. Measured: <= 2.3e-15 on
                    the MLPs, regressions and CNNs, <= 4.0e-14 on the recurrent nets (the
                    worst: the initial-state gradient after 50 tanh steps, shrunk by 1e22 on
                    the way), so any convention bug (a transpose, a gate order, a factor 2
                    in a loss, a float32 cast) shows as >= 1e-8.
    float32  eps32 * max(100, 10 * T), T the sequence length of a recurrent case (1 for a
                    feed-forward one). Each framework sums its matmuls in its own order
                    (blocked BLAS / oneDNN kernels), so float32 results differ by a few eps
                    per sequential layer: measured max 9 eps (1.05e-6) over the MLPs,
                    regressions and CNNs (a handful of layers: 100 eps leaves >10x margin), and up to 188 eps
                    on a gradient that went back through all 50 steps of a tanh RNN (the
                    initial-state gradient of ``rnn_tanh_last_bi_h0_T50_N1_H4``, shrunk by
                    1e22 on the way: about 4 eps per step). 10 eps per step keeps a 2.5x
                    margin and stays orders of magnitude below what a convention bug gives.

Subnormal floor: TensorFlow's CPU kernels flush subnormal results (below the smallest
normal number ``finfo(dtype).tiny``: 1.2e-38 in float32, 2.2e-308 in float64) to zero,
where NumPy and torch keep them (``parity_tests/test_conventions.py`` pins it). So an
absolute difference below ``tiny`` is not a difference: such a row passes, whatever its
relative error, and is marked ``subnormal``. It matters only for float32 quantities that
vanish to the subnormal range -- the gradient of an initial state after 50 sigmoid steps
(1e-43 .. 4e-37, measured abs. differences <= 7.3e-39, relative up to 1.0 where Keras
returns 0); any quantity of ordinary size has a relative error < 1e-30 from it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import itertools
import os
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np

from reference_numpy.cases import CASES_BY_NAME
from reference_numpy.gradcheck import relative_error
from reports import backends

#: Framework name -> its adapter. The three Keras columns are ONE model definition (``impl_tf``) on
#: Keras's three backends; a backend is fixed per process, so the ones this process does not run
#: (JAX and torch: this process runs TensorFlow) run in worker processes (``reports/backends.py``).
#: ``keras`` is accepted as another name of ``keras-tf`` (``backends.ALIASES``), never written as a label.
FRAMEWORKS = {
    "numpy": ("reference_numpy.adapter", "NumpyAdapter"),
    "torch": ("impl_torch.adapter", "TorchAdapter"),
    "keras-tf": ("impl_tf.adapter", "KerasAdapter"),
    "keras-jax": ("impl_tf.adapter", "KerasAdapter"),
    "keras-torch": ("impl_tf.adapter", "KerasAdapter"),
}
#: Every pair of frameworks, each compared on every case and dtype.
PAIRS = tuple(itertools.combinations(FRAMEWORKS, 2))
DTYPES = ("float64", "float32")
TOLERANCE = {"float64": 1e-10, "float32": float(100 * np.finfo(np.float32).eps)}
#: float32 allowance per sequential step of a recurrent case (see the module docstring).
EPS_PER_STEP = {"float64": 0.0, "float32": 10.0}


def tolerance(case, dtype: str) -> float:
    """The relative tolerance for one case in one dtype (module docstring)."""
    steps = case.seq_len or 1
    if isinstance(steps, tuple):              # seq2seq (S, T): the encoder's steps, then the decoder's
        steps = sum(steps)
    per_step = EPS_PER_STEP[dtype] * float(np.finfo(dtype).eps)
    return max(TOLERANCE[dtype], per_step * steps) if per_step else TOLERANCE[dtype]


def adapter_class(framework: str):
    """The adapter class of ``framework``: a ``backends.RemoteAdapter`` class for a Keras backend that
    runs in a worker process."""
    framework = backends.ALIASES.get(framework, framework)
    if framework not in FRAMEWORKS:
        raise ValueError(f"unknown framework {framework!r}; expected one of {', '.join(FRAMEWORKS)}")
    if backends.is_remote(framework):
        return backends.adapter_class(framework)
    module, name = FRAMEWORKS[framework]
    return getattr(importlib.import_module(module), name)


def make_adapter(framework: str, spec, params, dtype="float64"):
    return adapter_class(framework)(spec, params, dtype)


def quantities(adapter, x, target, upstream, initial_state=None) -> dict[str, np.ndarray]:
    """Every compared quantity of one adapter on one batch, keyed by quantity name.

    ``output``, ``loss``, ``grad_input``, ``grad:<param>`` (gradients of the loss) and
    ``vjp_input``, ``vjp:<param>`` (gradients of ``sum(upstream * output)`` for a
    random upstream: this path goes through the output activation's Jacobian,
    which the cross-entropy-from-logits path skips). Recurrent models add
    ``final:<state>`` (the states after the last step) and, when an initial state is
    given, ``grad_state:<state>`` and ``vjp_state:<state>`` (its gradients). A model with
    buffers (batch norm) adds ``buffer:<name>``: the running statistics right after the first
    ``forward`` -- in training mode updated once by that batch, in inference mode as loaded.

    A seq2seq model reads token ids ``x = src (N, S)`` and ``target = tgt (N, T)``: ``output`` is
    the teacher-forced logits ``(N, T, V)``, ``attention`` its weights ``(N, T, S)`` (with
    attention), and there is no input gradient (``grad_input`` / ``vjp_input``) for integer ids.
    """
    if adapter.seq2seq:
        out = {"output": adapter.forward(x, target=target)}
        if adapter.spec.attention is not None:
            out["attention"] = adapter.attention(x, target)
        res = adapter.loss_and_grads(x, target)
        out["loss"] = np.asarray(res.loss)
        out.update({f"grad:{n}": g for n, g in res.grads.items()})
        out.update({f"vjp:{n}": g for n, g in adapter.vjp(x, upstream, target=target).grads.items()})
        return out
    y, final = adapter.forward(x, initial_state, return_state=True)           # (final_state's states)
    out = {"output": y}
    out.update({f"buffer:{n}": b for n, b in adapter.buffers().items()})      # after exactly one forward
    out.update({f"final:{n}": s for n, s in final.items()})
    res = adapter.loss_and_grads(x, target, initial_state)
    out["loss"] = np.asarray(res.loss)
    out["grad_input"] = res.grad_input
    out.update({f"grad:{n}": g for n, g in res.grads.items()})
    out.update({f"grad_state:{n}": g for n, g in res.grad_state.items()})
    vjp = adapter.vjp(x, upstream, initial_state)
    out["vjp_input"] = vjp.grad_input
    out.update({f"vjp:{n}": g for n, g in vjp.grads.items()})
    out.update({f"vjp_state:{n}": g for n, g in vjp.grad_state.items()})
    return out


def expected_quantities(spec, given_state: bool, pair: tuple[str, str] | None = None) -> set[str]:
    """The names ``quantities`` must yield for a model of ``spec`` -- no fewer, no others.
    ``compare_case`` fails a case whose results name anything else, so a harness or adapter
    that silently drops (or invents) a quantity cannot pass.

    Everything follows from the spec; each attribute below has a default, so a new model
    family declares what differs on its spec class instead of editing this function::

        spec.param_shapes()         every parameter p:  grad:p, vjp:p                  (required)
        spec.state_shapes()         every state s:      final:s, and with a given initial
                                    state also grad_state:s, vjp_state:s     (default {}: none)
        spec.differentiable_input   False for integer inputs (token ids): no grad_input,
                                    vjp_input                                 (default True)
        spec.extra_quantities       further compared quantities, e.g. ("attention",) for an
                                    attention model                            (default ())
        spec.buffer_shapes()        every buffer b (batch norm's running statistics):
                                    buffer:b                                  (default {}: none)
        spec.buffer_conventions()   buffers whose training-mode update follows a convention,
                                    ``b -> (field, value)``                   (default {}: none)

    plus ``output`` and ``loss`` for every model. With a ``pair`` of frameworks, a buffer of
    ``spec.buffer_conventions()`` is compared only when BOTH frameworks run its convention
    (``value in batch_norm_conventions(fw)[field]``): torch updates the running
    variance with the unbiased batch variance, Keras with the biased one, no option in either
    (``compute_case`` runs a framework that cannot run the case's convention under its own:
    only that buffer differs, by the pinned factor n / (n - 1) on the batch part;
    ``parity_tests/test_regularization.py``). Never a loosened tolerance: the quantity is not
    compared for that pair, and compared at the usual tolerance for every other pair.

    (A seq2seq spec with token inputs and attention sets ``differentiable_input = False`` and
    ``extra_quantities = ("attention",)``.)
    """
    names = {"output", "loss"}
    if getattr(spec, "differentiable_input", True):
        names |= {"grad_input", "vjp_input"}
    names |= {f"{kind}:{p}" for p in spec.param_shapes() for kind in ("grad", "vjp")}
    states = spec.state_shapes() if hasattr(spec, "state_shapes") else {}
    names |= {f"final:{s}" for s in states}
    if given_state:
        names |= {f"{kind}:{s}" for s in states for kind in ("grad_state", "vjp_state")}
    names |= {f"buffer:{b}" for b in getattr(spec, "buffer_shapes", dict)()}
    if pair is not None:
        names -= {f"buffer:{b}" for b, convention in getattr(spec, "buffer_conventions", dict)().items()
                  if not all(runs_convention(fw, *convention) for fw in pair)}
    return names | set(getattr(spec, "extra_quantities", ()))


def runs_convention(framework: str, field: str, value) -> bool:
    """Whether ``framework`` trains a batch norm with ``BatchNorm.<field> = value``
    (``Adapter.batch_norm_conventions``; a field it does not list: any value)."""
    return value in batch_norm_conventions(framework).get(field, (value,))


def batch_norm_conventions(framework: str) -> dict:
    """``framework``'s ``Adapter.batch_norm_conventions``, read from its adapter class in this process (for a
    Keras backend run by a worker, the class is the same ``KerasAdapter``)."""
    module, name = FRAMEWORKS[backends.ALIASES.get(framework, framework)]
    return getattr(importlib.import_module(module), name).batch_norm_conventions


def runnable_spec(spec, framework: str):
    """``spec``, or -- for a framework that cannot train its batch norm's convention -- the same spec
    under that framework's own convention (the first of its ``batch_norm_conventions``). Only the
    training-mode update of the running variance differs, and ``expected_quantities`` leaves that
    buffer out of every comparison with such a framework."""
    bn = getattr(spec, "batch_norm", None)
    if bn is None:
        return spec
    conventions = batch_norm_conventions(framework)
    own = {field: allowed[0] for field, allowed in conventions.items() if getattr(bn, field) not in allowed}
    return dataclasses.replace(spec, batch_norm=dataclasses.replace(bn, **own)) if own else spec


def run_case(case_name: str, framework: str, dtype: str) -> dict[str, np.ndarray]:
    """``quantities`` of one case in one framework (cached: each runs once per session): computed here,
    or for a Keras backend this process does not run, by that backend's worker (``compute_case``
    there, one call per case; ``prefetch`` queues them ahead). With ``share_results`` on, a result that
    another process of the same test run has computed is read, and one computed here is written for
    the others."""
    framework = backends.ALIASES.get(framework, framework)
    if framework not in FRAMEWORKS:
        raise ValueError(f"unknown framework {framework!r}; expected one of {', '.join(FRAMEWORKS)}")
    if backends.is_remote(framework):
        return _worker_result(case_name, framework, dtype)
    return _local_result(case_name, framework, dtype)


@cache
def _worker_result(case_name: str, framework: str, dtype: str) -> dict[str, np.ndarray]:
    """A worker's result, kept for the whole session (``clear_caches`` keeps it: a patch in this process never
    reaches the worker's code)."""
    return backends.case_result(case_name, framework, dtype)


@cache
def _local_result(case_name: str, framework: str, dtype: str) -> dict[str, np.ndarray]:
    path = None if _shared_dir is None or _isolated else _shared_dir / f"{case_name}--{framework}--{dtype}.npz"
    if path is not None and path.exists():
        with np.load(path) as saved:
            return {name: saved[name] for name in saved.files}
    result = compute_case(case_name, framework, dtype)
    if path is not None:
        partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npz")
        np.savez(partial, **result)
        partial.replace(path)                       # whole or absent: another process never reads half a file
    return result


#: The directory that the processes of one test run share computed case results through (``share_results``).
_shared_dir: Path | None = None
#: Inside ``isolated()``: no shared result is read or written.
_isolated = 0


def share_results(directory) -> None:
    """Read and write ``run_case``'s results in ``directory`` (None: stop): the pytest processes of one run
    (``parity_tests/conftest.py``, under pytest-xdist) compute each case in each in-process framework once
    between them -- the Keras-on-TensorFlow ones cost seconds -- instead of once per process. A result is
    the same arrays the reading process would compute (the same code on the same case), stored losslessly."""
    global _shared_dir
    _shared_dir = None if directory is None else Path(directory)


def prefetch(runs) -> None:
    """Queue ``(case_name, framework, dtype)`` runs for the worker processes, in order, so that they compute
    while this process computes its own frameworks (``run_case`` picks the results up; a run of an
    in-process framework is ignored)."""
    backends.prefetch(runs)


def case_adapter(case_name: str, framework: str, dtype: str):
    """The adapter of one case in one framework (its runnable spec and parameters), built once per process
    and shared by whoever asks: for reading only (forward, gradients, ``get_params``, the framework model's
    own functions). Anything that trains it or changes its mode, buffers or parameters builds its own
    (``make_adapter``)."""
    return _case_adapter(case_name, backends.ALIASES.get(framework, framework), dtype)


@cache
def _case_adapter(case_name: str, framework: str, dtype: str):
    case = CASES_BY_NAME[case_name]
    return make_adapter(framework, runnable_spec(case.spec, framework), case.params(dtype), dtype)


def clear_caches() -> None:
    """Forget every case result (``run_case``) and case adapter (``case_adapter``) computed in this process
    (the workers' results stay: nothing here can change them)."""
    _local_result.cache_clear()
    _case_adapter.cache_clear()


@contextlib.contextmanager
def isolated():
    """For code that patches the frameworks (``parity_tests/test_mutations.py``): results and adapters
    computed before or under the patch are never reused (every cache is cleared on entry and on exit), and
    no result is read from or written to the other processes in between (``share_results``)."""
    global _isolated
    clear_caches()
    _isolated += 1
    try:
        yield
    finally:
        _isolated -= 1
        clear_caches()


def compute_case(case_name: str, framework: str, dtype: str) -> dict[str, np.ndarray]:
    """``quantities`` of one case in one framework, computed in this process."""
    case = CASES_BY_NAME[case_name]
    x, target, upstream = case.batch_data(dtype)
    if hasattr(case, "prepare"):                 # a regularization case: its running statistics and mode
        adapter = make_adapter(framework, runnable_spec(case.spec, framework), case.params(dtype), dtype)
        case.prepare(adapter, dtype)
    else:
        adapter = case_adapter(case_name, framework, dtype)
    return quantities(adapter, x, target, upstream, case.initial_state(dtype))


@dataclass(frozen=True)
class Row:
    model: str
    family: str
    frameworks: str
    dtype: str
    quantity: str
    shape: str
    max_abs_err: float
    max_rel_err: float
    tolerance: float
    passed: bool
    subnormal: bool = False       # abs. error below finfo(dtype).tiny: passes (module docstring)

    def message(self) -> str:
        note = " (difference below the smallest normal number)" if self.subnormal else ""
        return (f"{self.model} [{self.dtype}] {self.frameworks} {self.quantity}{self.shape}: "
                f"max abs err {self.max_abs_err:.3e}, max rel err {self.max_rel_err:.3e}, "
                f"tolerance {self.tolerance:.1e}{note} -> {'ok' if self.passed else 'FAIL'}")

    def as_dict(self) -> dict:
        return asdict(self)


def subnormal_floor(dtype: str) -> float:
    """Absolute differences below this are not differences (module docstring): ``finfo.tiny``."""
    return float(np.finfo(dtype).tiny)


def _shape_or_missing(result: dict[str, np.ndarray], q: str) -> str:
    return str(tuple(np.shape(result[q]))) if q in result else "(missing)"


def compare_results(model: str, family: str, pair: tuple[str, str], dtype: str,
                    a: dict[str, np.ndarray], b: dict[str, np.ndarray],
                    tolerance: float | None = None, expected: set[str] | None = None) -> list[Row]:
    """One row per quantity; a quantity present in only one result is a failing row.

    With ``expected`` (``expected_quantities(spec, given_state)``), a quantity missing from both
    results is a failing row too, and so is one that either result has but ``expected`` lacks
    (its shape column says "not expected for this spec")."""
    tol = TOLERANCE[dtype] if tolerance is None else tolerance
    frameworks = "-".join(pair)
    names = list(a) + [q for q in b if q not in a]
    if expected is not None:
        names += sorted(q for q in expected if q not in a and q not in b)
    rows = []
    for q in names:
        if q not in a or q not in b or np.shape(a[q]) != np.shape(b[q]):
            shape = f"{_shape_or_missing(a, q)} vs {_shape_or_missing(b, q)}"
            rows.append(Row(model, family, frameworks, dtype, q, shape, np.inf, np.inf, tol, False))
            continue
        if expected is not None and q not in expected:
            shape = f"{tuple(np.shape(a[q]))} not expected for this spec"
            rows.append(Row(model, family, frameworks, dtype, q, shape, np.inf, np.inf, tol, False))
            continue
        abs_err, rel_err = relative_error(a[q], b[q])
        subnormal = 0.0 < abs_err < subnormal_floor(dtype) and rel_err > tol
        rows.append(Row(model, family, frameworks, dtype, q, str(tuple(np.shape(a[q]))),
                        abs_err, rel_err, tol, bool(rel_err <= tol or subnormal), subnormal))
    return rows


def compare_case(case_name: str, pair: tuple[str, str], dtype: str) -> list[Row]:
    """Every quantity of one case, one framework pair, one dtype; the set of quantities must be
    exactly ``expected_quantities`` of the case's spec (missing or extra ones are failing rows)."""
    case = CASES_BY_NAME[case_name]
    expected = expected_quantities(case.spec, case.given_state, pair)
    # a buffer whose convention one of the two does not run is not compared (expected_quantities)
    a, b = ({q: v for q, v in run_case(case_name, fw, dtype).items() if q in expected or not q.startswith("buffer:")}
            for fw in pair)
    return compare_results(case.name, case.family, pair, dtype, a, b, tolerance(case, dtype), expected)


def assert_rows_pass(rows: list[Row]) -> None:
    failed = [r for r in rows if not r.passed]
    if failed:
        raise AssertionError(f"{len(failed)} of {len(rows)} quantities disagree:\n"
                             + "\n".join(r.message() for r in failed))
