"""``python -m reports --out DIR``: compare every model case in every framework.

Writes to DIR:

    parity.csv / parity.md   one row per (model case, framework pair, dtype, quantity):
                             model, family, frameworks, dtype, quantity, shape,
                             max_abs_err, max_rel_err, tolerance, passed
    training.csv             gradient descent vs the closed form, per regression task
                             and framework; SGD trajectory parity rows
    params.csv               parameter counts: canonical, torch, Keras (recurrent nets also
                             the recurrent layer alone: the notes' SimpleRNN(16) on 2 inputs
                             is 304 in Keras and canonically, 320 in torch)
    speed.csv                median wall time of one loss + gradient evaluation
    report.md                all of the above, with a summary and the environment

Prints a summary and exits non-zero when any row fails.
"""

from __future__ import annotations

import argparse
import fnmatch
import itertools
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from reference_numpy.cases import CASES
from reports import harness, training

TRAJECTORY_CASES = ("mlp_relu_ce_iris", "mlp_tanh_mse", "mlp_tanh_bce", "polynomial_regression_multi",
                    "cnn_simple_digits", "cnn_deep_digits")
#: Recurrent training runs use gradient clipping by global norm (the notes' exercise); the value
#: is below the gradients' norm so clipping is active in every step.
CLIPPED_TRAJECTORY_CASES = {"rnn_binary_addition": 0.25, "lstm_noisy_sine": 0.25, "gru_noisy_sine": 0.25}


def speed_cases(cases):
    """The speed table times the models on their tasks: every feed-forward case and the
    recurrent task cases (not the 48 cell x option grid, which exists for parity)."""
    return [c for c in cases if c.spec.state_shapes() == {} or c.inputs != "normal"]


def parity_table(cases, dtypes) -> pd.DataFrame:
    runs = list(itertools.product(cases, dtypes, harness.PAIRS))
    rows = [r.as_dict()
            for case, dtype, pair in tqdm(runs, desc="parity", unit="comparison", mininterval=2.0)
            for r in harness.compare_case(case.name, pair, dtype)]
    return pd.DataFrame(rows)


def summary_table(parity: pd.DataFrame) -> pd.DataFrame:
    """Per (family, dtype, pair): rows, failures, the worst relative error of the rows judged
    relatively, and how many rows passed by the subnormal floor instead (harness.py)."""
    judged = parity["max_rel_err"].where(~parity["subnormal"])
    return (parity.assign(judged_rel_err=judged)
            .groupby(["family", "dtype", "frameworks"], sort=False)
            .agg(rows=("passed", "size"), failed=("passed", lambda s: int((~s).sum())),
                 max_rel_err=("judged_rel_err", "max"), tolerance=("tolerance", "max"),
                 subnormal=("subnormal", "sum"))
            .reset_index())


def param_count_table(cases) -> pd.DataFrame:
    rows = []
    for case in cases:
        row = {"model": case.name, "family": case.family,
               "canonical": sum(int(np.prod(s)) for s in case.spec.param_shapes().values())}
        for fw in harness.FRAMEWORKS:
            if fw != "numpy":
                row[fw] = harness.make_adapter(fw, case.spec, case.params()).param_count()
        if case.spec.state_shapes():       # the recurrent layer alone: total minus the dense head
            shapes = case.spec.param_shapes()
            head = int(np.prod(shapes["W_out"])) + int(np.prod(shapes["b_out"]))
            row["layer"] = (f"{case.spec.cell}(H={case.spec.hidden}, D={case.spec.in_features}"
                            f"{', bidirectional' if case.spec.bidirectional else ''})")
            row.update({f"layer_{k}": row[k] - head for k in ("canonical", "torch", "keras")})
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.astype({c: "Int64" for c in table.columns if c.startswith("layer_")})   # blanks, not NaN


def speed_table(cases, repeats: int = 20) -> pd.DataFrame:
    """Median seconds of one ``loss_and_grads`` call (float64, the case's batch), after a warm-up."""
    rows = []
    for case in cases:
        x, target, _ = case.batch_data()
        row = {"model": case.name, "batch": case.batch}
        for fw in harness.FRAMEWORKS:
            adapter = harness.make_adapter(fw, case.spec, case.params())
            adapter.loss_and_grads(x, target)
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                adapter.loss_and_grads(x, target)
                times.append(time.perf_counter() - start)
            row[f"{fw}_ms"] = 1e3 * float(np.median(times))
        rows.append(row)
    return pd.DataFrame(rows)


