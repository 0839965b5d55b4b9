"""Weights files as people publish them: read once, choose EMA or plain weights, load strictly.

The zoo's one place for checkpoints (as timm's ``_helpers.py`` is for timm). A released file is
a plain state dict (``.pth`` or ``.safetensors``, timm's hub files) or a training checkpoint
with the weights under ``state_dict`` / ``state_dict_ema`` (timm's ``train.py``, the DynaMixer
and ViP code bases) or ``model`` / ``model_ema`` (DeiT's, and this suite's), sometimes with
DDP's ``module.`` prefix and the run's ``argparse.Namespace`` beside them.
`read_weights_file` reads any of them once, without running pickled code, and keeps the file's
SHA-256 and size; `choose_weights` takes EMA weights where there are both (the weights the
authors' loaders read: the one default everywhere); `fit_problems` says in one line what keeps
a state dict from loading strictly; `load_checkpoint` does all three.
"""

from __future__ import annotations

import argparse
import hashlib
import io
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "EMA_KEYS",
    "WEIGHT_KEYS",
    "ChosenWeights",
    "WeightsFile",
    "choose_weights",
    "fit_problems",
    "load_checkpoint",
    "load_strictly",
    "read_weights_file",
    "sha256_of",
]

#: Where training checkpoints keep the weights: EMA weights (preferred: the authors' loaders
#: read them when present), then the plain ones.
EMA_KEYS = ("state_dict_ema", "model_ema")
WEIGHT_KEYS = ("state_dict", "model")

# What a published training checkpoint holds besides tensors and plain data, all of it inert:
# the run's arguments and numpy scalars (a metric saved as np.float64).
# numpy 2 moved numpy.core to numpy._core: files saved under numpy 1 name the old path.
_NUMPY_SCALAR = np._core.multiarray.scalar  # type: ignore[attr-defined]
_CHECKPOINT_GLOBALS: list[Any] = [
    argparse.Namespace,
    np.dtype,
    _NUMPY_SCALAR,
    (_NUMPY_SCALAR, "numpy.core.multiarray.scalar"),
    *(type(np.dtype(kind)) for kind in ("float64", "float32", "int64", "int32", "bool")),
]
_SHOWN = 6  # keys named per kind of problem in a one-line error


def sha256_of(path: str | Path) -> str:
    """A file's SHA-256, hex (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class WeightsFile:
    """A checkpoint file read once: what it holds, and the SHA-256 and size of its bytes."""

    path: Path
    content: Any
    sha256: str
    size_bytes: int


def read_weights_file(path: str | Path) -> WeightsFile:
    """Read a checkpoint file once (``weights_only``: no pickled code runs).

    ``.safetensors`` through safetensors; anything else through ``torch.load``, allowing the
    argparse Namespace and numpy scalars that training checkpoints carry. Raises
    FileNotFoundError for a missing file and ValueError, naming the file and the cause, for one
    that is not a checkpoint (corrupt, truncated, another format).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"checkpoint {path} {what}")
    data = path.read_bytes()
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load

            content: Any = load(data)
        else:
            with torch.serialization.safe_globals(_CHECKPOINT_GLOBALS):
                content = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # torch, zipfile and safetensors each raise their own types
        raise _unreadable(path, error) from error
    return WeightsFile(path, content, hashlib.sha256(data).hexdigest(), len(data))


