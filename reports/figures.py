"""The report's pictures (matplotlib, Agg backend: no display needed), each written as a PNG.

    worst_error        worst relative error per family and framework pair, float64 and float32
                       side by side, log scale, with each family's tolerance drawn
    float32_sweeps     float32 error against float64 NumPy as the sequence gets longer (SimpleRNN,
                       LSTM) and the MLP deeper, per framework, with the parity tolerance
    training_curves    the loss curves of the three frameworks overlaid, one panel per task
    speed              median ms per loss + gradient evaluation, per family and framework

Each function takes the report's tables (the same DataFrames that are written as CSV) and a
path, and returns the path, or None when the table holds nothing to draw.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

FRAMEWORK_COLORS = {"numpy": "#1f77b4", "torch": "#ff7f0e", "keras": "#2ca02c", "keras-tf": "#2ca02c",
                    "keras-jax": "#d62728", "keras-torch": "#8c564b"}
FRAMEWORK_STYLES = {"numpy": "-", "torch": "--", "keras": ":", "keras-tf": ":", "keras-jax": "-.",
                    "keras-torch": (0, (1, 3))}
#: Colours for framework pairs, in the order the pairs come (tab10 has ten: every pair of five frameworks).
PAIR_PALETTE = ("#ff7f0e", "#2ca02c", "#9467bd", "#17becf", "#d62728", "#8c564b", "#e377c2", "#bcbd22",
                "#7f7f7f", "#1f77b4")
#: Where an exact agreement (error 0) is drawn on a log axis.
FLOOR = 1e-17
DPI = 110


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def worst_error(summary: pd.DataFrame, path: Path) -> Path | None:
    """Grouped bars: for each family (x) and pair (colour), the worst relative error of the rows
    judged relatively (``cli.summary_table``); a black bar over each family is its tolerance."""
    if summary.empty:
        return None
    dtypes = [d for d in ("float64", "float32") if d in set(summary["dtype"])]
    families = list(dict.fromkeys(summary["family"]))
    pairs = list(dict.fromkeys(summary["frameworks"]))
    colors = dict(zip(pairs, PAIR_PALETTE * 2))
    bars = len(families) * len(pairs)
    if bars <= 24:            # side by side
        panel = max(4.0, 0.75 * len(families) + 1.5)                   # inches per panel: room for the labels
        fig, axes = plt.subplots(1, len(dtypes), figsize=(panel * len(dtypes), 3.8), squeeze=False)
        axes = list(axes[0])
    else:                     # many pairs: one wide panel per dtype, stacked
        fig, axes = plt.subplots(len(dtypes), 1, figsize=(max(8.0, 0.12 * bars + 2.5), 3.3 * len(dtypes)),
                                 squeeze=False)
        axes = list(axes[:, 0])
    width = 0.8 / len(pairs)
    for ax, dtype in zip(axes, dtypes):
        part = summary[summary["dtype"] == dtype]
        for k, pair in enumerate(pairs):
            rows = part[part["frameworks"] == pair].set_index("family")
            values = [float(rows.loc[f, "max_rel_err"]) if f in rows.index else np.nan for f in families]
            # an error of 0 sits on the floor; inf (a quantity missing from one side) is drawn at 1
            shown = [np.nan if np.isnan(v) else 1.0 if np.isinf(v) else max(v, FLOOR) for v in values]
            ax.bar(np.arange(len(families)) + (k - (len(pairs) - 1) / 2) * width, shown, width,
                   label=pair, color=colors[pair])
        for i, family in enumerate(families):
            tol = part.loc[part["family"] == family, "tolerance"].max()
            if not np.isnan(tol):
                ax.hlines(tol, i - 0.45, i + 0.45, colors="black", linewidths=2,
                          label="tolerance" if i == 0 else None)
        ax.set_yscale("log")
        ax.set_xticks(range(len(families)), families, rotation=30, ha="right")
        ax.set_title(f"{dtype}: worst relative error")
        ax.grid(axis="y", which="major", alpha=0.3)
        finite = [v for v in (part["tolerance"].max(), part["max_rel_err"].max()) if np.isfinite(v) and v > 0]
        top = max([*finite, FLOOR])
        ax.set_ylim(FLOOR / 2, 10 * top)                  # the tolerance bars stay inside the axes
    axes[0].set_ylabel("max |a-b| / max(|a|, |b|)")
    axes[0 if len(axes) > 1 and bars > 24 else -1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return _save(fig, path)


def float32_sweeps(sweeps: pd.DataFrame, path: Path) -> Path | None:
    """Two panels: error vs sequence length T (one line per cell and framework) and vs depth L."""
    if sweeps.empty:
        return None
    panels = [s for s in ("seq_len", "depth") if s in set(sweeps["sweep"])]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.6), squeeze=False)
    markers = {"rnn": "o", "lstm": "s", "mlp": "^"}
    for ax, sweep in zip(axes[0], panels):
        part = sweeps[sweeps["sweep"] == sweep]
        for (model, fw), rows in part.groupby(["model", "framework"], sort=False):
            rows = rows.sort_values("x")
            ax.plot(rows["x"], np.maximum(rows["max_rel_err"], FLOOR), linestyle=FRAMEWORK_STYLES.get(fw, "-"),
                    marker=markers.get(model, "o"), color=FRAMEWORK_COLORS.get(fw), markersize=4,
                    label=f"{model} {fw}")
        tol = part.groupby("x")["tolerance"].max().sort_index()
        ax.plot(tol.index, tol.values, color="black", linewidth=1.5, label="float32 parity tolerance")
        ax.set_yscale("log")
        if sweep == "seq_len":
            ax.set_xscale("log")
            ax.set_xlabel("sequence length T (many-to-one, H = 8)")
            ax.set_title("float32 vs float64 NumPy: length")
        else:
            ax.set_xlabel("dense layers L (tanh, 16 units)")
            ax.set_title("float32 vs float64 NumPy: depth")
        ax.grid(which="major", alpha=0.3)
        ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    axes[0][0].set_ylabel("worst relative error, any quantity")
    return _save(fig, path)


def curve_rows(training: pd.DataFrame) -> pd.DataFrame:
    """The per-step rows of a training table (``curves.CURVE_COLUMNS``: task, framework, step, loss);
    empty when the table holds none (e.g. a training.csv with only the parity rows)."""
    needed = {"task", "framework", "step", "loss"}
    if training.empty or not needed <= set(training.columns):
        return pd.DataFrame(columns=sorted(needed))
    rows = training.dropna(subset=["task", "step", "loss"])
    if "dtype" in rows.columns:                           # plot float64 runs where both dtypes exist
        rows = rows[rows["dtype"].fillna("float64") == "float64"]
    if "optimizer" not in rows.columns:
        rows = rows.assign(optimizer="")
    return rows


def training_curves(training: pd.DataFrame, path: Path) -> Path | None:
    """One panel per task: the loss per step of each framework overlaid (one curve per framework
    and optimizer; NumPy's first run when it ran once per framework's clipping convention)."""
    rows = curve_rows(training)
    if rows.empty:
        return None
    tasks = list(dict.fromkeys(rows["task"]))
    ncols = min(3, len(tasks))
    nrows = math.ceil(len(tasks) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 2.8 * nrows), squeeze=False)
    for ax, task in zip(axes.flat, tasks):
        part = rows[rows["task"] == task]
        for fw, runs in part.groupby("framework", sort=False):
            first = runs[runs["optimizer"] == runs["optimizer"].iloc[0]].sort_values("step")
            ax.plot(first["step"], first["loss"], linestyle=FRAMEWORK_STYLES.get(fw, "-"),
                    color=FRAMEWORK_COLORS.get(fw), linewidth=2 if fw == "numpy" else 1.5, label=fw)
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    axes[0][0].set_ylabel("loss", fontsize=8)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def speed(speed_table: pd.DataFrame, path: Path) -> Path | None:
    """Grouped bars: median over a family's cases of the fastest ms per loss + gradients call
    (``{fw}_min_ms``; ``{fw}_ms`` for a table without minima)."""
    columns = [c for c in speed_table.columns if c.endswith("_min_ms")] or [
        c for c in speed_table.columns if c.endswith("_ms")]
    if speed_table.empty or not columns or "family" not in speed_table.columns:
        return None
    per_family = speed_table.groupby("family", sort=False)[columns].median()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(per_family) + 2), 3.4))
    width = 0.8 / len(columns)
    for k, col in enumerate(columns):
        fw = col.removesuffix("_ms").removesuffix("_min")
        ax.bar(np.arange(len(per_family)) + (k - (len(columns) - 1) / 2) * width, per_family[col], width,
               label=fw, color=FRAMEWORK_COLORS.get(fw))
    ax.set_xticks(range(len(per_family)), per_family.index, rotation=30, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("ms per loss + gradients call")
    ax.set_title("speed per family (float64, the cases' small batches: per-call overhead)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
