"""Table 4 of the paper, measured here: parameters, FLOPs and batch-32 throughput.

``python -m reproduce table4`` (``nox -s reproduce_table4``) measures the six rows of the
paper's Table 4 on this machine and writes ``results/table4.md`` and ``results/table4.csv``:
the paper's figures (read from :mod:`reproduce.paper`, never retyped) beside the measured ones,
each throughput also relative to ResMLP-S24, a caption saying what was measured where, and a
footnote saying which of the paper's throughput claims hold on this device. The six models are
timed interleaved (each round one batch of every model), so a change of machine load hits them
all alike and the relative columns stay comparable.

Flow: parse and validate the options (nothing is built before every option is checked) ->
measure, in this process or as one submitit job (``--executor debug|slurm``) -> one DataFrame
-> markdown (``DataFrame.to_markdown``) and CSV, each written atomically.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import submitit
from tqdm.auto import tqdm

from benchmarks.files import write_text_atomic
from benchmarks.measure import (
    AMP_DTYPES,
    COMPILE_MODES,
    DEVICES,
    GEMM_PEAK_CALLS,
    GEMM_SHAPE,
    Environment,
    FlopCount,
    ModelSpec,
    ParamCount,
    Throughput,
    ThroughputSettings,
    count_flops,
    count_params,
    describe_environment,
    measure_gemm_peak,
    measure_throughputs,
    validate,
)
from models import list_models
from reproduce.launch import EXECUTORS, SlurmOptions, check_executor, make_executor
from reproduce.paper import CLAIMS, TABLES, PaperRow, parse_giga, parse_millions

TABLE = TABLES[4]
#: Throughput in Table 4 is also given relative to this row (= 1.00), on the paper's device and
#: on ours, so the orderings can be compared across devices.
REFERENCE_MODEL = "resmlp_s24"
PARAM_COLUMN, FLOPS_COLUMN, THROUGHPUT_COLUMN, TOP1_COLUMN = TABLE.columns[1:]

DEFAULT_OUTPUT_DIR = Path("results")
DEFAULT_LOG_DIR = Path("runs") / "table4"
TABLE_BATCH_SIZE = int(CLAIMS["table4_throughput_setting"].numbers["batch_size"])
# Warm-up and timed batches per device. On a 2-core CPU (~17 GMAC/s per core in a large fp32
# GEMM) one batch-32 pass of the six rows is ~3 TMAC, 2-3 minutes: 1 warm-up + 2 timed batches
# keep the whole run under 10 minutes (1 + 3 would be ~9-10). Use --iters for more.
DEFAULT_ITERATIONS = {"cpu": (1, 2), "cuda": (10, 50)}  # device -> (warmup, iters)
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


# ---------------------------------------------------------------------------------------------
# Measuring


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
    round, :func:`~benchmarks.measure.measure_throughputs`), with progress bars."""
    settings = settings or ThroughputSettings()
    rows = table4_rows(models)
    specs = [row_spec(row, fused) for row in rows]
    validate(settings, specs)
    start = time.perf_counter()
    gemm_peak = measure_gemm_peak(settings.device, settings.dtype)
    bar = tqdm(specs, desc="counting", unit="model", disable=not progress, dynamic_ncols=True)
    counts = [(count_params(spec), count_flops(spec, settings.input_size)) for spec in bar]
    throughputs = measure_throughputs(specs, settings, progress=progress)
    measured: list[RowMeasurement] = []
    for row, (params, flops), throughput in zip(rows, counts, throughputs, strict=True):
        measured.append(RowMeasurement(row.label, params, flops, throughput))
        if progress:
            tqdm.write(
                f"{row.label:<12} {params.params / 1e6:7.2f}M params  "
                + f"{flops.macs / 1e9:6.2f} GMACs  "
                + f"{throughput.median_images_per_s:8.2f} img/s "
                + f"[{throughput.min_images_per_s:.2f}-{throughput.max_images_per_s:.2f}]"
            )
    gemm_peak = max(gemm_peak, measure_gemm_peak(settings.device, settings.dtype))
    if progress:
        tqdm.write(f"GEMM peak ({settings.precision}, best call): {gemm_peak:.1f} GFLOP/s")
    return Table4Result(
        rows=tuple(measured),
        settings=settings,
        environment=describe_environment(settings.device),
        wall_seconds=time.perf_counter() - start,
        fused=fused,
        gemm_peak_gflops=gemm_peak,
    )


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


