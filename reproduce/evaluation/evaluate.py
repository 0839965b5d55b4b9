"""Evaluating a checkpoint on an image folder: every input checked first, then one record.

`prepare` checks everything an evaluation needs before any image is read: the model name and
its overrides, the image folder (`reproduce.evaluation.image_folders`), the checkpoint (any
published shape, `models.weights`; EMA weights preferred) fitting the model
strictly, and the transform. `run` evaluates with the training loop's own `evaluate` and writes
an ``evaluation`` record into the results store: model, overrides, checkpoint file and SHA-256,
which weights, the user's label for where they come from, the folder's class and image counts,
the transform, device, dtype, top-1/top-5, versions and date.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import PIL
import timm
import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader

import models
from common.precision import AMP_DTYPES
from models.weights import (
    ChosenWeights,
    WeightsFile,
    choose_weights,
    load_strictly,
    read_weights_file,
)
from reproduce.evaluation.image_folders import (
    EVALUATION_IMAGES,
    TRANSFORM_KEYS,
    FolderSummary,
    check_image_folder,
    evaluation_transform,
    open_image_folder,
)
from reproduce.training import store
from reproduce.training.checkpoints import CHECKPOINT_FORMAT
from reproduce.training.data import NUM_CLASSES
from reproduce.training.distributed import ProcessPlacement, choose_device, describe_device
from reproduce.training.loop import evaluate
from reproduce.training.recipe import MODEL_KEYS

__all__ = [
    "MODEL_OVERRIDE_KEYS",
    "PRECISIONS",
    "EvaluationRequest",
    "PreparedEvaluation",
    "prepare",
    "run",
]

#: Model keyword overrides an evaluation accepts: the recipes' ablations, head size, input size.
MODEL_OVERRIDE_KEYS: Final = (*MODEL_KEYS, "img_size")
#: ``--amp`` choices: autocast dtypes (fp32 without), as every timing command has them.
PRECISIONS: Final[Mapping[str, torch.dtype]] = AMP_DTYPES


@dataclass(frozen=True)
class EvaluationRequest:
    """What ``python -m reproduce evaluate`` was asked, one field per option."""

    model: str
    checkpoint: str
    data: str
    weights_source: str
    dataset: str | None = None  # None: ImageNet for a 1000-class model, else the folder itself
    split: str = "val"
    overrides: Mapping[str, Any] = field(default_factory=dict)
    batch_size: int = 64
    device: str = "auto"
    amp: str | None = None
    prefer_ema: bool = True
    workers: int = 4
    runs_dir: str | None = None


@dataclass
class PreparedEvaluation:
    """A checked evaluation: the model with its weights loaded, the folder, the transform."""

    request: EvaluationRequest
    dataset: str  # a key of EVALUATION_IMAGES, or FOLDER_DATASET_PREFIX + the folder's name
    model: nn.Module
    model_source: str  # "zoo" or "timm"
    model_overrides: dict[str, Any]
    transform_overrides: dict[str, Any]
    folder: FolderSummary
    weights: ChosenWeights
    checkpoint_sha256: str
    checkpoint_bytes: int
    trained_here: str | None  # the config key, for a training checkpoint of this suite
    transform: Any
    transform_settings: dict[str, Any]

    @property
    def key(self) -> str:
        """The record's key: model, dataset, split and checkpoint, plus a hash of any change."""
        request = self.request
        key = (
            f"eval_{request.model}_{self.dataset.replace(':', '-')}_{request.split}_"
            + self.checkpoint_sha256[:12]
        )
        varied = {
            "overrides": self.model_overrides,
            "transform": self.transform_overrides,
            "prefer_ema": request.prefer_ema,
        }
        if self.model_overrides or self.transform_overrides or not request.prefer_ema:
            text = json.dumps(varied, sort_keys=True, default=str)
            key += "+" + hashlib.sha256(text.encode()).hexdigest()[:8]
        return key


