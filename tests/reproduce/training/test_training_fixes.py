"""Training runs that count: gradient accumulation gives the larger batch's update, subsets are
class-balanced, Table 9's fine-tuning freezes what the authors' scripts freeze, and the ViP
recipes warm up for the epochs ViP's README passes."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
import torch

import models
from reproduce.training.components import build_training, prepare_process
from reproduce.training.data import DigitsDataset, check_data
from reproduce.training.distributed import ProcessPlacement
from reproduce.training.loaders import balanced_subset, build_datasets
from reproduce.training.loop import train_one_epoch
from reproduce.training.overrides import resolve
from reproduce.training.recipe import accumulation_steps
from reproduce.training.recipes import get_recipe, model_arguments

ONE = ProcessPlacement()


def _digits_batch(size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` normalised digits images and labels: a fixed batch, no augmentation."""
    data = DigitsDataset(train=True)
    return (data.images[:size] - 0.5) / 0.5, data.targets[:size]


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
    images, targets = _digits_batch()
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


def test_accumulation_steps_reach_the_recipes_global_batch() -> None:
    recipe = get_recipe("imagenet_dynamixer_s")  # 256 per GPU x 8 GPUs
    assert recipe.global_batch == 2048
    assert [accumulation_steps(recipe, world) for world in (1, 2, 4, 8, 16)] == [8, 4, 2, 1, 1]
    smaller = resolve("imagenet_dynamixer_s", {"batch_size": 128})
    assert smaller.global_batch == 2048 and accumulation_steps(smaller, 1) == 16
    with pytest.raises(ValueError, match="global batch 2048 is not a whole number"):
        accumulation_steps(resolve("imagenet_dynamixer_s", {"batch_size": 96}), 1)
    forced = resolve("imagenet_dynamixer_s", {"accumulation_steps": 3})
    assert accumulation_steps(forced, 1) == 3
    assert [get_recipe(f"imagenet_dynamixer_{s}").global_batch for s in "sml"] == [2048, 1024, 512]


def test_train_subset_is_class_balanced_and_seeded() -> None:
    targets = [int(t) for t in DigitsDataset(train=True).targets]
    # The first 100 of a class-sorted folder would hold one class; a balanced subset holds ten.
    sorted_targets = sorted(targets)
    subset = balanced_subset(sorted_targets, 100, seed=0)
    assert Counter(sorted_targets[i] for i in subset) == dict.fromkeys(range(10), 10)
    uneven = Counter(targets[i] for i in balanced_subset(targets, 95, seed=0))
    assert max(uneven.values()) - min(uneven.values()) == 1 and sum(uneven.values()) == 95
    assert balanced_subset(targets, 95, seed=0) == balanced_subset(targets, 95, seed=0)
    assert balanced_subset(targets, 95, seed=0) != balanced_subset(targets, 95, seed=1)
    recipe = resolve("digits", {"train_subset": 50, "val_subset": 20, "seed": 3})
    spec = check_data("digits", None)
    train, val = build_datasets(recipe, spec, {"mean": (0.5,) * 3, "std": (0.5,) * 3})
    assert Counter(int(train[i][1]) for i in range(len(train))) == dict.fromkeys(range(10), 5)
    # The validation subset does not move with the run's seed: every seed meets the same images.
    _, val_other_seed = build_datasets(
        dataclasses.replace(recipe, seed=4), spec, {"mean": (0.5,) * 3, "std": (0.5,) * 3}
    )
    assert val.indices == val_other_seed.indices and len(val) == 20


def test_table9_fine_tuning_freezes_what_the_authors_scripts_leave_out() -> None:
    dynamixer, vip = get_recipe("cifar10_dynamixer_s"), get_recipe("cifar100_vip_s7")
    assert dynamixer.frozen_modules == ("norm",)
    assert "transfer_learning/transfer_learning.py @ 038b73b" in dynamixer.source
    assert "lines 154-156" in dynamixer.source
    assert vip.frozen_modules == ("patch_embed", "norm")
    assert "VisionPermutator transfer_learning.py @ 2cab2ce" in vip.source
    assert "lines 156-157" in vip.source
    # On the small model: frozen modules are out of the optimizer and do not move.
    recipe = resolve(
        "digits",
        {"frozen_modules": ("patch_embed", "norm"), "backbone_lr_scale": 0.01, "warmup_epochs": 0},
    )
    prepare_process(recipe, ONE)
    model = models.create_model(recipe.model, **model_arguments(recipe))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    training = build_training(recipe, model, 1, torch.device("cpu"), ONE)
    optimised = {id(p) for group in training.optimizer.param_groups for p in group["params"]}
    for name, parameter in model.named_parameters():
        frozen = name.startswith(("patch_embed.", "norm."))
        assert (id(parameter) in optimised) != frozen, name
    images, targets = _digits_batch()
    train_one_epoch(training, [(images, targets)], recipe, ONE)
    after = model.state_dict()
    for name in before:
        moved = not torch.equal(before[name], after[name])
        assert moved != name.startswith(("patch_embed.", "norm.")), name
    head = {id(p) for p in model.get_classifier().parameters()}
    for group in training.optimizer.param_groups:  # backbone at 0.01 x the head's lr
        in_head = {id(p) in head for p in group["params"]}
        assert group["lr"] == pytest.approx(recipe.lr * (1.0 if in_head == {True} else 0.01))
        one_dimensional = {p.ndim <= 1 for p in group["params"]}
        assert len(one_dimensional) == 1  # biases and norm weights: no weight decay
        assert group["weight_decay"] == (0.0 if one_dimensional == {True} else recipe.weight_decay)
    with pytest.raises(ValueError, match=r"frozen_modules \['stem'\]"):
        build_training(
            resolve("digits", {"frozen_modules": ("stem",)}), model, 1, torch.device("cpu"), ONE
        )


def test_vip_recipes_warm_up_as_vips_readme_says() -> None:
    for size in ("s14", "s7", "m7", "l7"):
        recipe = get_recipe(f"imagenet_vip_{size}")
        assert recipe.warmup_epochs == 20 and not recipe.model_ema
        assert "README.md @ 2cab2ce" in recipe.source and "line 75" in recipe.source
        assert "--warmup-epochs 20" in recipe.source
