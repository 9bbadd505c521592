"""Training through the adapter protocol: same weights, same batches, same optimizer.

Two checks, used by the tests and the report:

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
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from reference_numpy import data
from reference_numpy.cases import Case
from reference_numpy.initializers import init_params
from reference_numpy.optimizers import CLIP_EPS
from reference_numpy.regression import closed_form, regression_features
from reference_numpy.specs import LinearRegressionSpec, OptimizerSpec, PolynomialRegressionSpec
from reports.harness import PAIRS, Row, compare_results, make_adapter

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


def train(framework: str, spec, params, batches, optimizer: OptimizerSpec, dtype="float64") -> TrainResult:
    adapter = make_adapter(framework, spec, params, dtype)
    adapter.set_optimizer(optimizer)
    losses = [adapter.train_step(x, d) for x, d in batches]
    return TrainResult(np.array(losses), adapter.get_params())


def regression_convergence(frameworks=("numpy", "torch", "keras"), seed: int = 0) -> list[dict]:
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
                    frameworks=("numpy", "torch", "keras"), clip_norm: float | None = None) -> list[Row]:
    """Parity rows for ``steps`` SGD steps: quantity ``train_loss`` (the whole curve) and
    ``train_param:<name>`` (the weights after the last step).

    With ``clip_norm`` (gradient clipping by global norm) the frameworks add different
    eps to the norm (``reference_numpy.optimizers.CLIP_EPS``: torch 1e-6, Keras 0), so
    each framework is compared with a NumPy run using *its* eps, and torch is not
    compared with Keras directly (they differ by about 1e-6 / norm by design)."""
    batches = minibatches(case, steps, dtype)

    def run(fw, optimizer):
        res = train(fw, case.spec, case.params(dtype), batches, optimizer, dtype)
        return {"train_loss": res.losses, **{f"train_param:{n}": p for n, p in res.params.items()}}

    rows = []
    if clip_norm is None:
        results = {fw: run(fw, OptimizerSpec("sgd", lr)) for fw in frameworks}
        for pair in PAIRS:
            if pair[0] in results and pair[1] in results:
                rows += compare_results(case.name, case.family, pair, dtype, results[pair[0]], results[pair[1]])
        return rows
    for fw in frameworks:
        if fw != "numpy":
            optimizer = OptimizerSpec("sgd", lr, clip_norm=clip_norm, clip_eps=CLIP_EPS[fw])
            rows += compare_results(case.name, case.family, ("numpy", fw), dtype,
                                    run("numpy", optimizer), run(fw, optimizer))
    return rows