def _split_overrides(overrides: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``key=value`` overrides -> (model overrides, transform overrides); unknown keys refused."""
    unknown = sorted(set(overrides) - {*MODEL_OVERRIDE_KEYS, *TRANSFORM_KEYS})
    if unknown:
        accepted = ", ".join([*MODEL_OVERRIDE_KEYS, *TRANSFORM_KEYS])
        raise ValueError(f"unknown key(s) {unknown}; accepted: {accepted}")
    model = {k: v for k, v in overrides.items() if k in MODEL_OVERRIDE_KEYS}
    transform = {k: v for k, v in overrides.items() if k in TRANSFORM_KEYS}
    return model, transform


def _build_model(name: str, overrides: Mapping[str, Any]) -> tuple[nn.Module, str]:
    """A zoo model, or a timm one (Mixer, gMLP, ...), without pretrained weights."""
    if name in models.list_models():
        source, build = "zoo", models.create_model
    elif timm.is_model(name):
        source, build = "timm", timm.create_model
    else:
        try:
            models.check_model_name(name)
        except ValueError as error:  # the zoo's names and the closest one
            raise ValueError(f"{error}; or any timm model name (mixer_b16_224, ...)") from None
    try:
        return build(name, **overrides), source
    except (TypeError, ValueError) as error:
        raise ValueError(f"model {name!r} rejects overrides {dict(overrides)}: {error}") from error


def _num_classes(model: nn.Module) -> int:
    classes = getattr(model, "num_classes", None)
    return int(classes if classes is not None else model.get_classifier().out_features)


#: How a record names an image folder that is none of the named datasets.
FOLDER_DATASET_PREFIX: Final = "folder:"


def _dataset_for(request: EvaluationRequest, classes: int) -> str:
    """The dataset the record names: the one asked for (its class count must be the model's),
    else ImageNet for a 1000-class model, else the image folder itself (``folder:<name>``,
    whose class folders must then number the model's classes)."""
    if request.dataset is None:
        if classes == NUM_CLASSES["imagenet"]:
            return "imagenet"
        return FOLDER_DATASET_PREFIX + Path(request.data).expanduser().resolve().name
    if classes != NUM_CLASSES[request.dataset]:
        raise ValueError(
            f"model {request.model} has {classes} classes but {request.dataset} has "
            + f"{NUM_CLASSES[request.dataset]}; name the dataset the folder holds (--dataset), "
            + "or leave --dataset out to evaluate the folder as it is"
        )
    return request.dataset


def _load_weights(
    request: EvaluationRequest, model: nn.Module
) -> tuple[ChosenWeights, WeightsFile]:
    """Read the checkpoint once, choose its weights and load them strictly (ValueError if they
    do not fit, listing missing, unexpected and mis-shaped keys)."""
    weights_file = read_weights_file(request.checkpoint)
    chosen = choose_weights(weights_file.content, prefer_ema=request.prefer_ema)
    load_strictly(model, chosen.state_dict, f"checkpoint {request.checkpoint}", request.model)
    return chosen, weights_file


def prepare(request: EvaluationRequest) -> PreparedEvaluation:
    """Check every input of an evaluation, reading no image; ValueError or FileNotFoundError
    (naming the bad value and what is accepted) for a user's mistake."""
    if request.dataset is not None and request.dataset not in EVALUATION_IMAGES:
        raise ValueError(f"--dataset {request.dataset!r}; accepted: {', '.join(EVALUATION_IMAGES)}")
    if request.split in ("", ".", "..") or "/" in request.split:
        raise ValueError(f"--split {request.split!r}: expected a folder name such as val")
    if request.amp is not None and request.amp not in PRECISIONS:
        raise ValueError(f"--amp {request.amp!r}; accepted: {', '.join(PRECISIONS)}")
    model_overrides, transform_overrides = _split_overrides(request.overrides)
    model, source = _build_model(request.model, model_overrides)
    dataset = _dataset_for(request, _num_classes(model))
    folder = check_image_folder(request.data, request.split, _num_classes(model))
    chosen, weights_file = _load_weights(request, model)
    checkpoint = weights_file.content
    ours = isinstance(checkpoint, Mapping) and checkpoint.get("format") == CHECKPOINT_FORMAT
    transform, settings = evaluation_transform(
        model, transform_overrides, model_overrides.get("img_size")
    )
    return PreparedEvaluation(
        request=request,
        dataset=dataset,
        model=model,
        model_source=source,
        model_overrides=model_overrides,
        transform_overrides=transform_overrides,
        folder=folder,
        weights=chosen,
        checkpoint_sha256=weights_file.sha256,
        checkpoint_bytes=weights_file.size_bytes,
        trained_here=checkpoint.get("config_key") if ours else None,
        transform=transform,
        transform_settings=settings,
    )


def _versions() -> dict[str, str]:
    return {**store.versions(), "torchvision": torchvision.__version__, "pillow": PIL.__version__}


def run(prepared: PreparedEvaluation, progress: bool = True) -> dict[str, Any]:
    """Evaluate and write the record into the store; returns the record.

    Raises ValueError naming an image that cannot be read.
    """
    request = prepared.request
    placement = ProcessPlacement()
    device = choose_device(request.device, placement)
    model = prepared.model.to(device)
    dataset = open_image_folder(prepared.folder, prepared.transform)
    loader = DataLoader(
        dataset,
        request.batch_size,
        shuffle=False,
        num_workers=request.workers,
        pin_memory=device.type == "cuda",
    )
    precision = PRECISIONS[request.amp] if request.amp else None
    started = time.perf_counter()
    scores = evaluate(model, loader, device, placement, precision, progress=progress)
    seconds = time.perf_counter() - started
    record = _record(prepared, scores, device, precision, seconds)
    store.write_record(_runs_dir(request), record)
    return record


def _runs_dir(request: EvaluationRequest) -> Path:
    return Path(request.runs_dir) if request.runs_dir else store.DEFAULT_RUNS_DIR


def _record(
    prepared: PreparedEvaluation,
    scores: Mapping[str, float],
    device: torch.device,
    precision: torch.dtype | None,
    seconds: float,
) -> dict[str, Any]:
    request, folder, weights = prepared.request, prepared.folder, prepared.weights
    checkpoint = Path(request.checkpoint).expanduser().resolve()
    expected = EVALUATION_IMAGES.get(prepared.dataset)
    return {
        "schema": store.SCHEMA,
        "kind": "evaluation",
        "config_key": prepared.key,
        "status": "completed",
        "model": request.model,
        "model_source": prepared.model_source,
        "overrides": prepared.model_overrides,
        "changed": prepared.transform_overrides,
        "dataset": prepared.dataset,
        "checkpoint": {
            "file": checkpoint.name,
            "path": store.path_for_record(checkpoint),
            "sha256": prepared.checkpoint_sha256,
            "bytes": prepared.checkpoint_bytes,
            "weights": weights.description,
            "weights_key": weights.key,
            "ema": weights.ema,
            "trained_here": prepared.trained_here,
        },
        "weights_source": request.weights_source,
        "data": {
            "folder": store.path_for_record(folder.root),
            "split": request.split,
            "classes": len(folder.classes),
            "images": folder.images,
            "full_split_images": expected,
            "complete": folder.images == expected if expected is not None else None,
        },
        "transform": prepared.transform_settings,
        "device": describe_device(device),
        "dtype": "float32" if precision is None else f"{precision} autocast".replace("torch.", ""),
        "batch_size": request.batch_size,
        "top1": scores["top1"],
        "top5": scores["top5"],
        "loss": scores["loss"],
        "evaluated_images": folder.images,
        "wall_time_s": round(seconds, 1),
        "images_per_s": round(folder.images / max(seconds, 1e-9), 1),
        "versions": _versions(),
        **store.git_state(),
        "host": store.host(),
        "finished": store.now(),
    }
