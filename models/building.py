"""Building a zoo model as timm builds its own: ``build_model_with_cfg`` plus the ``device=`` and
``dtype=`` that ``timm.create_model`` passes to every model class since timm 1.0."""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from timm.models import build_model_with_cfg
from torch import nn

__all__ = ["build_zoo_model"]


def build_zoo_model(
    model_cls: type[nn.Module], variant: str, pretrained: bool = False, **kwargs: Any
) -> nn.Module:
    """``build_model_with_cfg`` with ``device`` (the parameters are made there) and ``dtype``
    (floating-point parameters and buffers cast to it) taken off the constructor's kwargs; the
    model says its ``in_chans``, as timm's models do."""
    device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    place = torch.device(device) if device is not None else contextlib.nullcontext()
    with place:
        model = build_model_with_cfg(model_cls, variant, pretrained, **kwargs)
    if not hasattr(model, "in_chans"):
        model.in_chans = int(kwargs.get("in_chans", 3))
    return model.to(dtype=dtype) if dtype is not None else model
