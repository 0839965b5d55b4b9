"""Table 4 measured: parameters, FLOPs and batch-32 throughput of its six models, side by side.

The six rows are one group of the suite's one timing engine (:func:`benchmarks.sweep.run_sweep`,
what ``python -m benchmarks`` and the zoo table run): each round times one batch of every model,
so a change of machine load hits them all alike and the relative columns stay comparable. A
model that cannot be counted or timed gets a row saying why, and rows held from an earlier run
(``--resume``) are not timed again. A measurement runs in this process or as one picklable
submitit job (:class:`Table4Job`); :func:`table4_frame` is the sweep's frame with the paper's
columns beside it, so the markdown can be rendered again from the CSV alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
import submitit
from tqdm.auto import tqdm

from benchmarks.rows import sweep_frame
from benchmarks.settings import ThroughputSettings
from benchmarks.sweep import STATUS_OK, Sweep, run_sweep
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
    "Table4Job",
    "Table4Result",
    "measure_table4",
    "submit_table4",
    "table4_frame",
]

Row = dict[str, object]


@dataclass(frozen=True)
class Table4Result:
    """A measured Table 4: the sweep's rows (held and new, in the paper's order) and the run."""

    rows: tuple[Row, ...]
    settings: ThroughputSettings
    wall_seconds: float  # from the first model counted to the last batch timed
    timed: int = 0  # rows timed by this call (not held from an earlier run)
    quick: bool = False
    fused: bool = False  # DynaMixer timed on its fused fast path (else the official computation)


def table4_sweep(models: Sequence[str], fused: bool) -> Sweep:
    """Every selected row in one group, interleaved with the reference row (ResMLP-S24 where
    selected, else the first row): the claims compare rows round by round."""
    rows = table4_rows(models)
    labels = {row.zoo_name: row_spec(row, fused).label for row in rows}
    reference = labels.get(REFERENCE_MODEL, next(iter(labels.values())))
    return Sweep(group_size=max(len(rows) - 1, 1), reference=reference)


def measure_table4(
    models: Sequence[str] | None = None,
    settings: ThroughputSettings | None = None,
    progress: bool = True,
    fused: bool = False,
    held: Mapping[str, Row] | None = None,
    write_rows: Callable[[list[Row]], None] | None = None,
) -> Table4Result:
    """Count every selected row, then time them side by side with the suite's one engine;
    ``held`` rows (an earlier run of the same settings) are kept, ``write_rows`` gets every row
    so far as they are measured."""
    settings = settings or ThroughputSettings()
    rows = table4_rows(models)
    names = [str(row.zoo_name) for row in rows]
    run = run_sweep(
        [row_spec(row, fused) for row in rows],
        settings,
        sweep=table4_sweep(names, fused),
        held=held,
        write_rows=write_rows,
        progress=progress,
        report=tqdm.write if progress else _silent,
    )
    if progress:
        for row in run.rows:
            tqdm.write(_row_line(row))
        tqdm.write(
            f"GEMM peak ({settings.precision}, best call): {run.gemm_peak_gflops:.1f} GFLOP/s"
        )
    return Table4Result(
        rows=tuple(run.rows), settings=settings, wall_seconds=run.wall_seconds, timed=run.timed,
        fused=fused,
    )  # fmt: skip


def _row_line(row: Row) -> str:
    """'resmlp_s24  30.02M params  5.96 GMACs  12.34 img/s [11.90-12.80]', or its failure."""
    if row.get("status") != STATUS_OK:
        return f"{row['model']:<28} {row['status']}"
    params, macs, rate, low, high = (
        float(str(row[key]))
        for key in (
            "params", "macs", "infer_samples_per_sec", "infer_samples_per_sec_min",
            "infer_samples_per_sec_max",
        )
    )  # fmt: skip
    return (
        f"{row['model']:<28} {params / 1e6:7.2f}M params  {macs / 1e9:6.2f} GMACs  "
        + f"{rate:8.2f} img/s [{low:.2f}-{high:.2f}]"
    )


def _silent(_text: str) -> None:
    """A report hook that prints nothing (no progress asked for)."""


@dataclass(frozen=True)
class Table4Job:
    """The measurement as one picklable submitit job (DeiT's ``run_with_submitit`` habit).

    Calling it validates again where it runs (a Slurm node may have the GPU the login node
    lacks) and measures. A timed-out or preempted job is requeued from scratch: the six rows
    are one interleaved group, which cannot be resumed halfway.
    """

    models: tuple[str, ...]
    settings: ThroughputSettings
    quick: bool = False
    progress: bool = True
    fused: bool = False
    held: Mapping[str, Row] = field(default_factory=dict)  # rows kept from an earlier run

    def __call__(self) -> Table4Result:
        result = measure_table4(
            self.models, self.settings, self.progress, self.fused, held=self.held
        )
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


#: The columns Table 4's frame puts before the sweep's (and after it: ``quick``, ``fused``).
PAPER_COLUMNS = (
    "label", "paper_params_m", "paper_gflops", "paper_images_per_s", "paper_relative",
    "paper_top1", "relative", "relative_low", "relative_high",
)  # fmt: skip
RUN_COLUMNS = ("quick", "fused")


def table4_frame(
    rows: Sequence[Mapping[str, object]], quick: bool = False, fused: bool = False
) -> pd.DataFrame:
    """One row per measured model, in the paper's order: the paper's figures (parsed from its
    text) and the ratio to ResMLP-S24, then the sweep's row in the schema every timing table
    shares (:func:`benchmarks.rows.sweep_frame`: timm's names, status, spread, ratio to the
    reference with its interval, MFU, provenance), then the run's ``quick`` and ``fused``.
    ``relative`` is the ratio to ResMLP-S24 from the rounds the two shared (blank where the run
    had another reference). Numbers stay numbers here; text is :mod:`reproduce.render.table4`.
    """
    measured = {str(row.get("name", row["model"])): row for row in rows}
    reference = next(row for row in TABLE.rows if row.zoo_name == REFERENCE_MODEL)
    reference_label = row_spec(reference, fused).label
    paper_records, sweep_rows = [], []
    for paper in TABLE.rows:
        row = measured.get(str(paper.zoo_name))
        if row is None:
            continue
        record: dict[str, object] = {
            "label": paper.label,
            "paper_params_m": parse_millions(paper.cells[PARAM_COLUMN]),
            "paper_gflops": parse_giga(paper.cells[FLOPS_COLUMN]),
            "paper_images_per_s": float(paper.cells[THROUGHPUT_COLUMN]),
            "paper_relative": float(paper.cells[THROUGHPUT_COLUMN])
            / parse_paper_throughput(REFERENCE_MODEL),
            "paper_top1": float(paper.cells[TOP1_COLUMN]),
        }
        ours = row.get("reference") == reference_label  # the table's ratios are to this row only
        record |= {
            "relative": row.get("infer_vs_reference") if ours else math.nan,
            "relative_low": row.get("infer_vs_reference_low") if ours else math.nan,
            "relative_high": row.get("infer_vs_reference_high") if ours else math.nan,
        }
        paper_records.append(record)
        own = (*PAPER_COLUMNS, *RUN_COLUMNS)  # a row held from an earlier Table 4 CSV has them
        sweep_rows.append({key: value for key, value in row.items() if key not in own})
    if not paper_records:
        return pd.DataFrame()
    frame = pd.concat([pd.DataFrame(paper_records), sweep_frame(sweep_rows)], axis=1)
    return frame.assign(quick=quick, fused=fused)
