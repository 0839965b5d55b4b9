"""The results store: one JSON record per training config key or evaluation under ``results/runs/``.

A record's ``kind`` is ``training`` (a run of a recipe; records written before kinds existed
are training records) or ``evaluation`` (a checkpoint evaluated on an image folder, by
``python -m reproduce evaluate``). The table generator reads them with `load_results`; the
launcher, the job and the evaluate command write them with `write_record` (atomically). A
record's ``status`` is one of `STATUSES`:
``submitted`` (the launcher handed it to submitit), ``running``, ``requeued`` (preempted or
timed out, checkpointed, waiting to resume), ``completed``, ``failed`` (``error`` and
``log_paths`` say why and where), ``cancelled``, ``interrupted`` (stopped on purpose after some
epochs). A ``completed`` record is never overwritten unless the launch says ``--force``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from common.files import REPO_ROOT, RESULTS_DIR, write_text_atomic

__all__ = [
    "ACTIVE",
    "DEFAULT_RUNS_DIR",
    "KINDS",
    "SCHEMA",
    "STATUSES",
    "git_state",
    "host",
    "kind_of",
    "load_record",
    "load_results",
    "mark_ended",
    "now",
    "path_for_record",
    "path_from_record",
    "reconcile",
    "record_path",
    "update_record",
    "versions",
    "write_record",
]

# 2: records say their kind, the batch a run reached (world size, per-process batch,
# accumulation steps, global batch), its whole history and whether the tree was dirty.
SCHEMA = 2
KINDS = ("training", "evaluation")
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
#: Where the records live unless a command's ``--runs-dir`` says otherwise.
DEFAULT_RUNS_DIR: Final = RESULTS_DIR / "runs"


def record_path(runs_dir: str | Path, key: str) -> Path:
    """Where the record for config ``key`` lives."""
    return Path(runs_dir) / f"{key}.json"


def read_record(path: Path) -> dict[str, Any]:
    """One record file; a file that is not a record (truncated, hand-edited, not JSON) is a
    ValueError naming the file and what is wrong with it, never a traceback of the parser."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(
            f"results store record {path} is not valid JSON ({error.msg} at line {error.lineno}, "
            + f"column {error.colno}): repair it, or remove it and run again"
        ) from None
    except UnicodeDecodeError:
        raise ValueError(f"results store record {path} is not UTF-8 text: remove it") from None
    if not isinstance(record, dict):
        raise ValueError(
            f"results store record {path} holds a {type(record).__name__}, not a record object"
        )
    return record


def load_record(runs_dir: str | Path, key: str) -> dict[str, Any] | None:
    """The record for ``key``, or None if there is none."""
    path = record_path(runs_dir, key)
    if not path.exists():
        return None
    return read_record(path)


def write_record(runs_dir: str | Path, record: Mapping[str, Any]) -> Path:
    """Write ``record`` (which must carry ``config_key`` and a known ``status``) atomically."""
    if record.get("status") not in STATUSES:
        raise ValueError(f"record status {record.get('status')!r}; accepted: {STATUSES}")
    text = json.dumps(dict(record), indent=2, sort_keys=True, default=str) + "\n"
    return write_text_atomic(record_path(runs_dir, record["config_key"]), text)


def update_record(runs_dir: str | Path, key: str, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into the record for ``key`` (creating it) and write it back."""
    record = load_record(runs_dir, key) or {"schema": SCHEMA, "config_key": key}
    record.update(fields)
    record["updated"] = now()
    write_record(runs_dir, record)
    return record


def kind_of(record: Mapping[str, Any]) -> str:
    """A record's kind; records written before kinds existed are training records."""
    return str(record.get("kind", "training"))


def load_results(
    runs_dir: str | Path | None = None,
    status: str | None = "completed",
    kinds: tuple[str, ...] = ("training",),
) -> list[dict[str, Any]]:
    """The records in the store with ``status`` (any, if None) of ``kinds``.

    By default completed training records only; ``kinds=KINDS`` adds the evaluations.
    """
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown record kind(s) {unknown}; accepted: {KINDS}")
    folder = Path(runs_dir) if runs_dir is not None else DEFAULT_RUNS_DIR
    records = [read_record(path) for path in sorted(folder.glob("*.json"))]
    return [
        r for r in records if (status is None or r.get("status") == status) and kind_of(r) in kinds
    ]


def path_for_record(path: str | Path | None) -> str | None:
    """A path as a record keeps it: relative to the repository when inside it, so records read
    the same in another clone."""
    if path is None:
        return None
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(REPO_ROOT))
    except ValueError:
        return str(resolved)


def path_from_record(path: str) -> Path:
    """A path as stored in a record: relative ones are relative to the repository."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else REPO_ROOT / candidate


def mark_ended(runs_dir: Path, key: str, status: str, error: str, **fields: Any) -> dict[str, Any]:
    """Record that the job for ``key`` ended in ``status`` (it could not say so itself), and why."""
    return update_record(runs_dir, key, status=status, error=error, **fields, finished=now())


_SLURM_ACTIVE = ("PENDING", "RUNNING", "REQUEUED", "SUSPENDED", "CONFIGURING", "COMPLETING")


def _job_alive(record: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether the job behind an active record still exists, and what is known about it."""
    job_id = record.get("job_id")
    if record.get("executor") == "slurm" and job_id and shutil.which("sacct"):
        query = ["sacct", "-n", "-X", "-P", "-o", "State", "-j", str(job_id)]
        states = subprocess.run(query, capture_output=True, text=True, check=False).stdout.split()
        if not states:
            return True, "unknown to sacct"  # accounting lag or another cluster: assume alive
        state = states[-1]
        return state.split()[0] in _SLURM_ACTIVE, f"Slurm state {state}"
    pid = (record.get("host") or {}).get("pid")
    same_host = (record.get("host") or {}).get("hostname") == host()["hostname"]
    if record.get("executor") in ("local", "debug") and pid and same_host:
        return Path(f"/proc/{pid}").exists(), f"process {pid}"
    return True, "no way to check"


def reconcile(runs_dir: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Mark a record 'failed' if its job is gone without saying so (killed, OOM, node lost)."""
    alive, what = _job_alive(record)
    if alive:
        return record
    logs = record.get("log_paths") or {}
    why = f"job {record.get('job_id')} ended without a result ({what}); see {logs}"
    return mark_ended(runs_dir, record["config_key"], "failed", why)


def now() -> str:
    """Current UTC time, ISO 8601, seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _git(root: str | Path, *arguments: str) -> str:
    """The output of ``git -C root ARGUMENTS`` (raises OSError or SubprocessError on failure)."""
    command = ["git", "-C", str(root), *arguments]
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=10).stdout


def git_state(root: str | Path = REPO_ROOT) -> dict[str, Any]:
    """HEAD's commit of the repository at ``root`` and whether tracked files differ from it
    (``tree_dirty``); both None outside a git checkout."""
    try:
        sha = _git(root, "rev-parse", "HEAD").strip()
        dirty = bool(_git(root, "status", "--porcelain", "--untracked-files=no").strip())
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "tree_dirty": None}
    return {"commit": sha, "tree_dirty": dirty}


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
