"""The report's command line: a bad ``--out`` is refused in one line, before any work; the
filters choose what runs; ``--help`` explains every option."""

import subprocess
import sys

import pandas as pd
import pytest

from reference_numpy.cases import CASES
from reports import bench, cli


@pytest.fixture
def no_work(monkeypatch):
    """Fails the test if the report starts comparing anything."""
    def refuse(*args, **kwargs):
        raise AssertionError("the report started its work before refusing the output path")
    monkeypatch.setattr(cli, "parity_table", refuse)


def run_refused(capsys, out: str) -> str:
    """Run the report with ``--out out``; assert exit status 2 and a one-line error; return it."""
    assert cli.main(["--out", out, "--cases", "linear_regression"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert lines[0].startswith("python -m reports: error: --out")
    return lines[0]


def test_empty_out_is_refused_and_writes_nothing(no_work, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "--out is empty" in run_refused(capsys, "")
    assert list(tmp_path.iterdir()) == []


def test_out_naming_an_existing_file_is_refused(no_work, capsys, tmp_path):
    target = tmp_path / "report.txt"
    target.write_text("keep me")
    assert "is an existing file, not a directory" in run_refused(capsys, str(target))
    assert target.read_text() == "keep me"


@pytest.mark.parametrize("make_path, message", [
    (lambda tmp: "/proc/forbidden", "cannot create the directory"),          # procfs: no new entries
    (lambda tmp: str(tmp / "file.txt" / "report"), "cannot create the directory"),   # a parent is a file
    (lambda tmp: "/proc", "cannot write into the directory"),                # exists, takes no files (even as root)
], ids=["proc-forbidden", "parent-is-a-file", "unwritable-dir"])
def test_out_that_cannot_be_created_or_written_is_refused(no_work, capsys, tmp_path, make_path, message):
    (tmp_path / "file.txt").write_text("")
    assert message in run_refused(capsys, make_path(tmp_path))


@pytest.mark.parametrize("name", ["parity.csv", "index.html"])
def test_a_report_file_name_that_is_a_directory_is_refused(no_work, capsys, tmp_path, name):
    (tmp_path / name).mkdir()
    assert f"{name} is a directory there" in run_refused(capsys, str(tmp_path))


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for option in ("--out", "--families", "--frameworks", "--dtypes", "--cases", "--quick", "--skip-training",
                   "--skip-bench", "--bench-from",
                   "show", "conventions", "exit status"):
        assert option in text, option


@pytest.mark.parametrize("argv", [["--frameworks", "torch"], ["--families", "transformer"],
                                  ["--dtypes", "float16"], ["--cases", "no_such_case"]])
def test_bad_filters_are_usage_errors(no_work, tmp_path, argv):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--out", str(tmp_path / "r"), *argv])
    assert exc.value.code == 2
    assert not (tmp_path / "r").exists()           # refused before the output directory was made


@pytest.mark.parametrize("files, message", [
    ({}, "no bench.csv or bench.md there; expected the output of `python -m reports bench --out"),
    ({"bench.csv": "family,median_ms\nmlp,1.0\n", "bench.md": ""}, "bench.csv has columns ['family', 'median_ms'], "
                                                                    "expected ['family', 'framework', 'dtype'"),
    ({"bench.csv": "", "bench.md": ""}, "bench.csv is not a table (No columns to parse from file)"),
], ids=["missing", "wrong-columns", "empty"])
def test_bench_from_a_directory_without_a_benchmark_is_refused(no_work, capsys, tmp_path, files, message):
    bench_dir = tmp_path / "bench"
    bench_dir.mkdir()
    for name, text in files.items():
        (bench_dir / name).write_text(text)
    assert cli.main(["--out", str(tmp_path / "r"), "--cases", "linear_regression", "--bench-from", str(bench_dir)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"python -m reports: error: --bench-from {bench_dir}: ") and message in err, err
    assert len(err.strip().splitlines()) == 1


def test_bench_from_and_skip_bench_are_a_usage_error(no_work, tmp_path):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--out", str(tmp_path / "r"), "--bench-from", str(tmp_path), "--skip-bench"])
    assert exc.value.code == 2
    assert not (tmp_path / "r").exists()


def test_the_report_runs_the_benchmark_command_and_reads_what_it_wrote(tmp_path, monkeypatch, capsys):
    """``run_benchmark`` starts ``python -m reports.bench`` with the report's families and frameworks (the ones the
    benchmark times) and reads bench.csv back. The command is run here by ``bench.main`` in this process, made
    tiny (one round, a batch of 16): a second process would only add its imports."""
    commands = []

    def run_here(cmd, **kwargs):
        commands.append(cmd)
        assert cmd[:3] == [sys.executable, "-m", "reports.bench"]
        args = cmd[3:]
        del args[args.index("--threads"):args.index("--threads") + 2]      # (it would set this whole process's)
        code = bench.main([*args, "--rounds", "1", "--warmup", "0", "--limit-n", "16", "--no-progress",
                           "--release-freed-memory"])
        return subprocess.CompletedProcess(cmd, code, stdout="")

    monkeypatch.setattr(subprocess, "run", run_here)
    table = cli.run_benchmark(tmp_path, ["mlp", "regression"], ["numpy", "torch", "keras-jax"], quick=True)
    (cmd,) = commands
    assert cmd[cmd.index("--families") + 1] == "mlp" and cmd[cmd.index("--frameworks") + 1] == "numpy,torch"
    assert "--quick" in cmd and cmd[cmd.index("--threads") + 1] == "1" and cmd[cmd.index("--out") + 1] == str(tmp_path)
    assert list(table.columns) == list(bench.COLUMNS) and set(table.family) == {"mlp"}
    assert set(table.framework) == {"numpy", "torch", bench.BASELINE}
    printed = capsys.readouterr().out
    assert "benchmark: python -m reports bench --threads 1 (float32; mlp; numpy, torch) --quick" in printed


def test_filters_choose_families_frameworks_and_dtypes(tmp_path, capsys):
    out = tmp_path / "report"
    assert cli.main(["--out", str(out), "--families", "regression", "--frameworks", "numpy", "torch",
                     "--dtypes", "float64", "--skip-training"]) == 0
    parity = pd.read_csv(out / "parity.csv")
    assert set(parity["family"]) == {"regression"}
    assert set(parity["frameworks"]) == {"numpy-torch"} and set(parity["dtype"]) == {"float64"}
    assert not [c for c in pd.read_csv(out / "params.csv").columns if c.startswith("keras")]
    timed = {c for c in pd.read_csv(out / "speed.csv").columns if c.endswith("_ms")}
    assert timed == {"numpy_ms", "torch_ms", "numpy_min_ms", "torch_min_ms"}
    assert set(pd.read_csv(out / "gradcheck.csv")["family"]) == {"regression"}
    assert not (out / "sweeps.csv").exists()        # float32 not asked for
    page = (out / "index.html").read_text()
    assert 'id="summary"' in page and 'src="fig_worst_error.png"' in page
    assert (out / "fig_worst_error.png").stat().st_size > 0
    assert 'data-topic="regression"' in page and 'data-topic="lstm"' not in page
    assert "ALL PASSED" in capsys.readouterr().out


def test_quick_mode_keeps_every_family_and_the_task_cases():
    quick = cli.quick_cases(list(CASES))
    families = {c.family for c in CASES}
    assert {c.family for c in quick} == families
    assert all(sum(c.family == f for c in quick) <= cli.QUICK_PER_FAMILY for f in families)
    names = {c.name for c in quick}
    assert {"mlp_relu_ce_iris", "cnn_simple_digits", "rnn_binary_addition", "lstm_noisy_sine"} <= names
