"""The linter is part of the test suite: ``ruff check`` over the whole repository, with the
configuration in ``pyproject.toml`` (``[tool.ruff]``: line length 120, Python 3.11, pycodestyle,
pyflakes, import order, bugbear, pyupgrade, NumPy and flake8-pie rules), must report nothing.
CI runs the README's test command, so CI lints too. ruff comes with the dev extra.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ruff(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """``ruff`` from this interpreter's environment, run in the repository root (so it reads
    its pyproject.toml); ``--no-cache`` keeps it from writing a cache into the checkout."""
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, input=stdin, capture_output=True,
                          text=True, timeout=300)


def test_ruff_check_is_clean():
    result = ruff("check", "--no-cache", "--output-format", "concise", ".")
    assert "No module named ruff" not in result.stderr, "ruff is not installed: pip install -e '.[dev]'"
    assert result.returncode == 0, f"ruff check found problems:\n{result.stdout}{result.stderr}"


def test_ruff_uses_the_repository_configuration():
    """Guard for the test above: ruff runs, reads pyproject.toml (a line of 121 characters is
    too long, one of 120 is not) and reports what it finds (an unused import)."""
    for length, expected in ((120, 0), (121, 1)):
        line = "x = " + repr("a" * (length - 6)) + "\n"
        assert len(line) == length + 1
        result = ruff("check", "--no-cache", "--select", "E501", "--stdin-filename", "parity_tests/probe.py", "-",
                      stdin=line)
        assert result.returncode == expected, (length, result.stdout, result.stderr)
    result = ruff("check", "--no-cache", "--stdin-filename", "parity_tests/probe.py", "-", stdin="import os\n")
    assert result.returncode == 1 and "F401" in result.stdout, result.stdout
