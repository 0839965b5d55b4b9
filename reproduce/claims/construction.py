"""Table 8: which construction of a removed branch reaches the printed parameter counts.

Our DynaMixer block weights its branches with a reweighting MLP C → C/4 → C × (number of
branches), so removing a branch also removes its third of that MLP's output layer. The
alternative, keeping 3 outputs, is computed from the same model's shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import torch

from benchmarks.counting import skip_meta_init
from models import create_model
from models.dynamixer import DynaMixerBlock
from reproduce.claims.verdicts import agreement
from reproduce.paper import TABLES

__all__ = ["RemovalCount", "table8_removals"]


@dataclass(frozen=True)
class RemovalCount:
    """One removal row of Table 8 under both constructions."""

    label: str
    printed: str  # "23M"
    ours: int  # the reweighting MLP shrunk to the remaining branches
    extra: int  # what keeping its 3 outputs would add

    @property
    def kept(self) -> int:
        """The count with the reweighting MLP's 3 outputs kept."""
        return self.ours + self.extra

    def convention(self, count: int) -> str | None:
        """Which rounding of ``count`` prints this row's figure (None: neither)."""
        return agreement(Decimal(count) / 10**6, self.printed[:-1])


def _reweight_third(name: str, **overrides: Any) -> tuple[int, int]:
    """Params of the model, and what keeping 3 reweighting outputs per block would add."""
    with skip_meta_init(), torch.device("meta"):
        net = create_model(name, **overrides)
    extra = 0
    for block in net.modules():
        if isinstance(block, DynaMixerBlock) and block.reweight is not None:
            missing = 3 - block.num_branches
            extra += missing * (block.reweight.fc2.in_features * block.dim + block.dim)
    return sum(p.numel() for p in net.parameters()), extra


def table8_removals() -> list[RemovalCount]:
    """Every row of Table 8 that removes a branch, counted under both constructions."""
    removals = []
    for row in TABLES[8].rows:
        removed = [k for k, v in row.overrides.items() if v is False and k != "reweight"]
        if not removed:
            continue
        ours, extra = _reweight_third(str(row.zoo_name), **row.overrides)
        removals.append(RemovalCount(row.label, row.cells["# parameters"], ours, extra))
    return removals
