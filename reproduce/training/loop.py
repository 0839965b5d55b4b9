"""The training loop: timm's components built from a recipe, and our epoch and evaluation.

`build_training` makes the optimizer (``create_optimizer_v2``), schedule
(``create_scheduler_v2``), Mixup/CutMix, loss, model EMA (``ModelEmaV3``) and AMP scaler a
recipe asks for; `start_training` builds the model and data too and resumes from a checkpoint;
`train_one_epoch` and `evaluate` are plain functions over them; `run_epoch` is one epoch of
both. With ``deterministic=True`` on CPU a resumed run ends with exactly the weights of an
uninterrupted one: data order is drawn from ``seed + epoch`` and every RNG state is restored
(`reproduce.training.checkpoints`).
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from timm.data import Mixup, resolve_data_config
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from timm.utils import ModelEmaV3, NativeScaler
from torch import nn
from torch.utils.data import DataLoader

import models
from reproduce.training.checkpoints import (
    check_resume,
    load_initial_weights,
    read_training_checkpoint,
    set_rng_state,
)
from reproduce.training.data import DataSpec, num_classes
from reproduce.training.distributed import (
    ProcessPlacement,
    all_reduce_mean,
    all_reduce_sum,
    choose_device,
)
from reproduce.training.loaders import build_datasets, build_loaders
from reproduce.training.progress import Progress
from reproduce.training.recipe import Recipe
from reproduce.training.recipes import model_arguments

__all__ = [
    "Training",
    "build_training",
    "evaluate",
    "prepare_process",
    "run_epoch",
    "start_training",
    "train_one_epoch",
]


def _no_best() -> dict[str, Any]:
    return {"top1": -1.0, "top5": None, "epoch": None}


@dataclass
class Training:
    """Everything one attempt trains with, and how far training has got.

    ``network`` is ``model`` itself, or the DistributedDataParallel wrapper around it; ``epochs``
    counts the schedule's cooldown; ``next_epoch`` is the first epoch still to train.
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
    next_epoch: int = 0
    num_updates: int = 0
    best: dict[str, Any] = field(default_factory=_no_best)

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


def _parameter_groups(model: nn.Module, recipe: Recipe) -> list[dict[str, Any]]:
    """Backbone at ``lr * backbone_lr_scale``, head at ``lr`` (the authors' transfer setup)."""
    head = {id(p) for p in model.get_classifier().parameters()}
    backbone = [p for p in model.parameters() if id(p) not in head]
    classifier = [p for p in model.parameters() if id(p) in head]
    return [
        {"params": backbone, "lr": recipe.lr * recipe.backbone_lr_scale},
        {"params": classifier, "lr": recipe.lr},
    ]


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
    """The recipe's optimizer, schedule, Mixup, loss, EMA and AMP scaler around ``model``."""
    use_amp = recipe.amp and device.type == "cuda"
    optimizer = create_optimizer_v2(
        _parameter_groups(model, recipe) if recipe.backbone_lr_scale != 1.0 else model,
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
        updates_per_epoch=steps_per_epoch,
    )
    mixup, loss = _mixup_and_loss(recipe)
    ema = None
    if recipe.model_ema:
        ema = ModelEmaV3(model, decay=recipe.model_ema_decay, use_warmup=recipe.model_ema_warmup)
    scaler = NativeScaler() if use_amp else None
    network: nn.Module = model
    if placement.world_size > 1:
        device_ids = [device.index] if device.type == "cuda" else None
        network = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    return Training(
        model, network, ema, optimizer, scheduler, scaler, mixup, loss, device, use_amp, epochs
    )


def start_training(
    recipe: Recipe,
    data: DataSpec,
    placement: ProcessPlacement,
    *,
    requested_device: str,
    run_dir: Path,
    resume_from: str | None = None,
    init_checkpoint: str | None = None,
    download: bool = False,
) -> tuple[Training, DataLoader, DataLoader, Path | None]:
    """Everything an attempt trains with, and the checkpoint it resumed from (None: fresh).

    Resumes from ``run_dir/last.pt``, or else ``resume_from``; a fresh run starts from
    ``init_checkpoint``'s weights when given. The RNG states are restored last, so the resumed
    run draws the numbers the uninterrupted one would have.
    """
    prepare_process(recipe, placement)
    device = choose_device(requested_device, placement)
    model = models.create_model(recipe.model, **model_arguments(recipe))
    resume_path = run_dir / "last.pt"
    if not resume_path.exists() and resume_from is not None:
        resume_path = Path(resume_from)
    resume = read_training_checkpoint(resume_path) if resume_path.exists() else None
    if resume is not None:
        check_resume(resume, recipe, resume_path)
    elif init_checkpoint is not None:
        load_initial_weights(model, Path(init_checkpoint), recipe.init_use_ema)
    model.to(device)
    train_set, val_set = build_datasets(recipe, data, resolve_data_config(model=model), download)
    train_loader, val_loader = build_loaders(recipe, train_set, val_set, placement, device)
    training = build_training(recipe, model, len(train_loader), device, placement)
    if resume is None:
        return training, train_loader, val_loader, None
    training.load_state_dict(resume)
    set_rng_state(resume["rng"][min(placement.rank, len(resume["rng"]) - 1)])
    return training, train_loader, val_loader, resume_path