def _unreadable(path: Path, error: Exception) -> ValueError:
    """The one-line error for a file torch or safetensors could not read, and why."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    unsupported = next((line for line in lines if "Unsupported global" in line), None)
    if unsupported is not None:
        unsupported = unsupported[unsupported.index("Unsupported global") :].split(" was not")[0]
        return ValueError(
            f"checkpoint {path} holds Python objects torch will not load without running their "
            + f"code ({unsupported}); if you trust it, save its state dict alone and pass that"
        )
    detail = next((line for line in lines if line.startswith("Unsupported")), None)
    detail = detail or (lines[0].split(". ")[0] if lines else "no detail")
    return ValueError(
        f"checkpoint {path} cannot be read as a PyTorch or safetensors file (corrupt, truncated "
        + f"or another format): {type(error).__name__}: {detail[:160]}"
    )


@dataclass(frozen=True)
class ChosenWeights:
    """The state dict taken from a checkpoint, and which of its weights it is.

    ``key`` is where it was found (``state_dict_ema``, ``model``, ... or ``raw`` for a plain
    state dict); ``ema`` is True for EMA weights, False for plain weights of a checkpoint that
    names them, None where a plain state dict does not say.
    """

    state_dict: Mapping[str, torch.Tensor]
    key: str
    ema: bool | None
    has_ema: bool

    @property
    def description(self) -> str:
        """``EMA weights (state_dict_ema)``, ``plain weights (model; ...)``, as records say."""
        if self.ema:
            return f"EMA weights ({self.key})"
        if self.ema is None:
            return "the file's only weights (a plain state dict; EMA or not is not recorded)"
        also = "the checkpoint also has EMA weights" if self.has_ema else "it has no EMA weights"
        return f"plain weights ({self.key}; {also})"


def choose_weights(checkpoint: Any, prefer_ema: bool = True) -> ChosenWeights:
    """The weights to use from a checkpoint's content: EMA ones where it has both and
    ``prefer_ema``; DDP's ``module.`` prefix stripped.

    Raises ValueError when it holds no state dict.
    """
    source, has_ema = "raw", False
    if isinstance(checkpoint, Mapping):
        has_ema = any(isinstance(checkpoint.get(key), Mapping) for key in EMA_KEYS)
        for key in (*EMA_KEYS, *WEIGHT_KEYS) if prefer_ema else WEIGHT_KEYS:
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
    ema = None if source == "raw" else source in EMA_KEYS
    return ChosenWeights(state_dict, source, ema, has_ema)


def _listed(kind: str, names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN]) + (
        f", ... ({len(names) - _SHOWN} more)" if len(names) > _SHOWN else ""
    )
    return f"{len(names)} {kind} [{shown}]"


def fit_problems(
    model: nn.Module, state_dict: Mapping[str, torch.Tensor], skip_prefix: str | None = None
) -> str | None:
    """What keeps ``state_dict`` from loading strictly into ``model``, in one line, or None.

    Lists missing, unexpected and mis-shaped keys (the first few of each); keys starting with
    ``skip_prefix`` (a classifier to be re-initialised) are not checked.
    """
    own = model.state_dict()

    def kept(names: set[str]) -> list[str]:
        return sorted(n for n in names if skip_prefix is None or not n.startswith(skip_prefix))

    missing = kept(set(own) - set(state_dict))
    unexpected = kept(set(state_dict) - set(own))
    mismatched = [
        f"{name}: checkpoint {tuple(state_dict[name].shape)} vs model {tuple(own[name].shape)}"
        for name in kept(set(own) & set(state_dict))
        if state_dict[name].shape != own[name].shape
    ]
    if not (missing or unexpected or mismatched):
        return None
    parts = [
        _listed(kind, names)
        for kind, names in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("mis-shaped keys", mismatched),
        )
        if names
    ]
    return "; ".join(parts)


def load_strictly(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    source: str,
    model_name: str | None = None,
) -> None:
    """Load every weight of ``model`` from ``state_dict``, or raise one ValueError naming
    ``source`` and the model and listing what does not fit (`fit_problems`)."""
    problems = fit_problems(model, state_dict)
    if problems:
        name = model_name or type(model).__name__
        raise ValueError(f"{source} does not fit {name}: {problems}")
    model.load_state_dict(state_dict, strict=True)


def load_checkpoint(model: nn.Module, path: str | Path, prefer_ema: bool = True) -> nn.Module:
    """Read a checkpoint file of any published shape and load it strictly into ``model``."""
    chosen = choose_weights(read_weights_file(path).content, prefer_ema=prefer_ema)
    load_strictly(model, chosen.state_dict, f"checkpoint {path}")
    return model
