"""A sweep's row: one model's columns, as ``python -m benchmarks``, the zoo table and the
tests build them.

timm's ``benchmark.py`` names first (``infer_samples_per_sec``, ``infer_step_time`` in ms,
``param_count`` in millions, ``infer_gmacs``; ``train_*`` alike), then the suite's: the status,
the spread and percentiles of the timed batches, the ratio to the reference with its interval
(from the rounds the two shared), MFU against the run's GEMM peak, where the row was measured
(node, Slurm job and task) and the run's settings and environment.
"""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Mapping, Sequence

import pandas as pd

from benchmarks.gemm import model_flop_utilisation
from benchmarks.ratios import ratio_interval
from benchmarks.records import FlopCount, ModelSpec, ParamCount, Throughput
from benchmarks.settings import ThroughputSettings
from benchmarks.suite import TIMM_PREFIXES
from common.environment import Environment

__all__ = ["TIMM_FIRST", "finish_row", "model_row", "sweep_frame"]

#: timm's benchmark.py columns, in its order, where a row has them.
TIMM_FIRST = (
    "model",
    "infer_img_size",
    "infer_batch_size",
    "infer_samples_per_sec",
    "infer_step_time",
    "param_count",
    "infer_gmacs",
    "train_img_size",
    "train_batch_size",
    "train_samples_per_sec",
    "train_step_time",
)


def _where() -> dict[str, object]:
    """Which node measured a row (and which array task, under Slurm)."""
    job = os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID") or ""
    task = os.environ.get("SLURM_ARRAY_TASK_ID", "")
    return {"node": socket.gethostname(), "slurm_job": job, "slurm_task": task}


def _step_columns(
    record: Throughput, macs: int, peak: float, reference: Sequence[float] | None
) -> dict[str, object]:
    """One step's columns: timm's names first, then spread, percentiles, ratio and MFU."""
    prefix = TIMM_PREFIXES[record.step]
    rate = record.median_images_per_s
    step_ms = sorted(1000 * s for s in record.batch_seconds)
    columns: dict[str, object] = {
        f"{prefix}_img_size": record.input_size[-1],
        f"{prefix}_batch_size": record.batch_size,
        f"{prefix}_samples_per_sec": rate,
        f"{prefix}_step_time": 1000 * record.batch_size / rate,  # ms, of the median rate
        f"{prefix}_samples_per_sec_min": record.min_images_per_s,
        f"{prefix}_samples_per_sec_max": record.max_images_per_s,
        f"{prefix}_step_time_p90": _percentile(step_ms, 0.90),
        f"{prefix}_step_time_p99": _percentile(step_ms, 0.99),
        f"{prefix}_rounds": len(record.batch_seconds),
        f"{prefix}_batch_seconds": " ".join(f"{s:.4f}" for s in record.batch_seconds),
        f"{prefix}_mfu": model_flop_utilisation(macs, rate, peak, record.step),
        f"{prefix}_load_average": " ".join(
            f"{v:.2f}"
            for v in (record.load_average_before, record.load_average_after)
            if v is not None
        ),
    }
    if reference is not None and len(reference) == len(record.batch_seconds):
        ratio = ratio_interval(record.batch_seconds, reference)
        columns |= {
            f"{prefix}_vs_reference": ratio.median,
            f"{prefix}_vs_reference_low": ratio.low,
            f"{prefix}_vs_reference_high": ratio.high,
        }
    return columns


def _percentile(sorted_values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return math.nan
    return sorted_values[min(len(sorted_values) - 1, math.ceil(share * len(sorted_values)) - 1)]


def model_row(
    spec: ModelSpec,
    params: ParamCount | None,
    flops: FlopCount | None,
    status: str,
    records: Mapping[str, Throughput],
    peak: float,
    anchor: Mapping[str, Sequence[float]] | None,
) -> dict[str, object]:
    """One model's row: timm's columns, then the suite's, then where it was measured."""
    row: dict[str, object] = {"model": spec.label}
    macs = flops.macs if flops is not None else 0
    for step, record in records.items():
        row |= _step_columns(record, macs, peak, (anchor or {}).get(step))
    if params is not None:
        row["param_count"] = params.params / 1e6
    if flops is not None:
        row["infer_gmacs"] = flops.macs / 1e9
    row |= {
        "name": spec.name,
        "overrides": repr(dict(spec.overrides)) if spec.overrides else "",
        "source": spec.source,
        "params": params.params if params is not None else None,
        "macs": flops.macs if flops is not None else None,
        "status": status,
    }
    return row | _where()


def finish_row(
    row: dict[str, object],
    settings: ThroughputSettings,
    environment: Environment,
    peak: float,
    wall: float,
    count: tuple[ParamCount | None, FlopCount | None, str] | None,
    reference: str,
    run_started: str = "",
) -> None:
    """The run-level columns, the same on every row this call measured; MFU at the final peak.
    ``run_started`` names the run: rows of two runs (a resumed file) shared no rounds."""
    for step, prefix in TIMM_PREFIXES.items():
        if f"{prefix}_samples_per_sec" in row and row.get("macs"):
            rate = float(row[f"{prefix}_samples_per_sec"])
            row[f"{prefix}_mfu"] = model_flop_utilisation(float(row["macs"]), rate, peak, step)
    flops = count[1] if count else None
    row |= {
        "reference": reference,
        "run_started": run_started,
        "gemm_peak_gflops": peak,
        "precision": settings.precision,
        "requested_batch_size": settings.batch_size,
        "channels_last": settings.channels_last,
        "compile_mode": settings.compile_mode if settings.compile else "",
        "warmup": settings.warmup,
        "warmup_batch_size": settings.warmup_batch,
        "iters": settings.iters,
        "device": environment.device,
        "device_name": environment.device_name,
        "cpu_bf16": environment.cpu_bf16_text,
        "native_bf16": environment.native_bf16,
        "threads": environment.threads,
        "cpu_count": environment.cpu_count,
        "torch": environment.torch_version,
        "timm": environment.timm_version,
        "ptflops": environment.ptflops_version,
        "python": environment.python_version,
        "flop_counter": flops.counter if flops is not None else "",
        "date": environment.date,
        "wall_seconds": wall,
    }


def sweep_frame(rows: Sequence[Mapping[str, object]]) -> pd.DataFrame:
    """Rows as one frame, the schema every timing table shares (``python -m benchmarks``'s CSV;
    Table 4's and the zoo table's put the paper's columns before it): timm's columns first, as
    ``benchmark.py`` orders them, then the suite's."""
    frame = pd.DataFrame.from_records(list(rows))
    first = [c for c in TIMM_FIRST if c in frame.columns]
    return frame[first + [c for c in frame.columns if c not in first]]
