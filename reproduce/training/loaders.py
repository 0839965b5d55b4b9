"""A recipe's datasets with its transforms, and this process's loaders over them.

`build_datasets` makes the train and validation datasets with the recipe's transforms (timm's
``create_transform`` for ImageNet, crop-and-flip for CIFAR and digits); `build_loaders` shards
them over the processes. Nothing here downloads unless asked to (``download=True``, for CIFAR
on the user's machine).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import torch
from timm.data import create_transform
from timm.data.distributed_sampler import RepeatAugSampler
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, Subset

from reproduce.training.data import CIFAR_FOLDERS, DataSpec, DigitsDataset
from reproduce.training.distributed import EvaluationShard, ProcessPlacement
from reproduce.training.recipe import Recipe

__all__ = ["VAL_SUBSET_SEED", "balanced_subset", "build_datasets", "build_loaders"]

#: The seed of every ``val_subset``: the same validation images whatever the run's seed.
VAL_SUBSET_SEED: Final = 0


def _mean_std(recipe: Recipe, data_config: dict[str, Any]) -> tuple[tuple, tuple]:
    mean = recipe.mean if recipe.mean is not None else tuple(data_config["mean"])
    std = recipe.std if recipe.std is not None else tuple(data_config["std"])
    return mean, std


def _crop_flip(recipe: Recipe, mean: tuple, std: tuple, train: bool, tensor_input: bool) -> Any:
    """The CIFAR transfer transforms (resize, padded random crop, flip) on PIL or tensors."""
    from torchvision import transforms

    steps: list[Any] = []
    if not tensor_input:
        steps.append(transforms.Resize((recipe.img_size, recipe.img_size)))
    if train:
        if recipe.crop_padding:
            steps.append(transforms.RandomCrop(recipe.img_size, padding=recipe.crop_padding))
        if recipe.hflip > 0:
            steps.append(transforms.RandomHorizontalFlip(recipe.hflip))
    if not tensor_input:
        steps.append(transforms.ToTensor())
    steps.append(transforms.Normalize(mean, std))
    return transforms.Compose(steps)


def _timm_transforms(recipe: Recipe, data_config: dict[str, Any]) -> tuple[Any, Any]:
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


def _crop_flip_transforms(
    recipe: Recipe, mean: tuple, std: tuple, tensor_input: bool
) -> tuple[Any, Any]:
    """The train and validation crop-and-flip transforms."""
    return (
        _crop_flip(recipe, mean, std, train=True, tensor_input=tensor_input),
        _crop_flip(recipe, mean, std, train=False, tensor_input=tensor_input),
    )


def build_datasets(
    recipe: Recipe, spec: DataSpec, data_config: dict[str, Any], download: bool = False
) -> tuple[Dataset, Dataset]:
    """Train and validation datasets for ``recipe`` (``data_config``: timm's for the model)."""
    mean, std = _mean_std(recipe, data_config)
    if spec.dataset == "digits":
        train_transform, val_transform = _crop_flip_transforms(recipe, mean, std, True)
        train: Dataset = DigitsDataset(True, recipe.img_size, train_transform)
        val: Dataset = DigitsDataset(False, recipe.img_size, val_transform)
    elif spec.dataset in CIFAR_FOLDERS:
        from torchvision import datasets

        cifar = datasets.CIFAR10 if spec.dataset == "cifar10" else datasets.CIFAR100
        train_transform, val_transform = _crop_flip_transforms(recipe, mean, std, False)
        train = cifar(spec.path, train=True, download=download, transform=train_transform)
        val = cifar(spec.path, train=False, download=download, transform=val_transform)
    elif spec.dataset == "imagenet":
        from torchvision.datasets import ImageFolder

        if recipe.augment == "timm":
            train_transform, val_transform = _timm_transforms(recipe, data_config)
        else:
            train_transform, val_transform = _crop_flip_transforms(recipe, mean, std, False)
        assert spec.path is not None
        train = ImageFolder(str(Path(spec.path) / "train"), transform=train_transform)
        val = ImageFolder(str(Path(spec.path) / "val"), transform=val_transform)
    else:
        raise ValueError(f"unknown dataset {spec.dataset!r}")
    if recipe.train_subset is not None:
        train = Subset(train, balanced_subset(_targets(train), recipe.train_subset, recipe.seed))
    if recipe.val_subset is not None:  # one fixed subset: runs of every seed see the same one
        val = Subset(val, balanced_subset(_targets(val), recipe.val_subset, VAL_SUBSET_SEED))
    return train, val


def _targets(dataset: Dataset) -> list[int]:
    """Every sample's class, without reading an image (ImageFolder, CIFAR and digits keep them)."""
    return [int(target) for target in dataset.targets]  # type: ignore[attr-defined]


def balanced_subset(targets: Sequence[int], size: int, seed: int) -> list[int]:
    """``size`` sample indices spread evenly over the classes, drawn with ``seed``, sorted.

    Each class gives ``size // classes`` samples (one more for the first ``size % classes``
    classes of a seeded order), or all it has, the shortfall taken from the others. The first
    N samples of a class-sorted folder would cover a few classes only.
    """
    generator = torch.Generator().manual_seed(seed)
    by_class: dict[int, list[int]] = {}
    for index, target in enumerate(targets):
        by_class.setdefault(target, []).append(index)
    queues = [
        [members[i] for i in torch.randperm(len(members), generator=generator).tolist()]
        for _, members in sorted(by_class.items())
    ]
    order = torch.randperm(len(queues), generator=generator).tolist()
    chosen: list[int] = []
    while len(chosen) < min(size, len(targets)):
        for position in order:  # one sample of each class per round, classes in seeded order
            if queues[position] and len(chosen) < size:
                chosen.append(queues[position].pop(0))
    return sorted(chosen)


def build_loaders(
    recipe: Recipe,
    train_set: Dataset,
    val_set: Dataset,
    placement: ProcessPlacement,
    device: torch.device,
) -> tuple[DataLoader, DataLoader]:
    """This process's share of the data: shuffled training batches and an exact validation shard.

    The training order is drawn from ``recipe.seed`` and the epoch (``sampler.set_epoch``), so a
    resumed run sees the batches an uninterrupted one would.
    """
    sampler: Sampler[int]
    if recipe.repeated_aug > 1:
        sampler = RepeatAugSampler(
            train_set, placement.world_size, placement.rank, num_repeats=recipe.repeated_aug
        )
    else:
        sampler = DistributedSampler(
            train_set, placement.world_size, placement.rank, shuffle=True, seed=recipe.seed
        )
    common = {
        "num_workers": recipe.workers,
        "pin_memory": device.type == "cuda",
        "persistent_workers": recipe.workers > 0,
    }
    train_loader = DataLoader(
        train_set, recipe.batch_size, sampler=sampler, drop_last=True, **common
    )
    if len(train_loader) == 0:
        raise ValueError(
            f"{recipe.name}: {len(train_set)} training samples per process is less than "
            + f"one batch of {recipe.batch_size}"
        )
    shard = EvaluationShard(len(val_set), placement.rank, placement.world_size)  # type: ignore[arg-type]
    val_loader = DataLoader(val_set, recipe.batch_size, sampler=shard, **common)
    return train_loader, val_loader
