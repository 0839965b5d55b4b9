"""Datasets for training recipes: an ImageNet-style folder, CIFAR-10/100, and offline digits.

`check_data` validates a data path before anything is submitted; `build_datasets` makes the
train and validation datasets with the recipe's transforms (timm's ``create_transform`` for
ImageNet, crop-and-flip for CIFAR and digits). Nothing here downloads unless asked to
(``download=True``, for CIFAR on the user's machine).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, Subset

from reproduce.recipes import Recipe

__all__ = [
    "DIGITS_SPLIT_SEED",
    "DataSpec",
    "DigitsDataset",
    "build_datasets",
    "check_data",
    "num_classes",
]

NUM_CLASSES = {"imagenet": 1000, "cifar10": 10, "cifar100": 100, "digits": 10}
DIGITS_SPLIT_SEED = 0
DIGITS_VAL_FRACTION = 0.2
_CIFAR_DIRS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}


@dataclass(frozen=True)
class DataSpec:
    """What a run reads: dataset name, resolved path (None for bundled digits), and a label."""

    dataset: str
    path: str | None
    description: str


def num_classes(dataset: str) -> int:
    """Number of classes of a dataset name."""
    return NUM_CLASSES[dataset]


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
    if dataset in _CIFAR_DIRS:
        if not (root / _CIFAR_DIRS[dataset]).is_dir() and not download:
            raise FileNotFoundError(
                f"{dataset} not found under {root} (expected {root / _CIFAR_DIRS[dataset]}); "
                + "pass --download to fetch it with torchvision on this machine"
            )
        return DataSpec(dataset, str(root), f"torchvision {dataset.upper()} under {root}")
    raise ValueError(f"unknown dataset {dataset!r}; accepted: {sorted(NUM_CLASSES)}")


class DigitsDataset(Dataset):
    """scikit-learn's 8x8 digits, upscaled to ``size`` x ``size``, 3 channels, in [0, 1].

    The split is deterministic: a stratified 80/20 split with a fixed seed (1437 / 360 images).
    ``transform`` runs on the (3, size, size) float tensor.
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


def _mean_std(recipe: Recipe, data_config: dict[str, Any]) -> tuple[tuple, tuple]:
    mean = recipe.mean if recipe.mean is not None else tuple(data_config["mean"])
    std = recipe.std if recipe.std is not None else tuple(data_config["std"])
    return mean, std


def _crop_flip(recipe: Recipe, mean: tuple, std: tuple, train: bool, tensor_input: bool) -> Any:
    """The CIFAR transfer transforms (resize, padded random crop, flip) on PIL or tensors."""
    from torchvision import transforms as T

    steps: list[Any] = []
    if not tensor_input:
        steps.append(T.Resize((recipe.img_size, recipe.img_size)))
    if train:
        if recipe.crop_padding:
            steps.append(T.RandomCrop(recipe.img_size, padding=recipe.crop_padding))
        if recipe.hflip > 0:
            steps.append(T.RandomHorizontalFlip(recipe.hflip))
    if not tensor_input:
        steps.append(T.ToTensor())
    steps.append(T.Normalize(mean, std))
    return T.Compose(steps)


def _timm_transforms(recipe: Recipe, data_config: dict[str, Any]) -> tuple[Any, Any]:
    from timm.data import create_transform

    mean, std = _mean_std(recipe, data_config)
    crop_pct = recipe.crop_pct if recipe.crop_pct is not None else data_config["crop_pct"]
    train = create_transform(
        recipe.img_size,
        is_training=True,
        hflip=recipe.hflip,
        color_jitter=recipe.color_jitter,
        auto_augment=recipe.auto_augment,
        interpolation=recipe.train_interpolation,
        mean=mean,
        std=std,
        re_prob=recipe.reprob,
        re_mode=recipe.remode,
    )
    val = create_transform(
        recipe.img_size,
        is_training=False,
        interpolation=data_config.get("interpolation", "bicubic"),
        mean=mean,
        std=std,
        crop_pct=crop_pct,
    )
    return train, val


def build_datasets(
    recipe: Recipe, spec: DataSpec, data_config: dict[str, Any], download: bool = False
) -> tuple[Dataset, Dataset]:
    """Train and validation datasets for ``recipe`` (``data_config``: timm's for the model)."""
    mean, std = _mean_std(recipe, data_config)
    if spec.dataset == "digits":
        train: Dataset = DigitsDataset(
            True, recipe.img_size, _crop_flip(recipe, mean, std, True, True)
        )
        val: Dataset = DigitsDataset(
            False, recipe.img_size, _crop_flip(recipe, mean, std, False, True)
        )
    elif spec.dataset in _CIFAR_DIRS:
        from torchvision import datasets

        cls = datasets.CIFAR10 if spec.dataset == "cifar10" else datasets.CIFAR100
        train_tf, val_tf = _train_tf(recipe, mean, std), _val_tf(recipe, mean, std)
        train = cls(spec.path, train=True, download=download, transform=train_tf)
        val = cls(spec.path, train=False, download=download, transform=val_tf)
    elif spec.dataset == "imagenet":
        from torchvision.datasets import ImageFolder

        if recipe.augment == "timm":
            train_tf, val_tf = _timm_transforms(recipe, data_config)
        else:
            train_tf, val_tf = _train_tf(recipe, mean, std), _val_tf(recipe, mean, std)
        assert spec.path is not None
        train = ImageFolder(str(Path(spec.path) / "train"), transform=train_tf)
        val = ImageFolder(str(Path(spec.path) / "val"), transform=val_tf)
    else:
        raise ValueError(f"unknown dataset {spec.dataset!r}")
    if recipe.train_subset is not None:
        train = Subset(train, range(min(recipe.train_subset, len(train))))
    if recipe.val_subset is not None:
        val = Subset(val, range(min(recipe.val_subset, len(val))))
    return train, val


def _train_tf(recipe: Recipe, mean: tuple, std: tuple) -> Any:
    return _crop_flip(recipe, mean, std, train=True, tensor_input=False)


def _val_tf(recipe: Recipe, mean: tuple, std: tuple) -> Any:
    return _crop_flip(recipe, mean, std, train=False, tensor_input=False)
