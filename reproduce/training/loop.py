"""The training loop: our epoch and evaluation over a `Training` (`reproduce.training.components`).

`start_training` builds the model, data and timm's components for an attempt and resumes from
a checkpoint; `train_one_epoch` and `evaluate` are plain functions over them; `run_epoch` is
one epoch of both. An optimizer update accumulates the gradients of ``accumulation_steps``
micro-batches, so fewer processes reach the recipe's global batch with the same update. With
``deterministic=True`` on CPU a resumed run ends with exactly the weights of an uninterrupted
one: data order is drawn from ``seed + epoch`` and every RNG state is restored
(`reproduce.training.checkpoints`).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from timm.data import resolve_data_config
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

import models
from common.precision import autocast
from reproduce.training.checkpoints import (
    check_resume,
    load_initial_weights,
    read_training_checkpoint,
    set_rng_state,
)
from reproduce.training.components import Training, build_training, prepare_process
from reproduce.training.data import DataSpec
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

__all__ = ["evaluate", "run_epoch", "start_training", "train_one_epoch"]


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
    initial_weights = None
    if resume is not None:
        check_resume(resume, recipe, resume_path)
    elif init_checkpoint is not None:
        initial_weights = load_initial_weights(model, Path(init_checkpoint), recipe.init_use_ema)
    model.to(device)
    train_set, val_set = build_datasets(recipe, data, resolve_data_config(model=model), download)
    train_loader, val_loader = build_loaders(recipe, train_set, val_set, placement, device)
    training = build_training(recipe, model, len(train_loader), device, placement)
    training.initial_weights = initial_weights
    if resume is None:
        return training, train_loader, val_loader, None
    training.load_state_dict(resume)
    set_rng_state(resume["rng"][min(placement.rank, len(resume["rng"]) - 1)])
    return training, train_loader, val_loader, resume_path


def _micro_step(
    training: Training,
    images: torch.Tensor,
    targets: torch.Tensor,
    update_now: bool,
    clip_grad: float | None,
    where: str,
) -> torch.Tensor:
    """Forward and backward one micro-batch; with ``update_now``, the update of its group.

    The loss is divided by the accumulation steps, so the summed gradients of a group are the
    gradient of the mean loss over its samples: the larger batch's. DDP synchronises gradients
    on the group's last micro-batch only. Returns the micro-batch's (undivided) loss.
    """
    network, optimizer = training.network, training.optimizer
    synchronise = update_now or not isinstance(network, nn.parallel.DistributedDataParallel)
    with contextlib.nullcontext() if synchronise else network.no_sync():
        with autocast(training.device, torch.float16 if training.use_amp else None):
            loss = training.loss(network(images), targets)
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"loss is {loss.item()} at {where}")
        share = loss / training.accumulation_steps
        parameters = [p for p in network.parameters() if p.requires_grad]
        if training.scaler is not None:
            training.scaler(
                share, optimizer, clip_grad=clip_grad, parameters=parameters, need_update=update_now
            )
        else:
            share.backward()
            if update_now:
                if clip_grad is not None:
                    nn.utils.clip_grad_norm_(parameters, clip_grad)
                optimizer.step()
    if update_now:
        optimizer.zero_grad(set_to_none=True)
        training.num_updates += 1
        training.scheduler.step_update(num_updates=training.num_updates)
        if training.ema is not None:
            training.ema.update(training.model, step=training.num_updates)
    return loss


def train_one_epoch(
    training: Training,
    loader: DataLoader | Sequence[tuple[torch.Tensor, torch.Tensor]],
    recipe: Recipe,
    placement: ProcessPlacement,
) -> tuple[float, int]:
    """Train epoch ``training.next_epoch``; returns its mean loss and the images all ranks saw.

    ``loader`` yields micro-batches; each ``accumulation_steps`` of them make one update, and
    a last incomplete group is left out (as ``drop_last`` leaves out a last short batch).
    """
    epoch, accumulation = training.next_epoch, training.accumulation_steps
    updates = len(loader) // accumulation
    training.network.train()
    training.optimizer.zero_grad(set_to_none=True)
    progress = Progress(epoch, training.epochs, updates, recipe.log_every, placement.is_main)
    loss_sum, count, seen = 0.0, 0, 0
    start = time.time()
    for step, (images, targets) in enumerate(loader):
        if step == updates * accumulation:
            break
        images = images.to(training.device, non_blocking=True)
        targets = targets.to(training.device, non_blocking=True)
        if training.mixup is not None:
            images, targets = training.mixup(images, targets)
        update, micro = divmod(step, accumulation)
        where = f"epoch {epoch} update {update} micro-batch {micro}"
        loss = _micro_step(
            training, images, targets, micro == accumulation - 1, recipe.clip_grad, where
        )
        loss_sum += loss.item() * images.shape[0]
        count += images.shape[0]
        seen += images.shape[0] * placement.world_size
        if micro == accumulation - 1:
            elapsed = time.time() - start
            lr = training.optimizer.param_groups[-1]["lr"]
            progress.update(update, loss_sum / count, lr, seen / max(elapsed, 1e-9), elapsed)
    progress.close()
    mean_loss = all_reduce_mean(loss_sum / max(count, 1), training.device, placement)
    return mean_loss, seen


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    device: torch.device,
    placement: ProcessPlacement,
    precision: torch.dtype | None = None,
    progress: bool = False,
) -> dict[str, float]:
    """Loss, top-1 and top-5 (percent) over the whole validation set (summed across ranks).

    ``precision``: autocast to that dtype (None: float32); ``progress``: a tqdm bar of batches.
    """
    model.eval()
    totals = torch.zeros(4, dtype=torch.float64, device=device)  # loss sum, top1, top5, count
    batches = tqdm(loader, desc="evaluating", unit="batch", disable=not progress)
    for images, targets in batches:
        images = images.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        with autocast(device, precision):
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
    device = training.device
    precision = torch.float16 if training.use_amp else None
    evaluated = evaluate(training.model, val_loader, device, placement, precision)
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
        chosen = evaluate(training.ema.module, val_loader, device, placement, precision)
        line.update(ema_val_loss=chosen["loss"], ema_top1=chosen["top1"], ema_top5=chosen["top5"])
    line["eval_top1"], line["eval_top5"] = chosen["top1"], chosen["top5"]
    training.scheduler.step(epoch + 1, chosen["top1"])
    improved = chosen["top1"] > training.best["top1"]
    if improved:
        training.best = {"top1": chosen["top1"], "top5": chosen["top5"], "epoch": epoch}
    training.next_epoch = epoch + 1
    return line, improved