# ---------------------------------------------------------------------------------------------
# From measurements to a DataFrame


def _relative(values: pd.Series, reference: float | None) -> pd.Series:
    if reference is None or not reference > 0:
        return pd.Series(math.nan, index=values.index)
    return values / reference


def build_frame(result: Table4Result) -> pd.DataFrame:
    """One row per model: the paper's figures (parsed from its text) beside the measured ones.

    Numbers stay numbers here; text formatting happens only in :func:`render_markdown`. Each
    row also carries the provenance of its measurements, so the CSV alone can be traced.
    """
    paper_rows = {row.zoo_name: row for row in TABLE.rows}
    records = []
    for measured in result.rows:
        paper = paper_rows[measured.params.model]
        throughput = measured.throughput
        environment = throughput.environment
        records.append(
            {
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
                "threads": environment.threads,
                "cpu_count": environment.cpu_count,
                "flop_counter": measured.flops.counter,
                "torch": environment.torch_version,
                "timm": environment.timm_version,
                "ptflops": environment.ptflops_version,
                "date": environment.date,
            }
        )
    frame = pd.DataFrame.from_records(records)
    if frame.empty:
        return frame
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
    return frame


def parse_paper_throughput(model: str) -> float:
    """The paper's Table 4 throughput of a zoo model, in images/s."""
    for row in TABLE.rows:
        if row.zoo_name == model:
            return float(row.cells[THROUGHPUT_COLUMN])
    raise ValueError(f"{model!r} is not a row of Table 4")


# ---------------------------------------------------------------------------------------------
# Claims: which of the paper's throughput sentences hold on this device


@dataclass(frozen=True)
class ClaimCheck:
    """One checked claim: a one-line statement and whether it holds here (None: not checkable)."""

    claim_id: str
    holds: bool | None
    text: str


def _verdict(holds: bool | None) -> str:
    return {True: "holds", False: "does not hold", None: "not checked"}[holds]


def _faster_claim(claim_id: str) -> Callable[[pd.DataFrame], list[ClaimCheck]]:
    """'X is faster than Y': paper ratio from the claim's figures, measured ratio of medians."""

    def check(frame: pd.DataFrame) -> list[ClaimCheck]:
        claim = CLAIMS[claim_id]
        ours, theirs = claim.pairs[0]
        rows = frame.set_index("model")
        if ours not in rows.index or theirs not in rows.index:
            return []
        paper_ratio = (
            claim.numbers[f"{ours}_images_per_s"] / claim.numbers[f"{theirs}_images_per_s"]
        )
        a, b = rows.loc[ours], rows.loc[theirs]
        ratio = a["images_per_s"] / b["images_per_s"]
        holds = bool(ratio > 1)
        if holds and a["images_per_s_min"] <= b["images_per_s_max"]:
            note = " (medians; the spreads overlap)"
        elif holds:
            note = " (every timed batch)"
        else:
            note = ""
        text = (
            f"{a['label']} faster than {b['label']}: paper {paper_ratio:.2f}x, "
            + f"measured {ratio:.2f}x{note} — {_verdict(holds)}"
        )
        return [ClaimCheck(claim_id, holds, text)]

    return check


def _lower_than_vip(frame: pd.DataFrame) -> list[ClaimCheck]:
    """'throughputs are about 16%~18% lower' than ViPs of similar size, for pairs measured here."""
    claim = CLAIMS["throughput_lower_than_vip"]
    low = claim.numbers["throughput_lower_min_percent"]
    high = claim.numbers["throughput_lower_max_percent"]
    rows = frame.set_index("model")
    checks = []
    for ours, theirs in claim.pairs:
        if ours not in rows.index or theirs not in rows.index:
            continue
        a, b = rows.loc[ours], rows.loc[theirs]
        paper_lower = 100 * (1 - a["paper_images_per_s"] / b["paper_images_per_s"])
        lower = 100 * (1 - a["images_per_s"] / b["images_per_s"])
        holds = bool(low <= round(lower) <= high)
        direction = "slower" if lower > 0 else "not slower"
        checks.append(
            ClaimCheck(
                claim.id,
                holds,
                f"{a['label']} about {low:g}%–{high:g}% slower than {b['label']}: paper "
                + f"{paper_lower:.1f}% (Table 4), measured {lower:.1f}% ({direction}) — "
                + _verdict(holds),
            )
        )
    return checks


