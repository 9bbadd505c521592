"""``python -m reports --out DIR``: compare every model case in every framework.

Writes to DIR:

    index.html               the report as a page (open it from disk: no server, no network):
                             summary, figures, tables, conventions per family, side-by-side reader
    fig_*.png                the page's figures (matplotlib)
    parity.csv / parity.md   one row per (model case, framework pair, dtype, quantity):
                             model, family, frameworks, dtype, quantity, shape,
                             max_abs_err, max_rel_err, tolerance, passed, subnormal
    training.csv             gradient descent vs the closed form, per regression task and
                             framework; SGD trajectory parity rows; the per-step loss curves
                             (task, family, framework, optimizer, step, loss, metric, value)
    params.csv               parameter counts: canonical, torch, Keras (recurrent nets also
                             the recurrent layer alone: the notes' SimpleRNN(16) on 2 inputs
                             is 304 in Keras and canonically, 320 in torch)
    speed.csv                median and minimum wall time of one loss + gradient evaluation
    sweeps.csv               float32 error against float64 NumPy over sequence length and depth
    gradcheck.csv            NumPy backward vs central differences, sampled, per case
    report.md                the tables, with a summary and the environment

Prints a summary and exits 1 when any comparison fails (parity, training, gradient check),
2 on a usage error (checked before any work, like an --out that cannot be written).

Two more commands read the code rather than run it:

    python -m reports show lstm        the NumPy, torch and Keras sources side by side, aligned
    python -m reports conventions      the README's table of framework conventions
"""

from __future__ import annotations

import argparse
import fnmatch
import itertools
import os
import platform
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from reference_numpy.cases import CASES
from reports import harness, training
from reports.outdir import OutputPathError, check_output_dir

TRAJECTORY_CASES = ("mlp_relu_ce_iris", "mlp_tanh_mse", "mlp_tanh_bce", "polynomial_regression_multi",
                    "cnn_simple_digits", "cnn_deep_digits")
#: Recurrent training runs use gradient clipping by global norm (the notes' exercise); the value
#: is below the gradients' norm so clipping is active in every step.
CLIPPED_TRAJECTORY_CASES = {"rnn_binary_addition": 0.25, "lstm_noisy_sine": 0.25, "gru_noisy_sine": 0.25}
#: Quick mode: this many cases per family (the notes' task cases first).
QUICK_PER_FAMILY = 1
#: ``Case.inputs`` of random batches (every other kind is one of the notes' tasks or data sets).
RANDOM_INPUTS = ("normal", "tokens")
#: Speed: loss + gradient calls timed per case and framework (quick mode: fewer).
REPEATS, QUICK_REPEATS = 20, 3
#: SGD trajectory length (quick mode: shorter).
STEPS, QUICK_STEPS = 20, 5
#: Files the report writes into --out (checked before any work).
REPORT_FILES = ("index.html", "parity.csv", "parity.md", "training.csv", "trajectories.csv", "optimizers.csv",
                "params.csv", "speed.csv",
                "sweeps.csv", "gradcheck.csv", "report.md", "fig_worst_error.png", "fig_float32_sweeps.png",
                "fig_training_curves.png", "fig_speed.png", "bench.csv", "bench.md")
FRAMEWORK_NAMES = tuple(harness.FRAMEWORKS)


def families() -> list[str]:
    return list(dict.fromkeys(c.family for c in CASES))


def quick_cases(cases):
    """Per family, up to ``QUICK_PER_FAMILY`` cases: those on the notes' tasks and data sets
    (iris, digits, binary addition, ...) first, then the first of the option grid."""
    picked = []
    for family in dict.fromkeys(c.family for c in cases):
        members = [c for c in cases if c.family == family]
        task = [c for c in members if c.inputs not in RANDOM_INPUTS]
        ranked = task + [c for c in members if c.inputs in RANDOM_INPUTS]
        picked += ranked[:QUICK_PER_FAMILY]
    order = {c.name: i for i, c in enumerate(cases)}
    return sorted(picked, key=lambda c: order[c.name])


def speed_cases(cases):
    """The speed table times the models on their tasks: every feed-forward case and the
    recurrent task cases (not the 48 cell x option grid, which exists for parity)."""
    return [c for c in cases if c.spec.state_shapes() == {} or c.inputs != "normal"]


def pairs_of(frameworks) -> list[tuple[str, str]]:
    return [p for p in harness.PAIRS if p[0] in frameworks and p[1] in frameworks]