def environment() -> dict[str, str]:
    import keras
    import tensorflow as tf
    import torch

    return {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
            "tensorflow": tf.__version__, "keras": keras.__version__, "platform": platform.platform()}


def _md(df: pd.DataFrame) -> str:
    """Markdown table; missing cells (a feed-forward model has no recurrent layer) stay blank."""
    return df.astype(object).where(df.notna(), "").to_markdown(index=False, floatfmt=".3g")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="directory to write the report into")
    parser.add_argument("--cases", default="*", help="glob over case names (default: all)")
    parser.add_argument("--dtypes", nargs="+", default=list(harness.DTYPES), choices=harness.DTYPES)
    parser.add_argument("--skip-training", action="store_true", help="parity only (no GD runs)")
    args = parser.parse_args(argv)

    cases = [c for c in CASES if fnmatch.fnmatch(c.name, args.cases)]
    if not cases:
        parser.error(f"--cases {args.cases!r} matches none of: {', '.join(c.name for c in CASES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    print(f"parity: {len(cases)} cases x {len(harness.PAIRS)} framework pairs x {len(args.dtypes)} dtypes",
          flush=True)
    parity = parity_table(cases, args.dtypes)
    parity.to_csv(args.out / "parity.csv", index=False)
    (args.out / "parity.md").write_text(_md(parity) + "\n")
    summary = summary_table(parity)
    failures = int((~parity["passed"]).sum())

    sections = [("Parity summary (max over every quantity)", summary)]
    counts = param_count_table(cases)
    counts.to_csv(args.out / "params.csv", index=False)
    sections.append(("Parameter counts", counts))

    if not args.skip_training:
        print("training: gradient descent to the closed form, SGD trajectories", flush=True)
        conv = pd.DataFrame(training.regression_convergence())
        traj_cases = [c for c in cases if c.name in TRAJECTORY_CASES or c.name in CLIPPED_TRAJECTORY_CASES]
        traj = pd.DataFrame([r.as_dict() for c, dtype in itertools.product(traj_cases, args.dtypes)
                             for r in training.trajectory_rows(
                                 c, dtype=dtype, clip_norm=CLIPPED_TRAJECTORY_CASES.get(c.name))])
        pd.concat([conv.assign(kind="closed_form"), traj.assign(kind="trajectory")]).to_csv(
            args.out / "training.csv", index=False)
        failures += int((~conv["passed"]).sum()) + (int((~traj["passed"]).sum()) if len(traj) else 0)
        sections.append(("Gradient descent vs closed-form least squares", conv))
        if len(traj):
            sections.append(("SGD trajectory parity (20 steps, lr 0.125; recurrent tasks with "
                             "global-norm clipping, each framework against NumPy with its own clip eps)",
                             summary_table(traj)))

    print("speed: median of 20 loss+gradient evaluations", flush=True)
    speed = speed_table(speed_cases(cases))
    speed.to_csv(args.out / "speed.csv", index=False)
    sections.append(("Speed (median ms per loss + gradients, float64; batches of 1-16, so this is "
                     "per-call overhead -- eager Keras, autograd, NumPy -- not throughput)", speed))

    env = environment()
    verdict = "ALL PASSED" if failures == 0 else f"{failures} FAILED"
    lines = [f"# Parity report: NumPy vs PyTorch vs Keras -- {verdict}", "",
             " | ".join(f"{k} {v}" for k, v in env.items()), "",
             "Errors are normwise: max|a-b| and max|a-b| / max(max|a|, max|b|). "
             "Tolerances: float64 1e-10; float32 eps * max(100, 10 T) for T recurrent steps; an "
             "absolute difference below finfo.tiny passes (TensorFlow flushes subnormals to zero) "
             "-- see reports/harness.py. "
             "`grad:*` are loss gradients, `vjp:*` gradients of sum(upstream * output) "
             "for a random upstream. Full rows: parity.csv.", ""]
    for title, df in sections:
        lines += [f"## {title}", "", _md(df), ""]
    (args.out / "report.md").write_text("\n".join(lines))

    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.float_format", "{:.2e}".format):
        print(summary.to_string(index=False))
        if failures:
            failed = parity[~parity["passed"]]
            print("\nFAILED rows:\n" + failed.to_string(index=False))
    print(f"\n{verdict}: {len(parity)} parity rows; wrote {args.out}/report.md, parity.csv, parity.md, "
          f"training.csv, params.csv, speed.csv in {time.monotonic() - started:.0f} s")
    return 0 if failures == 0 else 1
