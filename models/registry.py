"""The model zoo's one entry point: names and construction (weights files: `models.weights`)."""

import difflib
from types import ModuleType
from typing import Any

import timm
from torch import nn

from models import (
    as_mlp,
    botnet,
    convmlp,
    crossformer,
    cyclemlp,
    dynamixer,
    gfnet,
    hire_mlp,
    pvt,
    raftmlp,
    resmlp,
    s2mlpv2,
    smlpnet,
    t2t_vit,
    vip,
)

#: The families, in the order tables list them: the paper's own model, then Table 2's MLPs,
#: then the other families of the paper's comparison (Tables 3 and 9: transformers, a CNN
#: hybrid, GFNet). Each family's names are its module's ``default_cfgs`` keys, in order: the
#: only list of names.
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
    "pvt": pvt,
    "gfnet": gfnet,
    "botnet": botnet,
    "t2t_vit": t2t_vit,
    "crossformer": crossformer,
}


#: The families that are not vision MLPs (the MLP timing table leaves them out).
OTHER_FAMILIES = frozenset({"pvt", "gfnet", "botnet", "t2t_vit", "crossformer"})


def is_mlp(name: str) -> bool:
    """Whether a zoo model is a vision MLP (DynaMixer and Table 2's families)."""
    return family_of(name) not in OTHER_FAMILIES


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


#: How the note on a model's computation begins among its pretrained cfg's notes.
COMPUTATION_NOTE = "computation: "


def computation_note(name: str) -> str:
    """How a zoo model's computation relates to its authors' code, from its pretrained cfg.

    One line, the ``"computation: "`` note without that prefix: the same operations as the
    authors' code, or the route taken instead and the override that selects theirs.
    """
    check_model_name(name)
    notes = timm.models.get_pretrained_cfg(name).notes or ()
    found = [
        note.removeprefix(COMPUTATION_NOTE) for note in notes if note.startswith(COMPUTATION_NOTE)
    ]
    if len(found) != 1:
        raise LookupError(f"{name}: {len(found)} {COMPUTATION_NOTE!r} notes in its cfg; expected 1")
    return found[0]


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
