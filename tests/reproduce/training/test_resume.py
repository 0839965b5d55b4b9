"""A run interrupted after epoch 1 of 3 and resumed ends with exactly the uninterrupted weights."""

from __future__ import annotations

import json
from pathlib import Path

import cloudpickle
import torch

from reproduce.training.checkpoints import read_training_checkpoint
from reproduce.training.data import check_data
from reproduce.training.job import TrainJob
from reproduce.training.overrides import parse_overrides, resolve

# Mixup/CutMix (numpy RNG), random crops (torch RNG) and EMA all take part, so every RNG
# stream and every piece of state has to survive the interruption.
SETTINGS = ["epochs=3", "mixup=0.8", "cutmix=1.0", "warmup_epochs=1", "deterministic=True"]


def _job(tmp_path: Path, tiny: list[str], name: str, **kwargs) -> TrainJob:
    recipe = resolve("digits", parse_overrides([*tiny, *SETTINGS]))
    return TrainJob(
        recipe, tmp_path / name / "run", tmp_path / name / "results", check_data("digits", None),
        **kwargs,
    )  # fmt: skip


def _tensors(value, prefix: str = ""):
    """Every tensor in a nested checkpoint structure, with its path."""
    if isinstance(value, torch.Tensor):
        yield prefix, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _tensors(item, f"{prefix}/{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _tensors(item, f"{prefix}/{index}")


def test_resumed_run_matches_uninterrupted_run_exactly(tmp_path: Path, tiny: list[str]) -> None:
    interrupted = _job(tmp_path, tiny, "interrupted", interrupt_at_epoch=1)
    first = interrupted()
    assert first["status"] == "interrupted" and first["epochs"] == 1
    assert read_training_checkpoint(tmp_path / "interrupted/run/last.pt")["epoch"] == 1

    # What submitit does on USR2: call checkpoint(), pickle the result, run it in a new process.
    delayed = cloudpickle.loads(cloudpickle.dumps(interrupted.checkpoint()))
    resumed = delayed.result()
    assert resumed["status"] == "completed" and resumed["epochs"] == 3

    reference = _job(tmp_path, tiny, "reference")()
    assert reference["status"] == "completed"

    ours = read_training_checkpoint(tmp_path / "interrupted/run/last.pt")
    theirs = read_training_checkpoint(tmp_path / "reference/run/last.pt")
    assert ours["epoch"] == theirs["epoch"] == 3
    assert ours["num_updates"] == theirs["num_updates"]
    pairs = dict(_tensors(theirs))
    compared = 0
    for name, tensor in _tensors(ours):
        assert name in pairs, f"{name} missing from the uninterrupted checkpoint"
        assert torch.equal(tensor, pairs[name]), f"{name} differs after resume"
        compared += 1
    assert compared == len(pairs)
    assert any(name.startswith("/model/") for name in pairs)
    assert any(name.startswith("/model_ema/") for name in pairs)
    assert any(name.startswith("/optimizer/state/") for name in pairs)

    # The metrics history is whole (no duplicated or missing epoch) and identical.
    def history(name: str) -> list[dict]:
        lines = (tmp_path / name / "run/metrics.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(x).items() if "time" not in k and "per_s" not in k}
                for x in lines]  # fmt: skip

    assert [h["epoch"] for h in history("interrupted")] == [0, 1, 2]
    assert history("interrupted") == history("reference")
    assert resumed["top1"] == reference["top1"]
