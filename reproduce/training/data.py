"""The datasets recipes train on: an ImageNet-style folder, CIFAR-10/100, and offline digits.

Their names and class counts (`NUM_CLASSES`), `check_data`, which validates a data path before
anything is submitted, and the bundled `DigitsDataset`. A recipe's transforms and loaders are
`reproduce.training.loaders`. Nothing here downloads.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import torch
from torch.utils.data import Dataset

__all__ = [
    "CIFAR_FOLDERS",
    "DATASETS",
    "DIGITS_SPLIT_SEED",
    "NUM_CLASSES",
    "DataSpec",
    "DigitsDataset",
    "check_data",
    "num_classes",
]

#: Every dataset a recipe can train on, with its number of classes.
NUM_CLASSES: Final[Mapping[str, int]] = types.MappingProxyType(
    {"imagenet": 1000, "cifar10": 10, "cifar100": 100, "digits": 10}
)
DATASETS: Final = tuple(NUM_CLASSES)
#: The folder torchvision keeps each CIFAR dataset in, under the ``--data`` path.
CIFAR_FOLDERS: Final[Mapping[str, str]] = types.MappingProxyType(
    {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
)
DIGITS_SPLIT_SEED = 0
DIGITS_VAL_FRACTION = 0.2


def num_classes(dataset: str) -> int:
    """Number of classes of a dataset name."""
    return NUM_CLASSES[dataset]


@dataclass(frozen=True)
class DataSpec:
    """What a run reads: dataset name, resolved path (None for bundled digits), and a label."""

    dataset: str
    path: str | None
    description: str


def check_data(dataset: str, path: str | Path | None, download: bool = False) -> DataSpec:
    """Validate the data location for ``dataset`` and say what will be read.

    Raises FileNotFoundError (or ValueError for a path given where none is used) with a message
    naming the path and what was expected, so a bad path fails before any job is submitted.
    """
    if dataset == "digits":
        if path is not None:
            raise ValueError(
                f"the digits dataset is bundled with scikit-learn; --data {path} is not used"
            )
        return DataSpec("digits", None, "sklearn load_digits (bundled), upscaled 8x8 -> 32x32")
    if path is None:
        hint = "an ImageNet folder with train/ and val/" if dataset == "imagenet" else "a folder"
        raise FileNotFoundError(f"{dataset} needs --data PATH ({hint}); none was given")
    root = Path(path).expanduser().resolve()
    if dataset == "imagenet":
        if not root.is_dir():
            raise FileNotFoundError(f"ImageNet folder {root} does not exist")
        missing = [split for split in ("train", "val") if not (root / split).is_dir()]
        if missing:
            raise FileNotFoundError(
                f"ImageNet folder {root} has no {' or '.join(s + '/' for s in missing)}; "
                + "expected train/<class>/*.JPEG and val/<class>/*.JPEG"
            )
        return DataSpec("imagenet", str(root), f"image folder {root} (train/, val/)")
    if dataset in CIFAR_FOLDERS:
        if not (root / CIFAR_FOLDERS[dataset]).is_dir() and not download:
            raise FileNotFoundError(
                f"{dataset} not found under {root} (expected {root / CIFAR_FOLDERS[dataset]}); "
                + "pass --download to fetch it with torchvision on this machine"
            )
        return DataSpec(dataset, str(root), f"torchvision {dataset.upper()} under {root}")
    raise ValueError(f"unknown dataset {dataset!r}; accepted: {sorted(NUM_CLASSES)}")


class DigitsDataset(Dataset):
    """scikit-learn's 8x8 digits, upscaled to ``size`` x ``size``, 3 channels, in [0, 1].

    The split is deterministic: a stratified 80/20 split with a fixed seed (1437 / 360 images).
    Pixels are 8-bit (multiples of 1/255), as an image file holds them, so the validation set
    written as PNG files and read back is exactly this one. ``transform`` runs on the
    (3, size, size) float tensor.
    """

    def __init__(self, train: bool, size: int = 32, transform: Any = None) -> None:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        digits = load_digits()
        indices = torch.arange(len(digits.target))
        train_idx, val_idx = train_test_split(
            indices.numpy(),
            test_size=DIGITS_VAL_FRACTION,
            random_state=DIGITS_SPLIT_SEED,
            stratify=digits.target,
        )
        keep = torch.as_tensor(train_idx if train else val_idx)
        images = torch.as_tensor(digits.images, dtype=torch.float32)[keep] / 16.0
        images = torch.nn.functional.interpolate(
            images.unsqueeze(1), size=(size, size), mode="bilinear", align_corners=False
        )
        images = torch.round(images * 255).to(torch.uint8).float() / 255  # as ToTensor reads PNGs
        self.images = images.expand(-1, 3, -1, -1).contiguous()
        self.targets = torch.as_tensor(digits.target, dtype=torch.long)[keep]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.targets[index])
