from __future__ import annotations

import functools

import torch

import models
from benchmarks.counting import skip_meta_init


@functools.cache
def built(name: str) -> torch.nn.Module:
    """One seeded, eval-mode instance per model name, shared by read-only tests."""
    torch.manual_seed(0)
    return models.create_model(name).eval()


@functools.cache
def built_on_meta(name: str, **overrides: object) -> torch.nn.Module:
    """One eval-mode instance per name and overrides on the meta device (shapes only, no
    numbers: cheap for every name), shared by read-only tests."""
    with skip_meta_init(), torch.device("meta"):
        return models.create_model(name, **overrides).eval()


@functools.cache
def representatives() -> tuple[str, ...]:
    """Each family's smallest model (fewest parameters): the one the tests run real numbers on,
    so adding a family adds one model's worth of time."""

    def size(name: str) -> int:
        return sum(p.numel() for p in built_on_meta(name).parameters())

    return tuple(min(models.list_models(f), key=size) for f in models.registry.FAMILIES)


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


def fill_deterministic(
    model: torch.nn.Module, seed: int = 0, scale: float = 0.02
) -> torch.nn.Module:
    """Give every parameter and norm statistic values that depend only on its name and shape.

    Used to hold a model's computation to figures recorded once from its authors' code (CI
    cannot reach that code): the same names and shapes get the same values on both sides.
    Parameters are N(0, scale), 1-D weights (norms, scales) and running variances
    1 + |N(0, scale)|, running means N(0, scale); every other buffer (shift offsets, indices,
    step counters) is left as the model built it.
    """
    state = model.state_dict()
    parameters = {name for name, _ in model.named_parameters()}
    for index, name in enumerate(sorted(state)):
        tensor = state[name]
        leaf = name.rsplit(".", 1)[-1]
        if name not in parameters and leaf not in ("running_mean", "running_var"):
            continue
        generator = torch.Generator().manual_seed(seed * 100_003 + index)
        values = torch.randn(tensor.shape, generator=generator, dtype=torch.float64) * scale
        if leaf == "running_var" or (leaf == "weight" and tensor.dim() == 1):
            values = 1 + values.abs()
        with torch.no_grad():
            tensor.copy_(values.to(tensor.dtype))
    return model


def state_digest(model: torch.nn.Module) -> str:
    """SHA-256 of the state dict's (name, shape) list in order: the layout a checkpoint needs."""
    import hashlib

    text = "\n".join(f"{k} {tuple(v.shape)}" for k, v in model.state_dict().items())
    return hashlib.sha256(text.encode()).hexdigest()
