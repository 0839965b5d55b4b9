"""Table 4 measured: parameters, FLOPs and batch-32 throughput of its six models, side by side.

The six models are timed interleaved by the suite's one benchmark run (each round one batch of
every model), so a change of machine load hits them all alike and the relative columns stay
comparable. A measurement runs in this process or as one picklable submitit job
(:class:`Table4Job`); :func:`table4_frame` turns the result into one DataFrame that carries
everything its rendering needs, so the markdown can be rendered again from the CSV alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import submitit
from tqdm.auto import tqdm

from benchmarks.records import FlopCount, ParamCount, Throughput
from benchmarks.settings import ThroughputSettings
from benchmarks.suite import run_benchmark
from common.environment import Environment
from common.launch import SlurmOptions, make_executor
from reproduce.paper import parse_giga, parse_millions
from reproduce.tables.table4 import (
    DEFAULT_LOG_DIR,
    FLOPS_COLUMN,
    PARAM_COLUMN,
    REFERENCE_MODEL,
    TABLE,
    THROUGHPUT_COLUMN,
    TOP1_COLUMN,
    parse_paper_throughput,
    row_spec,
    table4_rows,
)

__all__ = [
    "RowMeasurement",
    "Table4Job",
    "Table4Result",
    "measure_table4",
    "submit_table4",
    "table4_frame",
]


@dataclass(frozen=True)
class RowMeasurement:
    """Everything measured for one row of Table 4, each part with its own provenance."""

    label: str  # the paper's row label ("ResMLP S24")
    params: ParamCount
    flops: FlopCount
    throughput: Throughput


@dataclass(frozen=True)
class Table4Result:
    """A whole measured Table 4: the rows, the settings, and how long the measuring took."""

    rows: tuple[RowMeasurement, ...]
    settings: ThroughputSettings
    environment: Environment  # where the throughput was timed
    wall_seconds: float  # from the first model built to the last batch timed
    quick: bool = False
    fused: bool = False  # DynaMixer timed on its fused fast path (else the official computation)
    # One large linear in the timed dtype on the same device, the best of the calls timed before
    # and after the rows: the yardstick of the MFU column (None: not measured, left blank).
    gemm_peak_gflops: float | None = None


def measure_table4(
    models: Sequence[str] | None = None,
    settings: ThroughputSettings | None = None,
    progress: bool = True,
    fused: bool = False,
) -> Table4Result:
    """Count every selected row, then time them all side by side (one batch of each model per
    round) with the suite's one benchmark run (:func:`~benchmarks.suite.run_benchmark`)."""
    settings = settings or ThroughputSettings()
    rows = table4_rows(models)
    run = run_benchmark(
        [row_spec(row, fused) for row in rows],
        settings,
        progress=progress,
        report=tqdm.write if progress else _silent,
    )
    measured = tuple(
        RowMeasurement(row.label, params, flops, throughput)
        for row, params, flops, throughput in zip(
            rows, run.params, run.flops, run.throughputs["inference"], strict=True
        )
    )
    if progress:
        for row in measured:
            tqdm.write(
                f"{row.label:<12} {row.params.params / 1e6:7.2f}M params  "
                + f"{row.flops.macs / 1e9:6.2f} GMACs  "
                + f"{row.throughput.median_images_per_s:8.2f} img/s "
                + f"[{row.throughput.min_images_per_s:.2f}-{row.throughput.max_images_per_s:.2f}]"
            )
        tqdm.write(
            f"GEMM peak ({settings.precision}, best call): {run.gemm_peak_gflops:.1f} GFLOP/s"
        )
    return Table4Result(
        rows=measured,
        settings=settings,
        environment=run.environment,
        wall_seconds=run.wall_seconds,
        fused=fused,
        gemm_peak_gflops=run.gemm_peak_gflops,
    )


def _silent(_text: str) -> None:
    """A report hook that prints nothing (no progress asked for)."""


@dataclass(frozen=True)
class Table4Job:
    """The measurement as one picklable submitit job (DeiT's ``run_with_submitit`` habit).

    Calling it validates again where it runs (a Slurm node may have the GPU the login node
    lacks) and measures. A timed-out or preempted job is requeued from scratch: throughput
    cannot be resumed halfway, and the table is written only from a finished result.
    """

    models: tuple[str, ...]
    settings: ThroughputSettings
    quick: bool = False
    progress: bool = True
    fused: bool = False

    def __call__(self) -> Table4Result:
        result = measure_table4(self.models, self.settings, self.progress, self.fused)
        return replace(result, quick=self.quick)

    def checkpoint(self) -> submitit.helpers.DelayedSubmission:
        return submitit.helpers.DelayedSubmission(replace(self))


