"""Any zoo or timm models timed side by side: what ``python -m benchmarks`` runs.

Names and globs -> models -> each model's input size -> parameters and MACs (meta device) ->
the GEMM peak -> one interleaved run per step (:func:`benchmarks.timing.measure_throughputs`,
the one timing engine) -> the GEMM peak again -> a :class:`BenchmarkRun` -> one DataFrame whose
columns carry timm's ``benchmark.py`` names for what timm also measures, plus the provenance.
"""

from __future__ import annotations

import datetime
import fnmatch
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import timm
from tqdm.auto import tqdm

from benchmarks.counting import count_flops, count_params, skip_meta_init
from benchmarks.gemm import measure_gemm_peak
from benchmarks.records import (
    DEFAULT_INPUT_SIZE,
    FlopCount,
    ModelSpec,
    ParamCount,
    Throughput,
    model_source,
    timm_model_names,
)
from benchmarks.settings import ThroughputSettings, validate
from benchmarks.timing import measure_throughputs
from common.durations import duration_text
from common.environment import Environment, describe_environment
from models import list_models

__all__ = [
    "ASSUMED_MFU",
    "FLOP_PER_MAC",
    "TIMM_PREFIXES",
    "TRAIN_FLOP_FACTOR",
    "BenchmarkRun",
    "benchmark_frame",
    "estimate_reporter",
    "expected_seconds",
    "input_size_of",
    "note",
    "run_benchmark",
    "select_models",
    "upfront_seconds",
]

GLOB_CHARACTERS = "*?["
#: timm's column prefix for each step ("infer_samples_per_sec", "train_step_time", ...).
TIMM_PREFIXES = {"inference": "infer", "train": "train"}
FLOP_PER_MAC = 2
#: A training step costs about three forward passes (forward, and backward's two products per
#: layer): the usual convention for a training step's FLOPs, used for its MFU.
TRAIN_FLOP_FACTOR = 3


def select_models(patterns: Sequence[str]) -> list[str]:
    """Model names for names and globs, in order, each once: zoo names (in the zoo's order)
    before the other timm names a glob matches (sorted). A name neither builds, or a glob that
    matches nothing, raises a ValueError saying so (with the closest names)."""
    names: list[str] = []
    for pattern in patterns:
        if any(character in pattern for character in GLOB_CHARACTERS):
            matched = [name for name in list_models() if fnmatch.fnmatchcase(name, pattern)]
            matched += sorted(
                name
                for name in timm_model_names()
                if fnmatch.fnmatchcase(name, pattern) and name not in matched
            )
            if not matched:
                raise ValueError(
                    f"{pattern!r} matches no zoo or timm model (globs are matched against "
                    + "models.list_models() and timm.list_models(), e.g. 'dynamixer_*', '*mlp*')"
                )
        else:
            model_source(pattern)  # an unknown name: ValueError with the closest names
            matched = [pattern]
        names += [name for name in matched if name not in names]
    if not names:
        raise ValueError("no model given: name at least one zoo or timm model, or a glob")
    return names


def input_size_of(name: str, img_size: int | None = None) -> tuple[int, int, int]:
    """The input a model is timed at: its pretrained cfg's input size, or ``img_size`` square.

    A model whose cfg says ``fixed_input_size`` (a fixed patch grid) refuses another size.
    """
    cfg = timm.models.get_pretrained_cfg(name)
    default = tuple(cfg.input_size) if cfg is not None else DEFAULT_INPUT_SIZE
    if img_size is None:
        return default
    size = (default[0], img_size, img_size)
    if cfg is not None and cfg.fixed_input_size and size != default:
        raise ValueError(
            f"{name} takes only {default[1]}x{default[2]} input (fixed_input_size in its "
            + f"pretrained cfg); got --img-size {img_size}"
        )
    return size


@dataclass(frozen=True)
class BenchmarkRun:
    """One run: the models, their counts, each step's throughput records, and the yardstick."""

    specs: tuple[ModelSpec, ...]
    settings: ThroughputSettings
    params: tuple[ParamCount, ...]  # in the order of specs
    flops: tuple[FlopCount, ...]
    throughputs: Mapping[str, tuple[Throughput, ...]]  # step -> records, in the order of specs
    # One large linear in the timed dtype, best of the calls before and after the models.
    gemm_peak_gflops: float
    wall_seconds: float  # from the first count to the last batch timed
    environment: Environment  # where the models were timed, when the run ended


