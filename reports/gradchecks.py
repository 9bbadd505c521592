"""The report's gradient-check table: the NumPy backward of every case against central differences.

``parity_tests/test_gradcheck.py`` checks every element of every gradient (minutes of loss
evaluations); the report samples, to stay within seconds: for each case, the loss gradient with
respect to the input, every parameter and every given initial state, at up to ``ENTRIES``
randomly chosen elements of each array (all of them when the array is smaller), in float64::

    numeric_i = (L(w + h e_i) - L(w - h e_i)) / (2 h),   h = 1e-5
    rel_err   = max_i |analytic_i - numeric_i| / max(max |analytic|, max_i |numeric_i|)

(the scale is the whole analytic array's, as in ``reference_numpy.gradcheck.relative_error``).
An array passes when ``max_i |analytic_i - numeric_i| <= max(RTOL * scale, noise)``, with the
noise floor of ``reference_numpy/gradcheck.py`` (``noise_floor``: what rounding puts into a
difference quotient of a loss of that size). ``max_rel_err`` is the worst over the arrays within
``RTOL``; arrays that pass only by the noise floor (a gradient shrunk by many recurrent steps)
are listed apart, and so are arrays whose every sampled numeric entry is below the noise floor
(``unresolved``: the check cannot tell them from 0 -- an ``Wh`` that a single step from a zero
state never reaches is exactly 0; ``test_gradcheck.py`` checks such arrays where they resolve).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm import tqdm

from reference_numpy.adapter import NumpyAdapter
from reference_numpy.gradcheck import central_difference_at, noise_floor

ENTRIES = 6
H = 1e-5
RTOL = 1e-7


def _inputs(case):
    x, target, _ = case.batch_data("float64")
    if case.inputs == "digits":
        # as in test_gradcheck.py: all-zero patches of the digit images make exact max-pool ties,
        # where the loss is not differentiable in x; check at a nearby generic point
        x = x + 1e-3 * np.random.default_rng(case.seed).standard_normal(x.shape)
    return x, target, case.initial_state("float64")


def check_case(case, entries: int = ENTRIES, seed: int = 0) -> dict:
    """One table row: the worst sampled relative error over every array the loss depends on."""
    x, target, state = _inputs(case)
    adapter = NumpyAdapter(case.spec, case.params("float64"), "float64")
    res = adapter.loss_and_grads(x, target, state)
    arrays = {name: (adapter.model.params[name], g) for name, g in res.grads.items()}
    if res.grad_input is not None and np.issubdtype(np.asarray(x).dtype, np.floating):
        arrays = {"x": (x, res.grad_input)} | arrays
    arrays |= {f"state:{n}": (state[n], g) for n, g in res.grad_state.items()}

    given = () if state is None else (state,)          # seq2seq's objective takes (src, tgt) only

    def loss(_):                  # the loss loss_and_grads reports, without the backward pass
        return float(adapter.model.objective(x, target, *given)[0])

    rng = np.random.default_rng(seed)
    worst, worst_name, checked, f_scale = 0.0, "", 0, 0.0
    by_noise, unresolved, failed = [], [], []
    for name, (w, analytic) in arrays.items():
        flat = rng.choice(w.size, size=min(entries, w.size), replace=False)
        errors, numeric = [], []
        for i in flat:
            idx = np.unravel_index(i, w.shape)
            value, f_max = central_difference_at(loss, w, idx, H)
            numeric.append(value)
            errors.append(abs(analytic[idx] - value))
            f_scale = max(f_scale, f_max)
        checked += len(flat)
        resolved = max(abs(n) for n in numeric)
        scale = max(float(np.max(np.abs(analytic))), resolved)
        abs_err = max(errors)
        noise = noise_floor(f_scale, H)
        if resolved <= noise:
            unresolved.append(name)                     # below the noise floor: cannot tell from 0
        elif abs_err <= RTOL * scale:
            rel = abs_err / scale
            if rel >= worst:
                worst, worst_name = rel, name
        elif abs_err <= noise:
            by_noise.append(name)                       # within rounding noise, not within rtol
        else:
            failed.append(name)
    return {"model": case.name, "family": case.family, "arrays": len(arrays), "entries": checked,
            "max_rel_err": worst, "worst_array": worst_name, "rtol": RTOL,
            "within_noise_floor": ", ".join(by_noise), "unresolved": ", ".join(unresolved),
            "failed": ", ".join(failed), "passed": not failed}


def gradcheck_table(cases, entries: int = ENTRIES) -> pd.DataFrame:
    """``check_case`` of every case; a case that raises is a failing row naming the error."""
    rows = []
    for case in tqdm(cases, desc="gradient checks", unit="case", mininterval=2.0):
        try:
            rows.append(check_case(case, entries))
        except Exception as exc:  # noqa: BLE001  (a failing row, not swallowed)
            rows.append({"model": case.name, "family": case.family, "arrays": 0, "entries": 0,
                         "max_rel_err": np.nan, "worst_array": "", "rtol": RTOL, "within_noise_floor": "",
                         "unresolved": "", "failed": f"error: {type(exc).__name__}: {exc}"[:300], "passed": False})
    return pd.DataFrame(rows)
