"""The named training recipes (configs): each a `Recipe`, with its source cited in ``source``.

* ImageNet-1K (Tables 2-4): the paper's Section 4.2 and Table 1, plus the authors' published
  command lines (github ziyuwwang/DynaMixer README, timm 0.4.12 ``train.py`` defaults their
  ``main.py`` keeps: model EMA on with decay 0.99996, 10 cooldown epochs, colour jitter 0.4,
  random train interpolation). ViP and ResMLP use their own papers' recipes where they differ.
* Ablations (Tables 5-8): one config per row, derived from `reproduce.paper` (the row's
  ``zoo_name`` + ``overrides``) on top of the DynaMixer-S recipe, never retyped here. A row whose
  model is exactly DynaMixer-S (Table 5's D/S = 24, Table 6's "DynaMixer-S", Table 7's d = 2,
  Table 8's first row) *is* the ``imagenet_dynamixer_s`` run: its name is an alias of it, so the
  same 300-epoch run is never trained twice.
* Table 9 (CIFAR transfer): the authors' ``transfer_learning.py`` (SGD, cosine, 60 epochs).

``digits`` configs train the small ``dynamixer_digits`` on scikit-learn's bundled digits, for
offline runs and tests. `get_recipe` looks a name up; `expand` turns a sweep name (``table7``)
into its configs. `model_arguments` assembles a run's ``models.create_model`` arguments (here
and nowhere else); `same_model` says whether two override sets build the same model.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
from collections.abc import Mapping
from typing import Any, Final

from models import dynamixer
from reproduce import paper
from reproduce.training.data import num_classes
from reproduce.training.recipe import Recipe

__all__ = [
    "ALIASES",
    "DIGITS",
    "RECIPES",
    "SWEEPS",
    "expand",
    "get_recipe",
    "list_configs",
    "model_arguments",
    "same_model",
    "unknown_name",
]


def model_arguments(recipe: Recipe) -> dict[str, Any]:
    """Keyword arguments of ``models.create_model(recipe.model, ...)`` for a training run.

    Regularisation rates, the recipe's model overrides, the dataset's number of classes and the
    input size: the parameter count, the training job and the checkpoint's model identity all
    take the model from here.
    """
    arguments: dict[str, Any] = {"drop_path_rate": recipe.drop_path, "drop_rate": recipe.drop}
    arguments.update(recipe.overrides)
    arguments.setdefault("num_classes", num_classes(recipe.dataset))
    arguments["img_size"] = recipe.img_size
    return arguments


def same_model(
    model: str, a: Mapping[str, Any], b: Mapping[str, Any], num_classes: int | None = None
) -> bool:
    """Whether override sets ``a`` and ``b`` build the same ``model``.

    ``num_classes`` is the class count of a set that does not give one. A DynaMixer compares by
    its resolved configuration (so ``fused``, which changes how it computes and not what, does
    not count; overrides it rejects build no model: False); other models by equal overrides.
    """
    a, b = dict(a), dict(b)
    if a.pop("num_classes", num_classes) != b.pop("num_classes", num_classes):
        return False
    if model in dynamixer.CONFIGS:
        try:
            return dynamixer.config_dict(model, **a) == dynamixer.config_dict(model, **b)
        except (TypeError, ValueError):
            return False
    return a == b


_DYNAMIXER_REPO = "github ziyuwwang/DynaMixer README (8 GPUs) and main.py defaults"

# Plain augmentation, none of timm's ImageNet policy: a padded random crop and a flip only (no
# RandAugment, Mixup, CutMix or random erasing). Table 9's CIFAR and the digits recipes use it.
_CROP_FLIP_ONLY: Final[Mapping[str, Any]] = types.MappingProxyType(
    {"augment": "crop_flip", "auto_augment": None, "mixup": 0.0, "cutmix": 0.0, "reprob": 0.0}
)


# ---------------------------------------------------------------------------------------------
# ImageNet-1K: DynaMixer S/M/L (paper Section 4.2, Table 1, the authors' command lines).

_IMAGENET_DYNAMIXER = {
    # name: (model, per-GPU batch, drop path (Table 1 "Stoch. Dep."), crop_pct (model cfg))
    "imagenet_dynamixer_s": ("dynamixer_s", 256, 0.1, 0.9),
    "imagenet_dynamixer_m": ("dynamixer_m", 128, 0.1, 0.9),
    "imagenet_dynamixer_l": ("dynamixer_l", 64, 0.3, 0.875),
}

# ViP (Hou et al., 2021), github houqb/VisionPermutator: the same timm recipe (lr 2e-3, batch
# 256 x 8, AdamW, wd 0.05, RandAugment, Mixup/CutMix, RE 0.25, 20 warm-up epochs from 1e-6:
# its README's command line, _VIP_COMMAND; commit d1c93e9 raised --warmup-epochs from 5 to 20),
# with model EMA off (its main.py, commit c08c6c4 "disable ema, we don't use ema in vip"). The
# README gives only ViP-S/7's command (drop path 0.1); M/7 and L/7 drop paths 0.1 / 0.3 are our
# reading, by the sizes DynaMixer copies from ViP's configuration table.
_VIP_COMMAND: Final = (
    "github houqb/VisionPermutator README.md @ 2cab2ce (2cab2cedecfcc6aa938a341276a61fc6d6505579), "
    + "line 75: ./distributed_train.sh 8 ... --warmup-lr 1e-6 --warmup-epochs 20"
)
_IMAGENET_VIP = {
    "imagenet_vip_s14": ("vip_s14", 0.1, 0.9),
    "imagenet_vip_s7": ("vip_s7", 0.1, 0.9),
    "imagenet_vip_m7": ("vip_m7", 0.1, 0.9),
    "imagenet_vip_l7": ("vip_l7", 0.3, 0.875),
}

# ResMLP (Touvron et al., 2021a), supervised recipe without distillation (the rows Tables 2
# and 4 print): DeiT-style training with LAMB, lr 5e-3, wd 0.2, batch 1024, 400 epochs,
# 5 warm-up epochs, repeated augmentation, no colour jitter, test crop ratio 0.9 (the ResMLP
# README). Stochastic depth rates per size are our reading: the repository does not print them.
_IMAGENET_RESMLP = {
    "imagenet_resmlp_s12": ("resmlp_s12", 0.0),
    "imagenet_resmlp_s24": ("resmlp_s24", 0.1),
    "imagenet_resmlp_b24": ("resmlp_b24", 0.2),
}


def _imagenet_recipes() -> dict[str, Recipe]:
    recipes: dict[str, Recipe] = {}
    for name, (model, batch, drop_path, crop_pct) in _IMAGENET_DYNAMIXER.items():
        recipes[name] = Recipe(
            name=name,
            model=model,
            dataset="imagenet",
            source=f"paper Sec. 4.2 + Table 1; {_DYNAMIXER_REPO}",
            batch_size=batch,
            drop_path=drop_path,
            crop_pct=crop_pct,
        )
    for name, (model, drop_path, crop_pct) in _IMAGENET_VIP.items():
        recipes[name] = Recipe(
            name=name,
            model=model,
            dataset="imagenet",
            source=f"ViP (Hou et al., 2021): {_VIP_COMMAND}; main.py (EMA off)",
            drop_path=drop_path,
            crop_pct=crop_pct,
            warmup_epochs=20,
            model_ema=False,
        )
    for name, (model, drop_path) in _IMAGENET_RESMLP.items():
        recipes[name] = Recipe(
            name=name,
            model=model,
            dataset="imagenet",
            source="ResMLP (Touvron et al., 2021a), supervised training recipe (DeiT code base)",
            epochs=400,
            batch_size=128,
            opt="lamb",
            lr=5e-3,
            weight_decay=0.2,
            warmup_epochs=5,
            drop_path=drop_path,
            color_jitter=0.0,
            crop_pct=0.9,
            repeated_aug=3,
            model_ema=False,
        )
    return recipes


# ---------------------------------------------------------------------------------------------
# Tables 5-8: one config per ablation row, derived from the paper data.


def _ablation_suffix(overrides: Mapping[str, Any]) -> str:
    """A readable name for a row's overrides: ``reduced_dim_4``, ``no_reweight``, ``baseline``."""
    parts = []
    for key, value in overrides.items():
        if value is False:
            parts.append(f"no_{key}")
        elif value is True:
            parts.append(key)
        else:
            parts.append(f"{key}_{'D' if value is None else value}")
    return "_".join(parts) or "baseline"


