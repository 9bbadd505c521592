"""``python3 -m reports --out DIR``: set up ``.venv`` on first use, then write the report."""

import sys

from reports._bootstrap import ensure_venv

ensure_venv("reports")

if sys.argv[1:2] == ["bench"]:                   # python -m reports bench: the benchmark (reports/bench.py)
    from reports.bench import main as bench_main  # noqa: E402

    sys.exit(bench_main(sys.argv[2:]))

from reports.cli import main  # noqa: E402  (imports numpy, torch, keras: after the bootstrap)

sys.exit(main())
