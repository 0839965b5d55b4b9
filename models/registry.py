"""The model zoo's one entry point: names, construction, and checkpoint loading."""

from __future__ import annotations

import difflib
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

from models import dynamixer, resmlp, vip

# Every public name, by family, in the order tables list them.
_FAMILIES = {
    "dynamixer": ("dynamixer_s", "dynamixer_m", "dynamixer_l", "dynamixer_digits"),
    "vip": ("vip_s14", "vip_s7", "vip_m7", "vip_l7"),
    "resmlp": ("resmlp_s12", "resmlp_s24", "resmlp_b24"),
}
_MODULES = {"dynamixer": dynamixer, "vip": vip, "resmlp": resmlp}


def list_models(family: str | None = None) -> list[str]:
    """Names ``create_model`` accepts, optionally of one family (dynamixer, vip, resmlp)."""
    if family is None:
        return [name for names in _FAMILIES.values() for name in names]
    if family not in _FAMILIES:
        raise ValueError(f"unknown family {family!r}; accepted: {sorted(_FAMILIES)}")
    return list(_FAMILIES[family])


def check_model_name(name: str) -> str:
    """Return ``name`` if the zoo has it, else raise a ValueError listing the known names."""
    known = list_models()
    if name in known:
        return name
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown model {name!r}.{hint} Known models: {', '.join(known)}")


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build a zoo model by name; ``overrides`` are ablations or timm kwargs (num_classes, ...)."""
    check_model_name(name)
    if "segment_dim" in overrides and overrides["segment_dim"] is None:
        overrides["segment_dim"] = dynamixer.ONE_SEGMENT  # timm drops None-valued kwargs
    return timm.create_model(name, **overrides)


def _unwrap_state_dict(checkpoint: Any) -> Mapping[str, torch.Tensor]:
    """Accept a raw state dict, ``{'state_dict': ...}`` or ``{'model': ...}``; strip ``module.``."""
    if isinstance(checkpoint, Mapping):
        for key in ("state_dict", "model"):
            if key in checkpoint and isinstance(checkpoint[key], Mapping):
                checkpoint = checkpoint[key]
                break
    if not isinstance(checkpoint, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in checkpoint.values()
    ):
        raise ValueError(
            "checkpoint is not a state dict: expected a mapping of names to tensors, "
            + "optionally under 'state_dict' or 'model'"
        )
    return OrderedDict(
        (k[len("module.") :] if k.startswith("module.") else k, v) for k, v in checkpoint.items()
    )


def load_checkpoint(model: nn.Module, path: str | Path) -> nn.Module:
    """Load weights strictly; on a mismatch raise listing missing, unexpected, mis-shaped keys."""
    checkpoint = torch.load(Path(path), map_location="cpu", weights_only=True)
    state_dict = _unwrap_state_dict(checkpoint)
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    mismatched = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state_dict))
        if state_dict[k].shape != own[k].shape
    ]
    if missing or unexpected or mismatched:
        raise ValueError(
            f"checkpoint {path} does not fit {type(model).__name__}:\n"
            + f"  missing keys ({len(missing)}): {missing}\n"
            + f"  unexpected keys ({len(unexpected)}): {unexpected}\n"
            + f"  shape mismatches ({len(mismatched)}): {mismatched}"
        )
    model.load_state_dict(state_dict, strict=True)
    return model


def family_module(name: str) -> Any:
    """The module that defines a zoo name (its ``default_cfgs`` and configuration data)."""
    check_model_name(name)
    return next(_MODULES[f] for f, names in _FAMILIES.items() if name in names)
