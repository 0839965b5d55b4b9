"""Training recipes as named configs: what one run trains, on what data, with which settings.

A `Recipe` is plain data. The named ones come from three places, each cited in ``source``:

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
offline runs and tests. `resolve` turns a name plus ``key=value`` overrides into a validated
recipe; `expand` turns a sweep name (``table7``) into its configs.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import hashlib
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from reproduce import paper

__all__ = [
    "ALIASES",
    "DATASETS",
    "MODEL_KEYS",
    "RECIPES",
    "SWEEPS",
    "Recipe",
    "config_key",
    "expand",
    "get_recipe",
    "list_configs",
    "parse_overrides",
    "resolve",
]

DATASETS: Final = ("imagenet", "cifar10", "cifar100", "digits")
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

_DYNAMIXER_REPO = "github ziyuwwang/DynaMixer README (8 GPUs) and main.py defaults"

# Plain augmentation, none of timm's ImageNet policy: a padded random crop and a flip only (no
# RandAugment, Mixup, CutMix or random erasing). Table 9's CIFAR and the digits recipes use it.
_CROP_FLIP_ONLY: Final[Mapping[str, Any]] = types.MappingProxyType(
    {"augment": "crop_flip", "auto_augment": None, "mixup": 0.0, "cutmix": 0.0, "reprob": 0.0}
)


@dataclass(frozen=True)
class Recipe:
    """One training run: model, data and every optimisation setting, as plain data.

    ``batch_size`` is per process (per GPU); the recipe's global batch is
    ``batch_size * paper_gpus``. ``overrides`` are keyword overrides of ``model`` (ablations,
    ``num_classes``). ``init_from`` names a config whose best checkpoint initialises the model
    (or is a checkpoint path); ``backbone_lr_scale`` scales every parameter group but the head.
    """

    name: str
    model: str
    dataset: str
    source: str
    overrides: dict[str, Any] = field(default_factory=dict)
    epochs: int = 300
    batch_size: int = 256
    paper_gpus: int = 8
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
        for name in ("epochs", "batch_size", "paper_gpus"):
            if getattr(self, name) < 1:
                raise ValueError(f"{self.name}: {name} must be >= 1; got {getattr(self, name)}")
        if (self.mixup > 0 or self.cutmix > 0) and self.batch_size % 2:
            raise ValueError(f"{self.name}: mixup/cutmix need an even batch_size")

    @property
    def global_batch(self) -> int:
        """The batch the recipe was published with: per-GPU batch times the paper's GPUs."""
        return self.batch_size * self.paper_gpus

    def model_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``models.create_model(self.model, ...)``."""
        kwargs: dict[str, Any] = {"drop_path_rate": self.drop_path, "drop_rate": self.drop}
        kwargs.update(self.overrides)
        return kwargs

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recipe:
        """Inverse of `to_dict`."""
        data = dict(data)
        for name in ("mean", "std"):
            if data.get(name) is not None:
                data[name] = tuple(data[name])
        return cls(**data)


# ---------------------------------------------------------------------------------------------
# ImageNet-1K: DynaMixer S/M/L (paper Section 4.2, Table 1, the authors' command lines).

_IMAGENET_DYNAMIXER = {
    # name: (model, per-GPU batch, drop path (Table 1 "Stoch. Dep."), crop_pct (model cfg))
    "imagenet_dynamixer_s": ("dynamixer_s", 256, 0.1, 0.9),
    "imagenet_dynamixer_m": ("dynamixer_m", 128, 0.1, 0.9),
    "imagenet_dynamixer_l": ("dynamixer_l", 64, 0.3, 0.875),
}

# ViP (Hou et al., 2021), github houqb/VisionPermutator: the same timm recipe (lr 2e-3, batch
# 256 x 8, AdamW, wd 0.05, RandAugment, Mixup/CutMix, RE 0.25), but its main.py has model EMA
# off and 10 warm-up epochs (its command line passes no --warmup-epochs). The README gives only
# ViP-S/7's command (drop path 0.1); M/7 and L/7 drop paths 0.1 / 0.3 are our reading, by the
# sizes DynaMixer copies from ViP's configuration table.
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
            source="ViP (Hou et al., 2021): github houqb/VisionPermutator README and main.py",
            drop_path=drop_path,
            crop_pct=crop_pct,
            warmup_epochs=10,
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


def _same_model(model: str, overrides: Mapping[str, Any]) -> bool:
    """Whether ``overrides`` leave the named DynaMixer configuration unchanged."""
    from models import dynamixer  # the config data only; builds nothing

    return dynamixer.config_dict(model, **overrides) == dynamixer.config_dict(model)


def _ablation_recipes(base: Recipe) -> tuple[dict[str, Recipe], dict[str, str], dict[str, tuple]]:
    recipes: dict[str, Recipe] = {}
    aliases: dict[str, str] = {}
    sweeps: dict[str, tuple[str, ...]] = {}
    for number in (5, 6, 7, 8):
        names = []
        for row in paper.get_table(number).rows:
            assert row.zoo_name == base.model, f"Table {number} row {row.label} is not {base.model}"
            name = f"table{number}_{_ablation_suffix(row.overrides)}"
            if _same_model(row.zoo_name, row.overrides):
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
# drop path 0.1, EMA weights of the pretrained model).

_CIFAR_MEAN, _CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)


def _cifar_recipes() -> dict[str, Recipe]:
    recipes: dict[str, Recipe] = {}
    for row in paper.get_table(9).rows:
        if row.zoo_name is None:
            continue
        dataset = row.cells["dataset"].replace("-", "").lower()  # "CIFAR-10" -> "cifar10"
        name = f"{dataset}_{row.zoo_name}"
        recipes[name] = Recipe(
            name=name,
            model=row.zoo_name,
            dataset=dataset,
            overrides=dict(row.overrides),
            source=(
                "paper Sec. 4.5 (SGD, cosine, 60 epochs) + Table 9; "
                + "github ziyuwwang/DynaMixer transfer_learning/transfer_learning.py"
            ),
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


RECIPES, ALIASES, SWEEPS = _build()
RECIPES = types.MappingProxyType(RECIPES)
ALIASES = types.MappingProxyType(ALIASES)
SWEEPS = types.MappingProxyType(SWEEPS)


def list_configs() -> list[str]:
    """Every config name `get_recipe` accepts (aliases included), then every sweep name."""
    return [*RECIPES, *ALIASES, *SWEEPS]


def _unknown(kind: str, name: str, known: list[str]) -> ValueError:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ValueError(f"unknown {kind} {name!r}.{hint} Known: {', '.join(known)}")


def get_recipe(name: str) -> Recipe:
    """The named recipe (an alias gives the recipe it stands for)."""
    name = ALIASES.get(name, name)
    if name not in RECIPES:
        raise _unknown("config", name, [*RECIPES, *ALIASES])
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
            raise _unknown("config or sweep", part, list_configs())
    if not names:
        raise ValueError("no config given; run with --list to see the names")
    return list(dict.fromkeys(names))


# ---------------------------------------------------------------------------------------------
# key=value overrides


def _parse_value(text: str) -> Any:
    """A Python literal (``3``, ``1e-3``, ``None``, ``True``, ``(0.5, 0.5)``) or else the string."""
    lowered = {"true": True, "false": False, "none": None, "null": None}
    if text.lower() in lowered:
        return lowered[text.lower()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["lr=1e-3", "reduced_dim=4"]`` -> ``{"lr": 0.001, "reduced_dim": 4}``."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} is not key=value")
        overrides[key.strip()] = _parse_value(value.strip())
    return overrides


_HINTS = typing.get_type_hints(Recipe)
_LOCKED = ("name", "source", "table", "row")  # identity fields: not overridable


def _coerce(key: str, value: Any) -> Any:
    """Check ``value`` against the type of Recipe field ``key`` (int -> float is allowed)."""
    hint = _HINTS[key]
    allowed = typing.get_args(hint) if typing.get_origin(hint) in (types.UnionType,) else (hint,)
    for kind in allowed:
        if kind is type(None) and value is None:
            return None
        origin = typing.get_origin(kind) or kind
        if origin is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if origin is tuple and isinstance(value, list | tuple):
            return tuple(float(v) for v in value)
        if origin is dict and isinstance(value, dict):
            return value
        if isinstance(origin, type) and isinstance(value, origin):
            if origin is int and isinstance(value, bool):
                continue
            return value
    raise ValueError(f"{key}={value!r}: expected {hint}")


def resolve(name: str, overrides: Mapping[str, Any] | None = None) -> Recipe:
    """The recipe ``name`` with ``overrides`` applied: Recipe fields, or model overrides.

    Model overrides (``reduced_dim=4``) go into ``Recipe.overrides``; ``None`` as a model
    override value is kept (Table 5's single segment). Raises ValueError naming the bad key
    and the accepted ones.
    """
    recipe = get_recipe(name)
    fields: dict[str, Any] = {}
    model_overrides = dict(recipe.overrides)
    accepted = [f.name for f in dataclasses.fields(Recipe) if f.name not in _LOCKED]
    for key, value in (overrides or {}).items():
        if key in MODEL_KEYS:
            model_overrides[key] = value
        elif key in accepted and key != "overrides":
            fields[key] = _coerce(key, value)
        else:
            raise _unknown("key", key, sorted({*accepted, *MODEL_KEYS} - {"overrides"}))
    return dataclasses.replace(recipe, overrides=model_overrides, **fields)


def config_key(recipe: Recipe) -> str:
    """The results-store key: the config name, plus a short hash when it differs from the named one.

    Two launches of the same settings share a key (and so a result and a run folder).
    """
    base = RECIPES.get(recipe.name)
    if base is None or base == recipe:
        return recipe.name
    changed = changed_fields(recipe)
    digest = hashlib.sha256(json.dumps(changed, sort_keys=True, default=str).encode()).hexdigest()
    return f"{recipe.name}+{digest[:8]}"


def changed_fields(recipe: Recipe) -> dict[str, Any]:
    """The fields of ``recipe`` that differ from its named config (what the user overrode)."""
    base = RECIPES.get(recipe.name)
    if base is None:
        return {}
    return {
        f.name: getattr(recipe, f.name)
        for f in dataclasses.fields(Recipe)
        if getattr(recipe, f.name) != getattr(base, f.name)
    }