def _ablation_recipes(base: Recipe) -> tuple[dict[str, Recipe], dict[str, str], dict[str, tuple]]:
    recipes: dict[str, Recipe] = {}
    aliases: dict[str, str] = {}
    sweeps: dict[str, tuple[str, ...]] = {}
    for number in (5, 6, 7, 8):
        names = []
        for row in paper.get_table(number).rows:
            assert row.zoo_name == base.model, f"Table {number} row {row.label} is not {base.model}"
            name = f"table{number}_{_ablation_suffix(row.overrides)}"
            if same_model(row.zoo_name, row.overrides, {}):
                aliases[name] = base.name
                names.append(base.name)
                continue
            recipes[name] = dataclasses.replace(
                base,
                name=name,
                overrides=dict(row.overrides),
                source=f"paper Table {number} row {row.model_text!r} on the DynaMixer-S recipe",
                table=number,
                row=" ".join(f"{v}" for v in row.cells.values()),
            )
            names.append(name)
        sweeps[f"table{number}"] = tuple(names)
    return recipes, aliases, sweeps


# ---------------------------------------------------------------------------------------------
# Table 9: CIFAR fine-tuning from ImageNet checkpoints (the authors' transfer_learning.py:
# SGD momentum 0.9, lr 0.01 for the head and 0.01 x 0.01 for the backbone, wd 5e-4, cosine to
# 2e-4 over 60 epochs stepped per epoch, batch 128 on one GPU, images resized to 224, random
# crop with 28-pixel padding and flips, CIFAR mean/std, cross-entropy without smoothing,
# drop path 0.1, EMA weights of the pretrained model). The optimizer gets only some modules:
# the rest stay frozen at their pretrained values (`_TRANSFER_SCRIPTS`). ViP-S/7's rows follow
# ViP's own transfer script, which is DynaMixer's but for those modules, and T2T-14's follow
# T2T-ViT's, whose defaults DynaMixer's keeps. ViT-S/16 has no transfer script (T2T-ViT's needs
# a tokens_to_token module), so its rows get no recipe.

