"""Published weights files: every shape they come in is read without running pickled code, EMA
weights are preferred where there are both, and a corrupt file is one clear error (a run
started from one: tests/reproduce/training/test_checkpoints.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import models
from models.weights import choose_weights, fit_problems, read_weights_file


def _weights(seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return models.create_model("dynamixer_digits").state_dict()


PLAIN, EMA = _weights(1), _weights(2)


def _module(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"module.{k}": v for k, v in state.items()}


# Each format: what the file holds, and (weights expected, key they come from, EMA or not).
FORMATS = {
    "plain state dict": (PLAIN, (PLAIN, "raw", None)),
    "DDP module. prefix": (_module(PLAIN), (PLAIN, "raw", None)),
    "authors' training checkpoint (timm train.py)": (
        {
            "epoch": 299,
            "arch": "dynamixer_digits",
            "state_dict": _module(PLAIN),
            "state_dict_ema": EMA,
            "optimizer": {"state": {}, "param_groups": []},
            "args": argparse.Namespace(model="dynamixer_digits", lr=2e-3),
            "version": 2,
            "metric": np.float64(82.7),
        },
        (EMA, "state_dict_ema", True),
    ),
    "training checkpoint without EMA": (
        {"epoch": 3, "state_dict": PLAIN, "args": argparse.Namespace(lr=1.0)},
        (PLAIN, "state_dict", False),
    ),
    "DeiT-style model / model_ema": ({"model": PLAIN, "model_ema": EMA}, (EMA, "model_ema", True)),
    "this suite's checkpoint, no EMA": (
        {"format": 1, "model": PLAIN, "model_ema": None},
        (PLAIN, "model", False),
    ),
}


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_checkpoint_format_gives_the_intended_weights(name: str, tmp_path: Path) -> None:
    content, (expected, key, ema) = FORMATS[name]
    path = tmp_path / "weights.pth"
    torch.save(content, path)
    chosen = choose_weights(read_weights_file(path).content)
    assert (chosen.key, chosen.ema) == (key, ema)
    assert chosen.state_dict.keys() == expected.keys()
    assert all(torch.equal(chosen.state_dict[k], expected[k]) for k in expected)
    model = models.create_model("dynamixer_digits")
    assert fit_problems(model, chosen.state_dict) is None


def test_safetensors_and_plain_weights_when_asked(tmp_path: Path) -> None:
    save_file(PLAIN, str(tmp_path / "model.safetensors"))  # timm's hub files
    chosen = choose_weights(read_weights_file(tmp_path / "model.safetensors").content)
    assert chosen.key == "raw" and all(torch.equal(chosen.state_dict[k], PLAIN[k]) for k in PLAIN)
    both = {"state_dict": PLAIN, "state_dict_ema": EMA}
    plain = choose_weights(both, prefer_ema=False)
    assert plain.key == "state_dict" and plain.has_ema
    assert plain.description == "plain weights (state_dict; the checkpoint also has EMA weights)"
    assert choose_weights(both).description == "EMA weights (state_dict_ema)"


def test_corrupt_or_foreign_files_are_one_clear_error(tmp_path: Path) -> None:
    torch.save({"state_dict": PLAIN}, tmp_path / "good.pth")
    (tmp_path / "truncated.pth").write_bytes((tmp_path / "good.pth").read_bytes()[:4000])
    (tmp_path / "text.pth").write_text("not a checkpoint")
    for name in ("truncated.pth", "text.pth"):
        with pytest.raises(ValueError, match=f"{name} cannot be read as a PyTorch"):
            read_weights_file(tmp_path / name)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_weights_file(tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="checkpoint is not a state dict"):
        choose_weights({"epoch": 3, "weights": [1, 2]})
    other = models.create_model("dynamixer_digits", num_classes=7, mixing="dense")
    problems = fit_problems(other, PLAIN)
    assert problems is not None and "mis-shaped keys" in problems
    assert "head.weight: checkpoint (10, 64) vs model (7, 64)" in problems
