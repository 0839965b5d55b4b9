"""Training checkpoints and initial weights: init_from reads EMA weights and the record says so."""

from __future__ import annotations

from pathlib import Path

import torch

from models.weights import sha256_of
from reproduce.training.data import check_data
from reproduce.training.distributed import ProcessPlacement
from reproduce.training.job import TrainJob
from reproduce.training.loop import start_training
from reproduce.training.overrides import parse_overrides, resolve
from tests.models.test_weights import EMA, FORMATS


def test_init_from_reads_ema_weights_and_the_record_says_so(tmp_path: Path, tiny: list[str]):
    checkpoint = tmp_path / "released.pth"
    torch.save(FORMATS["authors' training checkpoint (timm train.py)"][0], checkpoint)
    recipe = resolve("digits", parse_overrides([*tiny, "epochs=1", f"init_from={checkpoint}"]))
    spec = check_data("digits", None)
    training, *_ = start_training(
        recipe,
        spec,
        ProcessPlacement(),
        requested_device="cpu",
        run_dir=tmp_path / "probe",
        init_checkpoint=str(checkpoint),
    )
    started = training.model.state_dict()
    assert all(torch.equal(started[k], EMA[k]) for k in EMA), "did not start from EMA weights"
    job = TrainJob(recipe, tmp_path / "run", tmp_path / "results", spec, init_checkpoint=checkpoint)
    record = job()
    assert record["initial_weights"] == {
        "path": str(checkpoint),
        "sha256": sha256_of(checkpoint),
        "weights": "EMA weights (state_dict_ema)",
        "ema": True,
        "head": "loaded from the checkpoint",
    }