#: The share of the GEMM peak the up-front estimate assumes a model reaches (measured zoo MFU on
#: 2-core CPUs: 26-88%, most of it 55-70%); the estimate after the warm-up is the close one.
ASSUMED_MFU = 0.5


def upfront_seconds(
    flops: Sequence[FlopCount], settings: ThroughputSettings, gemm_peak_gflops: float, step: str
) -> float:
    """Seconds the warm-up and timed rounds of one step should take, before any is run: every
    model's FLOPs at its batch and rounds over :data:`ASSUMED_MFU` of the measured GEMM peak."""
    per_image = FLOP_PER_MAC * sum(f.macs for f in flops)
    per_image *= TRAIN_FLOP_FACTOR if step == "train" else 1
    images = settings.warmup * settings.warmup_batch + settings.iters * settings.batch_size
    return per_image * images / (ASSUMED_MFU * gemm_peak_gflops * 1e9)


def expected_seconds(
    warmup_seconds: Mapping[str, Sequence[float]], settings: ThroughputSettings
) -> float | None:
    """Seconds the timed rounds should take: every model's last warm-up batch, scaled to the
    timed batch size, times the rounds (None without warm-up)."""
    if not all(warmup_seconds.values()) or not warmup_seconds:
        return None
    per_round = sum(times[-1] for times in warmup_seconds.values())
    return per_round * settings.batch_size / settings.warmup_batch * settings.iters


def estimate_reporter(
    step: str, settings: ThroughputSettings, report: Callable[[str], None]
) -> Callable[[dict[str, list[float]]], None]:
    """The hook that prints the expected duration of the timed rounds, after the warm-up."""

    def after_warmup(warmup_seconds: dict[str, list[float]]) -> None:
        seconds = expected_seconds(warmup_seconds, settings)
        if seconds is None:
            return
        scaled = (
            f" at batch {settings.warmup_batch}, scaled to {settings.batch_size}"
            if settings.warmup_batch != settings.batch_size
            else ""
        )
        compiled = (
            " (it compiled the models: an overestimate)"
            if settings.compile and settings.warmup == 1
            else ""
        )
        end = datetime.datetime.now() + datetime.timedelta(seconds=seconds)
        report(
            f"{step}: {len(warmup_seconds)} models x {settings.iters} timed rounds at batch "
            + f"{settings.batch_size}: expected {duration_text(seconds)}, until about "
            + f"{end:%H:%M} (from the last warm-up batch{scaled}){compiled}"
        )

    return after_warmup


def note(message: str) -> None:
    """One line on stderr, printed above any progress bar."""
    tqdm.write(message, file=sys.stderr)


def _count(
    specs: Sequence[ModelSpec], sizes: Mapping[str, tuple[int, ...]], progress: bool
) -> tuple[tuple[ParamCount, ...], tuple[FlopCount, ...]]:
    """Parameters and MACs of every model, on the meta device; a model that cannot run at its
    input size fails here, before any model is built for timing."""
    params, flops = [], []
    bar = tqdm(specs, desc="counting", unit="model", disable=not progress, leave=False)
    with skip_meta_init():
        for spec in bar:
            params.append(count_params(spec))
            try:
                flops.append(count_flops(spec, sizes[spec.label]))
            except RuntimeError as error:  # the message ends with the forward pass's error
                reason = (str(error).strip().splitlines() or ["failed"])[-1]
                raise ValueError(
                    f"{spec.label} does not run at input {sizes[spec.label]}: {reason}"
                ) from None
    return tuple(params), tuple(flops)


