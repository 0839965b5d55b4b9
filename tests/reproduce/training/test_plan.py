"""Planning a launch: bad input fails with a clear error before anything is submitted, a
checkpoint of another variant is refused, and a record whose job died is marked failed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch

from reproduce.commands.train import parse_options
from reproduce.training import store
from reproduce.training.checkpoints import CheckpointMismatch
from reproduce.training.data import check_data
from reproduce.training.job import TrainJob
from reproduce.training.overrides import parse_overrides, resolve
from reproduce.training.plan import LaunchOptions, Plan, plan


def _plan(argv: list[str]) -> Plan:
    return plan(parse_options(argv))


def _refused(tmp_path: Path, argv: list[str], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        _plan(argv)
    assert not (tmp_path / "results").exists(), "a record was written"
    assert not (tmp_path / "logs").exists(), "something was submitted"


def test_missing_dataset_path(tmp_path: Path, store_args: list[str]) -> None:
    _refused(tmp_path, ["imagenet_dynamixer_s", *store_args], FileNotFoundError, "needs --data")
    missing = str(tmp_path / "nowhere")
    argv = ["imagenet_dynamixer_s", "--data", missing, *store_args]
    _refused(tmp_path, argv, FileNotFoundError, "nowhere does not exist")
    argv = ["cifar10_dynamixer_s", "--data", str(tmp_path), *store_args]
    _refused(tmp_path, argv, FileNotFoundError, "pass --download")


def test_folder_without_train_or_val(tmp_path: Path, store_args: list[str]) -> None:
    (tmp_path / "imagenet" / "train").mkdir(parents=True)
    argv = ["imagenet_dynamixer_s", "--data", str(tmp_path / "imagenet"), *store_args]
    _refused(tmp_path, argv, FileNotFoundError, r"has no val/")
    (tmp_path / "empty").mkdir()
    argv = ["imagenet_dynamixer_s", "--data", str(tmp_path / "empty"), *store_args]
    _refused(tmp_path, argv, FileNotFoundError, r"has no train/ or val/")


def test_unknown_config_or_key(tmp_path: Path, store_args: list[str]) -> None:
    match = "unknown config or sweep 'digitz'.*'digits'"
    _refused(tmp_path, ["digitz", *store_args], ValueError, match)
    _refused(tmp_path, ["digits", "lr_rate=1", *store_args], ValueError, "unknown key 'lr_rate'")
    _refused(tmp_path, ["digits", "epochs=many", *store_args], ValueError, "epochs='many'")
    _refused(tmp_path, ["digits", "reduced_dim=0", *store_args], ValueError, "reduced_dim")
    match = "num_classes=5 but digits has 10 classes"
    _refused(tmp_path, ["digits", "num_classes=5", *store_args], ValueError, match)
    # The command turns these into argparse's error: tests/reproduce/commands.


def test_no_config(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no config given"):
        plan(LaunchOptions(runs_dir=str(tmp_path / "results")))


@pytest.fixture
def digits_checkpoint(tmp_path: Path, tiny: list[str]) -> Path:
    """The last.pt of a 2-epoch tiny digits run."""
    recipe = resolve("digits", parse_overrides([*tiny, "epochs=2"]))
    run_dir = tmp_path / "runs" / "digits"
    job = TrainJob(recipe, run_dir, tmp_path / "results", check_data("digits", None))
    assert job()["status"] == "completed"
    return run_dir / "last.pt"


def test_resume_from_another_variant(
    digits_checkpoint: Path, tmp_path: Path, tiny: list[str], store_args: list[str]
) -> None:
    checkpoint = digits_checkpoint
    other = tmp_path / "other"
    argv = ["digits_mixing_random", *tiny, "--resume", str(checkpoint), "--runs-dir", str(other)]
    with pytest.raises(CheckpointMismatch, match="'mixing': 'random'"):
        _plan(argv)
    # The job checks again itself, before its first epoch.
    recipe = resolve("digits_mixing_random", parse_overrides(tiny))
    run_dir = tmp_path / "other_run"
    spec = check_data("digits", None)
    job = TrainJob(recipe, run_dir, other, spec, resume_from=checkpoint)
    with pytest.raises(CheckpointMismatch):
        job()
    assert not (run_dir / "metrics.jsonl").exists()
    # A file that is not a training checkpoint is refused too.
    torch.save({"weights": torch.zeros(1)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointMismatch, match="not a training checkpoint"):
        _plan(["digits", "--resume", str(tmp_path / "foreign.pt"), *store_args])


def test_slurm_without_sbatch(tmp_path: Path, store_args: list[str], monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no Slurm tools on PATH
    _refused(tmp_path, ["digits", "--executor", "slurm", *store_args], RuntimeError, "sbatch")


def test_run_whose_job_died_silently_is_marked_failed_and_relaunched(
    tmp_path: Path, store_args: list[str]
) -> None:
    # A record left 'running' by a job that was SIGKILLed (no chance to write 'failed').
    dead = subprocess.Popen(["true"])
    dead.wait()
    key = "digits"
    store.write_record(
        tmp_path / "results",
        {"config_key": key, "status": "running", "executor": "local", "job_id": "1",
         "host": {"hostname": store.host()["hostname"], "pid": dead.pid}},
    )  # fmt: skip
    the_plan = _plan(["digits", *store_args])
    assert len(the_plan.to_run) == 1
    record = store.load_record(tmp_path / "results", key)
    assert record["status"] == "failed" and "ended without a result" in record["error"]
