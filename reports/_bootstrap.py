"""Create and use the project's virtual environment (standard library only).

Both README commands (``python3 -m reports ...`` and ``python3 -m parity_tests``)
start here. On first use -- or when ``pyproject.toml`` has changed since the
last install -- this creates ``.venv`` at the repository root, installs the
suite into it (``pip install -e .[dev]``), and then re-runs the same command
with the virtual environment's interpreter. Inside ``.venv`` it does nothing.

Set ``SUITE_NO_BOOTSTRAP=1`` to run with whatever interpreter you started
(for example one you manage yourself).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
STAMP = VENV / ".suite-installed"
MIN_PYTHON = (3, 11)


def _venv_python() -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def _wanted_stamp() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def _inside_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def _install() -> None:
    if not _venv_python().exists():
        print(f"[setup] creating virtual environment {VENV}", file=sys.stderr, flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("[setup] installing the suite and its dependencies into .venv "
          "(first run: about 60 s and 2.7 GB here)", file=sys.stderr, flush=True)
    start = time.monotonic()
    subprocess.run(
        [str(_venv_python()), "-m", "pip", "install", "--disable-pip-version-check",
         "-q", "-e", f"{ROOT}[dev]"],
        check=True,
    )
    STAMP.write_text(_wanted_stamp())
    print(f"[setup] done in {time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)


def ensure_venv(module: str) -> None:
    """Make sure ``.venv`` is installed and current, then run ``-m module`` in it.

    Returns only when already running inside an up-to-date ``.venv`` (or when
    bootstrapping is switched off); otherwise replaces this process.
    """
    if os.environ.get("SUITE_NO_BOOTSTRAP") == "1":
        return
    if sys.version_info < MIN_PYTHON:
        sys.exit(f"Python {'.'.join(map(str, MIN_PYTHON))}+ is required, "
                 f"this is {sys.version.split()[0]} ({sys.executable})")
    stale = not STAMP.exists() or STAMP.read_text() != _wanted_stamp()
    if stale:
        _install()
    if _inside_venv():
        return
    args = [str(_venv_python()), "-m", module, *sys.argv[1:]]
    os.chdir(ROOT)
    if os.name == "nt":  # os.execv does not replace the process on Windows
        sys.exit(subprocess.run(args).returncode)
    os.execv(args[0], args)
