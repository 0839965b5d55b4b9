"""Compiling a model for the fast-path report: one graph per stage, or the whole model."""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.settings import COMPILE_MODES, COMPILE_SCOPES
from models.hierarchical import MixerLayer

__all__ = ["compile_model"]


def compile_model(model: nn.Module, scope: str, mode: str = "default") -> nn.Module:
    """``torch.compile(mode=mode)`` per MixerLayer (``regional``: one graph per stage) or of
    the whole model (``full``)."""
    if mode not in COMPILE_MODES:
        raise ValueError(f"compile mode must be one of {COMPILE_MODES}; got {mode!r}")
    if scope == "full":
        return torch.compile(model, mode=mode)
    if scope == "regional":
        for module in model.modules():
            if isinstance(module, MixerLayer):
                module.compile(mode=mode)
        return model
    raise ValueError(f"compile scope must be one of {COMPILE_SCOPES}; got {scope!r}")