def _about_five_percent_larger(frame: pd.DataFrame) -> list[ClaimCheck]:
    """'DynaMixer-M is about 5% larger than ViP-M/7': parameters and FLOPs, measured here."""
    claim = CLAIMS["dynamixer_m_about_5_percent_larger_than_vip_m7"]
    ours, theirs = claim.pairs[0]
    rows = frame.set_index("model")
    if ours not in rows.index or theirs not in rows.index:
        return []
    a, b = rows.loc[ours], rows.loc[theirs]
    target = claim.numbers["larger_percent"]
    params = 100 * (a["params"] / b["params"] - 1)
    macs = 100 * (a["macs"] / b["macs"] - 1)
    paper_params = 100 * (a["paper_params_m"] / b["paper_params_m"] - 1)
    paper_macs = 100 * (a["paper_gflops"] / b["paper_gflops"] - 1)
    # "About 5%" read as 5% +- 2.5 points, for parameters and FLOPs alike (our reading).
    holds = bool(all(abs(x - target) <= target / 2 for x in (params, macs)))
    text = (
        f"{a['label']} about {target:g}% larger than {b['label']}: paper +{paper_params:.1f}% "
        + f"params, +{paper_macs:.1f}% FLOPs; measured +{params:.1f}% params, +{macs:.1f}% FLOPs "
        + f"— {_verdict(holds)}"
    )
    return [ClaimCheck(claim.id, holds, text)]


#: The paper's claims Table 4's measurements can check, in the order the footnote lists them.
CLAIM_CHECKS: dict[str, Callable[[pd.DataFrame], list[ClaimCheck]]] = {
    "dynamixer_s_faster_than_vip_m7": _faster_claim("dynamixer_s_faster_than_vip_m7"),
    "dynamixer_s_faster_than_resmlp_b24": _faster_claim("dynamixer_s_faster_than_resmlp_b24"),
    "throughput_lower_than_vip": _lower_than_vip,
    "dynamixer_m_about_5_percent_larger_than_vip_m7": _about_five_percent_larger,
}


def check_claims(frame: pd.DataFrame) -> list[ClaimCheck]:
    """Every checkable claim whose models were measured."""
    if frame.empty:
        return []
    return [check for checker in CLAIM_CHECKS.values() for check in checker(frame)]


# ---------------------------------------------------------------------------------------------
# Rendering


