"""Where the suite writes, and how: paths anchored at the repository root, and atomic writes
(a run that is interrupted never leaves a half-written file behind)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The repository's root: every default path of every command is anchored here, not at the
#: working directory, so a command gives the same files wherever it is started from.
REPO_ROOT = Path(__file__).resolve().parent.parent
#: Where generated tables, figures, reports and records are committed.
RESULTS_DIR = REPO_ROOT / "results"


def write_atomic(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it over ``path``.

    The previous file stays intact until the rename, which is atomic on POSIX filesystems.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
