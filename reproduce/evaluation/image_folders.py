"""Evaluation images in an ImageFolder layout, checked before any image is read, and their
transform.

Accepted: ``DIR/<split>/<class>/<image>`` (ImageNet's ``val/n01440764/*.JPEG``, as the DynaMixer
and ViP READMEs lay it out), or ``DIR/<class>/<image>`` when ``DIR`` has no ``<split>`` folder
(ViP's ``eval.sh`` passes ``imagenet/val`` itself). One folder per class, class indices in
sorted folder-name order (ImageNet's wnids sort into the usual 0-999 order); images are files
with torchvision's extensions (.jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp, any case).
Nothing is downloaded. The transform is timm's evaluation transform for the model's
``pretrained_cfg`` (resize by crop_pct, centre crop, interpolation, mean/std), overridable.
"""

from __future__ import annotations

import os
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from PIL import Image
from timm.data import create_transform, resolve_data_config
from torch import nn
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS

__all__ = [
    "CROP_MODES",
    "EVALUATION_IMAGES",
    "INTERPOLATIONS",
    "TRANSFORM_KEYS",
    "FolderSummary",
    "check_image_folder",
    "evaluation_transform",
    "open_image_folder",
]

#: The full evaluation split of each dataset, in images: ImageNet-1K's val (ILSVRC2012, 50
#: images per class), CIFAR's test sets, and the digits recipe's 20% validation split.
EVALUATION_IMAGES: Final[Mapping[str, int]] = types.MappingProxyType(
    {"imagenet": 50_000, "cifar10": 10_000, "cifar100": 10_000, "digits": 360}
)
#: The evaluation-transform settings a ``key=value`` override may change (timm's names).
TRANSFORM_KEYS: Final = ("crop_pct", "crop_mode", "interpolation", "mean", "std")
INTERPOLATIONS: Final = ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos")
CROP_MODES: Final = ("center", "squash", "border")


@dataclass(frozen=True)
class FolderSummary:
    """The class folders found and how many images they hold (counted, none read)."""

    root: Path
    classes: tuple[str, ...]
    images: int


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMG_EXTENSIONS)


def _count_images(folder: Path) -> int:
    """Image files under ``folder``, at any depth, as ImageFolder finds them."""
    return sum(
        sum(1 for name in files if _is_image(name))
        for _, _, files in os.walk(folder, followlinks=True)
    )


def _class_root(data: str | Path, split: str) -> Path:
    """``DIR/<split>`` if it is a folder, else ``DIR`` itself (FileNotFoundError if missing)."""
    root = Path(data).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"--data {root} does not exist (or is not a folder)")
    return root / split if (root / split).is_dir() else root


def check_image_folder(data: str | Path, split: str, classes_expected: int) -> FolderSummary:
    """Find the class folders under ``data`` and count their images, reading none.

    Raises FileNotFoundError or ValueError, naming the folder and what was expected, for a
    missing folder, a folder without class folders, a class count other than
    ``classes_expected`` (the model's number of classes), or a class without images.
    """
    root = _class_root(data, split)
    layout = f"expected {root}/<class>/<image> (e.g. val/n01440764/ILSVRC2012_val_00000293.JPEG)"
    entries = sorted(os.scandir(root), key=lambda entry: entry.name)
    classes = [entry.name for entry in entries if entry.is_dir()]  # as ImageFolder lists them
    if not classes:
        loose = sum(1 for e in entries if e.is_file() and _is_image(e.name))
        found = f"{loose} images directly in it" if loose else "nothing usable in it"
        raise ValueError(
            f"{root} has no class folders ({found}); {layout}. ImageNet's validation images "
            + "must first be sorted into one folder per class (the DynaMixer README's script)"
        )
    if len(classes) != classes_expected:
        hint = ""
        if {"train", "val"} & set(classes):
            hint = f" (it holds {', '.join(sorted({'train', 'val'} & set(classes)))}/: --split?)"
        hidden = [name for name in classes if name.startswith(".")]
        if hidden:
            hint += f" (hidden folders count too: {', '.join(hidden)})"
        raise ValueError(
            f"{root} holds {len(classes)} class folders{hint}, but the model has "
            + f"{classes_expected} classes; {layout}"
        )
    counts = {name: _count_images(root / name) for name in classes}
    empty = [name for name, count in counts.items() if count == 0]
    if empty:
        raise ValueError(
            f"{root}: {len(empty)} class folder(s) without images ({', '.join(empty[:5])}); "
            + f"images end in {', '.join(IMG_EXTENSIONS)}"
        )
    return FolderSummary(root, tuple(classes), sum(counts.values()))


def _load_rgb(path: str) -> Image.Image:
    """Open an image as RGB; a file PIL cannot read is a ValueError naming it."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, ValueError) as error:
        raise ValueError(f"image {path} cannot be read: {error}") from error


def open_image_folder(summary: FolderSummary, transform: Any) -> ImageFolder:
    """torchvision's ImageFolder over the checked folder (lists files; reads no image yet)."""
    return ImageFolder(str(summary.root), transform=transform, loader=_load_rgb)


def _check_transform_overrides(overrides: Mapping[str, Any]) -> None:
    unknown = sorted(set(overrides) - set(TRANSFORM_KEYS))
    if unknown:
        raise ValueError(f"unknown transform key(s) {unknown}; accepted: {list(TRANSFORM_KEYS)}")
    crop_pct = overrides.get("crop_pct")
    if crop_pct is not None and not (isinstance(crop_pct, float | int) and 0 < crop_pct <= 1):
        raise ValueError(f"crop_pct={crop_pct!r}: expected a number in (0, 1]")
    for key, accepted in (("interpolation", INTERPOLATIONS), ("crop_mode", CROP_MODES)):
        if key in overrides and overrides[key] not in accepted:
            raise ValueError(f"{key}={overrides[key]!r}; accepted: {', '.join(accepted)}")
    for key in ("mean", "std"):
        value = overrides.get(key)
        if value is not None and (
            not isinstance(value, tuple | list)
            or len(value) != 3
            or not all(isinstance(v, float | int) for v in value)
        ):
            raise ValueError(f"{key}={value!r}: expected three numbers, e.g. {key}=(0.5,0.5,0.5)")


def evaluation_transform(
    model: nn.Module, overrides: Mapping[str, Any], img_size: int | None = None
) -> tuple[Any, dict[str, Any]]:
    """timm's evaluation transform for ``model``'s pretrained_cfg with ``overrides``, and its
    settings as a record keeps them (ValueError for a bad override)."""
    _check_transform_overrides(overrides)
    arguments = dict(overrides)
    if img_size is not None:
        arguments["img_size"] = img_size
    config = resolve_data_config(args=arguments, model=model)
    transform = create_transform(**config, is_training=False)
    settings = {key: list(v) if isinstance(v, tuple) else v for key, v in config.items()}
    settings["steps"] = [repr(step) for step in getattr(transform, "transforms", [transform])]
    return transform, settings