def _format_rate(value: float) -> str:
    if not math.isfinite(value):
        return "–"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _format_ratio(value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else "–"


def device_description(result: Table4Result) -> str:
    """'AMD EPYC, cpu, 2 threads, fp32' or 'NVIDIA H100 80GB HBM3, cuda:0, amp-bf16'."""
    environment, settings = result.environment, result.settings
    parts = [environment.device_name, environment.device]
    if environment.device == "cpu":
        parts.append(f"{environment.threads} threads")
    parts.append(settings.precision)
    if settings.channels_last:
        parts.append("channels_last")
    if settings.compile:
        mode = "" if settings.compile_mode == "default" else f"(mode={settings.compile_mode})"
        parts.append(f"torch.compile{mode}")
    if result.fused:
        parts.append("DynaMixer fused")
    return ", ".join(parts)


def _format_share(value: float) -> str:
    return f"{value:.0%}" if math.isfinite(value) else "–"


def display_frame(result: Table4Result, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """The markdown table's cells: paper columns say "paper", measured ones say where."""
    frame = build_frame(result) if frame is None else frame
    reference_label = next(row.label for row in TABLE.rows if row.zoo_name == REFERENCE_MODEL)
    measured = f"measured ({device_description(result)})"
    paper = f"paper ({paper_device()})"
    return pd.DataFrame(
        {
            TABLE.columns[0]: frame["label"],
            f"{PARAM_COLUMN}, paper": [f"{v:g}M" for v in frame["paper_params_m"]],
            f"{PARAM_COLUMN}, measured": [f"{v / 1e6:.2f}M" for v in frame["params"]],
            f"{FLOPS_COLUMN}, paper": [f"{v:.1f}G" for v in frame["paper_gflops"]],
            f"{FLOPS_COLUMN}, measured": [f"{v / 1e9:.2f}G" for v in frame["macs"]],
            f"{THROUGHPUT_COLUMN}, {paper}": [f"{v:.0f}" for v in frame["paper_images_per_s"]],
            f"{THROUGHPUT_COLUMN}, {measured} [min–max]": [
                f"{_format_rate(m)} [{_format_rate(lo)}–{_format_rate(hi)}]"
                for m, lo, hi in zip(
                    frame["images_per_s"],
                    frame["images_per_s_min"],
                    frame["images_per_s_max"],
                    strict=True,
                )
            ],
            f"vs {reference_label}, paper": [_format_ratio(v) for v in frame["paper_relative"]],
            f"vs {reference_label}, measured": [_format_ratio(v) for v in frame["relative"]],
            "MFU, measured": [_format_share(v) for v in frame["mfu"]],
            f"{TOP1_COLUMN}, paper": [f"{v:.1f}" for v in frame["paper_top1"]],
        }
    )


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def caption(result: Table4Result, frame: pd.DataFrame) -> str:
    """One line: what was measured, where, how, with which libraries, and how long it took."""
    settings, environment = result.settings, result.environment
    loads = [
        v
        for column in ("load_average_before", "load_average_after")
        for v in frame.get(column, pd.Series(dtype=float)).dropna()
    ]
    load = ""
    if loads and environment.device == "cpu":
        load = (
            f"; 1-minute load average {min(loads):.1f}–{max(loads):.1f} while timing"
            + f" on {environment.cpu_count} cores"
        )
        # This run's own threads account for about `threads` of the load; more means other work
        # shared the CPU (the average lags by a minute, so this is a hint, not a proof).
        if max(loads) > environment.threads + 0.5:
            load += (
                " (above this run's own threads: the CPU was shared with other work, so absolute"
                + " throughput is low and noisy; the relative columns suffer less)"
            )
    size = "×".join(map(str, settings.input_size))
    counter = frame["flop_counter"].iloc[0] if not frame.empty else "ptflops"
    quick = " QUICK SMOKE RUN (not the paper's setting)." if result.quick else ""
    reference_label = next(row.label for row in TABLE.rows if row.zoo_name == REFERENCE_MODEL)
    path = (
        "DynaMixer on its fused fast path (fused=True; ViP and ResMLP as written)"
        if result.fused
        else "every model as its authors compute it (DynaMixer fused=False)"
    )
    return (
        f"**Table 4, measured.**{quick} Throughput of {path} on {device_description(result)}: "
        + f"batch {settings.batch_size}, {size} input, eval + inference mode, median images/s of "
        + f"{settings.iters} timed batches after {settings.warmup} warm-up [min–max], the models "
        + f"interleaved (each round times one batch of every model in turn){load}. "
        + f"Params and FLOPs (multiply-accumulates, {counter}) counted from the models' shapes. "
        + f"Throughput relative to {reference_label} (= 1.00). "
        + _mfu_sentence(result)
        + f"torch {environment.torch_version}, timm {environment.timm_version}; "
        + f"{environment.date}; measuring took {_duration(result.wall_seconds)}. "
        + f"Paper: batch {TABLE_BATCH_SIZE} on one {paper_device()}; top-1 is the paper's "
        + f'(not measured). Paper\'s caption: "{TABLE.caption}"'
    )


def _mfu_sentence(result: Table4Result) -> str:
    if result.gemm_peak_gflops is None:
        return "MFU not measured. "
    shape = "×".join(map(str, GEMM_SHAPE))
    return (
        "MFU: achieved FLOP/s (2 × MACs × images/s) over the GEMM peak measured here (the "
        + f"best of {GEMM_PEAK_CALLS} calls of one {shape} linear before and "
        + f"{GEMM_PEAK_CALLS} after the rows, "
        + f"{result.settings.precision}: "
        + f"{result.gemm_peak_gflops:.1f} GFLOP/s). "
    )


def render_markdown(result: Table4Result) -> str:
    """The whole results file: caption line, table, and the claims footnote."""
    frame = build_frame(result)
    table = display_frame(result, frame).to_markdown(index=False, disable_numparse=True)
    lines = [caption(result, frame), "", table, ""]
    checks = check_claims(frame)
    if checks:
        lines.append(f"Claims on this device ({device_description(result)}):")
        lines.append("")
        lines += [f"- {check.text}" for check in checks]
        lines.append("")
    lines.append(
        "Generated by `nox -s reproduce_table4` (`python -m reproduce table4`); do not edit."
    )
    return "\n".join(lines) + "\n"


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


def output_stem(result: Table4Result) -> str:
    """'table4' for the default CPU run; device and non-default settings otherwise."""
    settings = result.settings
    parts = ["table4"]
    if result.environment.device.startswith("cuda"):
        parts.append(gpu_short_name(result.environment.device_name))
    if settings.amp is not None:
        parts.append(settings.precision)
    if settings.channels_last:
        parts.append("channels-last")
    if settings.compile:
        mode = "" if settings.compile_mode == "default" else f"-{settings.compile_mode}"
        parts.append(f"compile{mode}")
    if result.fused:
        parts.append("fused")
    if result.quick:
        parts.append("quick")
    elif settings.batch_size != TABLE_BATCH_SIZE:
        parts.append(f"batch{settings.batch_size}")
    return "_".join(parts)


def write_outputs(
    result: Table4Result, output_dir: str | Path = DEFAULT_OUTPUT_DIR
) -> tuple[Path, Path]:
    """Write ``<stem>.md`` and ``<stem>.csv`` atomically; return their paths."""
    output_dir = Path(output_dir)
    stem = output_stem(result)
    markdown = write_text_atomic(output_dir / f"{stem}.md", render_markdown(result))
    csv = write_text_atomic(output_dir / f"{stem}.csv", build_frame(result).to_csv(index=False))
    return markdown, csv


# ---------------------------------------------------------------------------------------------
# Command line


@dataclass(frozen=True)
class Options:
    """The parsed command line."""

    models: tuple[str, ...]
    settings: ThroughputSettings
    quick: bool
    fused: bool
    executor: str
    slurm: SlurmOptions
    output_dir: Path
    log_dir: Path


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m reproduce table4",
        description="Measure the paper's Table 4 (params, FLOPs, batch-32 throughput) here.",
    )
    measure = parser.add_argument_group("measurement")
    measure.add_argument("--device", default="cpu", help=f"{' or '.join(DEVICES)} (or cuda:N)")
    measure.add_argument(
        "--amp", choices=sorted(AMP_DTYPES), default=None, help="autocast dtype (GPU only)"
    )
    measure.add_argument(
        "--compile",
        nargs="?",
        const="default",
        default=None,
        choices=COMPILE_MODES,
        metavar="MODE",
        help="torch.compile each model; MODE: "
        + ", ".join(COMPILE_MODES)
        + " (default: default;"
        + " reduce-overhead adds CUDA graphs on a GPU)",
    )
    measure.add_argument("--channels-last", action="store_true", help="channels_last memory")
    measure.add_argument("--batch-size", type=int, default=None, help=f"default {TABLE_BATCH_SIZE}")
    measure.add_argument(
        "--iters",
        type=int,
        default=None,
        help="timed batches per model (default: "
        + ", ".join(f"{d} {n}" for d, (_, n) in DEFAULT_ITERATIONS.items())
        + ")",
    )
    measure.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="untimed batches first (default: "
        + ", ".join(f"{d} {n}" for d, (n, _) in DEFAULT_ITERATIONS.items())
        + ")",
    )
    measure.add_argument(
        "--quick",
        action="store_true",
        help=f"CI smoke run: batch {QUICK['batch_size']}, {QUICK['warmup']} warm-up, "
        + f"{QUICK['iters']} timed batches (explicit options still win)",
    )
    measure.add_argument(
        "--fused",
        action="store_true",
        help="time DynaMixer on its fused fast path (default: the official computation, as the "
        + "paper timed the authors' code)",
    )
    measure.add_argument(
        "--models",
        nargs="+",
        default=None,
        metavar="NAME",
        help="only these rows, by zoo name: " + " ".join(str(row.zoo_name) for row in TABLE.rows),
    )
    launch = parser.add_argument_group("where it runs")
    launch.add_argument("--executor", choices=EXECUTORS, default="local")
    launch.add_argument("--partition", default=None, help="Slurm partition")
    launch.add_argument(
        "--gpus", type=int, default=None, help="GPUs per node (default: 1 for cuda, else 0)"
    )
    launch.add_argument("--cpus-per-task", type=int, default=SlurmOptions.cpus_per_task)
    launch.add_argument("--timeout-min", type=int, default=60, help="Slurm time limit, minutes")
    launch.add_argument("--log-dir", type=Path, default=DEFAULT_LOG_DIR, help="submitit logs")
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR)
    return parser


