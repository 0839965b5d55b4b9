"""A benchmark sweep as a Slurm job array on the real single-node cluster: one task per group,
merged into one table; a task that fails and a cancelled one show in it as such."""

from __future__ import annotations

import time

import pytest

from benchmarks.launching import run_array
from benchmarks.records import ModelSpec
from benchmarks.rows import sweep_frame
from benchmarks.settings import ThroughputSettings
from benchmarks.sweep import Sweep
from common.launch import SlurmOptions
from tests.slurm.crashing import CrashingSpec, SlowSpec

pytestmark = pytest.mark.slurm


def test_array_merges_its_tasks_and_shows_the_failed_and_the_cancelled_one(tmp_path) -> None:
    specs = [
        ModelSpec("test_vit"),  # the reference, in every task
        ModelSpec("test_resnet"),
        CrashingSpec("resnet18", {"crash": True}),
        SlowSpec("resnet18", {"slow": True}),
    ]
    settings = ThroughputSettings(batch_size=1, warmup=1, iters=2, input_size=(3, 64, 64))

    def cancel_the_last(jobs) -> None:
        """Once the last task runs (the cluster's 2 CPUs hold two tasks at a time), cancel it."""
        deadline = time.monotonic() + 300
        while jobs[-1].state != "RUNNING":
            assert time.monotonic() < deadline, f"the last task never ran: {jobs[-1].state}"
            time.sleep(0.5)
        jobs[-1].cancel()

    rows = run_array(
        specs,
        settings,
        ("inference",),
        {},
        Sweep(group_size=1),
        "slurm",
        tmp_path / "logs",
        SlurmOptions(cpus_per_task=1, timeout_min=10),
        on_submitted=cancel_the_last,
    )
    frame = sweep_frame(rows).set_index("model")
    labels = ["test_vit", "test_resnet", "resnet18(crash=True)", "resnet18(slow=True)"]
    assert list(frame.index) == labels
    assert frame.loc["test_resnet", "status"] == "ok"
    assert frame.loc["test_resnet", "infer_samples_per_sec"] > 0
    assert frame.loc["test_resnet", "node"] == frame.loc["test_vit", "node"] != ""
    assert str(frame.loc["test_resnet", "slurm_task"]) != ""
    assert frame.loc["resnet18(crash=True)", "status"].startswith("error: array task failed")
    assert frame.loc["resnet18(slow=True)", "status"].startswith("cancelled")