def error_text(exc: Exception) -> str:
    """One line for a case that could not run: the exception's type and the start of its message."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"[:300]


def parity_table(cases, dtypes, pairs=harness.PAIRS) -> pd.DataFrame:
    """Every quantity of every (case, dtype, pair). A case that raises (a framework that cannot run
    it yet) is one failing row, quantity ``error``, its shape column the exception -- the report
    goes on and exits 1."""
    runs = list(itertools.product(cases, dtypes, pairs))
    rows = []
    for case, dtype, pair in tqdm(runs, desc="parity", unit="comparison", mininterval=2.0):
        try:
            rows += [r.as_dict() for r in harness.compare_case(case.name, pair, dtype)]
        except Exception as exc:  # noqa: BLE001  (reported as a failing row, not swallowed)
            rows.append(harness.Row(case.name, case.family, "-".join(pair), dtype, "error", error_text(exc),
                                    float("inf"), float("inf"), harness.tolerance(case, dtype), False).as_dict())
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


def param_count_table(cases, frameworks=FRAMEWORK_NAMES) -> pd.DataFrame:
    rows = []
    for case in cases:
        row = {"model": case.name, "family": case.family,
               "canonical": sum(int(np.prod(s)) for s in case.spec.param_shapes().values())}
        for fw in frameworks:
            if fw != "numpy":
                try:
                    row[fw] = harness.make_adapter(fw, case.spec, case.params()).param_count()
                except Exception as exc:  # noqa: BLE001  (the parity table reports the failure)
                    row["error"] = f"{fw}: {error_text(exc)}"
        if case.spec.state_shapes():       # the recurrent layer alone: total minus the dense head
            shapes = case.spec.param_shapes()
            head = int(np.prod(shapes["W_out"])) + int(np.prod(shapes["b_out"]))
            row["layer"] = (f"{case.spec.cell}(H={case.spec.hidden}, D={case.spec.in_features}"
                            f"{', bidirectional' if case.spec.bidirectional else ''})")
            row.update({f"layer_{k}": row[k] - head for k in ("canonical", *frameworks) if row.get(k) is not None})
        rows.append(row)
    table = pd.DataFrame(rows)
    return table.astype({c: "Int64" for c in table.columns if c.startswith("layer_")})   # blanks, not NaN


def speed_table(cases, repeats: int = 20, frameworks=FRAMEWORK_NAMES) -> pd.DataFrame:
    """Milliseconds of one ``loss_and_grads`` call (float64, the case's batch), after a warm-up: the
    median (``{fw}_ms``) and the minimum (``{fw}_min_ms``) of ``repeats`` calls. On a shared machine
    the minimum is the stable number: another process only ever adds time, and torch's two
    intra-op threads wait for each other when the cores are busy (medians of 40 ms measured for a
    call whose minimum is 0.2 ms)."""
    rows = []
    for case in tqdm(cases, desc="speed", unit="case", mininterval=2.0):
        x, target, _ = case.batch_data()
        row = {"model": case.name, "family": case.family, "batch": case.batch}
        for fw in frameworks:
            try:
                adapter = harness.make_adapter(fw, case.spec, case.params())
                adapter.loss_and_grads(x, target)
            except Exception as exc:  # noqa: BLE001  (the parity table reports the failure)
                row[f"{fw}_ms"], row["error"] = np.nan, f"{fw}: {error_text(exc)}"
                continue
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                adapter.loss_and_grads(x, target)
                times.append(time.perf_counter() - start)
            row[f"{fw}_ms"] = 1e3 * float(np.median(times))
            row[f"{fw}_min_ms"] = 1e3 * float(np.min(times))
        rows.append(row)
    return pd.DataFrame(rows)


def training_tables(cases, dtypes, frameworks, quick: bool):
    """``(closed-form rows, trajectory parity rows, curve rows)`` as DataFrames. Quick mode skips
    the closed-form runs (thousands of steps) and runs the float64 trajectories only, for
    ``QUICK_STEPS`` steps."""
    from reports import curves

    conv = pd.DataFrame() if quick else pd.DataFrame(training.regression_convergence(frameworks))
    traj_cases = [c for c in cases if c.name in TRAJECTORY_CASES or c.name in CLIPPED_TRAJECTORY_CASES]
    traj, curve = [], []
    for case, dtype in tqdm(list(itertools.product(traj_cases, ["float64"] if quick else dtypes)),
                            desc="training", unit="run", mininterval=2.0):
        sink = curve if dtype == "float64" else []
        try:
            with curves.recording(sink, case.name, case.family, dtype):
                traj += [r.as_dict() for r in training.trajectory_rows(
                    case, steps=QUICK_STEPS if quick else STEPS, dtype=dtype, frameworks=frameworks,
                    clip_norm=CLIPPED_TRAJECTORY_CASES.get(case.name))]
        except Exception as exc:  # noqa: BLE001  (a failing row, like parity_table's)
            traj.append(harness.Row(case.name, case.family, "all", dtype, "error", error_text(exc),
                                    float("inf"), float("inf"), harness.TOLERANCE[dtype], False).as_dict())
    return conv, pd.DataFrame(traj), pd.DataFrame(curve)


def learn_curves(learn: pd.DataFrame, trajectories: pd.DataFrame) -> pd.DataFrame:
    """The per-step losses the training figure draws: the tasks learned (iris: its first fold),
    or the short trajectory runs when no task was learned."""
    if learn.empty:
        return trajectories
    steps = learn[learn["metric"].fillna("") == ""]
    return steps[steps["fold"].fillna(1) <= 1]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict[str, str]:
    import keras
    import matplotlib
    import tensorflow as tf
    import torch

    threads = (f"torch {torch.get_num_threads()}, TensorFlow intra-op "
               f"{tf.config.threading.get_intra_op_parallelism_threads() or 'default'} / inter-op "
               f"{tf.config.threading.get_inter_op_parallelism_threads() or 'default'}, "
               f"OMP_NUM_THREADS {os.environ.get('OMP_NUM_THREADS', 'unset')}")
    return {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
            "tensorflow": tf.__version__, "keras": keras.__version__, "pandas": pd.__version__,
            "matplotlib": matplotlib.__version__, "platform": platform.platform(),
            "cpu": f"{cpu_model()} ({os.cpu_count()} logical CPUs)", "threads": threads}


def _md(df: pd.DataFrame) -> str:
    """Markdown table; missing cells (a feed-forward model has no recurrent layer) stay blank."""
    return df.astype(object).where(df.notna(), "").to_markdown(index=False, floatfmt=".3g")


class Timer:
    """Wall time per phase of the report, in the order they ran."""

    def __init__(self):
        self.phases: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + time.perf_counter() - start


# -- the command line -------------------------------------------------------------------------

EPILOG = """\
other commands:
  python -m reports show TOPIC       the NumPy, torch and Keras sources of a model family side by
                                     side, aligned step by step (see: python -m reports show --help)
  python -m reports conventions      the table of conventions that differ between torch and Keras,
                                     as README.md holds it (see: python -m reports conventions --help)

exit status: 0 every comparison passed; 1 some comparison failed (parity, training or gradient
check); 2 a usage error, reported before any work (e.g. an --out that cannot be written).
"""


def report_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m reports", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Compare every model case in NumPy, PyTorch and Keras and write the report "
                    "(index.html, CSV tables, figures, report.md) into --out.")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="directory to write the report into (created if missing; the files in it "
                             "named like the report's are overwritten); open DIR/index.html in a browser")
    parser.add_argument("--families", nargs="+", metavar="FAMILY", choices=families(),
                        help=f"only these model families' cases and tasks learned (default: all of "
                             f"{', '.join(families())})")
    parser.add_argument("--frameworks", nargs="+", metavar="FRAMEWORK", choices=FRAMEWORK_NAMES,
                        default=list(FRAMEWORK_NAMES),
                        help="compare only these frameworks, at least two (default: numpy torch keras); "
                             "the gradient checks run when numpy is among them")
    parser.add_argument("--dtypes", nargs="+", default=list(harness.DTYPES), choices=harness.DTYPES,
                        metavar="DTYPE", help="float64 and/or float32 (default: both); the float32 sweeps "
                                              "run when float32 is among them")
    parser.add_argument("--cases", default="*", metavar="GLOB",
                        help="only the cases whose name matches this glob, e.g. 'lstm_*' (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help=f"a quick look (under a minute on 2 cores): {QUICK_PER_FAMILY} case per family "
                             "(its task case: iris, digits, binary addition, ...), fewer sweep points, "
                             f"{QUICK_STEPS}-step float64 training trajectories only, no closed-form training "
                             f"runs, {QUICK_REPEATS} speed repeats")
    parser.add_argument("--skip-training", action="store_true", help="no training runs (parity and the rest only)")
    parser.add_argument("--skip-bench", action="store_true",
                        help="no speed benchmark (python -m reports bench: bench.csv, bench.md)")
    parser.add_argument("--bench-from", metavar="DIR",
                        help="include the benchmark already in DIR (bench.csv and bench.md, as `python -m reports "
                             "bench --out DIR` writes them) instead of running it")
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["show"]:
        return show_main(argv[1:])
    if argv[:1] == ["conventions"]:
        return conventions_main(argv[1:])
    return report_main(argv)


def report_main(argv) -> int:
    parser = report_parser()
    args = parser.parse_args(argv)
    frameworks = [fw for fw in FRAMEWORK_NAMES if fw in args.frameworks]
    if len(frameworks) < 2:
        parser.error(f"--frameworks needs at least two frameworks to compare, got {' '.join(args.frameworks)}")
    cases = [c for c in CASES if fnmatch.fnmatch(c.name, args.cases)
             and (args.families is None or c.family in args.families)]
    if not cases:
        parser.error(f"--cases {args.cases!r}{' with --families ' + ' '.join(args.families) if args.families else ''}"
                     f" matches none of: {', '.join(c.name for c in CASES)}")
    if args.quick:
        cases = quick_cases(cases)
    if args.bench_from is not None and args.skip_bench:
        parser.error("--bench-from includes a benchmark, --skip-bench leaves it out: give one of them")
    try:
        out = check_output_dir(args.out, REPORT_FILES)
        if args.bench_from is not None:
            read_benchmark(Path(args.bench_from))          # checked before any work, like --out
    except OutputPathError as exc:
        print(f"python -m reports: error: {exc}", file=sys.stderr)
        return 2
    dtypes = [d for d in harness.DTYPES if d in args.dtypes]
    if any(fw.startswith("keras") for fw in frameworks):
        from reports.bench import fd2_to_devnull

        # TensorFlow's C++ log lines stay off the console: the start-up ones (absl, oneDNN) ignore
        # TF_CPP_MIN_LOG_LEVEL, the later "oneDNN supports DT_BOOL only ... AVX-512" is logged as an
        # ERROR (level 3 hides it; a real failure still raises a Python exception).
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        with fd2_to_devnull():
            import impl_tf.adapter  # noqa: F401
    pairs = pairs_of(frameworks)
    timer = Timer()
    started = time.monotonic()

    print(f"parity: {len(cases)} cases x {len(pairs)} framework pairs x {len(dtypes)} dtypes"
          f"{' (quick)' if args.quick else ''}", flush=True)
    with timer.phase("parity"):
        parity = parity_table(cases, dtypes, pairs)
    parity.to_csv(out / "parity.csv", index=False)
    (out / "parity.md").write_text(_md(parity) + "\n")
    summary = summary_table(parity)
    failures = int((~parity["passed"]).sum())

    with timer.phase("parameter counts"):
        counts = param_count_table(cases, frameworks)
    counts.to_csv(out / "params.csv", index=False)

    conv = traj = curve = learned = learn = optimizer_diffs = pd.DataFrame()
    if not args.skip_training:
        print("training: " + ("SGD trajectories (float64)" if args.quick else
                              "gradient descent to the closed form, SGD trajectories"), flush=True)
        with timer.phase("training"):
            conv, traj, curve = training_tables(cases, dtypes, frameworks, args.quick)
            runs = [conv.assign(kind="closed_form"), traj.assign(kind="trajectory"), curve.assign(kind="curve")]
            if not args.quick:              # SGD, Momentum, Adam: 100 float64 steps on every family
                runs.append(pd.DataFrame([r.as_dict() for r in training.optimizer_trajectories(steps=100)])
                            .assign(kind="optimizer_trajectory"))
                failures += int((~runs[-1]["passed"]).sum())
        pd.concat(runs).to_csv(out / "trajectories.csv", index=False)
        failures += sum(int((~t["passed"]).sum()) for t in (conv, traj) if len(t))
        learners = [fw for fw in frameworks if fw in training.LEARN_FRAMEWORKS]
        tasks = [name for name, task in training.LEARN_TASKS.items() if task.family in {c.family for c in cases}]
        if learners and tasks:
            print(f"tasks learned: {', '.join(tasks)} in {', '.join(learners)}"
                  f"{' (quick: a few steps, not judged)' if args.quick else ''}", flush=True)
            with timer.phase("tasks learned"):
                learn = training.learn_tasks(quick=args.quick, progress=True, tasks=tasks, frameworks=learners)
            learn.to_csv(out / "training.csv", index=False)
            learned = training.learn_summary(learn)
            failures += int((learned["passed"] == False).sum())      # noqa: E712  (None: no target)
        if not args.quick:
            with timer.phase("optimizer conventions"):
                optimizer_diffs = training.optimizer_table()
            optimizer_diffs.to_csv(out / "optimizers.csv", index=False)

    repeats = QUICK_REPEATS if args.quick else REPEATS
    print(f"speed: {repeats} loss+gradient evaluations per case and framework (median and minimum)", flush=True)
    with timer.phase("speed"):
        speed = speed_table(speed_cases(cases), repeats, frameworks)
    speed.to_csv(out / "speed.csv", index=False)

    bench = pd.DataFrame()
    if args.bench_from is not None:
        bench = copy_benchmark(Path(args.bench_from), out)
    elif not args.skip_bench:
        with timer.phase("benchmark"):
            bench = run_benchmark(out, [c.family for c in cases], frameworks, args.quick)
        if bench is None:
            failures += 1
            bench = pd.DataFrame()

    from reports import gradchecks, sweeps

    sweep = pd.DataFrame()
    swept = [f for f in ("rnn", "lstm", "mlp") if any(c.family == f for c in cases)]
    if "float32" in dtypes and swept:
        with timer.phase("float32 sweeps"):
            sweep = sweeps.float32_sweeps(frameworks, quick=args.quick, families=swept)
        sweep.to_csv(out / "sweeps.csv", index=False)
    grads = pd.DataFrame()
    if "numpy" in frameworks:
        with timer.phase("gradient checks"):
            grads = gradchecks.gradcheck_table(cases)
        grads.to_csv(out / "gradcheck.csv", index=False)
        failures += int((~grads["passed"]).sum())

    env = environment()
    verdict = "ALL PASSED" if failures == 0 else f"{failures} FAILED"
    options = {"cases": len(cases), "families": ", ".join(dict.fromkeys(c.family for c in cases)),
               "frameworks": ", ".join(frameworks), "dtypes": ", ".join(dtypes), "quick": args.quick,
               "training": not args.skip_training}

    from reports import page

    with timer.phase("figures"):
        figures = page.write_figures(out, summary=summary, sweeps=sweep, training=learn_curves(learn, curve),
                                     speed=speed)
    report = page.Report(verdict=verdict, failures=failures, parity=parity, summary=summary, counts=counts,
                         convergence=conv, trajectories=summary_table(traj) if len(traj) else traj, curves=curve,
                         learned=learned, optimizers=optimizer_diffs,
                         speed=speed, bench=bench, sweeps=sweep,
                         gradchecks=grads, figures=figures, env=env, options=options, timings=timer.phases,
                         frameworks=tuple(frameworks), families=tuple(dict.fromkeys(c.family for c in cases)))
    with timer.phase("page"):
        page.write_markdown(out / "report.md", report)
        page.write_html(out / "index.html", report)

    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.float_format", "{:.2e}".format):
        print(summary.to_string(index=False))
        if failures:
            failed = parity[~parity["passed"]]
            if len(failed):
                print("\nFAILED rows:\n" + failed.to_string(index=False))
    phases = ", ".join(f"{k} {v:.0f} s" for k, v in timer.phases.items())
    print(f"\n{verdict}: {len(parity)} parity rows; wrote {out}/index.html, report.md, parity.csv, parity.md, "
          f"training.csv, trajectories.csv, params.csv, speed.csv, {'bench.csv, bench.md, ' if len(bench) else ''}"
          f"sweeps.csv, gradcheck.csv, fig_*.png "
          f"in {time.monotonic() - started:.0f} s ({phases})")
    return 0 if failures == 0 else 1


def read_benchmark(directory: Path) -> pd.DataFrame:
    """The benchmark in ``directory`` (``bench.csv`` with ``bench.COLUMNS``, and ``bench.md``), or an
    ``OutputPathError`` naming what is missing."""
    from reports import bench

    missing = [name for name in bench.OUTPUT_FILES if not (directory / name).is_file()]
    if missing:
        raise OutputPathError(f"--bench-from {directory}: no {' or '.join(missing)} there; expected the output of "
                              f"`python -m reports bench --out {directory}`")
    try:
        table = pd.read_csv(directory / "bench.csv")
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise OutputPathError(f"--bench-from {directory}: bench.csv is not a table ({exc})") from None
    if list(table.columns) != list(bench.COLUMNS):
        raise OutputPathError(f"--bench-from {directory}: bench.csv has columns {list(table.columns)}, expected "
                              f"{list(bench.COLUMNS)}")
    return table


def copy_benchmark(directory: Path, out: Path) -> pd.DataFrame:
    """``--bench-from``: the benchmark's files copied into the report (unless already there) and its table."""
    import shutil

    from reports import bench

    table = read_benchmark(directory)
    if directory.resolve() != out.resolve():
        for name in bench.OUTPUT_FILES:
            shutil.copyfile(directory / name, out / name)
    print(f"benchmark: {directory / 'bench.csv'} ({len(table)} rows, not run again)", flush=True)
    return table


def run_benchmark(out: Path, families, frameworks, quick: bool) -> pd.DataFrame | None:
    """``python -m reports bench`` (``reports/bench.py``) into ``out``: bench.csv and bench.md for the report's
    families and frameworks that the benchmark times (numpy, torch, keras-tf; float32, one thread, the
    training step and the forward pass at realistic sizes, as a ratio to a plain torch step). It runs in
    a process of its own, so the timings see a fresh heap, not this one's. An empty table when none of
    them is timed; None, after printing why, when the benchmark fails."""
    import subprocess

    from reports import bench

    families = [f for f in bench.FAMILIES if f in families]
    frameworks = [f for f in bench.DEFAULT_FRAMEWORKS if f in frameworks]
    if not families or not frameworks:
        return pd.DataFrame()
    print(f"benchmark: python -m reports bench --threads 1 (float32; {', '.join(families)}; "
          f"{', '.join(frameworks)}){' --quick' if quick else ''}", flush=True)
    proc = subprocess.run([sys.executable, "-m", "reports.bench", "--out", str(out), "--threads", "1",
                           "--families", ",".join(families), "--frameworks", ",".join(frameworks),
                           *(["--quick"] if quick else [])], stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        print(f"benchmark FAILED (exit {proc.returncode}):\n{proc.stdout}", flush=True)
        return None
    return pd.read_csv(out / "bench.csv")


# -- python -m reports show ---------------------------------------------------------------


def show_main(argv) -> int:
    from reports import reader

    parser = argparse.ArgumentParser(
        prog="python -m reports show", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Print the NumPy, PyTorch and Keras sources of a model family side by side, aligned so "
                    "that the same step stands on the same row (module docstring beside docstring, class "
                    "beside class, forward beside call; a hand-written recurrent step beside the layer "
                    "call that runs the built-in cell). The alignment comes from the code's structure "
                    "(ast: classes, methods, '# step: NAME' marker comments), so it follows the code.",
        epilog=f"On a terminal at least {reader.SIDE_BY_SIDE_WIDTH} columns wide the three versions are columns "
               "(rich); on a narrower one, or piped, each aligned block is printed one version after another "
               "as plain text.")
    parser.add_argument("topic", nargs="?", metavar="TOPIC",
                        help=f"a model family ({', '.join(reader.available_topics())}) or a file name "
                             "present in the packages (e.g. weights.py); without it, list the topics")
    layout = parser.add_mutually_exclusive_group()
    layout.add_argument("--plain", action="store_true", help="plain text, one version after another, no colour")
    layout.add_argument("--columns", action="store_true", help="three columns even on a narrow terminal")
    parser.add_argument("--width", type=int, metavar="N", help="render for N columns (default: the terminal's)")
    args = parser.parse_args(argv)
    if args.topic is None:
        for topic in reader.available_topics():
            print(f"{topic:12s} {', '.join(reader.topic_files(topic))}")
        return 0
    try:
        reader.topic_files(args.topic)
    except ValueError as exc:
        parser.error(str(exc))
    plain = True if args.plain else False if args.columns else None
    reader.show_topic(args.topic, plain=plain, width=args.width)
    return 0


# -- python -m reports conventions -------------------------------------------------------


def conventions_main(argv) -> int:
    from reports import conventions

    parser = argparse.ArgumentParser(
        prog="python -m reports conventions",
        description="Print the table of conventions that differ between torch and Keras, rendered from "
                    "reports/conventions.py (the one source: README.md must hold exactly this table, "
                    "parity_tests/test_report_conventions.py checks it).")
    parser.add_argument("--family", choices=conventions.FAMILIES,
                        help="only the conventions that apply to this model family")
    args = parser.parse_args(argv)
    rows = conventions.for_family(args.family) if args.family else conventions.CONVENTIONS
    print(conventions.markdown_table(rows))
    return 0
