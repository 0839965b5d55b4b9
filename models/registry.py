"""The model zoo's one entry point: names, construction, and checkpoint loading."""

import difflib
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import timm
import torch
from torch import nn

from models import (
    as_mlp,
    convmlp,
    crossformer,
    cyclemlp,
    dynamixer,
    hire_mlp,
    raftmlp,
    resmlp,
    s2mlpv2,
    smlpnet,
    vip,
)

#: The families, in the order tables list them: the paper's own model, then Table 2's order.
#: Each family's names are its module's ``default_cfgs`` keys, in order: the only list of names.
FAMILIES: dict[str, ModuleType] = {
    "dynamixer": dynamixer,
    "resmlp": resmlp,
    "vip": vip,
    "as_mlp": as_mlp,
    "s2mlpv2": s2mlpv2,
    "raftmlp": raftmlp,
    "smlpnet": smlpnet,
    "convmlp": convmlp,
    "cyclemlp": cyclemlp,
    "hire_mlp": hire_mlp,
    "crossformer": crossformer,
}


def _family_names(module: ModuleType) -> list[str]:
    return [name.split(".")[0] for name in module.default_cfgs]


def list_models(family: str | None = None) -> list[str]:
    """Names ``create_model`` accepts, optionally of one family (see :data:`FAMILIES`)."""
    if family is None:
        return [name for module in FAMILIES.values() for name in _family_names(module)]
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; accepted: {list(FAMILIES)}")
    return _family_names(FAMILIES[family])


def family_of(name: str) -> str:
    """The family a zoo name belongs to (a key of :data:`FAMILIES`)."""
    check_model_name(name)
    return next(f for f, module in FAMILIES.items() if name in _family_names(module))


def is_reconstruction(name: str) -> bool:
    """Whether a zoo model is a reconstruction (no official code): its pretrained cfg says so."""
    check_model_name(name)
    notes = timm.models.get_pretrained_cfg(name).notes or ()
    return any(note.startswith("reconstruction") for note in notes)


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


#: Where training checkpoints keep the weights, in order of preference: EMA weights first (the
#: authors' loaders read them when present), then the plain ones.
EMA_KEYS = ("state_dict_ema", "model_ema")
WEIGHT_KEYS = ("state_dict", "model")


def unwrap_state_dict(
    checkpoint: Any, prefer_ema: bool = False
) -> tuple[Mapping[str, torch.Tensor], str]:
    """The state dict inside a checkpoint, and where it was found.

    Accepts a raw state dict, or one under ``state_dict_ema`` / ``model_ema`` (EMA weights,
    taken when ``prefer_ema``), ``state_dict`` or ``model`` (timm's, DeiT's and the authors'
    training checkpoints); strips DDP's ``module.`` prefix. The second value names the key the
    weights came from, or "raw".
    """
    source = "raw"
    if isinstance(checkpoint, Mapping):
        keys = (*EMA_KEYS, *WEIGHT_KEYS) if prefer_ema else WEIGHT_KEYS
        for key in keys:
            if isinstance(checkpoint.get(key), Mapping):
                checkpoint, source = checkpoint[key], key
                break
    if not isinstance(checkpoint, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in checkpoint.values()
    ):
        raise ValueError(
            "checkpoint is not a state dict: expected a mapping of names to tensors, "
            + f"optionally under one of {[*EMA_KEYS, *WEIGHT_KEYS]}"
        )
    state_dict = OrderedDict(
        (k[len("module.") :] if k.startswith("module.") else k, v) for k, v in checkpoint.items()
    )
    return state_dict, source


def load_checkpoint(model: nn.Module, path: str | Path) -> nn.Module:
    """Load weights strictly; on a mismatch raise listing missing, unexpected, mis-shaped keys."""
    checkpoint = torch.load(Path(path), map_location="cpu", weights_only=True)
    state_dict, _ = unwrap_state_dict(checkpoint)
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
