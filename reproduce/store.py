"""The results store for training runs: one JSON record per config key under ``results/runs/``.

The table generator reads finished runs with `load_results`; the launcher and the job write
records with `write_record` (atomically). A record's ``status`` is one of `STATUSES`:
``submitted`` (the launcher handed it to submitit), ``running``, ``requeued`` (preempted or
timed out, checkpointed, waiting to resume), ``completed``, ``failed`` (``error`` and
``log_paths`` say why and where), ``cancelled``, ``interrupted`` (stopped on purpose after some
epochs). A ``completed`` record is never overwritten unless the launch says ``--force``.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.files import write_text_atomic

__all__ = [
    "ACTIVE",
    "REPO_ROOT",
    "SCHEMA",
    "STATUSES",
    "default_results_dir",
    "git_commit",
    "load_record",
    "load_results",
    "now",
    "record_path",
    "update_record",
    "versions",
    "write_record",
]

SCHEMA = 1
STATUSES = (
    "submitted",
    "running",
    "requeued",
    "completed",
    "failed",
    "cancelled",
    "interrupted",
)
ACTIVE = ("submitted", "running", "requeued")
REPO_ROOT = Path(__file__).resolve().parent.parent


def default_results_dir() -> Path:
    """``results/runs`` in the repository."""
    return REPO_ROOT / "results" / "runs"


def record_path(results_dir: str | Path, key: str) -> Path:
    """Where the record for config ``key`` lives."""
    return Path(results_dir) / f"{key}.json"


def load_record(results_dir: str | Path, key: str) -> dict[str, Any] | None:
    """The record for ``key``, or None if there is none."""
    path = record_path(results_dir, key)
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def write_record(results_dir: str | Path, record: Mapping[str, Any]) -> Path:
    """Write ``record`` (which must carry ``config_key`` and a known ``status``) atomically."""
    if record.get("status") not in STATUSES:
        raise ValueError(f"record status {record.get('status')!r}; accepted: {STATUSES}")
    text = json.dumps(dict(record), indent=2, sort_keys=True, default=str) + "\n"
    return write_text_atomic(record_path(results_dir, record["config_key"]), text)


def update_record(results_dir: str | Path, key: str, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into the record for ``key`` (creating it) and write it back."""
    record = load_record(results_dir, key) or {"schema": SCHEMA, "config_key": key}
    record.update(fields)
    record["updated"] = now()
    write_record(results_dir, record)
    return record


def load_results(
    results_dir: str | Path | None = None, status: str | None = "completed"
) -> list[dict[str, Any]]:
    """Every record in the store (only those with ``status``, unless status is None)."""
    folder = Path(results_dir) if results_dir is not None else default_results_dir()
    records = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]
    return [r for r in records if status is None or r.get("status") == status]


def now() -> str:
    """Current UTC time, ISO 8601, seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def git_commit(root: str | Path = REPO_ROOT) -> str | None:
    """HEAD's commit of the repository at ``root``, with ``-dirty`` if tracked files changed."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha


def versions() -> dict[str, str]:
    """Library versions that matter for a training result."""
    import submitit
    import timm
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "submitit": submitit.__version__,
    }


def host() -> dict[str, Any]:
    """Where a run executed."""
    return {"hostname": socket.gethostname(), "pid": os.getpid(), "platform": sys.platform}
