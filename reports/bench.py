"""``python -m reports bench``: how fast each framework runs the suite's models, beside a plain torch step.

For each family x framework x dtype, the median wall time of a forward pass (``adapter.forward``) and of
one training step (``adapter.train_step`` with plain SGD) through the adapters' public API, at these
sizes (float32 unless ``--dtypes`` says otherwise)::

    mlp       784-256-128-10, relu, softmax cross-entropy on int labels            batch 128
    cnn       1x28x28 -> Conv2D(16, 3x3, same, relu) -> MaxPool 2 -> Conv2D(32, 3x3, same, relu)
              -> MaxPool 2 -> Flatten (32*7*7) -> Dense 10, softmax cross-entropy  batch 64
    rnn       SimpleRNN(tanh), D 32 -> H 64, T 32, many-to-one, Dense 10, mse     batch 64
    lstm      LSTM,            D 32 -> H 128, T 32, many-to-one, Dense 10, mse    batch 64
    gru       GRU (reset_after), D 32 -> H 128, T 32, many-to-one, Dense 10, mse  batch 64
    seq2seq   LSTM encoder-decoder + dot attention, vocab 32 (source and target), embed 64,
              hidden 128, S = T = 16 (mixed lengths, right-padded), teacher forcing   batch 64

The baseline, ``torch-plain``, is the same network written as a torch user would: ``nn`` modules
(``nn.Linear``, ``nn.Conv2d``, ``nn.MaxPool2d``, ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` with
``batch_first=True``, ``nn.Embedding`` and ``pack_padded_sequence`` for the encoder), the loss from
``F.cross_entropy`` / ``F.mse_loss``, ``torch.optim.SGD``; a step is ``zero_grad, loss, backward, step,
loss.item()`` on ``torch.from_numpy`` of the NumPy batch (no copy), a forward pass runs under
``torch.no_grad()`` and returns NumPy. Its weights are torch's own initialization (the timing does not
depend on the values; the adapters start from the suite's ``init_params``).

How it is timed. All frameworks of one (family, dtype) run in ONE process in interleaved rounds: each
round times one forward pass and then one training step of every framework in turn (the order rotates
from round to round), so a load that drifts (the machine is shared) hits every framework alike. The
first ``--warmup`` rounds are dropped (first-call costs: graph tracing, allocator warm-up, caches).
``median_ms`` is the median over the timed rounds; ``ratio_to_torch`` is computed pair by pair: in each
round ``t(framework) / t(torch-plain)`` of the same mode, then the median of those ratios (more robust
than a ratio of medians when the load changes between rounds).

Achieved GFLOP/s count the matrix products only, analytically (``workload``): a product of an
``(M, K)`` by a ``(K, P)`` matrix is ``2 M K P`` FLOPs; a training step is 3x the forward count (each
product ``x @ W`` has two backward products of the same size, ``du @ W.T`` and ``x.T @ du``; the
input gradient of the first layer is counted though torch and Keras skip it). Convolutions count as
their im2col product ``2 (N OH OW) (C KH KW) F``; the recurrent nets ``T`` steps of
``2 N (D + H) (G H)`` (G gate blocks) plus the head; seq2seq ``S + T`` such steps, the dot attention's
two batched products ``2 N T S H`` each, and the projection ``2 N T (2H) V``. Elementwise work,
pooling, softmax and embedding lookups are not counted. Beside it, ``matmul_limit_gflops`` is the
machine's measured limit in that dtype: the best of a few large square matrix products (n = 2048) in
NumPy and in torch, measured in the same run.

The machine, as the run leaves it (all recorded in ``bench.md``): ``--threads N`` runs every framework on N
threads (default: each library's own, one per core; on a loaded machine a parallel region waits for
its slowest thread, so ``--threads 1`` measures the code rather than the scheduler). Freed memory is
kept in the process (glibc ``mallopt``, ``keep_freed_memory``; ``--release-freed-memory`` leaves glibc as
it is), and ``page_faults`` counts the minor page faults of one call (median): fresh pages the call
touched. NumPy's BLAS is whatever OpenBLAS picked for this CPU (``bench.md`` names its kernels; the
variables ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE``, set before the run, override the choice, and
``bench.md`` records both). The machine these numbers were first taken on sets ``OPENBLAS_CORETYPE=Haswell``
and ``OPENBLAS_L2_SIZE`` in its environment (older OpenBLAS builds compute wrong results on its CPU), where the
current OpenBLAS alone picks SkylakeX kernels: with Haswell's the NumPy SimpleRNN, LSTM and GRU steps are 30
to 40 % slower. To time NumPy as it runs on such a machine without them, unset both for the
benchmark command alone (``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 -m reports bench``; the tests
and CI keep the environment as it is) and check the kernels ``bench.md`` names.

Frameworks: ``numpy``, ``torch``, ``keras-tf`` (``keras`` is accepted for it) run in this process.
``keras-jax`` and ``keras-torch`` (a Keras backend is fixed per process, ``reports/backends.py``) run in
one worker process each (``python -m reports.bench --worker BACKEND ...``), where they are interleaved
with their own ``torch-plain`` baseline; their ratios are to that baseline (the ``process`` column).

Writes ``bench.csv`` (one row per family, framework, dtype, mode: ``family, framework, dtype, mode,
size, median_ms, min_ms, ratio_to_torch, gflops, matmul_limit_gflops, pct_of_limit, page_faults,
rounds, process``) and ``bench.md`` (the ratio tables, every row, the sizes, the machine and its load)
into ``--out``, and prints the train-step ratio table.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: The families, in the table's order.
FAMILIES = ("mlp", "cnn", "rnn", "lstm", "gru", "seq2seq")
#: The frameworks timed through their adapters; ``BASELINE`` is the plain torch step they are divided by.
FRAMEWORKS = ("numpy", "torch", "keras-tf", "keras-jax", "keras-torch")
DEFAULT_FRAMEWORKS = ("numpy", "torch", "keras-tf")
ALIASES = {"keras": "keras-tf"}
BASELINE = "torch-plain"
DTYPES = ("float32", "float64")
MODES = ("forward", "train_step")
#: Rounds: timed and warm-up (dropped); ``--quick``: fewer.
ROUNDS, WARMUP = 30, 5
QUICK_ROUNDS, QUICK_WARMUP = 3, 1
#: SGD learning rate of every step (float32-exact, so Keras's float32 copy of it is the same number).
LR = 2.0 ** -7
#: The square matrix size of the matmul-limit measurement (quick mode: smaller).
LIMIT_N, QUICK_LIMIT_N = 2048, 1024
OUTPUT_FILES = ("bench.csv", "bench.md")
COLUMNS = ("family", "framework", "dtype", "mode", "size", "median_ms", "min_ms", "ratio_to_torch", "gflops",
           "matmul_limit_gflops", "pct_of_limit", "page_faults", "rounds", "process")
#: Issue 13's targets: the float32 training step's ratio to torch-plain, by framework and family.
TARGETS = {"numpy": {"mlp": 1.0, "cnn": 1.5, "rnn": 0.5, "lstm": 1.5, "gru": 0.9},
           "torch": dict.fromkeys(("mlp", "cnn", "rnn", "lstm", "gru"), 1.1),
           "keras-tf": dict.fromkeys(("mlp", "cnn", "rnn", "lstm", "gru"), 1.3)}


# -- the workloads ------------------------------------------------------------------------------------
@dataclass
class Workload:
    """One family at the benchmark's size: the spec, a batch, the FLOPs of a forward pass."""

    family: str
    size: str
    spec: object
    x: np.ndarray                       # float input, or source ids (seq2seq)
    target: np.ndarray                  # int labels, float targets, or target ids (seq2seq)
    forward_flops: float
    seed: int = 0

    @property
    def seq2seq(self) -> bool:
        return self.family == "seq2seq"

    def flops(self, mode: str) -> float:
        return self.forward_flops * (3.0 if mode == "train_step" else 1.0)


