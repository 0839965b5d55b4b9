"""The cells of a table made of sweep rows (Table 4 and the zoo table share the sweep's
columns): each row's status, its rate with spread, its ratio to the reference with the
interval, and a count that may be missing (a model that could not be counted)."""

from __future__ import annotations

import math

import pandas as pd

from reproduce.render.text import rate_text, ratio_text

__all__ = ["count_cell", "rate_cells", "relative_cells", "statuses"]


def statuses(frame: pd.DataFrame) -> list[str]:
    """Each row's status ("ok" for a CSV written before rows had one)."""
    if "status" not in frame:
        return ["ok"] * len(frame)
    return [s if isinstance(s, str) and s else "ok" for s in frame["status"]]


def rate_cells(frame: pd.DataFrame) -> list[str]:
    """'12.3 [11.9–12.8]' (median [min–max] images/s, and the batch note of a retried row),
    or 'not timed: <status>'."""
    cells = []
    for status, (_, row) in zip(statuses(frame), frame.iterrows(), strict=True):
        if status != "ok":
            cells.append(f"not timed: {status}")
            continue
        median, low, high = (
            row["infer_samples_per_sec"],
            row["infer_samples_per_sec_min"],
            row["infer_samples_per_sec_max"],
        )
        note = row.get("batch_note")
        extra = f" ({note})" if isinstance(note, str) and note else ""
        cells.append(f"{rate_text(median)} [{rate_text(low)}–{rate_text(high)}]{extra}")
    return cells


def relative_cells(frame: pd.DataFrame) -> list[str]:
    """'0.93 [0.90–0.95]': the ratio to the reference row and its interval ('–' where none)."""
    if "relative" not in frame:
        return ["–"] * len(frame)
    return [
        f"{ratio_text(m)} [{ratio_text(lo)}–{ratio_text(hi)}]" if _finite(m) else "–"
        for m, lo, hi in zip(
            frame["relative"], frame["relative_low"], frame["relative_high"], strict=True
        )
    ]


def _finite(value: object) -> bool:
    """A number that is neither missing nor NaN."""
    return isinstance(value, (int, float)) and math.isfinite(value)


def count_cell(value: object, scale: float, unit: str, digits: int) -> str:
    """'26.3M', '7.32G': a count scaled, or '–' for a model that could not be counted."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{float(value) / scale:.{digits}f}{unit}"