_CIFAR_MEAN, _CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
# Model -> (the transfer script its rows follow, the modules it leaves out of the optimizer).
_TRANSFER_SCRIPTS: Final[Mapping[str, tuple[str, tuple[str, ...]]]] = types.MappingProxyType(
    {
        "dynamixer_s": (
            "github ziyuwwang/DynaMixer transfer_learning/transfer_learning.py @ 038b73b "
            + "(038b73b2f70308fdb5584d079c84b5df159490e0), lines 154-156: the optimizer gets "
            + "patch_embed and network at 0.01 x lr and head at lr; the final norm is left out",
            ("norm",),
        ),
        "vip_s7": (
            "github houqb/VisionPermutator transfer_learning.py @ 2cab2ce "
            + "(2cab2cedecfcc6aa938a341276a61fc6d6505579), lines 156-157: the optimizer gets "
            + "network at 0.01 x lr and head at lr; patch_embed and the final norm are left out",
            ("patch_embed", "norm"),
        ),
        "t2t_vit_14": (
            "github yitu-opensource/T2T-ViT transfer_learning.py @ 0f63dc9 "
            + "(0f63dc9558f4d192de926504dbddfa1b3f5db6ca), lines 155-157: the optimizer gets "
            + "tokens_to_token and blocks at 0.01 x lr and head at lr; cls_token, the (frozen) "
            + "pos_embed and the final norm are left out (cls_token, a parameter, not a module, "
            + "is trained here at 0.01 x lr)",
            ("norm",),
        ),
    }
)


def _cifar_recipes() -> dict[str, Recipe]:
    recipes: dict[str, Recipe] = {}
    for row in paper.get_table(9).rows:
        if row.zoo_name not in _TRANSFER_SCRIPTS:
            continue  # not built, or no authors' transfer script to follow (ViT-S/16)
        dataset = row.cells["dataset"].replace("-", "").lower()  # "CIFAR-10" -> "cifar10"
        name = f"{dataset}_{row.zoo_name}"
        script, frozen = _TRANSFER_SCRIPTS[row.zoo_name]
        recipes[name] = Recipe(
            name=name,
            model=row.zoo_name,
            dataset=dataset,
            overrides=dict(row.overrides),
            source=f"paper Sec. 4.5 (SGD, cosine, 60 epochs) + Table 9; {script}",
            epochs=60,
            batch_size=128,
            paper_gpus=1,
            opt="momentum",
            lr=0.01,
            weight_decay=5e-4,
            filter_bias_and_bn=False,
            min_lr=2e-4,
            warmup_lr=0.0,
            warmup_epochs=0,
            cooldown_epochs=0,
            drop_path=0.1,
            smoothing=0.0,
            model_ema=False,
            **_CROP_FLIP_ONLY,
            crop_padding=224 // 8,
            mean=_CIFAR_MEAN,
            std=_CIFAR_STD,
            init_from=f"imagenet_{row.zoo_name}",
            backbone_lr_scale=0.01,
            frozen_modules=frozen,
            amp=False,
            table=9,
            row=row.cells["dataset"],
        )
    return recipes


