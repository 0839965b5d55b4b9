"""Small formatting rules shared by every rendered table: missing cells, rates, durations, and
the sentences of a measured table's caption (device, load, bf16, MFU) read from its run-level
cells."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from benchmarks.gemm import GEMM_PEAK_CALLS, GEMM_SHAPE
from common.durations import duration_text

__all__ = [
    "MISSING",
    "bf16_sentence",
    "cell_text",
    "compile_mode_of",
    "device_text",
    "duration_text",
    "escape_cell",
    "gpu_short_name",
    "is_true",
    "load_text",
    "mfu_sentence",
    "rate_text",
    "ratio_text",
    "run_device_text",
    "run_loads",
    "run_row",
    "settings_stem_parts",
    "share_text",
]

MISSING = "—"  # a cell with nothing measured


def cell_text(value: Any, pattern: str) -> str:
    """``pattern.format(value)``, or :data:`MISSING` for None, NaN or pandas' NA."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return MISSING
    return pattern.format(value)


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


# ---------------------------------------------------------------------------------------------
# A measured frame's run-level cells (settings, environment): the same on every row


def run_row(frame: pd.DataFrame) -> pd.Series:
    """The run-level values (settings, environment): the same on every row; taken from the
    first row that was timed (a failed row has no batch or input size)."""
    if "status" in frame:
        timed = frame[frame["status"].fillna("ok").isin(["ok", ""])]
        if not timed.empty:
            return timed.iloc[0]
    return frame.iloc[0]


def is_true(value: object) -> bool:
    """A boolean cell, as written (True) or read back from a CSV ('True')."""
    return str(value) == "True"


def compile_mode_of(run: pd.Series) -> str:
    """A run's compile mode, or "" for an eager run (an empty CSV cell reads back as NaN)."""
    mode = run.get("compile_mode")
    return mode if isinstance(mode, str) else ""


def run_loads(frame: pd.DataFrame, column: str = "infer_load_average") -> list[float]:
    """Every 1-minute load average a frame's rows recorded ("1.50 2.00" per row)."""
    if column not in frame:
        return []
    return [float(v) for text in frame[column].dropna() for v in str(text).split()]


def run_device_text(run: pd.Series, compile_mode: str) -> str:
    """:func:`device_text` of a run's cells (``compile_mode`` "" for eager)."""
    return device_text(
        str(run["device_name"]),
        str(run["device"]),
        int(run["threads"]),
        str(run["precision"]),
        is_true(run["channels_last"]),
        compile_mode,
    )


def settings_stem_parts(precision: str, channels_last: bool, compile_mode: str) -> list[str]:
    """A file stem's parts for non-default settings: 'amp-bf16', 'channels-last',
    'compile' or 'compile-<mode>' (``compile_mode`` "" for eager)."""
    parts = []
    if precision != "fp32":
        parts.append(precision)
    if channels_last:
        parts.append("channels-last")
    if compile_mode:
        parts.append("compile" + ("" if compile_mode == "default" else f"-{compile_mode}"))
    return parts


def gpu_short_name(device_name: str) -> str:
    """A file-name tag for a GPU: 'NVIDIA H100 80GB HBM3' -> 'h100', 'Tesla V100-SXM2-16GB' ->
    'v100', 'NVIDIA GeForce RTX 4090' -> 'rtx4090'."""
    words = [
        w for w in re.split(r"\s+", device_name) if w.lower() not in {"nvidia", "tesla", "geforce"}
    ]
    for i, word in enumerate(words):
        if any(ch.isdigit() for ch in word):
            stem = word.split("-")[0]
            if i > 0 and words[i - 1].isalpha() and not stem[0].isalpha():
                stem = words[i - 1] + stem
            return re.sub(r"[^a-z0-9]", "", stem.lower()) or "gpu"
    return re.sub(r"[^a-z0-9]", "", "".join(words).lower())[:16] or "gpu"


def load_text(run: pd.Series, loads: Sequence[float], shared: str, during: str = "") -> str:
    """'; 1-minute load average 1.9–2.4<during> on 2 cores', plus ' (above this run's own
    threads: <shared>)' where the CPU was busier than the run itself; "" off a CPU or unmeasured.
    """
    if not loads or run["device"] != "cpu":
        return ""
    text = (
        f"; 1-minute load average {min(loads):.1f}–{max(loads):.1f}{during}"
        + f" on {int(run['cpu_count'])} cores"
    )
    # This run's own threads account for about `threads` of the load; more means other work
    # shared the CPU (the average lags by a minute, so this is a hint, not a proof).
    if max(loads) > int(run["threads"]) + 0.5:
        text += f" (above this run's own threads: {shared})"
    return text


def bf16_sentence(device: str, precision: str, cpu_bf16: object) -> str:
    """For bf16 autocast on a CPU: whether the CPU ran it natively or emulated it ("" else).

    ``cpu_bf16`` is a record's flags as written ("avx512_bf16 amx_bf16", "none", "unknown").
    """
    if device != "cpu" or precision != "amp-bf16":
        return ""
    flags = str(cpu_bf16) if isinstance(cpu_bf16, str) else "unknown"
    if flags == "none":
        return (
            "bf16 is emulated on this CPU (no AVX512-BF16 or AMX): its bf16 matmuls run slower "
            + "than fp32, so these rates measure the emulation, not bf16 hardware. "
        )
    if flags == "unknown":
        return "Whether this CPU has native bf16 was not recorded. "
    return f"bf16 runs natively on this CPU ({flags}). "


def mfu_sentence(definition: str, subject: str, precision: str, peak_gflops: float) -> str:
    """'MFU: <definition> (the best of 5 calls of one 2048×2048×2048 linear before and 5 after
    the <subject>, fp32: 167.2 GFLOP/s). '"""
    shape = "×".join(map(str, GEMM_SHAPE))
    return (
        f"MFU: {definition} (the best of {GEMM_PEAK_CALLS} calls of one {shape} linear before "
        + f"and {GEMM_PEAK_CALLS} after the {subject}, {precision}: {peak_gflops:.1f} GFLOP/s). "
    )
