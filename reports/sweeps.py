"""How float32 error grows with sequence length and with depth, measured on a sweep.

Each point runs one model in float32 in every framework and compares every quantity the
parity harness compares (output, loss, final states, every gradient and VJP) with the float64
NumPy result on the same weights and batch -- the error against the exact answer, not between
two float32 runs::

    err(fw, q) = max |q_fw,float32 - q_numpy,float64| / max |q_numpy,float64|      (normwise)

and records the worst quantity. Two sweeps:

    seq_len   a SimpleRNN (tanh) and an LSTM, H = 8, D = 3, many-to-one, N = 4, a given initial
              state (so its gradient, which travels back through all T steps, is compared too),
              T in SEQ_LENGTHS (quick: QUICK_SEQ_LENGTHS)
    depth     an MLP (tanh, 16 units per hidden layer, D = 4, K = 3), L = 1 .. 8 dense layers
              (quick: QUICK_DEPTHS)

Measured (float32, Xavier weights): the output's error stays near 1e-7 at every T (the tanh
recurrences here are contractive: rounding from early steps fades), while the initial-state
gradient -- shrunk to 1e-9 .. 1e-17 after 50-100 steps -- grows to a few 1e-6 (10-30 eps); the
worst quantity at large T is almost always that gradient.

The parity tolerance for float32 (``harness.tolerance``: eps * max(100, 10 T)) is drawn beside
the curves in the report; it bounds the difference of two float32 runs, which is at most twice
each run's distance from float64.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm import tqdm

from reference_numpy.cases import Case
from reference_numpy.gradcheck import relative_error
from reference_numpy.specs import MLPSpec, RNNSpec
from reports import harness

SEQ_LENGTHS = (1, 2, 5, 10, 20, 50, 100)
QUICK_SEQ_LENGTHS = (1, 5, 20, 50)
DEPTHS = tuple(range(1, 9))
QUICK_DEPTHS = (1, 2, 4, 8)
RNN_CELLS = ("rnn", "lstm")


def sweep_cases(quick: bool = False, families=("rnn", "lstm", "mlp")) -> list[tuple[str, str, int, Case]]:
    """``(sweep, model, x, case)`` for every point: sweep "seq_len" (x = T) or "depth" (x = L); only
    the models of ``families`` (rnn, lstm: the length sweep; mlp: the depth sweep)."""
    points = []
    for cell in (c for c in RNN_CELLS if c in families):
        for T in (QUICK_SEQ_LENGTHS if quick else SEQ_LENGTHS):
            spec = RNNSpec(cell, in_features=3, hidden=8, out_features=2)
            points.append(("seq_len", cell, T, Case(f"sweep_{cell}_T{T}", spec, seed=300 + T, batch=4, seq_len=T,
                                                    given_state=True)))
    for L in (QUICK_DEPTHS if quick else DEPTHS) if "mlp" in families else ():
        spec = MLPSpec(in_features=4, hidden=(16,) * (L - 1), out_features=3, activation="tanh",
                       output="softmax", loss="softmax_cross_entropy")
        points.append(("depth", "mlp", L, Case(f"sweep_mlp_L{L}", spec, seed=400 + L, batch=8)))
    return points


def _quantities(framework: str, case: Case, dtype: str) -> dict[str, np.ndarray]:
    x, target, upstream = case.batch_data(dtype)
    adapter = harness.make_adapter(framework, case.spec, case.params(dtype), dtype)
    return harness.quantities(adapter, x, target, upstream, case.initial_state(dtype))


def float32_sweeps(frameworks=("numpy", "torch", "keras"), quick: bool = False,
                   families=("rnn", "lstm", "mlp")) -> pd.DataFrame:
    """One row per (sweep point, framework): the worst relative error of any float32 quantity
    against float64 NumPy, which quantity it was, and the float32 parity tolerance at that point."""
    rows = []
    for sweep, model, x_value, case in tqdm(sweep_cases(quick, families), desc="float32 sweeps", unit="point",
                                            mininterval=2.0):
        exact = _quantities("numpy", case, "float64")
        for fw in frameworks:
            approx = _quantities(fw, case, "float32")
            errors = {q: relative_error(approx[q], exact[q])[1] for q in exact}
            worst = max(errors, key=errors.get)
            rows.append({"sweep": sweep, "model": model, "x": x_value, "framework": fw,
                         "max_rel_err": errors[worst], "worst_quantity": worst,
                         "output_rel_err": errors["output"],
                         "tolerance": harness.tolerance(case, "float32")})
    return pd.DataFrame(rows)
