"""The `Recipe` type: what one training run trains, on what data, with which settings.

A recipe is plain data, validated when it is made. The named ones (``digits``,
``imagenet_dynamixer_s``, the sweeps) are `reproduce.training.recipes`; ``key=value`` overrides
of them are `reproduce.training.overrides`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from reproduce.training.data import DATASETS, num_classes

__all__ = ["AUGMENTS", "EXECUTION_FIELDS", "MODEL_KEYS", "Recipe", "accumulation_steps"]

AUGMENTS: Final = ("timm", "crop_flip")
# Model keyword overrides a recipe may carry (the zoo's ablations plus the head size).
MODEL_KEYS: Final = (
    "segment_dim",
    "reduced_dim",
    "mixing",
    "row_mixing",
    "column_mixing",
    "channel_mixing",
    "reweight",
    "share_row_column",
    "num_classes",
)
# Fields that change how a run executes, not what it trains: a run that changed only these (a
# seed, the per-process batch with the global batch kept, threads, ...) still runs the recipe,
# and runs of one configuration with different seeds are counted together.
EXECUTION_FIELDS: Final = (
    "seed",
    "batch_size",
    "accumulation_steps",
    "deterministic",
    "threads",
    "workers",
    "log_every",
)


@dataclass(frozen=True)
class Recipe:
    """One training run: model, data and every optimisation setting, as plain data.

    ``batch_size`` is per process (per GPU) and per step; ``global_batch`` is what every
    optimizer update sees (default ``batch_size * paper_gpus``, the published setting), reached
    on fewer processes by gradient accumulation (`accumulation_steps`). ``overrides`` are
    keyword overrides of ``model`` (ablations, ``num_classes``). ``init_from`` names a config
    whose best checkpoint initialises the model (or is a checkpoint path);
    ``backbone_lr_scale`` scales every parameter group but the head; ``frozen_modules`` are
    left out of the optimizer (as the authors' transfer scripts leave them).
    """

    name: str
    model: str
    dataset: str
    source: str
    overrides: dict[str, Any] = field(default_factory=dict)
    epochs: int = 300
    batch_size: int = 256
    paper_gpus: int = 8
    global_batch: int | None = None  # None: batch_size * paper_gpus
    accumulation_steps: int | None = None  # None: as many as reach global_batch
    # optimiser and schedule (timm create_optimizer_v2 / create_scheduler_v2)
    opt: str = "adamw"
    lr: float = 2e-3
    weight_decay: float = 0.05
    momentum: float = 0.9
    filter_bias_and_bn: bool = True
    clip_grad: float | None = None
    sched: str = "cosine"
    min_lr: float = 1e-5
    warmup_lr: float = 1e-6
    warmup_epochs: int = 20
    cooldown_epochs: int = 10
    # regularisation
    drop_path: float = 0.1
    drop: float = 0.0
    smoothing: float = 0.1
    mixup: float = 0.8
    cutmix: float = 1.0
    mixup_prob: float = 1.0
    mixup_switch_prob: float = 0.5
    model_ema: bool = True
    model_ema_decay: float = 0.99996
    model_ema_warmup: bool = False
    # data and augmentation
    augment: str = "timm"
    img_size: int = 224
    crop_pct: float | None = None  # None: the model's pretrained_cfg
    auto_augment: str | None = "rand-m9-mstd0.5-inc1"
    color_jitter: float = 0.4
    train_interpolation: str = "random"
    hflip: float = 0.5
    reprob: float = 0.25
    remode: str = "pixel"
    repeated_aug: int = 0  # >1: RepeatAugSampler with that many repeats (DeiT / ResMLP)
    crop_padding: int = 0  # crop_flip augment: RandomCrop padding in pixels
    mean: tuple[float, ...] | None = None  # None: the model's pretrained_cfg
    std: tuple[float, ...] | None = None
    train_subset: int | None = None  # first N training samples only (quick checks)
    val_subset: int | None = None
    # transfer
    init_from: str | None = None
    init_use_ema: bool = True
    backbone_lr_scale: float = 1.0
    frozen_modules: tuple[str, ...] = ()
    # execution
    amp: bool = True  # only on CUDA; CPU runs in float32
    seed: int = 0
    deterministic: bool = False
    threads: int = 0  # torch intra-op threads; 0 keeps torch's default
    workers: int = 8
    log_every: int = 50
    table: int | None = None
    row: str | None = None

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"{self.name}: dataset {self.dataset!r}; accepted: {DATASETS}")
        if self.augment not in AUGMENTS:
            raise ValueError(f"{self.name}: augment {self.augment!r}; accepted: {AUGMENTS}")
        unknown = sorted(set(self.overrides) - set(MODEL_KEYS))
        if unknown:
            raise ValueError(
                f"{self.name}: unknown model override(s) {unknown}; accepted: {list(MODEL_KEYS)}"
            )
        classes = num_classes(self.dataset)
        if self.overrides.get("num_classes", classes) != classes:
            raise ValueError(
                f"{self.name}: num_classes={self.overrides['num_classes']} but {self.dataset} "
                + f"has {classes} classes"
            )
        if self.global_batch is None:
            object.__setattr__(self, "global_batch", self.batch_size * self.paper_gpus)
        for name in ("epochs", "batch_size", "paper_gpus", "global_batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{self.name}: {name} must be >= 1; got {getattr(self, name)}")
        if self.accumulation_steps is not None and self.accumulation_steps < 1:
            raise ValueError(
                f"{self.name}: accumulation_steps must be >= 1 or None (automatic); "
                + f"got {self.accumulation_steps}"
            )
        if (self.mixup > 0 or self.cutmix > 0) and self.batch_size % 2:
            raise ValueError(f"{self.name}: mixup/cutmix need an even batch_size")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recipe:
        """Inverse of `to_dict`."""
        data = dict(data)
        for name in ("mean", "std", "frozen_modules"):
            if data.get(name) is not None:
                data[name] = tuple(data[name])
        return cls(**data)


def accumulation_steps(recipe: Recipe, world_size: int) -> int:
    """Micro-batches per optimizer update, so ``world_size`` processes reach the global batch.

    ``recipe.accumulation_steps`` when set; else ``global_batch / (batch_size * world_size)``,
    which must be a whole number (ValueError naming the batch sizes otherwise). With more
    processes than the global batch needs, 1: the run's global batch is then larger than the
    recipe's, and the record says so.
    """
    if recipe.accumulation_steps is not None:
        return recipe.accumulation_steps
    per_step = recipe.batch_size * world_size
    assert recipe.global_batch is not None  # set in __post_init__
    if per_step >= recipe.global_batch:
        return 1
    if recipe.global_batch % per_step:
        raise ValueError(
            f"{recipe.name}: the global batch {recipe.global_batch} is not a whole number of "
            + f"steps of batch_size {recipe.batch_size} x {world_size} process(es); choose a "
            + "batch_size that divides it, or set accumulation_steps"
        )
    return recipe.global_batch // per_step
