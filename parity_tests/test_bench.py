"""The benchmark tool (``python -m reports bench``, ``reports/bench.py``) runs end to end and writes what it
documents. A test of the tool, not a timed test: nothing here asserts a speed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reports import bench

#: The documented columns of bench.csv (the module docstring and the issue's "at least" list).
DOCUMENTED = ["family", "framework", "dtype", "mode", "size", "median_ms", "min_ms", "ratio_to_torch", "gflops",
              "matmul_limit_gflops", "pct_of_limit", "page_faults", "rounds", "process"]


@pytest.fixture
def restore_threads():
    """``--threads`` sets torch's and the BLAS's thread counts for the whole process: put them back."""
    import threadpoolctl
    import torch

    n = torch.get_num_threads()
    with threadpoolctl.threadpool_limits(limits=None):          # restores the BLAS limits on exit
        yield
    torch.set_num_threads(n)


def test_tiny_quick_run_writes_the_documented_csv_and_table(tmp_path, capsys, restore_threads):
    out = tmp_path / "bench"
    # --threads 1: two frameworks' thread pools interleaved on a loaded machine can take 100x longer (the
    # module docstring); --release-freed-memory: leave this (pytest) process's allocator as it is
    argv = ["--quick", "--rounds", "2", "--warmup", "1", "--limit-n", "64", "--no-progress", "--threads", "1",
            "--release-freed-memory", "--families", "mlp,rnn", "--frameworks", "numpy,torch", "--out", str(out)]
    assert bench.main(argv) == 0
    df = pd.read_csv(out / "bench.csv")
    assert list(df.columns) == DOCUMENTED == list(bench.COLUMNS)
    # one row per family x (the frameworks and the baseline) x mode, nothing else
    expected = {(f, fw, "float32", m) for f in ("mlp", "rnn") for fw in ("numpy", "torch", bench.BASELINE)
                for m in bench.MODES}
    assert set(zip(df.family, df.framework, df.dtype, df["mode"])) == expected and len(df) == len(expected)
    assert (df["rounds"] == 2).all() and (df["process"] == "main").all()
    assert (df["median_ms"] > 0).all() and (df["min_ms"] <= df["median_ms"]).all()
    assert (df["ratio_to_torch"] > 0).all() and (df["gflops"] > 0).all() and (df["matmul_limit_gflops"] > 0).all()
    np.testing.assert_array_equal(df.loc[df.framework == bench.BASELINE, "ratio_to_torch"], 1.0)
    # the FLOP count is the documented formula: 2 N sum(in * out) forward, 3x that for a training step
    mlp = df[(df.family == "mlp") & (df.framework == "numpy")].set_index("mode")
    forward_flops = 2 * 128 * (784 * 256 + 256 * 128 + 128 * 10)
    for mode, factor in (("forward", 1), ("train_step", 3)):
        np.testing.assert_allclose(mlp.loc[mode, "gflops"] * mlp.loc[mode, "median_ms"] * 1e6,
                                   factor * forward_flops, rtol=1e-9)
    table = (out / "bench.md").read_text()
    assert "| model | numpy | torch |" in table and "load average" in table and "## Every row" in table
    printed = capsys.readouterr().out
    assert "| mlp |" in printed and "| rnn |" in printed and str(out / "bench.csv") in printed


def test_help_and_bad_choices(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--out", "--quick", "--families", "--frameworks", "--dtypes", "--threads", "--rounds"):
        assert option in text
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--families", "mlp,transformer", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "unknown family 'transformer'; expected a comma-separated list of mlp, cnn" in capsys.readouterr().err
    assert bench.main(["--rounds", "0", "--out", str(tmp_path)]) == 2
    assert not list(tmp_path.iterdir())