def parse_options(argv: Sequence[str]) -> Options:
    """Parse and validate everything; ValueError (naming the bad value) before anything is built."""
    args = make_parser().parse_args(list(argv))
    device_type = args.device.split(":")[0]
    warmup, iters = DEFAULT_ITERATIONS.get(device_type, DEFAULT_ITERATIONS["cpu"])
    batch_size = TABLE_BATCH_SIZE
    if args.quick:
        batch_size, warmup, iters = QUICK["batch_size"], QUICK["warmup"], QUICK["iters"]
    settings = ThroughputSettings(
        device=args.device,
        batch_size=batch_size if args.batch_size is None else args.batch_size,
        amp=args.amp,
        channels_last=args.channels_last,
        compile=args.compile is not None,
        compile_mode=args.compile or "default",
        warmup=warmup if args.warmup is None else args.warmup,
        iters=iters if args.iters is None else args.iters,
    )
    rows = table4_rows(args.models)
    # A Slurm job checks for its GPU on the node it lands on, not here on the login node.
    validate(settings, [row_spec(row, args.fused) for row in rows], args.executor != "slurm")
    check_executor(args.executor)
    gpus = args.gpus if args.gpus is not None else int(device_type == "cuda")
    for name, value in (("gpus", gpus), ("cpus-per-task", args.cpus_per_task)):
        if value < 0:
            raise ValueError(f"--{name} must be >= 0; got {value}")
    if args.timeout_min < 1:
        raise ValueError(f"--timeout-min must be >= 1; got {args.timeout_min}")
    slurm = SlurmOptions(
        partition=args.partition,
        gpus_per_node=gpus,
        cpus_per_task=args.cpus_per_task,
        timeout_min=args.timeout_min,
    )
    return Options(
        models=tuple(str(row.zoo_name) for row in rows),
        settings=settings,
        quick=args.quick,
        fused=args.fused,
        executor=args.executor,
        slurm=slurm,
        output_dir=args.output_dir,
        log_dir=args.log_dir,
    )