def dense_flops(n: int, sizes) -> float:
    """``sum_l 2 N H_{l-1} H_l`` over the dense layers ``sizes = (D, H_1, ..., K)``."""
    return float(sum(2 * n * a * b for a, b in zip(sizes[:-1], sizes[1:])))


def recurrent_flops(n: int, steps: int, d: int, h: int, gates: int) -> float:
    """``T`` steps of ``x_t @ Wx`` and ``h @ Wh``: ``2 N T (D + H) (G H)``."""
    return float(2 * n * steps * (d + h) * gates * h)


GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def workload(family: str, dtype: str) -> Workload:
    """The ``family``'s benchmark workload in ``dtype`` (module docstring)."""
    from reference_numpy.specs import CNNSpec, Conv2D, MLPSpec, Pool2D, RNNSpec, Seq2SeqSpec

    rng = np.random.default_rng(13)
    if family == "mlp":
        n, sizes = 128, (784, 256, 128, 10)
        spec = MLPSpec(784, (256, 128), 10, activation="relu", output="softmax", loss="softmax_cross_entropy")
        return Workload(family, "784-256-128-10, N=128", spec, rng.standard_normal((n, 784)).astype(dtype),
                        rng.integers(0, 10, n), dense_flops(n, sizes))
    if family == "cnn":
        n = 64
        spec = CNNSpec(1, 28, 28, layers=(Conv2D(16, 3, padding="same"), Pool2D("max", 2),
                                          Conv2D(32, 3, padding="same"), Pool2D("max", 2)),
                       hidden=(), out_features=10)
        conv = 2 * n * 28 * 28 * 16 * (1 * 9) + 2 * n * 14 * 14 * 32 * (16 * 9)
        return Workload(family, "1x28x28 conv16-pool-conv32-pool-dense10, 3x3 same, N=64", spec,
                        rng.standard_normal((n, 1, 28, 28)).astype(dtype), rng.integers(0, 10, n),
                        float(conv) + dense_flops(n, (32 * 7 * 7, 10)))
    if family in GATES:
        n, t, d, k = 64, 32, 32, 10
        h = 64 if family == "rnn" else 128
        spec = RNNSpec(family, d, h, k)
        name = {"rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}[family]
        return Workload(family, f"{name} D={d} H={h} T={t}, many-to-one, N={n}", spec,
                        rng.standard_normal((n, t, d)).astype(dtype), rng.standard_normal((n, k)).astype(dtype),
                        recurrent_flops(n, t, d, h, GATES[family]) + dense_flops(n, (h, k)))
    if family == "seq2seq":
        from reference_numpy.cases import Case

        n, s, t, v, e, h = 64, 16, 16, 32, 64, 128
        spec = Seq2SeqSpec("lstm", v, v, e, h, attention="dot")
        src, tgt, _ = Case("bench_seq2seq", spec, 13, batch=n, inputs="tokens", seq_len=(s, t)).batch_data(dtype)
        flops = (recurrent_flops(n, s + t, e, h, 4) + 2 * (2 * n * t * s * h) + dense_flops(n * t, (2 * h, v)))
        return Workload(family, f"LSTM + dot attention, V={v} E={e} H={h} S=T={s}, N={n}", spec, src, tgt, flops)
    raise ValueError(f"unknown family {family!r}; expected one of {', '.join(FAMILIES)}")


# -- the plain torch baseline ----------------------------------------------------------------------
def plain_torch_model(w: Workload, dtype: str):
    """The workload's network as a torch user writes it (module docstring): ``(model, loss_fn)`` where
    ``model(x)`` gives what the loss reads and ``loss_fn(output, target)`` the loss."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch_dtype = getattr(torch, dtype)
    spec = w.spec
    if w.family == "mlp":
        model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
        return model.to(torch_dtype), F.cross_entropy
    if w.family == "cnn":
        model = nn.Sequential(nn.Conv2d(1, 16, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(16, 32, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
        return model.to(torch_dtype), F.cross_entropy
    if w.family in GATES:
        layer = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[w.family]

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = layer(spec.in_features, spec.hidden, batch_first=True)
                self.head = nn.Linear(spec.hidden, spec.out_features)

            def forward(self, x):
                _, state = self.rnn(x)
                h_n = state[0] if isinstance(state, tuple) else state      # (1, N, H)
                return self.head(h_n[-1])                                   # (N, K)

        return Net().to(torch_dtype), F.mse_loss
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    class Seq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            e, h, v = spec.embed, spec.hidden, spec.tgt_vocab
            self.src_embed, self.tgt_embed = nn.Embedding(spec.src_vocab, e), nn.Embedding(v, e)
            self.encoder = nn.LSTM(e, h, batch_first=True)
            self.decoder = nn.LSTM(e, h, batch_first=True)
            self.out = nn.Linear(2 * h, v)

        def forward(self, src, tgt):
            mask = src != 0
            packed = pack_padded_sequence(self.src_embed(src), mask.sum(1), batch_first=True, enforce_sorted=False)
            enc, state = self.encoder(packed)
            enc, _ = pad_packed_sequence(enc, batch_first=True, total_length=src.shape[1])
            dec_in = torch.cat([torch.ones_like(tgt[:, :1]), tgt[:, :-1]], dim=1)        # bos = 1
            dec, _ = self.decoder(self.tgt_embed(dec_in), state)
            scores = (dec @ enc.transpose(1, 2)).masked_fill(~mask[:, None, :], float("-inf"))
            context = torch.softmax(scores, dim=-1) @ enc
            return self.out(torch.cat([dec, context], dim=-1))

    def loss_fn(logits, tgt):
        return F.cross_entropy(logits.flatten(0, 1), tgt.flatten(), ignore_index=0)

    return Seq2Seq().to(torch_dtype), loss_fn


class PlainTorch:
    """``forward()`` and ``train_step()`` of the plain torch baseline on the workload's batch."""

    def __init__(self, w: Workload, dtype: str):
        import torch

        self.torch = torch
        self.model, self.loss_fn = plain_torch_model(w, dtype)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=LR)
        self.w = w

    def _inputs(self):
        t = self.torch.from_numpy
        if self.w.seq2seq:
            return (t(self.w.x), t(self.w.target)), t(self.w.target)
        return (t(self.w.x),), t(self.w.target)

    def forward(self):
        inputs, _ = self._inputs()
        with self.torch.no_grad():
            return self.model(*inputs).numpy()

    def train_step(self):
        inputs, target = self._inputs()
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(*inputs), target)
        loss.backward()
        self.optimizer.step()
        return loss.item()


