"""Every check of the paper in one place: what REPORT.md renders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from reproduce.claims.construction import RemovalCount, table8_removals
from reproduce.claims.counts import row_checks, table1_checks
from reproduce.claims.prose import prose_checks
from reproduce.claims.speed import speed_checks
from reproduce.claims.verdicts import Check
from reproduce.tables.counts import Measurement
from reproduce.tables.specs import MeasureKey

__all__ = ["Audit", "build_audit"]


@dataclass(frozen=True)
class Audit:
    """Every check, the rows nothing here builds, and Table 8's construction counts."""

    checks: list[Check]
    unbuilt_rows: int
    unbuilt_figures: int
    removals: list[RemovalCount] = field(default_factory=list)


def build_audit(
    measurements: Mapping[MeasureKey, Measurement],
    results: Sequence[Mapping[str, Any]],
    table4_frames: Sequence[tuple[str, pd.DataFrame]],
) -> Audit:
    """Check every figure: counts and top-1 of Tables 1-9, the prose, and the speed claims
    against each measured Table 4 (given as (file name, frame) pairs)."""
    rows, unbuilt_rows, unbuilt_figures = row_checks(measurements, results)
    checks = [
        *table1_checks(measurements),
        *rows,
        *prose_checks(measurements),
        *speed_checks(table4_frames),
    ]
    return Audit(checks, unbuilt_rows, unbuilt_figures, table8_removals())
