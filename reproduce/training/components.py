"""What one training attempt trains with: timm's components built from a recipe, as one state.

`build_training` makes the optimizer (``create_optimizer_v2``; Table 9's backbone at a scaled
learning rate and its frozen modules left out), schedule (``create_scheduler_v2``, stepped
once per update of ``accumulation_steps`` micro-batches), Mixup/CutMix, loss, model EMA
(``ModelEmaV3``) and AMP scaler a recipe asks for, around a model, as a `Training`;
`prepare_process` sets threads, determinism and seeds before anything draws a random number.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from timm.data import Mixup
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from timm.utils import ModelEmaV3, NativeScaler
from torch import nn

from reproduce.training.data import num_classes
from reproduce.training.distributed import ProcessPlacement
from reproduce.training.recipe import Recipe, accumulation_steps

__all__ = ["Training", "build_training", "freeze_modules", "prepare_process"]


def _no_best() -> dict[str, Any]:
    return {"top1": -1.0, "top5": None, "epoch": None}


@dataclass
class Training:
    """Everything one attempt trains with, and how far training has got.

    ``network`` is ``model`` itself, or the DistributedDataParallel wrapper around it; ``epochs``
    counts the schedule's cooldown; ``next_epoch`` is the first epoch still to train;
    ``accumulation_steps`` micro-batches make one update; ``initial_weights`` says which
    pretrained weights the run started from (None: a fresh initialisation).
    """

    model: nn.Module
    network: nn.Module
    ema: ModelEmaV3 | None
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: NativeScaler | None
    mixup: Mixup | None
    loss: nn.Module
    device: torch.device
    use_amp: bool
    epochs: int
    accumulation_steps: int = 1
    next_epoch: int = 0
    num_updates: int = 0
    best: dict[str, Any] = field(default_factory=_no_best)
    initial_weights: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        """The checkpointable state (weights, optimizer, schedule, scaler, progress)."""
        return {
            "epoch": self.next_epoch,
            "num_updates": self.num_updates,
            "model": self.model.state_dict(),
            "model_ema": self.ema.module.state_dict() if self.ema is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "best": self.best,
            "initial_weights": self.initial_weights,
        }

    def load_state_dict(self, checkpoint: dict[str, Any]) -> None:
        """Continue from what `state_dict` saved."""
        self.model.load_state_dict(checkpoint["model"])
        if self.ema is not None and checkpoint.get("model_ema") is not None:
            self.ema.module.load_state_dict(checkpoint["model_ema"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        if self.scaler is not None and checkpoint.get("scaler") is not None:
            self.scaler.load_state_dict(checkpoint["scaler"])
        self.next_epoch, self.num_updates = int(checkpoint["epoch"]), int(checkpoint["num_updates"])
        self.best = dict(checkpoint["best"])
        self.initial_weights = checkpoint.get("initial_weights")


def prepare_process(recipe: Recipe, placement: ProcessPlacement) -> None:
    """Threads, determinism and seeds for this process, before anything draws a random number."""
    if recipe.threads > 0:
        torch.set_num_threads(recipe.threads)
    if recipe.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = True
    seed = recipe.seed + placement.rank
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def freeze_modules(model: nn.Module, names: tuple[str, ...]) -> None:
    """Stop training the named child modules (``norm``, ``patch_embed``): no gradient, no update."""
    children = dict(model.named_children())
    unknown = [name for name in names if name not in children]
    if unknown:
        raise ValueError(f"frozen_modules {unknown}: the model has modules {list(children)}")
    for name in names:
        children[name].requires_grad_(False)


def _parameter_groups(model: nn.Module, recipe: Recipe) -> list[dict[str, Any]]:
    """Backbone at ``lr * backbone_lr_scale``, head at ``lr`` (the authors' transfer setup);
    frozen parameters are in neither. With ``filter_bias_and_bn``, biases and norm weights
    (1-d parameters) get no weight decay, as timm's optimizer factory would give them."""
    head = {id(p) for p in model.get_classifier().parameters()}
    groups = []
    for in_head, lr in ((False, recipe.lr * recipe.backbone_lr_scale), (True, recipe.lr)):
        params = [p for p in model.parameters() if p.requires_grad and (id(p) in head) == in_head]
        if recipe.filter_bias_and_bn:
            groups.append(
                {"params": [p for p in params if p.ndim <= 1], "lr": lr, "weight_decay": 0.0}
            )
            params = [p for p in params if p.ndim > 1]
        groups.append({"params": params, "lr": lr})
    return [group for group in groups if group["params"]]


def _mixup_and_loss(recipe: Recipe) -> tuple[Mixup | None, nn.Module]:
    """Mixup/CutMix with soft-target cross-entropy, or label smoothing, or plain cross-entropy."""
    if recipe.mixup > 0 or recipe.cutmix > 0:
        mixup = Mixup(
            mixup_alpha=recipe.mixup,
            cutmix_alpha=recipe.cutmix,
            prob=recipe.mixup_prob,
            switch_prob=recipe.mixup_switch_prob,
            label_smoothing=recipe.smoothing,
            num_classes=num_classes(recipe.dataset),
        )
        return mixup, SoftTargetCrossEntropy()
    if recipe.smoothing > 0:
        return None, LabelSmoothingCrossEntropy(smoothing=recipe.smoothing)
    return None, nn.CrossEntropyLoss()


def build_training(
    recipe: Recipe,
    model: nn.Module,
    steps_per_epoch: int,
    device: torch.device,
    placement: ProcessPlacement,
) -> Training:
    """The recipe's optimizer, schedule, Mixup, loss, EMA and AMP scaler around ``model``.

    ``steps_per_epoch`` counts micro-batches; the schedule steps once per update of
    `accumulation_steps` of them.
    """
    use_amp = recipe.amp and device.type == "cuda"
    accumulation = accumulation_steps(recipe, placement.world_size)
    if steps_per_epoch < accumulation:
        raise ValueError(
            f"{recipe.name}: {steps_per_epoch} batches per epoch make no update of "
            + f"{accumulation} accumulated batches"
        )
    freeze_modules(model, recipe.frozen_modules)
    grouped = recipe.backbone_lr_scale != 1.0 or recipe.frozen_modules
    optimizer = create_optimizer_v2(
        _parameter_groups(model, recipe) if grouped else model,
        opt=recipe.opt,
        lr=recipe.lr,
        weight_decay=recipe.weight_decay,
        momentum=recipe.momentum,
        filter_bias_and_bn=recipe.filter_bias_and_bn,
    )
    scheduler, epochs = create_scheduler_v2(
        optimizer,
        sched=recipe.sched,
        num_epochs=recipe.epochs,
        cooldown_epochs=recipe.cooldown_epochs,
        min_lr=recipe.min_lr,
        warmup_lr=recipe.warmup_lr,
        warmup_epochs=recipe.warmup_epochs,
        step_on_epochs=True,
        updates_per_epoch=steps_per_epoch // accumulation,
    )
    mixup, loss = _mixup_and_loss(recipe)
    ema = None
    if recipe.model_ema:
        ema = ModelEmaV3(model, decay=recipe.model_ema_decay, use_warmup=recipe.model_ema_warmup)
    scaler = NativeScaler() if use_amp else None
    network = _distributed(model, device, placement)
    return Training(model, network, ema, optimizer, scheduler, scaler, mixup, loss, device,
                    use_amp, epochs, accumulation_steps=accumulation)  # fmt: skip


def _distributed(model: nn.Module, device: torch.device, placement: ProcessPlacement) -> nn.Module:
    """``model`` itself alone; wrapped in DistributedDataParallel among several processes."""
    if placement.world_size == 1:
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
