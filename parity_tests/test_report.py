"""The main job, ``python -m reports --out DIR``: writes the promised files and columns,
and its exit code reflects the comparisons."""

import pandas as pd
import pytest

from reports import cli, harness

COLUMNS = ["model", "family", "frameworks", "dtype", "quantity", "max_abs_err", "max_rel_err",
           "tolerance", "passed"]


def test_report_writes_parity_table(tmp_path, capsys):
    assert cli.main(["--out", str(tmp_path), "--cases", "*regression*", "--skip-training"]) == 0
    parity = pd.read_csv(tmp_path / "parity.csv")
    assert set(COLUMNS) <= set(parity.columns)
    assert set(parity["family"]) == {"regression"}
    assert set(parity["frameworks"]) == {"-".join(pair) for pair in harness.PAIRS}
    assert set(parity["dtype"]) == {"float64", "float32"}
    assert {"output", "loss", "grad_input", "grad:W", "grad:b"} <= set(parity["quantity"])
    assert parity["passed"].all()
    assert (parity.loc[parity["dtype"] == "float64", "max_rel_err"] <= 1e-10).all()
    for name in ("parity.md", "report.md", "params.csv", "speed.csv"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert "ALL PASSED" in capsys.readouterr().out


def test_report_exits_nonzero_when_a_row_fails(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(harness.TOLERANCE, "float64", -1.0)     # nothing can pass
    harness.clear_caches()
    assert cli.main(["--out", str(tmp_path), "--cases", "linear_regression", "--dtypes", "float64",
                     "--skip-training"]) == 1
    parity = pd.read_csv(tmp_path / "parity.csv")
    assert not parity.loc[parity["max_abs_err"] > 0, "passed"].any()    # only exact equality can pass
    assert "FAILED" in capsys.readouterr().out


def test_a_failing_benchmark_fails_the_report(tmp_path, monkeypatch, capsys):
    """The report runs ``python -m reports bench`` for the families it times (here mlp, numpy and torch);
    a benchmark that fails is a failure of the report, not a section that silently goes missing."""
    import subprocess

    calls = []

    def failing_run(cmd, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, stdout="Traceback: the benchmark broke\n")

    monkeypatch.setattr(subprocess, "run", failing_run)
    assert cli.main(["--out", str(tmp_path), "--cases", "mlp_tanh_mse", "--dtypes", "float64", "--frameworks",
                     "numpy", "torch", "--skip-training"]) == 1
    (cmd,) = calls
    assert cmd[1:4] == ["-m", "reports.bench", "--out"] and cmd[cmd.index("--families") + 1] == "mlp"
    assert cmd[cmd.index("--frameworks") + 1] == "numpy,torch" and cmd[cmd.index("--threads") + 1] == "1"
    printed = capsys.readouterr().out
    assert "benchmark FAILED (exit 1)" in printed and "the benchmark broke" in printed and "1 FAILED" in printed


def test_report_rejects_a_filter_matching_nothing(tmp_path):
    with pytest.raises(SystemExit):
        cli.main(["--out", str(tmp_path), "--cases", "no_such_model"])


def test_parameter_counts_show_the_notes_simple_rnn(tmp_path):
    """The notes' Keras summary: SimpleRNN(16) on 2 inputs has 304 parameters; torch, with its
    second bias, 320. The binary-addition case is that layer plus a 16 -> 1 head."""
    assert cli.main(["--out", str(tmp_path), "--cases", "rnn_binary_addition", "--dtypes", "float64",
                     "--skip-training", "--skip-bench"]) == 0
    row = pd.read_csv(tmp_path / "params.csv").iloc[0]
    keras = [c for c in row.index if c.startswith("keras")]               # keras, or keras-tf, keras-jax, ...
    assert keras and (row["layer_canonical"], row["layer_torch"]) == (304, 320)
    assert (row["canonical"], row["torch"]) == (321, 337)
    assert all((row[k], row[f"layer_{k}"]) == (321, 304) for k in keras)
