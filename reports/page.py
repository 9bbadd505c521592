"""The report as a page (``index.html``) and as Markdown (``report.md``).

``index.html`` opens from disk with no server and no network: the CSS and the script are inline,
the figures are PNG files beside it, and the thousands of parity rows are embedded as JSON and
rendered by the inline script only when the reader opens them (filtered, a page at a time).
Sections: summary (family x pair x dtype, colour-coded against the tolerance, each cell opening
its rows), figures, training, gradient checks, parameter counts, speed, the conventions per
family (from ``conventions.py``, each linked to the test that pins it), the side-by-side reader
(``reader.py``, one section per family, a selector to switch), timings and the environment.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from reports import conventions, figures, reader

FIGURES = {  # file name -> (what, caption)
    "fig_worst_error.png": ("worst relative error per family and pair",
                            ("Worst relative error per family and framework pair (log scale; rows that passed "
                            "by the subnormal floor excluded), float64 and float32. The black bar over each "
                            "family is its largest tolerance; an error of exactly 0 is drawn at 1e-17.")),
    "fig_float32_sweeps.png": ("float32 error growth with sequence length and depth",
                               ("float32 in each framework against the float64 NumPy result on the same weights, "
                               "worst quantity (output, loss, states, every gradient), as the sequence gets "
                               "longer (SimpleRNN, LSTM; H = 8, a given initial state) and the MLP deeper. "
                               "Black: the float32 parity tolerance eps * max(100, 10 T). The output's own "
                               "error stays near 1e-7 at every length (see the table); what grows is the "
                               "gradient that travels back through every step (the initial state's).")),
    "fig_training_curves.png": ("training curves",
                                ("Training loss per step of each task learned (the optimizer and settings in "
                                 "training.csv; iris: its first fold), from the same weights on the same "
                                 "mini-batches, the frameworks overlaid: NumPy solid, torch dashed, Keras "
                                 "dotted. Where they agree the lines lie on top of each other. (Without the "
                                 "tasks: the short SGD trajectory runs.)")),
    "fig_speed.png": ("speed per family and framework",
                      ("Milliseconds per loss + gradients call, float64: the fastest of the repeated calls "
                       "(on a shared machine the minimum is the stable number; the table also has the median), "
                       "median over the family's cases. The batches are small (1-16), so this is per-call "
                       "overhead (Keras eager on TensorFlow and torch, a kept compiled program on JAX, torch "
                       "autograd, NumPy; the Keras JAX and torch calls include the worker's round trip), not "
                       "throughput.")),
}


@dataclass
class Report:
    verdict: str
    failures: int
    parity: pd.DataFrame
    summary: pd.DataFrame
    counts: pd.DataFrame
    convergence: pd.DataFrame
    trajectories: pd.DataFrame          # summary_table of the trajectory parity rows
    curves: pd.DataFrame
    speed: pd.DataFrame
    sweeps: pd.DataFrame
    gradchecks: pd.DataFrame
    figures: dict[str, str]             # file name -> alt text, for the figures that were drawn
    env: dict[str, str]
    options: dict
    timings: dict[str, float]
    frameworks: tuple[str, ...] = ("numpy", "torch", "keras")
    families: tuple[str, ...] = field(default_factory=tuple)
    learned: pd.DataFrame = field(default_factory=pd.DataFrame)      # training.learn_summary
    optimizers: pd.DataFrame = field(default_factory=pd.DataFrame)   # training.optimizer_table
    bench: pd.DataFrame = field(default_factory=pd.DataFrame)        # bench.csv (python -m reports bench)


def write_figures(out: Path, summary, sweeps, training, speed) -> dict[str, str]:
    """Draw every figure there is data for into ``out``; returns ``{file name: alt text}``."""
    drawn = {
        "fig_worst_error.png": figures.worst_error(summary, out / "fig_worst_error.png"),
        "fig_float32_sweeps.png": figures.float32_sweeps(sweeps, out / "fig_float32_sweeps.png"),
        "fig_training_curves.png": figures.training_curves(training, out / "fig_training_curves.png"),
        "fig_speed.png": figures.speed(speed, out / "fig_speed.png"),
    }
    return {name: FIGURES[name][0] for name, path in drawn.items() if path is not None}


# -- formatting ------------------------------------------------------------------------------


def fmt_err(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    x = float(x)
    if math.isinf(x):
        return "inf"
    return "0" if x == 0 else f"{x:.2e}"


def esc(x) -> str:
    return html.escape(str(x))


def inline_code(text: str) -> str:
    """Markdown-ish ``code`` spans to HTML (the conventions' cells)."""
    parts = text.split("`")
    return "".join(f"<code>{esc(p)}</code>" if i % 2 else esc(p) for i, p in enumerate(parts))


def cell(value, column: str = "") -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "<td></td>"
    if isinstance(value, bool | np.bool_):
        return f'<td class="{"ok" if value else "bad"}">{"yes" if value else "NO"}</td>'
    if isinstance(value, float | np.floating):
        if column.endswith("err") or column in ("tolerance", "rtol"):
            return f'<td class="num">{fmt_err(value)}</td>'
        return f'<td class="num">{value:.4g}</td>'
    if isinstance(value, int | np.integer):
        return f'<td class="num">{value}</td>'
    return f"<td>{esc(value)}</td>"


def table(df: pd.DataFrame, cls: str = "data", cell_fn=None) -> str:
    """A DataFrame as an HTML table inside a horizontally scrolling box."""
    if df is None or df.empty:
        return '<p class="muted">(nothing to show)</p>'
    head = "".join(f"<th>{esc(c)}</th>" for c in df.columns)
    rows = []
    for _, r in df.iterrows():
        rows.append("<tr>" + "".join((cell_fn or (lambda c, v, _r: cell(v, c)))(c, r[c], r) for c in df.columns)
                    + "</tr>")
    return (f'<div class="scroll"><table class="{cls}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def grade(ratio: float, failed: int) -> str:
    """Colour class of a summary cell from its rows' largest error / tolerance: bad (a row failed),
    near (some row within 10x of its tolerance), good."""
    if failed:
        return "bad"
    if ratio is None or math.isnan(ratio):
        return "good"
    return "near" if ratio > 0.1 else "good"


# -- sections ----------------------------------------------------------------------------------


def pair_label(pair: str) -> str:
    """``numpy-keras-tf`` -> ``numpy vs keras-tf`` (framework names may contain a dash)."""
    from reports import harness

    for a, b in harness.PAIRS:
        if pair == f"{a}-{b}":
            return f"{a} vs {b}"
    return pair


def summary_section(r: Report) -> str:
    """One matrix per dtype: a row per family, a column per framework pair."""
    s = r.summary
    if s.empty:
        return "<p>(no parity rows)</p>"
    pairs = list(dict.fromkeys(s["frameworks"]))
    par = r.parity
    failed_runs = par[par["quantity"] == "error"]                    # cases that raised (cli.parity_table)
    could_not_run = failed_runs.groupby(["family", "dtype", "frameworks"]).size().to_dict()
    # the colour compares each row with its own tolerance (they differ by case: eps * max(100, 10 T))
    judged = par.assign(ratio=(par["max_rel_err"] / par["tolerance"]).where(~par["subnormal"]))
    worst_ratio = judged.groupby(["family", "dtype", "frameworks"])["ratio"].max().to_dict()
    tables = []
    for d in dict.fromkeys(s["dtype"]):
        head = "<th>family</th>" + "".join(f"<th>{esc(pair_label(p))}</th>" for p in pairs)
        body = []
        for family in dict.fromkeys(s["family"]):
            cells = [f'<th class="rowhead">{esc(family)}</th>']
            for p in pairs:
                m = s[(s["family"] == family) & (s["dtype"] == d) & (s["frameworks"] == p)]
                if m.empty:
                    cells.append("<td></td>")
                    continue
                row = m.iloc[0]
                err, tol, failed = float(row["max_rel_err"]), float(row["tolerance"]), int(row["failed"])
                errors = could_not_run.get((family, d, p), 0)
                sub = int(row["subnormal"])
                note = f"{int(row['rows'])} rows" + (f", {failed} failed" if failed else "") + (
                    f" ({errors} could not run)" if errors else "") + (
                    f", {sub} subnormal" if sub else "")
                q = worst_ratio.get((family, d, p), float("nan"))
                ratio = "" if math.isnan(q) else f"; closest row at {q:.1e} of its tolerance"
                cells.append(
                    f'<td class="cellbtn {grade(q, failed)}" tabindex="0" data-family="{esc(family)}" '
                    f'data-dtype="{d}" data-pair="{esc(p)}" title="worst {fmt_err(err)}, tolerance {fmt_err(tol)}'
                    f'{ratio}; click for the rows"><span class="err">{"error" if errors else fmt_err(err)}</span>'
                    f'<span class="sub">tol {fmt_err(tol)}<br>{note}</span></td>')
            body.append("<tr>" + "".join(cells) + "</tr>")
        tables.append(f'<h3>{d}</h3><div class="scroll"><table class="matrix" data-dtype="{d}"><thead><tr>{head}'
                      f'</tr></thead><tbody>{"".join(body)}</tbody></table></div>')
    legend = ('<p class="legend"><span class="swatch good"></span> every row below 10% of its tolerance '
              '<span class="swatch near"></span> some row within 10x of it <span class="swatch bad"></span> a row '
              'failed. '
              'Each cell: the worst normwise relative error over every quantity of the family\'s cases '
              '(output, loss, every gradient and VJP, states), the tolerance, the number of rows. '
              'Click a cell for its rows.</p>')
    return "".join(tables) + legend + rows_browser(r)


def rows_browser(r: Report) -> str:
    p = r.parity
    opts = {c: sorted(set(p[c])) if len(p) else [] for c in ("family", "frameworks", "dtype")}

    def select(name, label, values, show=str):
        options = '<option value="">all</option>' + "".join(f'<option value="{esc(v)}">{esc(show(v))}</option>'
                                                            for v in values)
        return f'<label>{label} <select id="f-{name}">{options}</select></label>'

    return f"""
<details id="rows">
<summary>All {len(p)} comparison rows (filter, sort; rendered when opened)</summary>
<div class="filters">
{select("family", "family", opts["family"])}
{select("frameworks", "pair", opts["frameworks"], pair_label)}
{select("dtype", "dtype", opts["dtype"])}
<label>quantity <input id="f-quantity" type="search" placeholder="e.g. grad:W or vjp" size="12"></label>
<label>model <input id="f-model" type="search" placeholder="part of a case name" size="12"></label>
<label>result <select id="f-passed"><option value="">all</option><option value="failed">failed</option>
<option value="passed">passed</option><option value="subnormal">passed by the subnormal floor</option></select></label>
<label><input id="f-worst" type="checkbox"> worst first</label>
</div>
<p id="rows-count" class="muted"></p>
<div class="scroll"><table class="data" id="rows-table"><thead><tr><th>model</th><th>pair</th><th>dtype</th>
<th>quantity</th><th>shape</th><th>max abs err</th><th>max rel err</th><th>tolerance</th><th>passed</th></tr></thead>
<tbody></tbody></table></div>
<button id="rows-more" type="button">show more</button>
</details>"""


def rows_json(parity: pd.DataFrame) -> str:
    """The parity rows as compact JSON: column names once, then one array per row."""
    cols = ["model", "family", "frameworks", "dtype", "quantity", "shape", "max_abs_err", "max_rel_err",
            "tolerance", "passed", "subnormal"]
    rows = []
    for rec in parity[cols].itertuples(index=False):
        row = list(rec)
        for i in (6, 7, 8):
            v = float(row[i])
            row[i] = None if math.isnan(v) else ("inf" if math.isinf(v) else float(f"{v:.3e}"))
        row[9], row[10] = bool(row[9]), bool(row[10])
        rows.append(row)
    text = json.dumps({"columns": cols, "rows": rows}, separators=(",", ":"))
    return text.replace("</", "<\\/")                    # never closes the <script> element early


def figure(name: str, r: Report) -> str:
    if name not in r.figures:
        return ""
    alt, caption = FIGURES[name]
    return (f'<figure><a href="{name}" title="open the full-size image"><img src="{name}" alt="{esc(alt)}"></a>'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def training_section(r: Report) -> str:
    parts = [figure("fig_training_curves.png", r)]
    if not r.learned.empty:
        parts.append("<h3>Tasks learned, on held-out data</h3><p>Every framework trains with its own loop "
                     "(NumPy's, torch's <code>zero_grad / backward / step</code>, Keras's <code>model.fit</code>; "
                     "the seq2seq model, which reads (src, tgt) pairs, Keras's eager tape step) "
                     "on the same batches in the same order; <code>training.csv</code> has every step. "
                     "<code>passed</code> is empty where the task has no target (or in quick mode).</p>")
        parts.append(table(r.learned))
    if not r.optimizers.empty:
        opt = r.optimizers
        defaults = opt[(opt["settings"] == "defaults") & (opt["frameworks"] == "torch-keras-tf")]
        matched = (opt[opt["settings"] == "matched"].groupby("optimizer", sort=False)
                   [["param_rel_diff", "slot_rel_diff", "loss_rel_diff"]].max().reset_index())
        parts.append("<h3>Optimizers: each framework's defaults vs matched settings</h3><p>10 float64 steps "
                     "per optimizer; relative differences of the parameters, slots and losses. Under each "
                     "framework's defaults torch and Keras differ by these amounts (each explained by a "
                     "convention below); under matched settings every pair agrees to rounding (the worst "
                     "pair shown). Every row, with the exact settings, is in <code>optimizers.csv</code>.</p>")
        parts.append(table(defaults.drop(columns=["settings", "spec"], errors="ignore")))
        parts.append("<details><summary>matched settings: the worst pair per optimizer</summary>"
                     + table(matched) + "</details>")
    if not r.trajectories.empty:
        steps = int(r.curves["step"].max()) if len(r.curves) else 20
        parts.append(f"<h3>SGD trajectory parity</h3><p>{steps} steps, lr 0.125; the loss curve "
                     "(<code>train_loss</code>) and the final weights compared like the parity rows; recurrent "
                     "tasks with global-norm clipping, each framework against NumPy with its own clip eps.</p>")
        parts.append(table(r.trajectories))
    if not r.convergence.empty:
        parts.append("<h3>Gradient descent vs the closed-form least squares</h3>")
        parts.append(table(r.convergence))
    if len(parts) == 1 and not parts[0]:
        return '<p class="muted">No training runs in this report (--skip-training, or no training case selected).</p>'
    return "".join(parts)


def gradcheck_section(r: Report) -> str:
    g = r.gradchecks
    if g.empty:
        return ('<p class="muted">Not run (the gradient checks check the NumPy reference: add numpy to '
                '--frameworks).</p>')
    intro = ("<p>NumPy's hand-written backward against central differences (h = 1e-5, float64), "
             "sampled: up to 6 random entries of the input, every parameter and every given initial state "
             "per case. <code>max_rel_err</code> is the worst over the arrays within rtol 1e-7; arrays that "
             "pass only by the rounding-noise floor, or whose gradient is below it (unresolved: e.g. an "
             "<code>Wh</code> that one step from a zero state never reaches), are listed apart. Every element "
             "is checked by <code>parity_tests/test_gradcheck.py</code>.</p>")
    worst = g["max_rel_err"].max()
    head = (f'<p>{len(g)} cases, {int(g["entries"].sum())} entries; worst {fmt_err(worst)}; '
            f'{int((~g["passed"]).sum())} failed.</p>')
    return intro + head + table(g.drop(columns=["rtol"]))


def params_section(r: Report) -> str:
    c = r.counts
    if c.empty:
        return ""

    def fn(col, value, row):
        if col in ("torch", "keras", "layer_torch", "layer_keras"):
            ref = row["layer_canonical" if col.startswith("layer_") else "canonical"]
            if value is not pd.NA and ref is not pd.NA and not pd.isna(value) and value != ref:
                return f'<td class="num diff" title="differs from the canonical {ref}">{value}</td>'
        return cell(value, col)

    return ("<p>Trainable scalars as each framework counts them. Highlighted: where torch counts more than the "
            "canonical layout -- its SimpleRNN and LSTM keep two biases (<code>bias_ih</code>, <code>bias_hh</code>) "
            "whose sum is the canonical <code>b</code>: the notes' SimpleRNN(16) on 2 inputs is 304 parameters, "
            "320 in torch.</p>" + table(c, cell_fn=fn))


def speed_section(r: Report) -> str:
    return figure("fig_speed.png", r) + table(r.speed) + bench_section(r)


def bench_ratios(bench: pd.DataFrame, mode: str) -> pd.DataFrame:
    """Models x frameworks: the float32 ``mode``'s ratio to the plain torch step (``bench.ratio_table``)."""
    from reports.bench import ratio_table

    return ratio_table(bench, "float32", mode).reset_index().rename(columns={"family": "model"})


def bench_section(r: Report) -> str:
    """The benchmark's ratio tables (bench.csv), when the report ran it."""
    if r.bench.empty:
        return ""

    def ratio(column, value, _row):
        return f'<td class="num">{value:.2f}x</td>' if column != "model" else cell(value, column)

    parts = ['<h3>Benchmark: realistic sizes, one thread</h3>',
             '<p>From <code>python -m reports bench</code> (<a href="bench.md">bench.md</a>: the sizes, the '
             'machine, the BLAS kernels and every row; <a href="bench.csv">bench.csv</a>): float32, the median '
             "over interleaved rounds of each round's time divided by that of a plain torch step written as a "
             "user would (<code>nn</code> modules, <code>F.cross_entropy</code> / <code>F.mse_loss</code>, "
             "<code>torch.optim.SGD</code>); below 1x is faster than plain torch. The adapters are timed "
             "through their public API (<code>train_step</code>, <code>forward</code>).</p>"]
    for mode, title in (("train_step", "One SGD training step"), ("forward", "One forward pass")):
        parts.append(f"<h4>{title}</h4>" + table(bench_ratios(r.bench, mode), cell_fn=ratio))
    return "".join(parts)


def sweeps_section(r: Report) -> str:
    if r.sweeps.empty:
        return '<p class="muted">Not run (needs float32 in --dtypes).</p>'
    s = r.sweeps
    wide = s.pivot_table(index=["sweep", "model", "x"], columns="framework", values=["max_rel_err", "output_rel_err"],
                         sort=False)
    wide.columns = [f"{fw} {'worst' if v == 'max_rel_err' else 'output'}" for v, fw in wide.columns]
    wide = wide.reset_index()
    tol = s.groupby(["sweep", "model", "x"], sort=False)["tolerance"].max().reset_index()
    wide = wide.merge(tol, on=["sweep", "model", "x"])
    return (figure("fig_float32_sweeps.png", r)
            + "<details><summary>the numbers (per framework: the worst quantity's relative error, and the "
              "output's)</summary>"
            + table(wide) + "</details>")


def conventions_section(r: Report) -> str:
    intro = ('<p>The conventions that differ between torch and Keras, for each family: what each framework '
             'does, where the suite handles it, and the test that pins it (it fails if the convention is handled '
             'wrongly). One source: <code>reports/conventions.py</code>, which also renders README.md\'s table.</p>')
    parts = [intro]
    for family in r.families or conventions.FAMILIES:
        rows = conventions.for_family(family)
        if not rows:
            continue
        items = []
        for c in rows:
            links = "<br>".join(
                f'<a href="{(conventions.ROOT / t.split("::")[0]).as_uri()}" title="open the test file">{esc(t)}</a>'
                for t in c.tests)
            items.append(f"<tr><td>{inline_code(c.name)}</td><td>{inline_code(c.torch)}</td>"
                         f"<td>{inline_code(c.keras)}</td><td>{inline_code(c.handled_in)}</td>"
                         f'<td class="tests">{links}</td></tr>')
        parts.append(f'<details class="conv"><summary>{esc(family)}: {len(rows)} conventions</summary>'
                     '<div class="scroll"><table class="data conv"><thead><tr><th>convention</th><th>torch</th>'
                     '<th>Keras</th><th>handled in</th><th>pinned by</th></tr></thead><tbody>'
                     + "".join(items) + "</tbody></table></div></details>")
    return "".join(parts)


def reader_section(r: Report) -> str:
    topics = [t for t in reader.available_topics() if not r.families or t in r.families]
    if not topics:
        return ""
    buttons = "".join(f'<button type="button" class="topic-btn" data-topic="{t}" aria-pressed="{str(i == 0).lower()}">'
                      f"{t}</button>" for i, t in enumerate(topics))
    sections = []
    for i, t in enumerate(topics):
        files = reader.topic_files(t)
        sections.append(f'<section class="reader-topic" id="reader-{t}" data-topic="{t}"{"" if i == 0 else " hidden"}>'
                        f'<h3>{t}: {esc(", ".join(files))}</h3>{reader.topic_html(t)}</section>')
    return (f'<p>The three implementations of each family, aligned from the code\'s structure (<code>ast</code>: '
            f'module docstring, imports, classes, methods by name, <code>forward</code> beside <code>call</code>, a '
            f'NumPy cell <code>step</code> beside the layer call that runs the built-in cell, and '
            f'<code># step: NAME</code> marker comments); a block with no counterpart has an empty cell beside it. '
            f'In a terminal: <code>python -m reports show lstm</code>.</p>'
            f'<div class="topics" role="group" aria-label="model family">{buttons}</div>'
            f'<label class="wrap-toggle"><input type="checkbox" id="wrap-code" checked> wrap long lines</label>'
            + "".join(sections))


def env_section(r: Report) -> str:
    total = sum(r.timings.values())
    timing = pd.DataFrame([{"phase": k, "seconds": round(v, 1), "share": f"{100 * v / total:.0f}%" if total else ""}
                           for k, v in r.timings.items()])
    env = pd.DataFrame([{"": k, "value": v} for k, v in r.env.items()])
    return "<h3>Timings</h3>" + table(timing) + "<h3>Environment</h3>" + table(env)


# -- the page ----------------------------------------------------------------------------------

CSS = """
:root { --good: #dff3e4; --good-b: #2e7d32; --near: #fff3cd; --near-b: #a36b00; --bad: #fde0dc; --bad-b: #b3261e;
        --muted: #5f6368; --line: #d0d7de; --head: #f3f5f7; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1f2328; }
header { padding: 16px 24px 8px; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.45em; margin: 0 0 6px; }
h2 { font-size: 1.2em; margin: 28px 0 8px; padding-top: 8px; border-top: 1px solid var(--line); }
h3 { font-size: 1.02em; margin: 18px 0 6px; }
main { padding: 0 24px 40px; max-width: 1500px; }
nav { display: flex; flex-wrap: wrap; gap: 4px 14px; margin: 6px 0 4px; }
nav a { color: #0b57d0; text-decoration: none; }
.verdict { display: inline-block; font-weight: 600; padding: 2px 10px; border-radius: 4px; }
.verdict.ok { background: var(--good); color: var(--good-b); }
.verdict.fail { background: var(--bad); color: var(--bad-b); }
.muted, .legend { color: var(--muted); font-size: 0.92em; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; }
table.data th, table.data td { border: 1px solid var(--line); padding: 3px 7px; font-size: 0.88em;
                              vertical-align: top; }
table.data th { background: var(--head); text-align: left; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.ok { color: var(--good-b); } td.bad { color: var(--bad-b); font-weight: 600; }
td.diff { background: var(--near); font-weight: 600; }
table.matrix th, table.matrix td { border: 1px solid var(--line); padding: 5px 8px; text-align: center; }
table.matrix thead th { background: var(--head); font-size: 0.88em; }
table.matrix thead th:first-child { position: sticky; left: 0; z-index: 1; }
table.matrix th.rowhead { text-align: left; background: var(--head); position: sticky; left: 0; z-index: 1; }
td.cellbtn { cursor: pointer; min-width: 104px; }
td.cellbtn:hover, td.cellbtn:focus { outline: 2px solid #0b57d0; outline-offset: -2px; }
td.cellbtn .err { display: block; font-weight: 600; font-variant-numeric: tabular-nums; }
td.cellbtn .sub { display: block; font-size: 0.74em; color: var(--muted); }
.good { background: var(--good); } .near { background: var(--near); } .bad { background: var(--bad); }
.swatch { display: inline-block; width: 12px; height: 12px; border: 1px solid var(--line); vertical-align: -1px;
          margin-left: 8px; }
details { margin: 10px 0; }
summary { cursor: pointer; font-weight: 600; }
.filters { display: flex; flex-wrap: wrap; gap: 6px 14px; margin: 8px 0; font-size: 0.9em; }
figure { margin: 12px 0 18px; }
figure img { max-width: min(100%, 1000px); height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 0.9em; max-width: 900px; }
td.tests a { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.85em;
             word-break: break-all; }
table.conv td { min-width: 120px; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.92em;
       background: #f6f8fa; padding: 0 2px; border-radius: 3px; }
.topics { display: flex; flex-wrap: wrap; gap: 6px; margin: 8px 0; }
.topic-btn { font: inherit; padding: 4px 14px; border: 1px solid var(--line); border-radius: 16px; background: #fff;
             cursor: pointer; }
.topic-btn[aria-pressed="true"] { background: #0b57d0; color: #fff; border-color: #0b57d0; }
.wrap-toggle { font-size: 0.9em; color: var(--muted); }
table.sbs { border-collapse: collapse; width: 100%; table-layout: fixed; margin-bottom: 18px; }
table.sbs th { background: var(--head); text-align: left; font-weight: 600; font-size: 0.88em; padding: 4px 8px;
               border: 1px solid var(--line); position: sticky; top: 0; z-index: 1; }
table.sbs td { border: 1px solid var(--line); vertical-align: top; padding: 0; }
table.sbs td.filler { background: repeating-linear-gradient(135deg, #fafbfc, #fafbfc 6px, #f1f3f5 6px, #f1f3f5 12px); }
pre.code { margin: 0; padding: 4px 6px; font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
           white-space: pre-wrap; overflow-wrap: anywhere; }
.nowrap pre.code { white-space: pre; overflow-x: auto; }
pre.code .l { display: block; padding-left: calc(4em + var(--i, 0ch)); text-indent: calc(-4em - var(--i, 0ch)); }
pre.code .ln { display: inline-block; width: 4em; text-indent: 0; color: #8c959f; user-select: none; text-align: right;
               padding-right: 0.8em; }
pre.code .sd { color: #4d5b2a; font-style: normal; }
.warn { color: var(--bad-b); font-weight: normal; }
@media (max-width: 760px) {
  body { font-size: 14px; }
  header, main { padding-left: 10px; padding-right: 10px; }
  table.sbs, table.sbs tbody, table.sbs tr, table.sbs td { display: block; width: 100%; }
  table.sbs thead { display: none; }
  table.sbs tr { border-top: 3px solid var(--line); margin-top: 6px; }
  table.sbs td.filler { display: none; }
  table.sbs td::before { content: attr(data-where); display: block; font-size: 0.78em; color: var(--muted);
                         background: var(--head); padding: 2px 6px; }
  pre.code .l { padding-left: calc(3em + var(--i, 0ch)); text-indent: calc(-3em - var(--i, 0ch)); }
  pre.code .ln { width: 3em; padding-right: 0.5em; }
}
"""

SCRIPT = r"""
(function () {
  "use strict";
  // -- the parity rows: parsed and rendered only when the reader opens them ------------------
  var data = null, shown = 0, PAGE = 200, matching = [];
  var details = document.getElementById("rows");
  var tbody = document.querySelector("#rows-table tbody");
  var count = document.getElementById("rows-count");
  var more = document.getElementById("rows-more");
  var ids = ["family", "frameworks", "dtype", "quantity", "model", "passed", "worst"];
  function value(id) {
    var el = document.getElementById("f-" + id);
    return el.type === "checkbox" ? el.checked : el.value;
  }
  function load() {
    if (data) return;
    var raw = JSON.parse(document.getElementById("rows-data").textContent);
    var c = {}; raw.columns.forEach(function (name, i) { c[name] = i; });
    data = raw.rows.map(function (r) { var o = {}; for (var k in c) o[k] = r[c[k]]; return o; });
  }
  function num(x) { return x === null ? "" : (x === "inf" ? "inf" : (x === 0 ? "0" : Number(x).toExponential(2))); }
  function filter() {
    load();
    var f = {}; ids.forEach(function (id) { f[id] = value(id); });
    matching = data.filter(function (r) {
      if (f.family && r.family !== f.family) return false;
      if (f.frameworks && r.frameworks !== f.frameworks) return false;
      if (f.dtype && r.dtype !== f.dtype) return false;
      if (f.quantity && r.quantity.indexOf(f.quantity) < 0) return false;
      if (f.model && r.model.indexOf(f.model) < 0) return false;
      if (f.passed === "failed" && r.passed) return false;
      if (f.passed === "passed" && !r.passed) return false;
      if (f.passed === "subnormal" && !r.subnormal) return false;
      return true;
    });
    if (f.worst) {
      // closest to (or past) the tolerance first; rows passed by the subnormal floor after the judged ones
      var key = function (r) {
        if (r.max_rel_err === "inf") return Infinity;
        return r.subnormal ? -1 : (r.max_rel_err || 0) / (r.tolerance || 1);
      };
      matching.sort(function (a, b) { return key(b) - key(a); });
    }
    tbody.innerHTML = ""; shown = 0; page();
  }
  function page() {
    var rows = matching.slice(shown, shown + PAGE), frag = document.createDocumentFragment();
    rows.forEach(function (r) {
      var tr = document.createElement("tr");
      [r.model, r.frameworks, r.dtype, r.quantity, r.shape].forEach(function (t) {
        var td = document.createElement("td"); td.textContent = t; tr.appendChild(td); });
      [r.max_abs_err, r.max_rel_err, r.tolerance].forEach(function (t) {
        var td = document.createElement("td"); td.className = "num"; td.textContent = num(t); tr.appendChild(td); });
      var td = document.createElement("td");
      td.className = r.passed ? "ok" : "bad";
      td.textContent = r.passed ? (r.subnormal ? "yes (subnormal)" : "yes") : "NO";
      tr.appendChild(td); frag.appendChild(tr);
    });
    tbody.appendChild(frag); shown += rows.length;
    count.textContent = matching.length + " of " + data.length + " rows match; showing " + shown + ".";
    more.hidden = shown >= matching.length;
  }
  if (details) {
    details.addEventListener("toggle", function () { if (details.open && !data) filter(); });
    ids.forEach(function (id) {
      var el = document.getElementById("f-" + id);
      el.addEventListener(el.tagName === "INPUT" && el.type !== "checkbox" ? "input" : "change", filter);
    });
    more.addEventListener("click", page);
  }
  // -- summary cells open their rows --------------------------------------------------------
  function openRows(cell) {
    document.getElementById("f-family").value = cell.dataset.family;
    document.getElementById("f-frameworks").value = cell.dataset.pair;
    document.getElementById("f-dtype").value = cell.dataset.dtype;
    document.getElementById("f-worst").checked = true;
    details.open = true; filter(); details.scrollIntoView({behavior: "smooth"});
  }
  document.querySelectorAll("td.cellbtn").forEach(function (cell) {
    cell.addEventListener("click", function () { openRows(cell); });
    cell.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); openRows(cell); }
    });
  });
  // -- the side-by-side reader: one family at a time ---------------------------------------
  var buttons = document.querySelectorAll(".topic-btn");
  function showTopic(topic) {
    buttons.forEach(function (b) { b.setAttribute("aria-pressed", String(b.dataset.topic === topic)); });
    document.querySelectorAll(".reader-topic").forEach(function (s) { s.hidden = s.dataset.topic !== topic; });
  }
  buttons.forEach(function (b) { b.addEventListener("click", function () { showTopic(b.dataset.topic); }); });
  var wrap = document.getElementById("wrap-code");
  if (wrap) wrap.addEventListener("change", function () {
    document.getElementById("reader").classList.toggle("nowrap", !wrap.checked); });
})();
"""

SECTIONS = (("summary", "Summary"), ("figures", "Errors"), ("sweeps", "float32 growth"), ("training", "Training"),
            ("gradcheck", "Gradient checks"), ("params", "Parameters"), ("speed", "Speed"),
            ("conventions", "Conventions"), ("reader", "Side by side"), ("env", "Timings & environment"))


def write_html(path: Path, r: Report) -> Path:
    ok = r.failures == 0
    o = r.options
    opts = (f"{o['cases']} cases ({esc(o['families'])}); frameworks {esc(o['frameworks'])}; dtypes {esc(o['dtypes'])}"
            f"{'; quick mode' if o['quick'] else ''}{'' if o['training'] else '; no training'}")
    body = {
        "summary": summary_section(r),
        "figures": figure("fig_worst_error.png", r) or '<p class="muted">(no parity rows)</p>',
        "sweeps": sweeps_section(r),
        "training": training_section(r),
        "gradcheck": gradcheck_section(r),
        "params": params_section(r),
        "speed": speed_section(r),
        "conventions": conventions_section(r),
        "reader": reader_section(r),
        "env": env_section(r),
    }
    titles = dict(SECTIONS)
    titles.update({"figures": "Worst error per family and pair", "sweeps": "How float32 error grows",
                   "speed": "Speed per family and framework"})
    nav = "".join(f'<a href="#{k}">{v}</a>' for k, v in SECTIONS)
    sections = "".join(f'<section id="{k}"><h2>{titles[k]}</h2>{body[k]}</section>' for k, _ in SECTIONS)
    doc = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Parity report: NumPy vs PyTorch vs Keras -- {esc(r.verdict)}</title>
<style>{reader.highlight_css("pre.code")}{CSS}</style>
</head>
<body>
<header>
<h1>Parity report: NumPy vs PyTorch vs Keras</h1>
<p><span class="verdict {'ok' if ok else 'fail'}">{esc(r.verdict)}</span>
{len(r.parity)} comparison rows; {opts}.</p>
<p class="muted">Errors are normwise: max|a-b| / max(max|a|, max|b|). Tolerances: float64 1e-10; float32
eps * max(100, 10 T) for T recurrent steps; an absolute difference below the smallest normal number passes
(<code>reports/harness.py</code>). Generated by <code>python -m reports</code>; every table is also a CSV
beside this page.</p>
<nav>{nav}</nav>
</header>
<main>{sections}</main>
<script type="application/json" id="rows-data">{rows_json(r.parity)}</script>
<script>{SCRIPT}</script>
</body>
</html>
"""
    path.write_text(doc, encoding="utf-8")
    return path


# -- Markdown ----------------------------------------------------------------------------------


def _md(df: pd.DataFrame) -> str:
    return df.astype(object).where(df.notna(), "").to_markdown(index=False, floatfmt=".3g")


def write_markdown(path: Path, r: Report) -> Path:
    env = " | ".join(f"{k} {v}" for k, v in r.env.items())
    notes = ("Errors are normwise: max|a-b| and max|a-b| / max(max|a|, max|b|). "
             "Tolerances: float64 1e-10; float32 eps * max(100, 10 T) for T recurrent steps; an "
             "absolute difference below finfo.tiny passes (TensorFlow flushes subnormals to zero) "
             "-- see reports/harness.py. "
             "`grad:*` are loss gradients, `vjp:*` gradients of sum(upstream * output) "
             "for a random upstream. Full rows: parity.csv; the page: index.html.")
    lines = [f"# Parity report: NumPy vs PyTorch vs Keras -- {r.verdict}", "", env, "", notes, ""]
    sections = [("Parity summary (max over every quantity)", r.summary), ("Parameter counts", r.counts)]
    if not r.convergence.empty:
        sections.append(("Gradient descent vs closed-form least squares", r.convergence))
    if not r.trajectories.empty:
        steps = int(r.curves["step"].max()) if len(r.curves) else 20
        sections.append(((f"SGD trajectory parity ({steps} steps, lr 0.125; recurrent tasks with global-norm "
                          "clipping, each framework against NumPy with its own clip eps)"), r.trajectories))
    sections.append((("Speed (ms per loss + gradients: median and minimum, float64; batches of 1-16, so this is "
                      "per-call overhead -- Keras eager on TensorFlow and torch, a kept compiled program on JAX, "
                      "torch autograd, NumPy -- not throughput)"), r.speed))
    if not r.bench.empty:
        sections.append(("Benchmark: float32 training step, ratio to a plain torch step (bench.md has every row)",
                         bench_ratios(r.bench, "train_step")))
    if not r.sweeps.empty:
        sections.append(("float32 error against float64 NumPy over sequence length and depth", r.sweeps))
    if not r.gradchecks.empty:
        sections.append(("NumPy backward vs central differences (sampled entries, float64)", r.gradchecks))
    sections.append(("Timings (s)", pd.DataFrame([{"phase": k, "seconds": round(v, 1)} for k, v in r.timings.items()])))
    for title, df in sections:
        lines += [f"## {title}", "", _md(df), ""]
    path.write_text("\n".join(lines))
    return path

