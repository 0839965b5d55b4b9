"""Small formatting rules shared by every rendered table: missing cells, rates, durations."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

__all__ = [
    "MISSING",
    "cell_text",
    "device_text",
    "duration_text",
    "escape_cell",
    "rate_text",
    "ratio_text",
    "share_text",
]

MISSING = "—"  # a cell with nothing measured


def cell_text(value: Any, pattern: str) -> str:
    """``pattern.format(value)``, or :data:`MISSING` for None, NaN or pandas' NA."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return MISSING
    return pattern.format(value)


def duration_text(seconds: float) -> str:
    """'5 min 53 s' or '49 s'."""
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def rate_text(value: float) -> str:
    """Images per second with three significant figures or so ('551', '55.1', '5.51')."""
    if not math.isfinite(value):
        return "–"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ratio_text(value: float) -> str:
    """A ratio to two decimals, or '–' where there is none."""
    return f"{value:.2f}" if math.isfinite(value) else "–"


def share_text(value: float) -> str:
    """A fraction as a whole percentage, or '–' where there is none."""
    return f"{value:.0%}" if math.isfinite(value) else "–"


def escape_cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def device_text(
    device_name: str,
    device: str,
    threads: int,
    precision: str,
    channels_last: bool = False,
    compile_mode: str = "",
) -> str:
    """Where and how a run was timed: 'Intel Xeon ..., cpu, 2 threads, fp32' or 'NVIDIA H100,
    cuda:0, amp-bf16, torch.compile(mode=max-autotune)' (``compile_mode`` "" for eager)."""
    parts = [device_name, device]
    if device == "cpu":
        parts.append(f"{threads} threads")
    parts.append(precision)
    if channels_last:
        parts.append("channels_last")
    if compile_mode:
        parts.append(
            "torch.compile" + ("" if compile_mode == "default" else f"(mode={compile_mode})")
        )
    return ", ".join(parts)
