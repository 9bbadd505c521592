"""Check, before any work, that the report's output directory can be written.

A report takes minutes; a bad ``--out`` must fail in the first second with one line that says
what is wrong, not with a traceback after the work is done.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class OutputPathError(ValueError):
    """``--out`` names something the report cannot write into (the message says what)."""


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def check_output_dir(raw: str, file_names) -> Path:
    """The output directory ``raw`` as a Path, created if missing, after checking that it is a
    writable directory and that none of ``file_names`` (the files the report writes there) is
    a directory or an unwritable file. Raises ``OutputPathError`` with a one-line message."""
    if not raw.strip():
        raise OutputPathError("--out is empty; give the directory to write the report into (e.g. --out report)")
    path = Path(raw)
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"--out {raw} is an existing file, not a directory; choose a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(f"--out {raw}: cannot create the directory ({_reason(exc)})") from None
    clashes = [n for n in file_names if (path / n).is_dir()]
    if clashes:
        what = "is a directory" if len(clashes) == 1 else "are directories"
        raise OutputPathError(f"--out {raw}: {', '.join(clashes)} {what} there, where the report writes "
                              f"{'a file' if len(clashes) == 1 else 'files'}")
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".report-write-test-"):
            pass
    except OSError as exc:
        raise OutputPathError(f"--out {raw}: cannot write into the directory ({_reason(exc)})") from None
    locked = [n for n in file_names if (path / n).exists() and not os.access(path / n, os.W_OK)]
    if locked:
        raise OutputPathError(f"--out {raw}: {', '.join(locked)} cannot be overwritten (no write permission)")
    return path
