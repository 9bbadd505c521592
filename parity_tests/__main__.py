"""``python3 -m parity_tests [pytest args]``: set up ``.venv`` on first use, then run pytest.

The suite runs in ``min(4, cores)`` pytest processes (pytest-xdist's ``-n``; the tests that need a Keras
backend worker stay together in one of them, ``conftest.py``); pass ``-n 0`` for one process, or ``-n N``
(``-p no:xdist``: pytest without xdist)."""

import os
import sys

from reports._bootstrap import ensure_venv

ensure_venv("parity_tests")

import pytest  # noqa: E402

args = sys.argv[1:]
if not any(a in ("-n", "--numprocesses", "no:xdist") or a.startswith(("-n", "--numprocesses=")) for a in args):
    args = ["-n", str(min(4, os.cpu_count() or 1)), *args]
# the whole suite unless a test path is given (``python3 -m parity_tests parity_tests/test_gradcheck.py``)
paths = [a for a in args if not a.startswith("-") and os.path.exists(a.split("::")[0])]
sys.exit(pytest.main(args if paths else ["parity_tests", *args]))
