"""A run folder's training checkpoints and metrics history: writing, reading, resume checks.

``last.pt`` / ``best.pt`` hold the model, EMA, optimizer, AMP scaler, scheduler, every rank's
RNG states and the epoch, written atomically at the end of every epoch. A checkpoint names the
model variant it was written for (`model_identity`), so a run never resumes from another
variant's weights. ``metrics.jsonl`` holds one JSON line per epoch. Every file is read by
`models.weights`; this module reads and
writes whole training states.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from common.files import write_atomic
from models.weights import choose_weights, fit_problems, read_weights_file
from reproduce.training import store
from reproduce.training.recipe import MODEL_KEYS, Recipe
from reproduce.training.recipes import RECIPES, model_arguments

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointMismatch",
    "check_resume",
    "load_initial_weights",
    "model_identity",
    "read_training_checkpoint",
    "resolve_init",
    "rng_state",
    "save_training_checkpoint",
    "set_rng_state",
    "trim_metrics",
]

CHECKPOINT_FORMAT = 1


class CheckpointMismatch(ValueError):
    """A checkpoint was written for another model or variant than the one being trained."""


def read_training_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a training checkpoint (tensors and plain data only: `models.weights`)."""
    return read_weights_file(path).content


def save_training_checkpoint(path: Path, checkpoint: dict[str, Any]) -> None:
    """Write ``checkpoint`` to ``path`` atomically (a preempted save leaves the old file)."""
    write_atomic(path, lambda tmp: torch.save(checkpoint, tmp))


def model_identity(recipe: Recipe) -> dict[str, Any]:
    """The model variant a checkpoint holds: the model name and its model overrides."""
    arguments = model_arguments(recipe)
    overrides = {key: value for key, value in arguments.items() if key in MODEL_KEYS}
    return {"model": recipe.model, "overrides": overrides}


def check_resume(checkpoint: dict[str, Any], recipe: Recipe, source: str | Path) -> None:
    """Raise CheckpointMismatch unless ``checkpoint`` was written for ``recipe``'s model variant."""
    if checkpoint.get("format") != CHECKPOINT_FORMAT or "model_identity" not in checkpoint:
        raise CheckpointMismatch(
            f"{source} is not a training checkpoint of this suite (no 'model_identity'); "
            + "use init_from=PATH to start from foreign weights"
        )
    theirs, ours = checkpoint["model_identity"], model_identity(recipe)
    if theirs != ours:
        raise CheckpointMismatch(
            f"cannot resume from {source}: it was written for model {theirs['model']!r} with "
            + f"overrides {theirs['overrides']}, but config {recipe.name!r} trains "
            + f"{ours['model']!r} with overrides {ours['overrides']}"
        )


def resolve_init(recipe: Recipe, runs_dir: str | Path) -> Path | None:
    """The checkpoint a fine-tuning recipe starts from: a config's best checkpoint, or a path."""
    if recipe.init_from is None:
        return None
    if recipe.init_from in RECIPES:
        record = store.load_record(runs_dir, recipe.init_from)
        if record is None or record.get("status") != "completed":
            raise FileNotFoundError(
                f"{recipe.name} starts from config {recipe.init_from!r}, which has no completed "
                + f"run in {runs_dir}; train it first or pass init_from=PATH"
            )
        path = store.path_from_record(record.get("best_checkpoint") or record["checkpoint"])
    else:
        path = Path(recipe.init_from).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{recipe.name}: init_from checkpoint {path} does not exist")
    return path.resolve()


def load_initial_weights(model: nn.Module, path: Path, use_ema: bool) -> dict[str, Any]:
    """Start from pretrained weights (EMA ones when asked and present), and say which.

    Reads any published checkpoint shape (`models.weights`). Every weight but the
    classifier's must fit, so a checkpoint of another model is refused; a classifier of another
    size is re-initialised. Returns what the run's record keeps: the file, its SHA-256, which
    weights were taken and what became of the head.
    """
    weights_file = read_weights_file(path)
    chosen = choose_weights(weights_file.content, prefer_ema=use_ema)
    head = model.pretrained_cfg.get("classifier", "head") + "."
    problems = fit_problems(model, chosen.state_dict, skip_prefix=head)
    if problems:
        raise ValueError(f"init checkpoint {path} does not fit the model: {problems}")
    own = model.state_dict()
    keep = {k: v for k, v in chosen.state_dict.items() if k in own and own[k].shape == v.shape}
    head_kept = all(k in keep for k in own if k.startswith(head))
    model.load_state_dict(keep, strict=False)
    return {
        "path": store.path_for_record(path),
        "sha256": weights_file.sha256,
        "weights": chosen.description,
        "ema": chosen.ema,
        "head": "loaded from the checkpoint" if head_kept else "re-initialised (another size)",
    }


def rng_state() -> dict[str, Any]:
    """This process's torch, numpy, Python (and CUDA) RNG states, as checkpointable data."""
    _, keys, position, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` saved, so a resumed run draws the numbers it would have."""
    torch.set_rng_state(state["torch"])
    numpy = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            numpy["keys"].numpy().astype(np.uint32),
            numpy["pos"],
            numpy["has_gauss"],
            numpy["cached_gaussian"],
        )
    )
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def trim_metrics(path: Path, start_epoch: int) -> None:
    """Drop metric lines of epochs that will be trained again (after a preemption)."""
    if not path.exists():
        return
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = [line for line in lines if json.loads(line)["epoch"] < start_epoch]
    if len(kept) != len(lines):
        write_atomic(path, lambda tmp: tmp.write_text("".join(k + "\n" for k in kept)))
