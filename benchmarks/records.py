"""Records of what was measured, each carrying its provenance.

A measurement is only as good as what it says about itself: every record here names the
model (a zoo or timm name plus keyword overrides), and an :class:`Environment` says on which device,
with how many threads and which library versions, and when. The machine's load average is
read here too, so a timing can say whether other work shared the CPU.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import timm
from torch import nn

from common.environment import Environment
from models import create_model, list_models

__all__ = [
    "DEFAULT_INPUT_SIZE",
    "FlopCount",
    "ModelSpec",
    "ParamCount",
    "Throughput",
    "check_timm_name",
    "flatten",
    "model_source",
    "timm_model_names",
]

#: One 224x224 RGB image, the input size of every table of the paper but where it says otherwise.
DEFAULT_INPUT_SIZE = (3, 224, 224)


@cache
def timm_model_names() -> frozenset[str]:
    """Every name ``timm.create_model`` builds (the zoo's names included: it registers them)."""
    return frozenset(timm.list_models())


def check_timm_name(name: str) -> str:
    """Return ``name`` if timm builds it, else raise a ValueError with the closest timm names."""
    if name in timm_model_names():
        return name
    close = difflib.get_close_matches(name, sorted(timm_model_names()), n=3)
    hint = f" Closest: {', '.join(close)}." if close else ""
    raise ValueError(f"timm {timm.__version__} has no model {name!r}.{hint}")


def model_source(name: str) -> str:
    """ "zoo" for a zoo name, "timm" for a name only timm builds; else a ValueError naming the
    closest names of both (zoo names first)."""
    zoo = list_models()
    if name in zoo:
        return "zoo"
    if name in timm_model_names():
        return "timm"
    close = difflib.get_close_matches(name, zoo, n=3)
    close += [
        c
        for c in difflib.get_close_matches(name, sorted(timm_model_names()), n=3)
        if c not in close
    ]
    hint = f" Did you mean {', '.join(repr(c) for c in close[:3])}?" if close else ""
    raise ValueError(
        f"unknown model {name!r}: neither the zoo nor timm {timm.__version__} builds it.{hint} "
        + f"Known models: the zoo's {', '.join(zoo)}, and timm.list_models()"
    )


@dataclass(frozen=True)
class ModelSpec:
    """A model by name plus keyword overrides (ablations); checked when constructed.

    The name is a zoo name (built by :func:`models.create_model`) or any other name timm builds
    (``timm.create_model``, no pretrained weights): see :attr:`source`.
    """

    name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        model_source(self.name)
        object.__setattr__(self, "overrides", dict(self.overrides))  # a plain, picklable copy

    @classmethod
    def of(cls, model: ModelSpec | str) -> ModelSpec:
        """Accept a spec or a bare zoo or timm name."""
        return model if isinstance(model, ModelSpec) else cls(model)

    @property
    def source(self) -> str:
        """ "zoo" or "timm": which library builds this model."""
        return model_source(self.name)

    @property
    def label(self) -> str:
        """``name`` or ``name(key=value, ...)``: how tables and logs name this model."""
        if not self.overrides:
            return self.name
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.overrides.items())})"

    def build(self) -> nn.Module:
        """A fresh model, in eval mode, on the current default device."""
        if self.source == "zoo":
            return create_model(self.name, **dict(self.overrides)).eval()
        return timm.create_model(self.name, pretrained=False, **dict(self.overrides)).eval()


@dataclass(frozen=True)
class ParamCount:
    """The number of parameters (weights and biases; buffers excluded) of one model."""

    model: str
    overrides: Mapping[str, Any]
    params: int
    environment: Environment


@dataclass(frozen=True)
class FlopCount:
    """Multiply-accumulates of one forward pass of one image, as ptflops' aten backend counts.

    The aten backend counts matrix products and convolutions at the dispatcher, so it sees the
    ``matmul`` of a dynamically generated mixing matrix that module hooks miss. Element-wise
    ops, softmax and normalisation count zero. The paper's "FLOPs" are these MACs. Modules
    with a ``fused`` fast path are counted on their plain (reference) path.
    """

    model: str
    overrides: Mapping[str, Any]
    input_size: tuple[int, ...]
    macs: int
    counter: str  # e.g. "ptflops 0.7.5, aten backend"
    environment: Environment


@dataclass(frozen=True)
class Throughput:
    """Images per second of one model at one setting: every timed batch and their summary."""

    model: str
    overrides: Mapping[str, Any]
    batch_size: int
    input_size: tuple[int, ...]
    precision: str  # "fp32", "amp-bf16", "amp-fp16"
    channels_last: bool
    compiled: bool
    compile_mode: str | None  # torch.compile's mode when compiled
    warmup: int
    iters: int
    batch_seconds: tuple[float, ...]  # wall time of each timed batch, synchronised
    median_images_per_s: float
    min_images_per_s: float
    max_images_per_s: float
    load_average_before: float | None  # 1-minute load average: was the machine busy?
    load_average_after: float | None
    environment: Environment
    step: str = "inference"  # "inference" (eval, no grad) or "train" (forward, backward, SGD step)
    warmup_batch_size: int | None = None  # the warm-up batches' size, where not ``batch_size``


def flatten(record: ParamCount | FlopCount | Throughput) -> dict[str, Any]:
    """A record as one flat dict (its environment's fields inlined), for CSV and DataFrames."""
    row = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    environment = row.pop("environment")
    row["overrides"] = dict(row["overrides"])
    return {**row, **dataclasses.asdict(environment)}