def submit_table4(
    job: Table4Job,
    executor: str,
    folder: str | Path = DEFAULT_LOG_DIR,
    slurm: SlurmOptions | None = None,
) -> submitit.Job:
    """Submit ``job`` through submitit's ``executor`` ("debug" or "slurm"); return the job."""
    return make_executor(executor, folder, name="table4", slurm=slurm).submit(job)


def _relative(values: pd.Series, reference: float | None) -> pd.Series:
    if reference is None or not reference > 0:
        return pd.Series(math.nan, index=values.index)
    return values / reference


def table4_frame(result: Table4Result) -> pd.DataFrame:
    """One row per model: the paper's figures (parsed from its text) beside the measured ones.

    Numbers stay numbers here; text formatting happens only in :mod:`reproduce.render.table4`.
    Each row also carries the provenance of its measurements and the run's settings (quick,
    fused, wall time, GEMM peak), so the CSV alone can be traced and rendered again.
    """
    frame = pd.DataFrame.from_records([_row_record(result, measured) for measured in result.rows])
    if frame.empty:
        return frame
    _add_derived_columns(frame, result)
    return frame


def _row_record(result: Table4Result, measured: RowMeasurement) -> dict[str, object]:
    """One row of the frame: the paper's figures, the measurements and their provenance."""
    paper = next(row for row in TABLE.rows if row.zoo_name == measured.params.model)
    throughput = measured.throughput
    environment = throughput.environment
    return {
        "model": measured.params.model,
        "label": measured.label,
        "overrides": repr(dict(throughput.overrides)),
        "paper_params_m": parse_millions(paper.cells[PARAM_COLUMN]),
        "paper_gflops": parse_giga(paper.cells[FLOPS_COLUMN]),
        "paper_images_per_s": float(paper.cells[THROUGHPUT_COLUMN]),
        "paper_top1": float(paper.cells[TOP1_COLUMN]),
        "params": measured.params.params,
        "macs": measured.flops.macs,
        "images_per_s": throughput.median_images_per_s,
        "images_per_s_min": throughput.min_images_per_s,
        "images_per_s_max": throughput.max_images_per_s,
        "batch_seconds": " ".join(f"{s:.4f}" for s in throughput.batch_seconds),
        "batch_size": throughput.batch_size,
        "input_size": "x".join(map(str, throughput.input_size)),
        "precision": throughput.precision,
        "channels_last": throughput.channels_last,
        "compiled": throughput.compiled,
        "compile_mode": throughput.compile_mode,
        "warmup": throughput.warmup,
        "iters": throughput.iters,
        "load_average_before": throughput.load_average_before,
        "load_average_after": throughput.load_average_after,
        "device": environment.device,
        "device_name": environment.device_name,
        # The CPU's native bf16 instructions ("none": bf16 is emulated, slower than fp32).
        "cpu_bf16": environment.cpu_bf16_text,
        "native_bf16": environment.native_bf16,
        "threads": environment.threads,
        "cpu_count": environment.cpu_count,
        "flop_counter": measured.flops.counter,
        "torch": environment.torch_version,
        "timm": environment.timm_version,
        "ptflops": environment.ptflops_version,
        "date": result.environment.date,  # when the run ended (the caption's date)
        "quick": result.quick,
        "fused": result.fused,
        "wall_seconds": result.wall_seconds,
    }


def _add_derived_columns(frame: pd.DataFrame, result: Table4Result) -> None:
    """Throughput relative to the reference row (paper and measured), and the MFU columns."""
    by_model = frame.set_index("model")
    paper_reference = float(parse_paper_throughput(REFERENCE_MODEL))
    measured_reference = (
        float(by_model.loc[REFERENCE_MODEL, "images_per_s"])
        if REFERENCE_MODEL in by_model.index
        else None
    )
    position = frame.columns.get_loc("images_per_s_max") + 1
    frame.insert(position, "relative", _relative(frame["images_per_s"], measured_reference))
    # Model FLOP utilisation: achieved FLOP/s (2 x MACs per image x images/s) over the GEMM peak.
    achieved = 2 * frame["macs"] * frame["images_per_s"] / 1e9
    peak = result.gemm_peak_gflops if result.gemm_peak_gflops else math.nan
    frame.insert(position + 1, "gflop_per_s", achieved)
    frame.insert(position + 2, "gemm_peak_gflops", peak)
    frame.insert(position + 3, "mfu", achieved / peak)
    position = frame.columns.get_loc("paper_images_per_s") + 1
    frame.insert(
        position, "paper_relative", _relative(frame["paper_images_per_s"], paper_reference)
    )
