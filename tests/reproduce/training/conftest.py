"""Shared by the training tests: one process, and a fixed batch of digits."""

from __future__ import annotations

import torch

from reproduce.training.data import DigitsDataset
from reproduce.training.distributed import ProcessPlacement

ONE = ProcessPlacement()


def digits_batch(size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` normalised digits images and labels: a fixed batch, no augmentation."""
    data = DigitsDataset(train=True)
    return (data.images[:size] - 0.5) / 0.5, data.targets[:size]
