"""Every check of the paper in one place: what REPORT.md renders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from reproduce.claims.construction import RemovalCount, table8_removals
from reproduce.claims.copied_figures import date_checks, source_checks
from reproduce.claims.counts import row_checks, table1_checks
from reproduce.claims.prose import prose_checks
from reproduce.claims.scaling import scaling_checks
from reproduce.claims.speed import Timing, speed_checks
from reproduce.claims.statements import statement_checks
from reproduce.claims.verdicts import Check
from reproduce.tables.counts import Measurement
from reproduce.tables.specs import MeasureKey

__all__ = ["Audit", "build_audit"]


@dataclass(frozen=True)
class Audit:
    """Every check, and Table 8's construction counts."""

    checks: list[Check]
    removals: list[RemovalCount] = field(default_factory=list)


def build_audit(
    measurements: Mapping[MeasureKey, Measurement],
    results: Sequence[Mapping[str, Any]],
    table4_frames: Sequence[tuple[str, pd.DataFrame]],
    other_timings: Sequence[tuple[str, dict[str, Timing]]] = (),
    scaling_frames: Sequence[tuple[str, pd.DataFrame]] = (),
) -> Audit:
    """Check every figure: counts, configurations and top-1 of Tables 1-9, the prose (sizes and
    what needs no training), the speed claims against each measured Table 4 (given as (file
    name, frame) pairs) and other interleaved runs, and the paper against its sources."""
    checks = [
        *table1_checks(measurements),
        *row_checks(measurements, results),
        *prose_checks(measurements),
        *statement_checks(measurements),
        *speed_checks(table4_frames, other_timings),
        *scaling_checks(scaling_frames),
        *source_checks(),
        *date_checks(),
    ]
    return Audit(checks, table8_removals())
