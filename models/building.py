"""Building a zoo model as timm builds its own: ``build_model_with_cfg`` plus the ``device=`` and
``dtype=`` that ``timm.create_model`` passes to every model class since timm 1.0, and the head
that ``reset_classifier`` builds later, placed where and as the model is."""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from timm.models import build_model_with_cfg
from torch import nn

__all__ = ["build_zoo_model", "place_head"]


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


def place_head(model: nn.Module, head: nn.Module) -> nn.Module:
    """``head``, just built by ``model``'s ``reset_classifier``, on the device and in the dtype of
    the model's parameters and in its train/eval mode.

    A new module starts on the default device, in float32 and in training mode, so a model that
    was moved, cast or put in eval mode would otherwise get a head that fails or differs from the
    rest (timm's test_model_default_cfgs checks all three). Its numbers are those of a head built
    as it is and then cast: the same draw from the default generator as a fresh model's head.
    """
    reference = next(model.parameters(), None)
    if reference is not None:
        head = head.to(device=reference.device, dtype=reference.dtype)
    return head.train(model.training)
