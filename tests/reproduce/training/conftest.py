"""Shared settings for the CPU training tests: tiny digits runs that take seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

# Few samples, small batches: a few optimizer steps per epoch on one thread.
TINY = ["train_subset=192", "val_subset=96", "batch_size=32", "log_every=1000", "threads=1"]


@pytest.fixture
def tiny() -> list[str]:
    """key=value overrides that shrink the digits config to seconds."""
    return list(TINY)


@pytest.fixture
def store_args(tmp_path: Path) -> list[str]:
    """--runs-dir/--output/--logs under tmp_path, so tests never touch the repository's store."""
    return [
        "--runs-dir",
        str(tmp_path / "results"),
        "--output",
        str(tmp_path / "runs"),
        "--logs",
        str(tmp_path / "logs" / "%j"),
    ]
