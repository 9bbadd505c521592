"""``python3 -m parity_tests [pytest args]``: set up ``.venv`` on first use, then run pytest."""

import sys

from reports._bootstrap import ensure_venv

ensure_venv("parity_tests")

import pytest  # noqa: E402

sys.exit(pytest.main(["parity_tests", *sys.argv[1:]]))
