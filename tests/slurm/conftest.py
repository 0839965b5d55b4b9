"""The Slurm tests' one guard: the real single-node cluster (tests/slurm/cluster.sh) is up."""

from __future__ import annotations

import shutil
import subprocess

import pytest


@pytest.fixture(scope="module", autouse=True)
def cluster() -> None:
    """Fail loudly (not skip) when the cluster is not up: CI must really run these."""
    if shutil.which("sbatch") is None:
        pytest.fail("no sbatch on PATH; run: bash tests/slurm/cluster.sh install && ... start")
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, check=False)
    if "is UP" not in ping.stdout:
        pytest.fail(
            f"slurmctld is not up ({ping.stdout.strip()}); run tests/slurm/cluster.sh start"
        )
