"""Table 4 measured: parameters, FLOPs and batch-32 throughput of its six models, side by side.

The paper's figures are read from :mod:`reproduce.paper`, never retyped. The six models are timed
interleaved by the one timing engine (each round one batch of every model), so a change of
machine load hits them all alike and the relative columns stay comparable. A measurement runs in
this process or as one picklable submitit job (:class:`Table4Job`); :func:`table4_frame` turns
the result into one DataFrame that carries everything its rendering needs, so the markdown can
be rendered again from the CSV alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import submitit
from tqdm.auto import tqdm

from benchmarks.records import FlopCount, ModelSpec, ParamCount, Throughput
from benchmarks.settings import ThroughputSettings
from benchmarks.suite import run_benchmark
from common.environment import Environment
from common.files import REPO_ROOT
from common.launch import SlurmOptions, make_executor
from models import list_models
from reproduce.paper import CLAIMS, TABLES, PaperRow, parse_giga, parse_millions

__all__ = [
    "DEFAULT_ITERATIONS",
    "FUSED_MODELS",
    "QUICK",
    "REFERENCE_MODEL",
    "TABLE",
    "TABLE_BATCH_SIZE",
    "RowMeasurement",
    "Table4Job",
    "Table4Result",
    "measure_table4",
    "paper_device",
    "parse_paper_throughput",
    "row_spec",
    "submit_table4",
    "table4_frame",
    "table4_rows",
]

TABLE = TABLES[4]
#: Throughput in Table 4 is also given relative to this row (= 1.00), on the paper's device and
#: on ours, so the orderings can be compared across devices.
REFERENCE_MODEL = "resmlp_s24"
PARAM_COLUMN, FLOPS_COLUMN, THROUGHPUT_COLUMN, TOP1_COLUMN = TABLE.columns[1:]


DEFAULT_LOG_DIR = REPO_ROOT / "runs" / "table4"
TABLE_BATCH_SIZE = int(CLAIMS["table4_throughput_setting"].numbers["batch_size"])
# Warm-up and timed rounds per device. One batch-32 round of the six rows is ~3 TMAC: about
# 1 minute on a 2-core Xeon with a 160 GFLOP/s GEMM, 2 on a 2-core EPYC with 70. Three timed
# rounds (4-8 minutes in all, estimated and printed after the warm-up) decide the two "faster
# than" claims on a quiet CPU: their margins are 10% and more, the rounds' spread a few percent.
# The 16-18% claim is a 3-point window, which these rounds cannot decide: the per-round ratio of
# DynaMixer-M to ViP-M/7 spreads by 2-6% (sd) on a 2-core VM, so a 95% interval of +-1.5 points
# takes 20-80 rounds. Timing that pair alone (`--models dynamixer_m vip_m7 --iters 20`, 8 min on
# a 2-core Xeon) narrowed its interval from 20 points (3 rounds) to 4.
DEFAULT_ITERATIONS = {"cpu": (1, 3), "cuda": (10, 50)}  # device -> (warmup, iters)
QUICK = {"batch_size": 2, "warmup": 1, "iters": 2}  # --quick: a CI smoke run of the real models
#: Zoo models with a fused fast path (``fused=True``: same parameters and numbers, fewer ops).
#: Table 4 times them on the official computation (``fused=False``) unless ``--fused``: the paper
#: timed the authors' code, and ViP and ResMLP have no such path, so that is the fair comparison.
FUSED_MODELS = frozenset(list_models("dynamixer"))


def paper_device() -> str:
    """The GPU the paper timed on, read from its own sentence ("... a single NVIDIA V100 GPU")."""
    quote = CLAIMS["table4_throughput_setting"].quote
    match = re.search(r"NVIDIA (\S+) GPU", quote)
    return match.group(1) if match else "the paper's GPU"


def table4_rows(models: Sequence[str] | None = None) -> tuple[PaperRow, ...]:
    """Table 4's rows in the paper's order, optionally only those of ``models`` (zoo names)."""
    rows = TABLE.rows
    if models is None:
        return rows
    known = [row.zoo_name for row in rows]
    for name in models:
        ModelSpec(name)  # unknown to the zoo: ValueError listing the zoo's names
        if name not in known:
            raise ValueError(
                f"{name!r} is not a row of Table 4; its rows are: {', '.join(map(str, known))}"
            )
    return tuple(row for row in rows if row.zoo_name in models)


def row_spec(row: PaperRow, fused: bool = False) -> ModelSpec:
    """The model a Table 4 row measures; DynaMixer on its official or (``fused``) fast path."""
    if row.zoo_name is None:
        raise ValueError(f"Table 4 row {row.label!r} has no model in the zoo")
    overrides = dict(row.overrides)
    if row.zoo_name in FUSED_MODELS:
        overrides["fused"] = fused
    return ModelSpec(row.zoo_name, overrides)


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


def parse_paper_throughput(model: str) -> float:
    """The paper's Table 4 throughput of a zoo model, in images/s."""
    for row in TABLE.rows:
        if row.zoo_name == model:
            return float(row.cells[THROUGHPUT_COLUMN])
    raise ValueError(f"{model!r} is not a row of Table 4")