# ---------------------------------------------------------------------------------------------
# Digits: scikit-learn's bundled 8x8 digits upscaled to 32x32, for offline runs and tests.

DIGITS: Final = Recipe(
    name="digits",
    model="dynamixer_digits",
    dataset="digits",
    source="small offline check: sklearn digits (1797 images) upscaled to 32x32",
    epochs=30,
    batch_size=64,
    paper_gpus=1,
    lr=3e-3,
    weight_decay=0.05,
    min_lr=1e-5,
    warmup_lr=1e-4,
    warmup_epochs=2,
    cooldown_epochs=0,
    drop_path=0.0,
    smoothing=0.1,
    model_ema=True,
    model_ema_decay=0.99,
    model_ema_warmup=True,
    **_CROP_FLIP_ONLY,
    img_size=32,
    hflip=0.0,  # digits are not mirror-symmetric
    crop_padding=2,
    amp=False,
    deterministic=True,
    threads=1,  # a tiny model: one thread is faster than two fighting over a busy 2-core box
    workers=0,
    log_every=10,
)


def _digits_recipes() -> dict[str, Recipe]:
    recipes = {"digits": DIGITS}
    for mixing in ("random", "dense"):
        name = f"digits_mixing_{mixing}"
        recipes[name] = dataclasses.replace(
            DIGITS,
            name=name,
            overrides={"mixing": mixing},
            source=f"{DIGITS.source}; Table 6's {mixing!r} mixing on the small model",
        )
    return recipes


def _build() -> tuple[dict[str, Recipe], dict[str, str], dict[str, tuple[str, ...]]]:
    recipes = _imagenet_recipes()
    ablations, aliases, sweeps = _ablation_recipes(recipes["imagenet_dynamixer_s"])
    recipes.update(ablations)
    recipes.update(_cifar_recipes())
    recipes.update(_digits_recipes())

    def zoo_rows(number: int) -> tuple[str, ...]:
        names = [f"imagenet_{row.zoo_name}" for row in paper.get_table(number).rows]
        return tuple(dict.fromkeys(n for n in names if n in recipes))

    sweeps = {
        "imagenet": tuple(_IMAGENET_DYNAMIXER),
        "table2": zoo_rows(2),
        "table3": zoo_rows(3),
        "table4": zoo_rows(4),
        **sweeps,
        "ablations": tuple(dict.fromkeys(n for t in (5, 6, 7, 8) for n in sweeps[f"table{t}"])),
        "table9": tuple(n for n, r in recipes.items() if r.table == 9),
        "digits_mixing": ("digits", "digits_mixing_random", "digits_mixing_dense"),
    }
    return recipes, aliases, sweeps


_recipes, _aliases, _sweeps = _build()
#: Every named recipe, by config name.
RECIPES: Final[Mapping[str, Recipe]] = types.MappingProxyType(_recipes)
#: Config names that stand for another config's run (an ablation row that is the base model).
ALIASES: Final[Mapping[str, str]] = types.MappingProxyType(_aliases)
#: Sweep names and the configs each launches, in the paper's row order.
SWEEPS: Final[Mapping[str, tuple[str, ...]]] = types.MappingProxyType(_sweeps)


def list_configs() -> list[str]:
    """Every config name `get_recipe` accepts (aliases included), then every sweep name."""
    return [*RECIPES, *ALIASES, *SWEEPS]


def unknown_name(kind: str, name: str, known: list[str]) -> ValueError:
    """The error for an unknown name: the closest known one, then every known one."""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ValueError(f"unknown {kind} {name!r}.{hint} Known: {', '.join(known)}")


def get_recipe(name: str) -> Recipe:
    """The named recipe (an alias gives the recipe it stands for)."""
    name = ALIASES.get(name, name)
    if name not in RECIPES:
        raise unknown_name("config", name, [*RECIPES, *ALIASES])
    return RECIPES[name]


def expand(name: str) -> list[str]:
    """Config names for a sweep name, a comma-separated list, or a single config."""
    names: list[str] = []
    for part in filter(None, (p.strip() for p in name.split(","))):
        if part in SWEEPS:
            names.extend(SWEEPS[part])
        elif part in RECIPES or part in ALIASES:
            names.append(ALIASES.get(part, part))
        else:
            raise unknown_name("config or sweep", part, list_configs())
    if not names:
        raise ValueError("no config given; run with --list to see the names")
    return list(dict.fromkeys(names))
