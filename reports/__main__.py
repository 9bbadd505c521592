"""``python3 -m reports --out DIR``: set up ``.venv`` on first use, then write the report."""

import sys

from reports._bootstrap import ensure_venv

ensure_venv("reports")

from reports.cli import main  # noqa: E402  (imports numpy, torch, keras: after the bootstrap)

sys.exit(main())
