"""The report's figures read the report's own tables: the training curves come from training.csv's
per-step rows (task, family, framework, optimizer, step, loss, metric, value) -- whoever wrote
them -- and a training.csv without such rows draws nothing instead of failing."""

import numpy as np
import pandas as pd
from PIL import Image

from reports import figures


def curves_table(with_dtype: bool) -> pd.DataFrame:
    rows = [{"task": task, "family": "mlp", "framework": fw, "optimizer": "sgd lr=0.125", "step": step,
             "loss": 2.0 / step + (0.01 if fw == "keras" else 0.0), "metric": "", "value": np.nan}
            for task in ("iris", "sine") for fw in ("numpy", "torch", "keras") for step in range(1, 21)]
    table = pd.DataFrame(rows)
    return table.assign(dtype="float64") if with_dtype else table


def test_training_curves_read_the_per_step_format(tmp_path):
    for with_dtype in (False, True):
        path = figures.training_curves(curves_table(with_dtype), tmp_path / f"curves{with_dtype}.png")
        assert path is not None
        width, height = Image.open(path).size
        assert width > 300 and height > 150


def test_training_csv_without_curves_draws_nothing(tmp_path):
    """Today's parity-only rows (no step / loss columns): no figure, no error."""
    parity_rows = pd.DataFrame([{"model": "mlp_tanh_mse", "family": "mlp", "frameworks": "numpy-torch",
                                 "dtype": "float64", "quantity": "train_loss", "max_rel_err": 1e-16,
                                 "passed": True, "kind": "trajectory"}])
    assert figures.curve_rows(parity_rows).empty
    assert figures.training_curves(parity_rows, tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()


def test_curve_rows_keep_float64_where_both_dtypes_ran():
    both = pd.concat([curves_table(True), curves_table(True).assign(dtype="float32", loss=99.0)])
    assert set(figures.curve_rows(both)["loss"]) == set(curves_table(True)["loss"])


def test_worst_error_draws_exact_zeros_and_missing_quantities(tmp_path):
    summary = pd.DataFrame([
        {"family": "mlp", "dtype": "float64", "frameworks": "numpy-torch", "max_rel_err": 0.0, "tolerance": 1e-10},
        {"family": "mlp", "dtype": "float32", "frameworks": "numpy-torch", "max_rel_err": np.inf,
         "tolerance": 1.2e-5},
        {"family": "cnn", "dtype": "float64", "frameworks": "numpy-torch", "max_rel_err": np.nan, "tolerance": 1e-10},
    ])
    assert figures.worst_error(summary, tmp_path / "w.png") is not None