class AdapterRunner:
    """``forward()`` and ``train_step()`` of a framework's adapter (the public API) on the batch."""

    def __init__(self, framework: str, w: Workload, dtype: str):
        from reference_numpy.initializers import init_params
        from reference_numpy.specs import OptimizerSpec
        from reports import harness

        params = init_params(w.spec, seed=w.seed, method="he", bias="normal", dtype=dtype)
        self.adapter = harness.make_adapter(framework, w.spec, params, dtype)
        self.adapter.set_optimizer(OptimizerSpec("sgd", lr=LR))
        self.w = w

    def forward(self):
        if self.w.seq2seq:
            return self.adapter.forward(self.w.x, target=self.w.target)
        return self.adapter.forward(self.w.x)

    def train_step(self):
        return self.adapter.train_step(self.w.x, self.w.target)


# -- timing --------------------------------------------------------------------------------------------
def minor_faults() -> int:
    """Minor page faults of this process so far (a fresh page touched for the first time)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_rounds(runners: dict, rounds: int, warmup: int, bar=None) -> dict[tuple[str, str], np.ndarray]:
    """``{(framework, mode): (seconds, page faults) per timed round}`` (an array ``(rounds, 2)``):
    interleaved rounds, the order of the frameworks rotating by one each round; the first ``warmup``
    rounds are not kept."""
    names = list(runners)
    times = {(f, m): [] for f in names for m in MODES}
    gc.collect()
    for r in range(warmup + rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for mode in MODES:
            for name in order:
                fn = getattr(runners[name], mode)
                faults, start = minor_faults(), time.perf_counter()
                fn()
                elapsed, faults = time.perf_counter() - start, minor_faults() - faults
                if r >= warmup:
                    times[(name, mode)].append((elapsed, faults))
        if bar is not None:
            bar.update()
    return {k: np.asarray(v, dtype=np.float64) for k, v in times.items()}


def matmul_limit(dtype: str, n: int = LIMIT_N, repeats: int = 5) -> float:
    """The machine's matmul limit in GFLOP/s: the best of ``repeats`` (n, n) @ (n, n) products in NumPy and
    in torch (``2 n^3`` FLOPs each)."""
    import torch

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n)).astype(dtype), rng.standard_normal((n, n)).astype(dtype)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    best = np.inf
    for fn in (lambda: a @ b, lambda: ta @ tb):
        fn()
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
    return 2.0 * n ** 3 / best / 1e9


def rows_for(w: Workload, dtype: str, times: dict, limit: float, process: str) -> list[dict]:
    """One row per (framework, mode) of one workload (module docstring's columns)."""
    rows = []
    for (name, mode), measured in times.items():
        t, faults, base = measured[:, 0], measured[:, 1], times[(BASELINE, mode)][:, 0]
        median = float(np.median(t))
        gflops = w.flops(mode) / median / 1e9
        rows.append({"family": w.family, "framework": name, "dtype": dtype, "mode": mode, "size": w.size,
                     "median_ms": 1e3 * median, "min_ms": 1e3 * float(np.min(t)),
                     "ratio_to_torch": float(np.median(t / base)), "gflops": gflops,
                     "matmul_limit_gflops": limit, "pct_of_limit": 100.0 * gflops / limit,
                     "page_faults": float(np.median(faults)), "rounds": len(t), "process": process})
    return rows


@contextlib.contextmanager
def fd2_to_devnull():
    """File descriptor 2 to ``os.devnull`` for the block, which gets a file on the real stderr (for the
    progress bar): TensorFlow 2.21 writes start-up and first-call lines (absl, oneDNN) there from C++,
    whatever ``TF_CPP_MIN_LOG_LEVEL`` says. fd 2 is restored before an exception propagates."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    real_stderr = os.fdopen(os.dup(saved), "w", buffering=1)
    os.dup2(devnull, 2)
    try:
        yield real_stderr
    finally:
        sys.stderr.flush()
        real_stderr.close()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_frameworks(keras_backend: str | None) -> None:
    """Import torch and, with a ``keras_backend``, Keras on it, with their start-up chatter silenced."""
    with fd2_to_devnull(), quiet():
        import impl_tf  # (sets KERAS_BACKEND and TF_CPP_MIN_LOG_LEVEL before keras is imported)

        if keras_backend is not None:
            impl_tf.configure(keras_backend)
            import keras  # noqa: F401
        import torch  # noqa: F401


def keep_freed_memory() -> str:
    """glibc: keep freed memory in the process instead of handing it back to the system (``mallopt``: no
    heap trimming, no ``mmap`` for blocks under 32 MB). With glibc's defaults a step's big temporaries
    are returned when freed and the next step page-faults on fresh pages again (the ``page_faults``
    column); on this project's VM a fault costs about 10 us, which made the NumPy LSTM's forward pass
    3x slower, and how many faults a framework takes depends on what the OTHER frameworks in the same
    process allocated before it -- interleaving would then measure the allocator's history. Kept memory
    treats every framework alike. Returns the setting as the report states it."""
    import ctypes
    import ctypes.util

    m_trim_threshold, m_mmap_threshold = -1, -3
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(m_trim_threshold, 2 ** 30) == 1 and libc.mallopt(m_mmap_threshold, 2 ** 25) == 1
    except (OSError, AttributeError):
        ok = False
    return "kept in the process (glibc mallopt)" if ok else "allocator defaults (not glibc: mallopt unavailable)"


def limit_threads(n: int | None) -> str:
    """Run every framework on ``n`` threads (``None``: each library's default, one per core), before any of
    them has started its thread pools: torch (intra- and inter-op), NumPy's BLAS and OpenMP
    (``threadpoolctl``), TensorFlow (intra- and inter-op); JAX's worker sets ``XLA_FLAGS``. On a loaded
    machine (load average above the core count) a parallel region waits for its slowest thread, which
    the scheduler may not run for milliseconds: ``--threads 1`` measures the code, not the contention.
    Returns the setting as the report states it."""
    if n is None:
        return f"library defaults ({os.cpu_count()} cores)"
    import threadpoolctl
    import torch

    torch.set_num_threads(n)
    with contextlib.suppress(RuntimeError):          # only before the first inter-op parallel work
        torch.set_num_interop_threads(n)
    threadpoolctl.threadpool_limits(limits=n)
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        with contextlib.suppress(RuntimeError):      # only before TensorFlow's context is initialized
            tf.config.threading.set_intra_op_parallelism_threads(n)
            tf.config.threading.set_inter_op_parallelism_threads(n)
    return f"{n} per framework"


@contextlib.contextmanager
def quiet():
    """Keep library chatter (TensorFlow / Keras / JAX warnings written through Python) off the console."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import logging

        levels = {name: logging.getLogger(name).level for name in ("tensorflow", "absl", "jax", "keras")}
        for name in levels:
            logging.getLogger(name).setLevel(logging.ERROR)
        try:
            yield
        finally:
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)


def run_local(families, frameworks, dtypes, rounds, warmup, limit_n, progress=True, process="main",
              desc="bench") -> list[dict]:
    """Time ``frameworks`` (all in this process) and the baseline on every family and dtype; library output on
    stderr is dropped meanwhile (``fd2_to_devnull``), the progress bar is not."""
    from tqdm import tqdm

    limits = {dtype: matmul_limit(dtype, limit_n) for dtype in dtypes}
    rows = []
    cells = [(f, d) for d in dtypes for f in families]
    with fd2_to_devnull() as stderr, tqdm(total=len(cells) * (rounds + warmup), desc=desc, unit="round",
                                           disable=not progress, leave=False, mininterval=0.5, file=stderr) as bar:
        for family, dtype in cells:
            bar.set_postfix_str(f"{family} {dtype}")
            w = workload(family, dtype)
            with quiet():
                runners = {BASELINE: PlainTorch(w, dtype)}
                runners.update({f: AdapterRunner(f, w, dtype) for f in frameworks})
                times = time_rounds(runners, rounds, warmup, bar)
            rows += rows_for(w, dtype, times, limits[dtype], process)
            del runners
    return rows


def run_worker_process(backend: str, args) -> list[dict]:
    """Run ``keras-<backend>`` (with its own plain torch baseline) in a fresh process and read its rows."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.json"
        cmd = [sys.executable, "-m", "reports.bench", "--worker", backend, "--json", str(out),
               "--families", ",".join(args.families), "--dtypes", ",".join(args.dtypes),
               "--rounds", str(args.rounds), "--warmup", str(args.warmup), "--limit-n", str(args.limit_n)]
        if not args.progress:
            cmd.append("--no-progress")
        if args.threads is not None:
            cmd += ["--threads", str(args.threads)]
        if args.release_freed_memory:
            cmd.append("--release-freed-memory")
        env = os.environ | {"TF_CPP_MIN_LOG_LEVEL": "3"}
        # stderr passes through: the worker's progress bar (it silences the libraries' own lines itself)
        proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[1])
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"the keras-{backend} worker process failed (exit {proc.returncode}; its traceback "
                               "is above)")
        return json.loads(out.read_text())


def worker_main(backend: str, args) -> int:
    """``--worker BACKEND``: this process runs Keras on ``backend``; time it beside the baseline."""
    if args.threads is not None:                    # XLA reads its flags when jax is imported
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
                                   f" intra_op_parallelism_threads={args.threads}").strip()
    import_frameworks(backend)
    limit_threads(args.threads)
    if not args.release_freed_memory:
        keep_freed_memory()
    from reports import backends

    framework = backends.framework_name(backend)
    sys.stdout = io.StringIO()                  # nothing but the progress bar (stderr) leaves this process
    rows = run_local(args.families, [framework], args.dtypes, args.rounds, args.warmup, args.limit_n,
                     progress=args.progress, process=f"worker ({backend})", desc=f"bench {framework}")
    Path(args.json).write_text(json.dumps(rows))
    return 0


# -- tables ----------------------------------------------------------------------------------------------
def ratio_table(df, dtype: str = "float32", mode: str = "train_step"):
    """Families x frameworks: ``ratio_to_torch`` of ``mode`` in ``dtype`` (the issue's table)."""
    sub = df[(df["dtype"] == dtype) & (df["mode"] == mode) & (df["framework"] != BASELINE)]
    table = sub.pivot_table(index="family", columns="framework", values="ratio_to_torch", aggfunc="first")
    order = [f for f in FAMILIES if f in table.index]
    cols = [f for f in FRAMEWORKS if f in table.columns]
    return table.loc[order, cols]


def format_ratio_table(table) -> str:
    lines = ["| model | " + " | ".join(table.columns) + " |", "|---|" + "---|" * len(table.columns)]
    for family, row in table.iterrows():
        lines.append(f"| {family} | " + " | ".join(f"{v:.2f}x" for v in row.values) + " |")
    return "\n".join(lines)


def target_table(table) -> str:
    """The ratio table against ``TARGETS``: ``1.07x (<= 1.0: no)``; frameworks and families without a target
    are left out."""
    cols = [c for c in table.columns if c in TARGETS]
    rows = [f for f in table.index if any(f in TARGETS[c] for c in cols)]
    lines = ["| model | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for family in rows:
        cells = []
        for c in cols:
            target, ratio = TARGETS[c].get(family), table.loc[family, c]
            cells.append("" if target is None else f"{ratio:.3f}x (<= {target}: {'yes' if ratio <= target else 'no'})")
        lines.append(f"| {family} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> dict[str, str]:
    import torch

    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or "unknown"
    import threadpoolctl

    blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture', '?')} kernels, "
            f"{i.get('num_threads')} threads)" for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
    info = {"cpu": cpu, "cores": str(os.cpu_count()), "torch threads": str(torch.get_num_threads()),
            "BLAS libraries": ", ".join(blas) or "unknown",
            # set in the environment, it is not OpenBLAS's own choice of kernels for this CPU (say so)
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "not set (OpenBLAS's own choice)"),
            "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE", "not set (OpenBLAS's own)"),
            "python": platform.python_version(),
            "numpy": np.__version__, "torch": torch.__version__}
    if "keras" in sys.modules:
        import keras

        info["keras"] = f"{keras.__version__} ({keras.backend.backend()})"
    if "tensorflow" in sys.modules:
        info["tensorflow"] = sys.modules["tensorflow"].__version__
    return info


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def markdown(df, info: dict) -> str:
    cols = [c for c in COLUMNS if c != "size"]
    full = df[cols].copy()
    lines = ["# Benchmark (python -m reports bench)", ""]
    for dtype in [d for d in DTYPES if d in set(df["dtype"])]:
        for mode in MODES:
            lines += [f"## {mode}, {dtype}: median of per-round ratios to the plain torch step", "",
                      format_ratio_table(ratio_table(df, dtype, mode)), ""]
    if "float32" in set(df["dtype"]):
        lines += ["## Issue 13's targets (float32 training step, ratio to torch-plain)", "",
                  target_table(ratio_table(df, "float32", "train_step")), ""]
    lines += ["## Every row", "", full.to_markdown(index=False, floatfmt=".3g"), "", "## Sizes", ""]
    lines += [f"- {f}: {s}" for f, s in df.groupby("family", sort=False)["size"].first().items()]
    lines += ["", "## Machine", ""] + [f"- {k}: {v}" for k, v in info.items()] + [""]
    return "\n".join(lines)


# -- the command line --------------------------------------------------------------------------------------
def _choices(kind: str, allowed, aliases=None):
    aliases = aliases or {}

    def parse(text: str) -> list[str]:
        names = [aliases.get(t.strip(), t.strip()) for t in text.split(",") if t.strip()]
        bad = [n for n in names if n not in allowed]
        if bad or not names:
            raise argparse.ArgumentTypeError(f"unknown {kind} {', '.join(map(repr, bad)) or '(none given)'}; "
                                             f"expected a comma-separated list of {', '.join(allowed)}")
        return list(dict.fromkeys(names))
    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m reports bench", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Time a forward pass and one SGD training step of every model family in every framework,\n"
                    "interleaved in one process, as ratios to a plain torch step (nn modules, F.cross_entropy /\n"
                    "F.mse_loss, torch.optim.SGD) and as GFLOP/s beside the machine's measured matmul limit.\n"
                    "Writes bench.csv and bench.md into --out.",
        epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--out", default="bench", help="directory to write bench.csv and bench.md into (default: bench)")
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK_ROUNDS} timed rounds after {QUICK_WARMUP} warm-up (default {ROUNDS} after "
                        f"{WARMUP}) and a smaller matmul-limit product: a smoke test, not a measurement")
    p.add_argument("--families", type=_choices("family", FAMILIES), default=list(FAMILIES),
                   help=f"comma-separated subset of {','.join(FAMILIES)} (default: all)")
    p.add_argument("--frameworks", type=_choices("framework", FRAMEWORKS, ALIASES), default=list(DEFAULT_FRAMEWORKS),
                   help=f"comma-separated subset of {','.join(FRAMEWORKS)} (keras = keras-tf; default: "
                        f"{','.join(DEFAULT_FRAMEWORKS)}). keras-jax and keras-torch run in a worker process each, "
                        "beside their own torch-plain baseline")
    p.add_argument("--dtypes", type=_choices("dtype", DTYPES), default=["float32"],
                   help="comma-separated subset of float32,float64 (default: float32)")
    p.add_argument("--rounds", type=int, default=None, help=f"timed rounds (default {ROUNDS}, quick {QUICK_ROUNDS})")
    p.add_argument("--warmup", type=int, default=None,
                   help=f"warm-up rounds, not kept (default {WARMUP}, quick {QUICK_WARMUP})")
    p.add_argument("--threads", type=int, default=None,
                   help="threads per framework (torch, BLAS, TensorFlow; XLA in the JAX worker); default: each "
                        "library's own, one per core. On a loaded machine use --threads 1 (see below)")
    p.add_argument("--release-freed-memory", action="store_true",
                   help="leave glibc's allocator as it is: freed memory goes back to the system and big temporaries "
                        "page-fault on fresh pages every step (the page_faults column). By default the benchmark "
                        "keeps freed memory in the process (mallopt), the same for every framework (see below)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("--limit-n", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)      # internal: a Keras backend's process
    p.add_argument("--json", default=None, help=argparse.SUPPRESS)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    args.rounds = args.rounds if args.rounds is not None else (QUICK_ROUNDS if args.quick else ROUNDS)
    args.warmup = args.warmup if args.warmup is not None else (QUICK_WARMUP if args.quick else WARMUP)
    args.limit_n = args.limit_n or (QUICK_LIMIT_N if args.quick else LIMIT_N)
    if args.rounds < 1 or args.warmup < 0 or (args.threads is not None and args.threads < 1):
        print("python -m reports bench: error: --rounds and --threads must be >= 1, --warmup >= 0", file=sys.stderr)
        return 2
    if args.worker:
        return worker_main(args.worker, args)

    from reports.outdir import OutputPathError, check_output_dir

    try:
        out = check_output_dir(args.out, OUTPUT_FILES)
    except OutputPathError as exc:
        print(f"python -m reports bench: error: {exc}", file=sys.stderr)
        return 2
    import pandas as pd

    from reports import backends

    import_frameworks("tensorflow" if "keras-tf" in args.frameworks else None)
    threads = limit_threads(args.threads)
    memory = ("glibc defaults (freed memory goes back to the system)" if args.release_freed_memory
              else keep_freed_memory())
    local = [f for f in args.frameworks if not backends.is_remote(f)]
    remote = [f for f in args.frameworks if backends.is_remote(f)]
    load_before = load_average()
    started = time.perf_counter()
    rows = run_local(args.families, local, args.dtypes, args.rounds, args.warmup, args.limit_n, args.progress)
    for framework in remote:
        worker_rows = run_worker_process(backends.keras_backend(framework), args)
        rows += [r | {"framework": f"{BASELINE} ({framework} process)"} if r["framework"] == BASELINE else r
                 for r in worker_rows]
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    info = machine() | {"threads": threads, "freed memory": memory, "load average before (1, 5, 15 min)": load_before,
                        "load average after": load_average(),
                        "rounds": f"{args.rounds} timed after {args.warmup} warm-up",
                        "wall time": f"{time.perf_counter() - started:.0f} s"}
    df.to_csv(out / "bench.csv", index=False)
    (out / "bench.md").write_text(markdown(df, info))
    for dtype in args.dtypes:
        print(f"train step, {dtype}: median of per-round ratios to the plain torch step")
        print(format_ratio_table(ratio_table(df, dtype, "train_step")))
    print(f"load average {load_before} -> {info['load average after']}; wrote {out / 'bench.csv'}, "
          f"{out / 'bench.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
