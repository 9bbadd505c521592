"""Training through the adapter protocol: same weights, same batches, same optimizer.

Used by the tests and the report:

* ``regression_convergence`` -- full-batch gradient descent on the notes'
  regression tasks reaches the closed-form least-squares answer in every
  framework. The step size and the number of steps come from the loss's
  Hessian ``H`` (constant for a squared error): ``lr = 2^floor(log2(1/lambda_max))``
  (below the 2/lambda_max stability bound, and exact in float32, which is how
  Keras stores it), and enough steps that the contraction ``(1 - lr lambda_min)^t``
  shrinks the initial error by ``1e-11``. The check asserts a relative error to
  the closed form of at most ``1e-8``: 1000x the contraction bound, still far
  above the rounding floor (``cond(H) * eps ~ 1e-14``).
* ``trajectory`` -- N optimizer steps from the same start on the same batches;
  the loss curve and the final weights are compared across frameworks with the
  parity tolerances of ``harness.py``.
* ``optimizer_trajectory_rows`` / ``optimizer_trajectories`` -- 100 steps of SGD, Momentum and
  Adam (``OptimizerSpec.matched``) on small tasks (``TRAJECTORY_TASKS``: MLP, regression, CNN,
  LSTM, GRU) in every framework's own training loop (``Adapter.fit``): loss curve, final
  parameters and every optimizer slot compared.
* ``optimizer_table`` / ``convention_table`` -- every optimizer's steps under matched and under
  each framework's default settings, and each torch / Keras convention on its own, measured.
* ``learn_tasks`` -- every task trained to a useful accuracy in every framework (iris, digits with
  the MLP and the CNN, binary addition with SimpleRNN / LSTM / GRU, the noisy sine, linear and
  polynomial regression), evaluated on held-out data; a long table of per-step losses and final
  metrics (``LEARN_COLUMNS``, the format of ``training.csv``).

Every run here limits BLAS / OpenMP to one thread (``single_threaded``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import sys
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController
from tqdm import tqdm

from reference_numpy import data
from reference_numpy.cases import CASES_BY_NAME, Case
from reference_numpy.gradcheck import relative_error
from reference_numpy.initializers import init_params
from reference_numpy.optimizers import CLIP_EPS
from reference_numpy.regression import closed_form, regression_features
from reference_numpy.specs import (
    CNNSpec,
    Conv2D,
    LinearRegressionSpec,
    MLPSpec,
    OptimizerSpec,
    PolynomialRegressionSpec,
    Pool2D,
    RNNSpec,
    Seq2SeqSpec,
)
from reports.harness import Row, compare_results, make_adapter

CONVERGENCE_RTOL = 1e-8
CONTRACTION = 1e-11


@dataclass(frozen=True)
class RegressionTask:
    name: str
    spec: object
    make_data: object     # seed -> (x, d)


REGRESSION_TASKS = (
    RegressionTask("linear: d = 3x + 2 + 0.3 noise", LinearRegressionSpec(1, 1, "mse"), data.linear_task),
    RegressionTask("cubic: d = -0.4x^3 + 1.6x^2 - 2.8x + 1 + 0.05 noise",
                   PolynomialRegressionSpec(1, 1, "mse", degree=3), data.polynomial_task),
    RegressionTask("cubic, notes' 1/2 sum loss", PolynomialRegressionSpec(1, 1, "half_sse", degree=3),
                   data.polynomial_task),
)


def gd_settings(spec, x) -> tuple[float, int]:
    """``(lr, steps)`` for full-batch gradient descent on a squared-error regression."""
    phi = regression_features(spec, x)
    A = np.hstack([phi, np.ones((phi.shape[0], 1))])                   # (N, F + 1)
    scale = 2.0 / (A.shape[0] * spec.out_features) if spec.loss == "mse" else 1.0 / A.shape[0]
    eig = np.linalg.eigvalsh(scale * A.T @ A)                           # Hessian per output column
    lr = 2.0 ** np.floor(np.log2(1.0 / eig[-1]))
    steps = int(np.ceil(np.log(CONTRACTION) / np.log1p(-lr * eig[0])))
    return float(lr), steps


@dataclass
class TrainResult:
    losses: np.ndarray
    params: dict[str, np.ndarray]


def single_threaded(threads: int | None = 1):
    """A context in which BLAS and OpenMP (torch's intra-op pool) use ``threads`` threads
    (threadpoolctl; ``None``: as they are). The suite's models are far too small to gain from
    threads, and on a shared 2-core machine spinning thread pools made a 100-step torch CNN run
    take 2-30 s instead of 0.1 s."""
    return _controller(len(sys.modules)).limit(limits=threads) if threads is not None else contextlib.nullcontext()


@functools.lru_cache(maxsize=1)
def _controller(modules: int) -> ThreadpoolController:
    """threadpoolctl's view of the thread pools of the libraries loaded now: finding them walks every loaded
    shared object (10 ms with TensorFlow, torch and jax loaded), so it is kept -- and made again once more
    modules are imported (``modules``: how many), which is how another library's pool would arrive."""
    return ThreadpoolController()


def train(framework: str, spec, params, batches, optimizer: OptimizerSpec, dtype="float64") -> TrainResult:
    """``framework``'s own training loop (``Adapter.fit``: Keras's is ``model.fit``) over ``batches``."""
    adapter = make_adapter(framework, spec, params, dtype)
    adapter.set_optimizer(optimizer)
    with single_threaded():
        losses = adapter.fit(batches)
    return TrainResult(np.asarray(losses), adapter.get_params())


def regression_convergence(frameworks=("numpy", "torch", "keras-tf"), seed: int = 0) -> list[dict]:
    """One row per (task, framework): distance of the trained weights to the closed form."""
    rows = []
    for task in REGRESSION_TASKS:
        x, d = task.make_data(seed)
        target = closed_form(task.spec, x, d)
        lr, steps = gd_settings(task.spec, x)
        start = init_params(task.spec, seed, "gaussian", weight_init_std=0.01)
        for fw in frameworks:
            res = train(fw, task.spec, start, [(x, d)] * steps, OptimizerSpec("sgd", lr))
            w = np.concatenate([res.params[n].ravel() for n in target])
            w_star = np.concatenate([target[n].ravel() for n in target])
            rel = float(np.max(np.abs(w - w_star)) / np.max(np.abs(w_star)))
            rows.append({"task": task.name, "framework": fw, "lr": lr, "steps": steps,
                         "first_loss": res.losses[0], "final_loss": res.losses[-1],
                         "max_rel_err_to_closed_form": rel, "tolerance": CONVERGENCE_RTOL,
                         "passed": rel <= CONVERGENCE_RTOL})
    return rows


def library(framework: str) -> str:
    """The library whose conventions a framework name runs: ``keras`` for every Keras backend
    (``keras-tf``, ``keras-jax``, ``keras-torch``), else the name itself."""
    return "keras" if framework.startswith("keras") else framework


def minibatches(case: Case, steps: int, dtype="float64"):
    """``steps`` mini-batches for a case, reproducible from its seed (the case's batch size)."""
    rng = np.random.default_rng(case.seed + 2)
    out = []
    for _ in range(steps):
        sub = dataclasses.replace(case, seed=int(rng.integers(1 << 30)))
        x, target, _ = sub.batch_data(dtype)
        out.append((x, target))
    return out


def trajectory_rows(case: Case, steps: int = 20, lr: float = 0.125, dtype="float64",
                    frameworks=("numpy", "torch", "keras-tf"), clip_norm: float | None = None) -> list[Row]:
    """Parity rows for ``steps`` SGD steps: quantity ``train_loss`` (the whole curve) and
    ``train_param:<name>`` (the weights after the last step).

    With ``clip_norm`` (gradient clipping by global norm) the frameworks add different
    eps to the norm (``reference_numpy.optimizers.CLIP_EPS``: torch 1e-6, Keras 0), so
    each framework is compared with a NumPy run using *its* eps, and torch is not
    compared with Keras directly (they differ by about 1e-6 / norm by design). Without
    clipping every pair of ``frameworks`` is compared, in the order given."""
    batches = minibatches(case, steps, dtype)

    def run(fw, optimizer):
        res = train(fw, case.spec, case.params(dtype), batches, optimizer, dtype)
        return {"train_loss": res.losses, **{f"train_param:{n}": p for n, p in res.params.items()}}

    rows = []
    if clip_norm is None:
        results = {fw: run(fw, OptimizerSpec("sgd", lr)) for fw in frameworks}
        for pair in itertools.combinations(results, 2):
            rows += compare_results(case.name, case.family, pair, dtype, results[pair[0]], results[pair[1]])
        return rows
    for fw in frameworks:
        if fw != "numpy":
            optimizer = OptimizerSpec("sgd", lr, clip_norm=clip_norm, clip_eps=CLIP_EPS[library(fw)])
            rows += compare_results(case.name, case.family, ("numpy", fw), dtype,
                                    run("numpy", optimizer), run(fw, optimizer))
    return rows


# -- optimizers: single steps and long trajectories ----------------------------------------------
#
# ``run`` trains one framework with one optimizer on a list of batches (``Adapter.fit``) and returns
# the loss curve, the parameters and the optimizer state; the tests and the report compare runs.

#: (framework, loop) pairs every trajectory is run in: the default loop of NumPy and torch, Keras's
#: compiled train step (``model.fit`` is compared in its own test / row: it is the same graph).
TRAJECTORY_LOOPS = (("numpy", "numpy"), ("torch", "torch"), ("keras-tf", "compiled"))


@dataclass
class Run:
    losses: np.ndarray
    params: dict[str, np.ndarray]
    state: dict[str, dict[str, np.ndarray]]


def run(framework: str, spec, params, batches, optimizer: OptimizerSpec, dtype="float64", loop=None,
        progress: bool = False) -> Run:
    """``framework``'s training loop ``loop`` over ``batches`` from ``params`` with ``optimizer``."""
    adapter = make_adapter(framework, spec, params, dtype)
    adapter.set_optimizer(optimizer)
    with single_threaded():
        losses = adapter.fit(batches, loop=loop, progress=progress)
    return Run(losses, adapter.get_params(), adapter.optimizer_state())


def run_quantities(result: Run) -> dict[str, np.ndarray]:
    """A run as compared quantities: ``train_loss`` (the curve), ``train_param:<p>`` (the final
    parameters) and ``state:<slot>:<p>`` (every optimizer slot; the step count as float)."""
    out = {"train_loss": result.losses, **{f"train_param:{n}": p for n, p in result.params.items()}}
    out.update({f"state:{slot}:{n}": a.astype(np.float64) if a.dtype.kind == "i" else a
                for slot, arrays in result.state.items() for n, a in arrays.items()})
    return out


@dataclass(frozen=True)
class TrajectoryTask:
    """A small model on a small task, for long trajectories that stay fast (tests and report)."""

    name: str
    spec: object
    make_data: object            # () -> (x, y)
    batch_size: int
    seed: int = 0
    init: str = "xavier"

    @property
    def family(self) -> str:
        return self.spec.family

    def params(self, dtype="float64"):
        return init_params(self.spec, self.seed, self.init, bias="normal", bias_std=0.5, dtype=dtype)

    def batches(self, steps: int, dtype="float64"):
        x, y = self.make_data()
        epochs = -(-steps * self.batch_size // len(x)) + 1
        out = data.batches(x, y, self.batch_size, seed=self.seed + 1, epochs=epochs)[:steps]
        return [(_cast(a, dtype), _cast(b, dtype)) for a, b in out]


def _cast(a: np.ndarray, dtype) -> np.ndarray:
    """Float data in ``dtype``; integer labels stay int64."""
    return a if a.dtype.kind == "i" else a.astype(dtype)


def _digits_subset(n=64):
    x, y = data.digits()
    return x[:n], y[:n]


def _sine(n=48, seq_len=6):
    return data.noisy_sine(3, n, seq_len=seq_len)


TRAJECTORY_TASKS = {t.name: t for t in (
    TrajectoryTask("mlp_iris", MLPSpec(4, (8,), 3, "tanh", "softmax", "softmax_cross_entropy"), data.iris, 16),
    TrajectoryTask("polynomial_regression", PolynomialRegressionSpec(1, 1, "mse", degree=3),
                   lambda: data.polynomial_task(4, 64), 16),
    TrajectoryTask("cnn_digits", CNNSpec(1, 8, 8, layers=(Conv2D(3, 3), Pool2D("max", 2)), hidden=(8,),
                                         out_features=10), _digits_subset, 8, init="he"),
    TrajectoryTask("lstm_sine", RNNSpec("lstm", 1, 4, 1), _sine, 8),
    TrajectoryTask("gru_sine", RNNSpec("gru", 1, 4, 1), _sine, 8),
    # seq2seq on padded batches of mixed lengths (ids repeat within a batch: the case that needs
    # impl_tf/engine_tf.dense_gradients for Keras's Adam)
    TrajectoryTask("seq2seq_reversal", Seq2SeqSpec("lstm", 8, 8, 4, 5, attention="dot"),
                   lambda: data.sequence_reversal(5, 64, max_len=5)[:2], 8, init="he"),
)}


def optimizer_trajectory_rows(task: TrajectoryTask, optimizer: OptimizerSpec, steps: int = 100,
                              dtype="float64", loops=TRAJECTORY_LOOPS, tolerance: float | None = None,
                              progress: bool = False) -> list[Row]:
    """Parity rows of ``steps`` optimizer steps from the same weights on the same batches, every
    pair of ``loops``: ``train_loss``, ``train_param:<p>``, ``state:<slot>:<p>``. The ``frameworks``
    column names the loops (``numpy-keras:fit``)."""
    batches = task.batches(steps, dtype)
    results = {}
    for fw, loop in loops:
        label = fw if loop in (None, fw) else f"{fw}:{loop}"
        results[label] = run_quantities(run(fw, task.spec, task.params(dtype), batches, optimizer, dtype, loop,
                                            progress))
    labels = list(results)
    return [row for i, a in enumerate(labels) for b in labels[i + 1:]
            for row in compare_results(task.name, task.family, (a, b), dtype, results[a], results[b], tolerance)]


# -- tasks learned ------------------------------------------------------------------------------
#
# ``learn_tasks`` trains every task in every framework from the same initial weights on the same
# seeded batches, each framework with its own loop (NumPy's, torch's zero_grad / backward / step,
# Keras's model.fit) and its own optimizer defaults (NumPy: torch's, the textbook forms), and
# evaluates on a held-out split. The rows are in the long format of ``LEARN_COLUMNS``.

#: The columns of ``learn_tasks``'s table (the format of ``training.csv``; ``curves.CURVE_COLUMNS``
#: first). Per-step rows: ``split`` "train", ``loss`` the training loss before the step, ``metric``
#: empty, ``value`` NaN. Final rows: ``split`` "test" (held out) or "train", ``step`` the number of
#: steps taken, ``loss`` NaN, ``metric`` / ``value`` the measure, ``target`` / ``passed`` the
#: requirement (NaN / None where there is none, and in quick mode). ``fold``: the fold of a
#: cross-validated task (iris), empty on the row that pools every fold and on single-split tasks.
LEARN_COLUMNS = ("task", "family", "framework", "optimizer", "step", "loss", "metric", "value", "loop", "split",
                 "fold", "target", "passed", "dtype")
#: Steps per run in quick mode.
QUICK_STEPS = 5


@dataclass(frozen=True)
class LearnTask:
    """A task to learn: a model, its data split, its optimizer and schedule, its measure.

    ``make_data(seed) -> (x_train, y_train, x_test, y_test)``; ``metric(task, adapter, x, y)`` ->
    ``{name: value}`` on held-out data; ``target``: ``{name: (">=" or "<=", bound)}``."""

    name: str
    spec: object
    make_data: object
    optimizer: str
    lr: float | None
    batch_size: int | None            # None: the whole training set (full-batch)
    epochs: int
    metrics: object
    target: dict
    init: str = "xavier"
    seed: int = 0
    folds: int = 1                    # > 1: k-fold cross-validation, make_data(seed, fold)
    #: a framework's loop when its default (``LEARN_LOOPS``) cannot run the model: Keras's
    #: ``model.fit`` takes (x, y) pairs, a seq2seq model reads (src, tgt) and is trained eagerly
    loops: dict = field(default_factory=dict)

    @property
    def family(self) -> str:
        return self.spec.family


def split(n: int, test_fraction: float, seed: int, labels=None) -> tuple[np.ndarray, np.ndarray]:
    """Seeded ``(train_idx, test_idx)``; stratified by ``labels`` (the same fraction of each class)."""
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if labels is None else [np.flatnonzero(labels == c) for c in np.unique(labels)]
    train, test = [], []
    for idx in groups:
        idx = rng.permutation(idx)
        k = round(test_fraction * len(idx))
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _split_data(x, y, test_fraction, seed, stratify):
    tr, te = split(len(x), test_fraction, seed, y if stratify else None)
    return x[tr], y[tr], x[te], y[te]


def kfold(labels: np.ndarray, k: int, fold: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified ``k``-fold cross-validation: ``(train_idx, test_idx)`` of fold ``fold`` (0-based);
    each class is dealt round-robin over the folds after a seeded shuffle, so every sample is held
    out exactly once over the k folds."""
    rng = np.random.default_rng(seed)
    test = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[fold::k] for c in np.unique(labels)])
    return np.setdiff1d(np.arange(len(labels)), test), np.sort(test)


def _iris(seed, fold):
    """Iris in 5 stratified folds: 30 held-out flowers per fold, 150 over the five. A single split
    of 30-45 flowers moves the accuracy by 2-3% per flower (seeded 30% splits gave 93% to 100% with
    one model), so the iris accuracy is the cross-validated one."""
    x, y = data.iris()
    tr, te = kfold(y, 5, fold, seed)
    return x[tr], y[tr], x[te], y[te]


def _digits_flat(seed):
    x, y = data.digits()
    return _split_data(x.reshape(len(x), -1), y, 0.2, seed, True)


def _digits_images(seed):
    return _split_data(*data.digits(), 0.2, seed, True)


def _binary_addition(seed, n_train=1000, n_test=1000):
    """Disjoint sets of (a, b) pairs (a, b < 128, the notes' range): every test sum is unseen."""
    x, d, (a, b) = data.binary_addition(seed, 20 * (n_train + n_test))
    _, first = np.unique(a * 128 + b, return_index=True)                 # each distinct pair once
    idx = np.random.default_rng(seed).permutation(first)
    tr, te = idx[:n_train], idx[n_train:n_train + n_test]
    return x[tr], d[tr], x[te], d[te]


def _sine(seed):
    x, d = data.noisy_sine(seed, 1000)
    return _split_data(x, d, 0.2, seed, False)


def _regression(make):
    def load(seed):
        x, d = make(seed, 200)
        return _split_data(x, d, 0.25, seed, False)
    return load


def _reversal(seed, n_train=2000, n_test=500):
    """Random strings of 1..5 letters (5-letter alphabet) and their reversals; the held-out strings
    are not in the training set."""
    src, tgt, _, _ = data.sequence_reversal(seed, 4 * (n_train + n_test), max_len=5, vocab=8)
    _, first = np.unique(src, axis=0, return_index=True)                 # each distinct string once
    idx = np.random.default_rng(seed).permutation(first)
    tr, te = idx[:n_train], idx[n_train:n_train + n_test]
    return src[tr], tgt[tr], src[te], tgt[te]


def _exact_sequences(task, adapter, src, tgt):
    """Greedy decoding of the held-out sources: the share of rows equal to their target exactly
    (every token, eos included, nothing after it)."""
    out = adapter.generate(src, max_len=tgt.shape[1])                    # (N, L <= T)
    got = np.zeros_like(tgt)
    got[:, :out.shape[1]] = out
    return {"exact_sequence_accuracy": float(np.mean(np.all(got == tgt, axis=1))),
            "token_accuracy": float(np.mean((got == tgt)[tgt != task.spec.pad_id]))}


def _accuracy(task, adapter, x, y):
    return {"accuracy": float(np.mean(np.argmax(adapter.forward(x), axis=1) == y))}


def _exact_sums(task, adapter, x, d):
    bits = adapter.forward(x) > 0.5                                      # (N, T, 1)
    return {"exact_sum_accuracy": float(np.mean(np.all(bits == (d > 0.5), axis=(1, 2)))),
            "bit_accuracy": float(np.mean(bits == (d > 0.5)))}


def _mse(task, adapter, x, d):
    out = {"mse": float(np.mean((adapter.forward(x) - d) ** 2))}
    if x.ndim == 3:                                                      # sine: predict the last input
        out["baseline_mse_last_value"] = float(np.mean((x[:, -1] - d) ** 2))
    return out


def _closed_form(task, adapter, x, d):
    """Distance of the trained weights to the closed form on the TRAINING split (what gradient
    descent converges to), and the held-out MSE of both."""
    x_train, d_train, _, _ = task.make_data(task.seed)
    star = closed_form(task.spec, x_train, d_train)
    got = adapter.get_params()
    w = np.concatenate([got[n].ravel() for n in star])
    w_star = np.concatenate([star[n].ravel() for n in star])
    reference = make_adapter("numpy", task.spec, {n: a.astype(adapter.dtype) for n, a in star.items()})
    return {"rel_err_to_closed_form": float(np.max(np.abs(w - w_star)) / np.max(np.abs(w_star))),
            "mse": float(np.mean((adapter.forward(x) - d) ** 2)),
            "closed_form_mse": float(np.mean((reference.forward(x) - d) ** 2))}


def _binary_addition_spec(cell):
    return RNNSpec(cell, 2, 16, 1, return_sequences=True, output="sigmoid", loss="sigmoid_binary_cross_entropy")


LEARN_TASKS = {t.name: t for t in (
    LearnTask("iris", MLPSpec(4, (32,), 3, "tanh", "softmax", "softmax_cross_entropy"), _iris,
              "adam", 0.01, 16, 30, _accuracy, {"accuracy": (">=", 0.95)}, folds=5),
    LearnTask("digits_mlp", MLPSpec(64, (64,), 10, "relu", "softmax", "softmax_cross_entropy"), _digits_flat,
              "adam", 3e-3, 32, 40, _accuracy, {"accuracy": (">=", 0.95)}, init="he"),
    LearnTask("digits_cnn", CNNSpec(1, 8, 8, layers=(Conv2D(16, 3, padding="same"), Pool2D("max", 2)),
                                    hidden=(64,), out_features=10), _digits_images,
              "adam", 3e-3, 32, 20, _accuracy, {"accuracy": (">=", 0.97)}, init="he"),
    *(LearnTask(f"binary_addition_{cell}", _binary_addition_spec(cell), _binary_addition,
                "adam", 0.01, 32, 20, _exact_sums, {"exact_sum_accuracy": (">=", 1.0)})
      for cell in ("rnn", "lstm", "gru")),
    LearnTask("noisy_sine_lstm", RNNSpec("lstm", 1, 16, 1), _sine, "adam", 0.01, 32, 12, _mse, {}),
    LearnTask("seq2seq_reversal", Seq2SeqSpec("lstm", 8, 8, 16, 32, attention="dot"), _reversal,
              "adam", 0.01, 32, 12, _exact_sequences, {"exact_sequence_accuracy": (">=", 0.99)},
              loops={"keras-tf": "eager"}),
    LearnTask("linear_regression", LinearRegressionSpec(1, 1, "mse"), _regression(data.linear_task),
              "momentum", None, None, 0, _closed_form, {"rel_err_to_closed_form": ("<=", 1e-3)}),
    LearnTask("polynomial_regression", PolynomialRegressionSpec(1, 1, "mse", degree=3),
              _regression(data.polynomial_task), "momentum", None, None, 0, _closed_form,
              {"rel_err_to_closed_form": ("<=", 1e-3)}),
)}

#: Which optimizer defaults each framework trains with (NumPy: torch's, the textbook forms). Keras is
#: labelled ``keras-tf`` (the harness's name: Keras on this process's TensorFlow backend).
PRESET = {"numpy": "torch", "torch": "torch", "keras-tf": "keras"}
#: Each framework's own training loop (Keras: model.fit).
LEARN_LOOPS = {"numpy": "numpy", "torch": "torch", "keras-tf": "fit"}


def heavy_ball_settings(spec, x, momentum: float = 0.9, reduction: float = 1e-6) -> tuple[float, int]:
    """``(lr, steps)`` for full-batch heavy-ball momentum on a squared-error regression: the lr of
    ``gd_settings`` (``2^floor(log2(1/lambda_max))``, float32-exact) and enough steps to shrink
    the error by ``reduction`` (1e-6: a thousand times below the 1e-3 the task asks for). Along
    an eigenvector of the Hessian (eigenvalue lambda) the error e_t follows
    ``e_{t+1} = (1 + mu - lr lambda) e_t - mu e_{t-1}``, which contracts by the largest root
    modulus ``r`` of ``r^2 - (1 + mu - lr lambda) r + mu``; the slowest direction sets the steps."""
    lr, _ = gd_settings(spec, x)
    phi = regression_features(spec, x)
    A = np.hstack([phi, np.ones((phi.shape[0], 1))])
    scale = 2.0 / (A.shape[0] * spec.out_features) if spec.loss == "mse" else 1.0 / A.shape[0]
    eig = np.linalg.eigvalsh(scale * A.T @ A)
    rate = max(np.max(np.abs(np.roots([1.0, -(1 + momentum - lr * lam), momentum]))) for lam in eig)
    return lr, int(np.ceil(np.log(reduction) / np.log(rate)))


def learn_task(task: LearnTask, framework: str, quick: bool = False, progress: bool = False,
               loop: str | None = None, dtype="float64") -> list[dict]:
    """Train ``task`` in ``framework`` and evaluate it: ``LEARN_COLUMNS`` rows (see there). With
    ``folds > 1`` every fold is trained from the same initial weights; its rows carry ``fold``
    (1-based), and one more row per metric gives the value over every held-out sample (``fold``
    empty; the fold-size-weighted mean), which is what ``target`` judges. ``quick``: the first
    ``QUICK_STEPS`` steps of the first fold, nothing judged."""
    loop = loop or task.loops.get(framework) or LEARN_LOOPS[framework]
    preset = PRESET[framework]
    rows, per_fold = [], []
    for fold in range(1 if quick else task.folds):
        split_data = task.make_data(task.seed, fold) if task.folds > 1 else task.make_data(task.seed)
        x_train, y_train, x_test, y_test = (_cast(a, dtype) for a in split_data)
        if task.batch_size is None:                                               # full-batch heavy ball
            lr, steps = heavy_ball_settings(task.spec, x_train)
            batches = [(x_train, y_train)] * steps
        else:
            lr = task.lr
            batches = data.batches(x_train, y_train, task.batch_size, seed=task.seed + 1, epochs=task.epochs)
        batches = batches[:QUICK_STEPS] if quick else batches
        optimizer = OptimizerSpec.defaults(task.optimizer, preset, lr=lr)
        label = f"{optimizer.name} lr={optimizer.lr:g} ({preset} defaults)"
        adapter = make_adapter(framework, task.spec, init_params(task.spec, task.seed, task.init, dtype=dtype), dtype)
        adapter.set_optimizer(optimizer)
        desc = f"{task.name}{f' fold {fold + 1}' if task.folds > 1 else ''} [{framework} {loop}]"
        losses = adapter.fit(batches, loop=loop, progress=progress, desc=desc)
        common = {"task": task.name, "family": task.family, "framework": framework, "optimizer": label,
                  "loop": loop, "dtype": dtype, "fold": fold + 1 if task.folds > 1 else None}
        rows += [{**common, "step": k, "loss": float(v), "metric": "", "value": np.nan, "split": "train",
                  "target": np.nan, "passed": None} for k, v in enumerate(losses, start=1)]
        metrics = task.metrics(task, adapter, x_test, y_test)
        per_fold.append((len(x_test), metrics))
        final = {**common, "step": len(losses), "loss": np.nan}
        if task.folds > 1:
            rows += [{**final, "split": _split_of(m), "metric": m, "value": v, "target": np.nan, "passed": None}
                     for m, v in metrics.items()]
    total = sum(n for n, _ in per_fold)
    for metric in per_fold[0][1]:
        value = sum(n * m[metric] for n, m in per_fold) / total
        op, bound = task.target.get(metric, (None, np.nan))
        passed = None if quick or op is None else bool(value >= bound if op == ">=" else value <= bound)
        rows.append({**final, "fold": None, "split": _split_of(metric), "metric": metric, "value": value,
                     "target": bound, "passed": passed})
    return rows


def _split_of(metric: str) -> str:
    """The data a final metric is measured on: the distance to the closed form is to the TRAINING
    split's least-squares answer (what gradient descent converges to); every other metric is held out."""
    return "train" if metric == "rel_err_to_closed_form" else "test"


#: The frameworks the tasks are learned in (in this process; the other Keras backends run their
#: parity in worker processes, where a thousand-step training run would cost minutes).
LEARN_FRAMEWORKS = ("numpy", "torch", "keras-tf")


def learn_tasks(quick: bool = False, progress: bool = True, tasks=None,
                frameworks=LEARN_FRAMEWORKS, threads: int | None = 1) -> pd.DataFrame:
    """Every task of ``LEARN_TASKS`` (or the names in ``tasks``) trained in every framework and
    evaluated on its held-out data, as one long table (``LEARN_COLUMNS``): per-step training losses
    plus final metric rows. ``quick``: ``QUICK_STEPS`` steps per run (a smoke run for CI: the
    metrics are reported, not judged); otherwise the full schedules, whose targets are judged in
    ``passed``. ``threads``: BLAS / OpenMP threads during the runs (``single_threaded``)."""
    names = list(LEARN_TASKS) if tasks is None else list(tasks)
    unknown = [n for n in names if n not in LEARN_TASKS]
    if unknown:
        raise ValueError(f"unknown learn task(s) {unknown}; expected some of {', '.join(LEARN_TASKS)}")
    rows = []
    runs = [(LEARN_TASKS[n], fw) for n in names for fw in frameworks]
    with single_threaded(threads):
        for task, fw in tqdm(runs, desc="learn tasks", unit="run", disable=not progress):
            rows += learn_task(task, fw, quick=quick, progress=progress)
    return pd.DataFrame(rows, columns=list(LEARN_COLUMNS))


def learn_summary(table: pd.DataFrame) -> pd.DataFrame:
    """The final held-out metrics of a ``learn_tasks`` table, one row per (task, metric), one
    column per framework (and the target, and whether every framework passed)."""
    final = table[(table["metric"].fillna("") != "") & table["fold"].isna()]
    wide = final.pivot_table(index=["task", "metric"], columns="framework", values="value", sort=False)
    targets = final.groupby(["task", "metric"], sort=False)["target"].first()
    passed = final.groupby(["task", "metric"], sort=False)["passed"].agg(
        lambda s: None if s.isna().all() else bool(s.dropna().all()))
    return wide.assign(target=targets, passed=passed).reset_index()


# -- optimizer conventions, measured ------------------------------------------------------------

#: The case the optimizer tables step on (tanh, nonzero biases: no gradient is exactly 0).
OPTIMIZER_CASE = "mlp_tanh_mse"


def _case_run(framework: str, optimizer: OptimizerSpec, steps: int) -> Run:
    case = CASES_BY_NAME[OPTIMIZER_CASE]
    batches = [dataclasses.replace(case, seed=1000 + k).batch_data()[:2] for k in range(steps)]
    return run(framework, case.spec, case.params(), batches, optimizer)


def _differences(a: Run, b: Run) -> dict:
    qa, qb = run_quantities(a), run_quantities(b)
    params = max(relative_error(qa[q], qb[q])[1] for q in qa if q.startswith("train_param:"))
    slots = [relative_error(qa[q], qb[q])[1] for q in qa if q.startswith("state:") and q in qb]
    return {"param_rel_diff": params, "slot_rel_diff": max(slots) if slots else np.nan,
            "loss_rel_diff": relative_error(qa["train_loss"], qb["train_loss"])[1]}


def optimizer_table(steps: int = 10, progress: bool = False) -> pd.DataFrame:
    """Per optimizer, ``steps`` steps on ``OPTIMIZER_CASE`` (float64), relative differences of the
    final parameters, the optimizer slots and the loss curve:

    * ``matched``: numpy-torch, numpy-keras, torch-keras under ``OptimizerSpec.matched`` (rounding);
    * ``defaults``: torch's defaults vs Keras's defaults (the difference a porter meets), and
      NumPy with each framework's defaults and conventions vs that framework (rounding: the
      difference is the documented conventions and nothing else)."""
    rows = []
    for name in tqdm(OptimizerSpec.NAMES, desc="optimizers", unit="optimizer", disable=not progress):
        matched = OptimizerSpec.matched(name)
        m = {fw: _case_run(fw, matched, steps) for fw in ("numpy", "torch", "keras-tf")}
        t, k = OptimizerSpec.defaults(name, "torch"), OptimizerSpec.defaults(name, "keras")
        d = {"torch": _case_run("torch", t, steps), "keras-tf": _case_run("keras-tf", k, steps),
             "numpy(torch)": _case_run("numpy", t, steps), "numpy(keras)": _case_run("numpy", k, steps)}
        for settings, pair, a, b, spec in (
                ("matched", "numpy-torch", m["numpy"], m["torch"], matched),
                ("matched", "numpy-keras-tf", m["numpy"], m["keras-tf"], matched),
                ("matched", "torch-keras-tf", m["torch"], m["keras-tf"], matched),
                ("defaults", "torch-keras-tf", d["torch"], d["keras-tf"], None),
                ("defaults", "numpy(torch defaults)-torch", d["numpy(torch)"], d["torch"], t),
                ("defaults", "numpy(keras defaults)-keras-tf", d["numpy(keras)"], d["keras-tf"], k)):
            rows.append({"optimizer": name, "settings": settings, "frameworks": pair, "steps": steps,
                         **_differences(a, b), "spec": "" if spec is None else repr(spec)})
    return pd.DataFrame(rows)


def convention_table(steps: int = 10) -> pd.DataFrame:
    """Each convention on its own: NumPy run twice with every setting equal but that one (the first
    value torch's, the second Keras's, both frameworks' defaults otherwise), ``steps`` steps on
    ``OPTIMIZER_CASE``; ``param_rel_diff`` is how far apart the final parameters end up."""
    tk = OptimizerSpec.defaults
    cases = [
        ("eps placement (adagrad)", "g / (sqrt(h) + eps) vs g / sqrt(h + eps)",
         tk("adagrad", "keras"), {"eps_placement": "outside"}),
        ("eps placement (rmsprop)", "g / (sqrt(v) + eps) vs g / sqrt(v + eps)",
         tk("rmsprop", "keras"), {"eps_placement": "outside"}),
        ("initial accumulator (adagrad)", "h_0 = 0 vs 0.1",
         tk("adagrad", "keras"), {"initial_accumulator": 0.0}),
        ("bias correction (adam)", "lr/c1 m / (sqrt(v)/sqrt(c2) + eps) vs lr sqrt(c2)/c1 m / (sqrt(v) + eps)",
         tk("adam", "keras"), {"bias_correction": "moments"}),
        ("float32 hyperparameters (adam)", "lr, beta^t in float64 vs float32",
         tk("adam", "keras"), {"float32_hyperparameters": False}),
        ("float32 hyperparameters (momentum)", "lr, momentum in float64 vs float32",
         tk("momentum", "keras"), {"float32_hyperparameters": False}),
        ("momentum form (momentum)", "buf = mu buf + g, w -= lr buf vs v = mu v - lr g, w += v",
         tk("momentum", "keras"), {"momentum_form": "buffer"}),
        ("weight decay (adam, wd=0.01)", "g += wd w (coupled L2) vs w -= lr wd w (decoupled)",
         tk("adam", "keras", weight_decay=0.01), {"weight_decay_mode": "coupled"}),
        ("rmsprop decay", "alpha 0.99 (torch) vs rho 0.9 (Keras)", tk("rmsprop", "keras"), {"rho": 0.99}),
        ("adam eps", "1e-8 (torch) vs 1e-7 (Keras)", tk("adam", "keras"), {"eps": 1e-8}),
        ("clip eps (sgd, clip_norm=0.25)", "clip_norm / (norm + 1e-6) vs clip_norm / norm",
         tk("sgd", "keras", clip_norm=0.25), {"clip_eps": 1e-6}),
    ]
    rows = []
    for convention, forms, keras_spec, torch_side in cases:
        torch_spec = dataclasses.replace(keras_spec, **torch_side)
        rows.append({"convention": convention, "torch vs keras": forms, "steps": steps,
                     **_differences(_case_run("numpy", torch_spec, steps), _case_run("numpy", keras_spec, steps)),
                     "keras_spec": repr(keras_spec)})
    return pd.DataFrame(rows)


def optimizer_trajectories(steps: int = 100, optimizers=("sgd", "momentum", "adam"),
                           progress: bool = False) -> list[Row]:
    """``optimizer_trajectory_rows`` for every ``TRAJECTORY_TASKS`` task x optimizer (matched settings)."""
    runs = [(task, name) for task in TRAJECTORY_TASKS.values() for name in optimizers]
    return [row for task, name in tqdm(runs, desc="trajectories", unit="run", disable=not progress)
            for row in optimizer_trajectory_rows(task, OptimizerSpec.matched(name), steps)]
