from __future__ import annotations

import functools

import torch

import models


@functools.cache
def built(name: str) -> torch.nn.Module:
    """One seeded, eval-mode instance per model name, shared by read-only tests."""
    torch.manual_seed(0)
    return models.create_model(name).eval()


def input_for(model: torch.nn.Module, batch: int = 1) -> torch.Tensor:
    _, height, width = model.pretrained_cfg["input_size"]
    return torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(1))


# Every single ablation switch, at values the small digits model accepts.
ABLATIONS = [
    {"segment_dim": None},
    {"segment_dim": 16},
    {"mixing": "random"},
    {"mixing": "dense"},
    {"reduced_dim": 1},
    {"row_mixing": False},
    {"column_mixing": False},
    {"channel_mixing": False},
    {"reweight": False},
    {"share_row_column": True},
]
