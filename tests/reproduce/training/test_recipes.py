"""Recipes: sweeps derive from the paper's tables, one place builds a run's model arguments,
and one `same_model` decides whether two override sets build the same model."""

from __future__ import annotations

import pytest
import torch

import models
from reproduce import paper
from reproduce.training.checkpoints import model_identity
from reproduce.training.components import build_training, prepare_process
from reproduce.training.data import num_classes
from reproduce.training.loop import train_one_epoch
from reproduce.training.overrides import resolve
from reproduce.training.plan import count_parameters
from reproduce.training.recipes import expand, get_recipe, model_arguments, same_model
from tests.reproduce.training.conftest import ONE, digits_batch


def test_sweeps_derive_from_the_paper_tables() -> None:
    table7 = expand("table7")
    assert table7 == [
        "table7_reduced_dim_1", "imagenet_dynamixer_s", "table7_reduced_dim_4",
        "table7_reduced_dim_8",
    ]  # fmt: skip
    for number in (5, 6, 7, 8):
        names = expand(f"table{number}")
        rows = paper.get_table(number).rows
        assert len(names) == len(rows)
        for name, row in zip(names, rows, strict=True):
            recipe = get_recipe(name)
            assert recipe.model == row.zoo_name
            if name != "imagenet_dynamixer_s":
                assert recipe.overrides == dict(row.overrides)
                base = get_recipe("imagenet_dynamixer_s")
                assert resolve(name) == resolve(name)
                assert recipe.lr == base.lr and recipe.epochs == base.epochs
    assert get_recipe("table7_reduced_dim_2").name == "imagenet_dynamixer_s"
    cifar = get_recipe("cifar100_dynamixer_s")
    assert (cifar.epochs, cifar.opt, cifar.sched, cifar.overrides) == (
        60, "momentum", "cosine", {"num_classes": 100},
    )  # fmt: skip


def test_model_arguments_add_the_dataset_classes_and_input_size() -> None:
    assert model_arguments(get_recipe("cifar100_dynamixer_s")) == {
        "drop_path_rate": 0.1, "drop_rate": 0.0, "num_classes": 100, "img_size": 224,
    }  # fmt: skip
    digits = resolve("digits_mixing_random", {"drop_path": 0.2})
    assert model_arguments(digits) == {
        "drop_path_rate": 0.2, "drop_rate": 0.0, "mixing": "random", "num_classes": 10,
        "img_size": 32,
    }  # fmt: skip
    assert count_parameters(get_recipe("digits")) == 73362


def test_model_identity_is_the_model_and_its_overrides_only() -> None:
    # What checkpoints store to refuse resuming another variant: regularisation and input size
    # changes keep the identity (and so the checkpoints written before them).
    recipe = resolve("digits_mixing_random", {"drop_path": 0.2, "img_size": 32})
    assert model_identity(recipe) == {
        "model": "dynamixer_digits", "overrides": {"mixing": "random", "num_classes": 10},
    }  # fmt: skip


def test_num_classes_must_match_the_dataset() -> None:
    assert num_classes("cifar100") == 100 and num_classes("imagenet") == 1000
    assert resolve("digits", {"num_classes": 10}).overrides == {"num_classes": 10}
    with pytest.raises(ValueError, match="num_classes=100 but digits has 10 classes"):
        resolve("digits", {"num_classes": 100})


def test_same_model() -> None:
    # DynaMixer: by resolved configuration; a default value or `fused` builds the same model.
    assert same_model("dynamixer_s", {"reduced_dim": 2}, {})
    assert same_model("dynamixer_s", {"fused": False}, {"fused": True})
    assert not same_model("dynamixer_s", {"reduced_dim": 4}, {})
    assert same_model("dynamixer_s", {"segment_dim": None}, {"segment_dim": "D"})
    assert not same_model("dynamixer_s", {"reduced_dim": 0}, {})  # rejected: builds no model
    assert not same_model("dynamixer_s", {"no_such_switch": True}, {})
    # num_classes: a set without one has the default given.
    assert same_model("dynamixer_s", {"num_classes": 100}, {}, num_classes=100)
    assert not same_model("dynamixer_s", {"num_classes": 100}, {}, num_classes=1000)
    assert not same_model("dynamixer_s", {"num_classes": 100}, {})
    # Other models: equal overrides.
    assert same_model("vip_s7", {"num_classes": 10}, {}, num_classes=10)
    assert not same_model("vip_s7", {"drop_rate": 0.1}, {})


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
    images, targets = digits_batch()
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