def run_benchmark(
    specs: Sequence[ModelSpec],
    settings: ThroughputSettings,
    steps: Sequence[str] = ("inference",),
    input_sizes: Mapping[str, tuple[int, ...]] | None = None,
    progress: bool = True,
    report: Callable[[str], None] | None = None,
) -> BenchmarkRun:
    """Count every model, then time each step of all of them side by side (one interleaved run
    per step), between two measurements of the GEMM peak in the timed dtype. ``report`` gets
    the expected duration after each warm-up (default: a line on stderr, above the bars)."""
    report = report or note
    specs = tuple(specs)
    validate(settings, specs)
    sizes = {
        spec.label: tuple((input_sizes or {}).get(spec.label, settings.input_size))
        for spec in specs
    }
    start = time.perf_counter()
    params, flops = _count(specs, sizes, progress)
    peak = measure_gemm_peak(settings.device, settings.dtype)
    for step in steps:
        seconds = upfront_seconds(flops, settings, peak, step)
        report(
            f"{step}: {len(specs)} models, {settings.warmup} warm-up and {settings.iters} timed "
            + f"rounds: roughly {duration_text(seconds)} (their FLOPs at {ASSUMED_MFU:.0%} of the "
            + f"{peak:.0f} GFLOP/s GEMM peak just measured); a closer estimate follows the warm-up"
        )
    throughputs = {}
    for step in steps:
        throughputs[step] = tuple(
            measure_throughputs(
                specs,
                settings,
                progress,
                step=step,
                input_sizes=sizes,
                after_warmup=estimate_reporter(step, settings, report),
            )
        )
    peak = max(peak, measure_gemm_peak(settings.device, settings.dtype))
    return BenchmarkRun(
        specs=specs,
        settings=settings,
        params=params,
        flops=flops,
        throughputs=throughputs,
        gemm_peak_gflops=peak,
        wall_seconds=time.perf_counter() - start,
        environment=describe_environment(settings.device),
    )


# ---------------------------------------------------------------------------------------------
# The run as one table


def _timm_step_columns(record: Throughput) -> dict[str, object]:
    """One step's columns under timm's names ("infer_..." or "train_...")."""
    prefix = TIMM_PREFIXES[record.step]
    rate = record.median_images_per_s
    return {
        f"{prefix}_img_size": record.input_size[-1],
        f"{prefix}_batch_size": record.batch_size,
        f"{prefix}_samples_per_sec": rate,
        f"{prefix}_step_time": 1000 * record.batch_size / rate,  # ms, of the median rate
    }


def _suite_step_columns(record: Throughput, macs: int, peak: float) -> dict[str, object]:
    """One step's spread, per-round seconds, load and utilisation (timm has none of these)."""
    prefix = TIMM_PREFIXES[record.step]
    flop_per_image = FLOP_PER_MAC * macs * (TRAIN_FLOP_FACTOR if record.step == "train" else 1)
    return {
        f"{prefix}_samples_per_sec_min": record.min_images_per_s,
        f"{prefix}_samples_per_sec_max": record.max_images_per_s,
        f"{prefix}_batch_seconds": " ".join(f"{s:.4f}" for s in record.batch_seconds),
        f"{prefix}_mfu": flop_per_image * record.median_images_per_s / (peak * 1e9)
        if peak > 0
        else math.nan,
        f"{prefix}_load_average": _load_text(record),
    }


def _load_text(record: Throughput) -> str:
    loads = [v for v in (record.load_average_before, record.load_average_after) if v is not None]
    return " ".join(f"{v:.2f}" for v in loads)


def _provenance(run: BenchmarkRun) -> dict[str, object]:
    """The run-level columns: settings, machine, libraries, date; the same on every row."""
    settings, environment = run.settings, run.environment
    return {
        "gemm_peak_gflops": run.gemm_peak_gflops,
        "precision": settings.precision,
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
        "flop_counter": run.flops[0].counter if run.flops else "",
        "date": environment.date,
        "wall_seconds": run.wall_seconds,
    }


def benchmark_frame(run: BenchmarkRun) -> pd.DataFrame:
    """One row per model: timm's columns (``model``, ``infer_img_size``, ``infer_batch_size``,
    ``infer_samples_per_sec``, ``infer_step_time`` in ms, ``param_count`` in millions,
    ``infer_gmacs``; ``train_*`` alike), then the suite's: exact counts, spread, per-round
    seconds, MFU and provenance. Rates are the median over the timed batches (timm's are means).
    """
    rows = []
    for index, spec in enumerate(run.specs):
        params, macs = run.params[index].params, run.flops[index].macs
        timm_columns: dict[str, object] = {"model": spec.label}
        suite_columns: dict[str, object] = {
            "name": spec.name,
            "overrides": repr(dict(spec.overrides)) if spec.overrides else "",
            "source": spec.source,
            "params": params,
            "macs": macs,
        }
        for step, records in run.throughputs.items():
            timm_columns |= _timm_step_columns(records[index])
            suite_columns |= _suite_step_columns(records[index], macs, run.gemm_peak_gflops)
            if step == "inference":
                timm_columns |= {"param_count": params / 1e6, "infer_gmacs": macs / 1e9}
        timm_columns.setdefault("param_count", params / 1e6)
        rows.append(timm_columns | suite_columns | _provenance(run))
    return pd.DataFrame.from_records(rows)