def run(options: Options) -> Table4Result:
    """Measure in this process (local), or through submitit (debug, slurm) and wait."""
    job = Table4Job(options.models, options.settings, options.quick, fused=options.fused)
    if options.executor == "local":
        return job()
    submitted = submit_table4(job, options.executor, options.log_dir, options.slurm)
    if options.executor == "slurm":
        print(
            f"submitted Slurm job {submitted.job_id}; logs: {submitted.paths.stdout}; waiting "
            + "for its result (Ctrl-C stops waiting, not the job)",
            file=sys.stderr,
        )
    return submitted.result()


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        options = parse_options(argv)
    except (ValueError, RuntimeError) as error:
        make_parser().error(str(error))
    start = time.perf_counter()
    result = run(options)
    whole = _duration(time.perf_counter() - start)
    markdown, csv = write_outputs(result, options.output_dir)
    print(render_markdown(result))
    print(
        f"wrote {markdown} and {csv} ({len(result.rows)} models; measuring "
        + f"{_duration(result.wall_seconds)}, whole command {whole})"
    )
    return 0


__all__ = [
    "CLAIM_CHECKS",
    "REFERENCE_MODEL",
    "ClaimCheck",
    "Options",
    "RowMeasurement",
    "Table4Job",
    "Table4Result",
    "build_frame",
    "check_claims",
    "display_frame",
    "gpu_short_name",
    "main",
    "measure_table4",
    "output_stem",
    "paper_device",
    "parse_options",
    "render_markdown",
    "submit_table4",
    "table4_rows",
    "write_outputs",
]
