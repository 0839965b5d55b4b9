"""The training loop: gradient accumulation gives the larger batch's update."""

from __future__ import annotations

import pytest
import torch

import models
from reproduce.training.components import build_training, prepare_process
from reproduce.training.loop import train_one_epoch
from reproduce.training.overrides import resolve
from reproduce.training.recipes import get_recipe, model_arguments
from tests.reproduce.training.conftest import ONE, digits_batch


def _one_update(batch_size: int, chunks: int, **changes: object) -> tuple[dict, dict, dict]:
    """One update of the digits recipe on a fixed batch of 64 images fed as ``chunks``
    micro-batches of ``batch_size``: the gradients the optimizer stepped with, and the model's
    and EMA's weights after it."""
    recipe = resolve("digits", {"batch_size": batch_size, "threads": 1, **changes})
    prepare_process(recipe, ONE)  # same seed: same initial weights for every call
    model = models.create_model(recipe.model, **model_arguments(recipe))
    training = build_training(recipe, model, chunks, torch.device("cpu"), ONE)
    stepped: dict[str, torch.Tensor] = {}

    def keep_gradients(*_: object) -> None:
        stepped.update({n: p.grad.clone() for n, p in model.named_parameters()})

    training.optimizer.register_step_pre_hook(keep_gradients)
    images, targets = digits_batch()
    loader = list(zip(images.chunk(chunks), targets.chunk(chunks), strict=True))
    train_one_epoch(training, loader, recipe, ONE)
    assert training.accumulation_steps == chunks and training.num_updates == 1
    assert training.ema is not None
    return stepped, model.state_dict(), training.ema.module.state_dict()


def _largest_gap(a: dict, b: dict) -> float:
    assert a.keys() == b.keys() and a
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.mark.parametrize("batch_size, chunks", [(32, 2), (16, 4)])
def test_accumulated_micro_batches_give_the_larger_batchs_update(
    batch_size: int, chunks: int
) -> None:
    # fp32, no dropout or drop path (the digits recipe has none), no Mixup: one update from 64
    # images at once, and from micro-batches whose gradients were accumulated.
    recipe = get_recipe("digits")
    assert (recipe.drop, recipe.drop_path, recipe.mixup, recipe.cutmix) == (0.0, 0.0, 0.0, 0.0)
    prepare_process(recipe, ONE)
    initial = models.create_model(recipe.model, **model_arguments(recipe)).state_dict()
    # The recipe's AdamW: the optimizer steps with the larger batch's gradient.
    gradients, weights, _ = _one_update(64, 1)
    parts_gradients, parts_weights, _ = _one_update(batch_size, chunks)
    assert _largest_gap(gradients, parts_gradients) <= 1e-6
    # Its step divides by |gradient| + 1e-8, so entries whose gradient is ~1e-9 (float noise of
    # a different summation order) move a few 1e-6 apart: bounded here, not claimed equal.
    assert _largest_gap(weights, parts_weights) <= 1e-5
    # An update linear in the gradient (SGD with momentum, lr 1, no warm-up) gives the same
    # weights, and the same EMA, within 1e-6.
    sgd = {"opt": "momentum", "lr": 1.0, "warmup_epochs": 0}
    _, whole, whole_ema = _one_update(64, 1, **sgd)
    _, parts, parts_ema = _one_update(batch_size, chunks, **sgd)
    assert _largest_gap(whole, initial) > 1e-2, "the update hardly moved the weights"
    assert _largest_gap(whole, parts) <= 1e-6 and _largest_gap(whole_ema, parts_ema) <= 1e-6
    print(
        f"{chunks} x {batch_size} vs 64: gradient {_largest_gap(gradients, parts_gradients):.1e}, "
        + f"AdamW weights {_largest_gap(weights, parts_weights):.1e}, "
        + f"SGD weights {_largest_gap(whole, parts):.1e} apart at most"
    )