def _step(
    training: Training,
    images: torch.Tensor,
    targets: torch.Tensor,
    clip_grad: float | None,
    where: str,
) -> torch.Tensor:
    """One optimizer update on a batch; returns the batch's loss (``where``: for the error)."""
    with torch.autocast(training.device.type, dtype=torch.float16, enabled=training.use_amp):
        loss = training.loss(training.network(images), targets)
    if not math.isfinite(loss.item()):
        raise FloatingPointError(f"loss is {loss.item()} at {where}")
    training.optimizer.zero_grad(set_to_none=True)
    parameters = training.network.parameters()
    if training.scaler is not None:
        training.scaler(loss, training.optimizer, clip_grad=clip_grad, parameters=parameters)
    else:
        loss.backward()
        if clip_grad is not None:
            nn.utils.clip_grad_norm_(parameters, clip_grad)
        training.optimizer.step()
    training.num_updates += 1
    training.scheduler.step_update(num_updates=training.num_updates)
    if training.ema is not None:
        training.ema.update(training.model, step=training.num_updates)
    return loss


def train_one_epoch(
    training: Training,
    loader: DataLoader,
    recipe: Recipe,
    placement: ProcessPlacement,
) -> tuple[float, int]:
    """Train epoch ``training.next_epoch``; returns its mean loss and the images all ranks saw."""
    epoch = training.next_epoch
    training.network.train()
    progress = Progress(epoch, training.epochs, len(loader), recipe.log_every, placement.is_main)
    loss_sum, count, seen = 0.0, 0, 0
    start = time.time()
    for step, (images, targets) in enumerate(loader):
        images = images.to(training.device, non_blocking=True)
        targets = targets.to(training.device, non_blocking=True)
        if training.mixup is not None:
            images, targets = training.mixup(images, targets)
        loss = _step(training, images, targets, recipe.clip_grad, f"epoch {epoch} step {step}")
        loss_sum += loss.item() * images.shape[0]
        count += images.shape[0]
        seen += images.shape[0] * placement.world_size
        elapsed = time.time() - start
        lr = training.optimizer.param_groups[-1]["lr"]
        progress.update(step, loss_sum / count, lr, seen / max(elapsed, 1e-9), elapsed)
    progress.close()
    mean_loss = all_reduce_mean(loss_sum / max(count, 1), training.device, placement)
    return mean_loss, seen


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    device: torch.device,
    use_amp: bool,
    placement: ProcessPlacement,
) -> dict[str, float]:
    """Loss, top-1 and top-5 (percent) over the whole validation set (summed across ranks)."""
    model.eval()
    totals = torch.zeros(4, dtype=torch.float64, device=device)  # loss sum, top1, top5, count
    for images, targets in loader:
        images = images.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
            logits = model(images)
        loss = nn.functional.cross_entropy(logits.float(), targets, reduction="sum")
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        hits = top.eq(targets[:, None])
        totals += torch.stack(
            [
                loss.double(),
                hits[:, :1].sum().double(),
                hits.any(dim=1).sum().double(),
                torch.tensor(float(len(targets)), dtype=torch.float64, device=device),
            ]
        )
    loss_sum, top1, top5, count = all_reduce_sum(totals, placement).tolist()
    count = max(count, 1.0)
    return {"loss": loss_sum / count, "top1": 100 * top1 / count, "top5": 100 * top5 / count}


def run_epoch(
    training: Training,
    train_loader: DataLoader,
    val_loader: DataLoader,
    recipe: Recipe,
    placement: ProcessPlacement,
) -> tuple[dict[str, Any], bool]:
    """Train and evaluate one epoch, step the schedule; its metrics line, and whether it is best.

    With EMA the EMA weights are the ones evaluated for the schedule and the best checkpoint
    (timm's convention); the plain weights' scores are in the line too.
    """
    epoch = training.next_epoch
    if hasattr(train_loader.sampler, "set_epoch"):
        train_loader.sampler.set_epoch(epoch)
    started = time.time()
    loss, seen = train_one_epoch(training, train_loader, recipe, placement)
    epoch_time = time.time() - started
    device, use_amp = training.device, training.use_amp
    evaluated = evaluate(training.model, val_loader, device, use_amp, placement)
    line = {
        "epoch": epoch,
        "train_loss": loss,
        "val_loss": evaluated["loss"],
        "top1": evaluated["top1"],
        "top5": evaluated["top5"],
        "lr": training.optimizer.param_groups[-1]["lr"],
        "images_per_s": seen / epoch_time,
        "epoch_time_s": epoch_time,
    }
    chosen = evaluated
    if training.ema is not None:
        chosen = evaluate(training.ema.module, val_loader, device, use_amp, placement)
        line.update(ema_val_loss=chosen["loss"], ema_top1=chosen["top1"], ema_top5=chosen["top5"])
    line["eval_top1"], line["eval_top5"] = chosen["top1"], chosen["top5"]
    training.scheduler.step(epoch + 1, chosen["top1"])
    improved = chosen["top1"] > training.best["top1"]
    if improved:
        training.best = {"top1": chosen["top1"], "top5": chosen["top5"], "epoch": epoch}
    training.next_epoch = epoch + 1
    return line, improved
