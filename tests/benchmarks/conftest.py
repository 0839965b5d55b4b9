"""Shared records of the benchmarks tests: the made-up machine and a benchmark run built from
fixed records (no model is built)."""

from __future__ import annotations

import ast
import dataclasses
import statistics
from collections.abc import Mapping, Sequence

from benchmarks.records import FlopCount, ModelSpec, ParamCount, Throughput
from benchmarks.rows import finish_row, model_row
from benchmarks.settings import ThroughputSettings
from benchmarks.suite import BenchmarkRun
from benchmarks.sweep import STATUS_OK
from common.environment import Environment

# A machine unlike any real one, so a rendered caption or file name shows where it came from.
ENVIRONMENT = Environment(
    device="cpu",
    device_name="Test CPU 9000",
    threads=2,
    cpu_count=2,
    torch_version="2.14.1",
    timm_version="1.0.31",
    ptflops_version="0.7.5",
    python_version="3.11.7",
    date="2026-01-02T03:04:05+00:00",
    cpu_bf16=(),
)
META = dataclasses.replace(ENVIRONMENT, device="meta", device_name="meta (shapes only)")


def fixed_run(
    seconds: Mapping[str, Sequence[float]],
    settings: ThroughputSettings | None = None,
    steps: Sequence[str] = ("inference",),
    macs: int = 2_000_000_000,
    params: int = 10_000_000,
    gemm_peak_gflops: float = 100.0,
) -> BenchmarkRun:
    """A run of made-up per-round seconds (model label -> seconds), nothing built or timed;
    every model has ``macs`` and ``params``."""
    settings = settings or ThroughputSettings(batch_size=32, warmup=1, iters=3, warmup_batch_size=2)
    specs = tuple(ModelSpec(label.split("(")[0], _overrides(label)) for label in seconds)
    throughputs = {
        step: tuple(_throughput(spec, settings, step, seconds[spec.label]) for spec in specs)
        for step in steps
    }
    return BenchmarkRun(
        specs=specs,
        settings=settings,
        params=tuple(ParamCount(s.name, s.overrides, params, META) for s in specs),
        flops=tuple(
            FlopCount(s.name, s.overrides, (3, 224, 224), macs, "ptflops 0.7.5, aten backend", META)
            for s in specs
        ),
        throughputs=throughputs,
        gemm_peak_gflops=gemm_peak_gflops,
        wall_seconds=61.0,
        environment=ENVIRONMENT,
    )


def fixed_rows(
    seconds: Mapping[str, Sequence[float]],
    settings: ThroughputSettings | None = None,
    reference: str | None = None,
    statuses: Mapping[str, str] | None = None,
    environment: Environment = ENVIRONMENT,
    **counts: int,
) -> list[dict[str, object]]:
    """The sweep rows of :func:`fixed_run` (one group with ``reference``, default ResMLP-S24
    where it is timed, else the first label), as :func:`benchmarks.sweep.run_sweep` writes
    them; ``statuses`` marks models that failed (their seconds are ignored)."""
    run = fixed_run(seconds, settings, **counts)
    labels = [spec.label for spec in run.specs]
    reference = reference or ("resmlp_s24" if "resmlp_s24" in labels else labels[0])
    anchor = {"inference": seconds[reference]}
    rows = []
    for index, spec in enumerate(run.specs):
        status = (statuses or {}).get(spec.label, STATUS_OK)
        records = {"inference": run.throughputs["inference"][index]} if status == STATUS_OK else {}
        count = (run.params[index], run.flops[index], STATUS_OK)
        row = model_row(spec, *count[:2], status, records, run.gemm_peak_gflops, anchor)
        row |= {"group": 0 if spec.label == reference else 1, "batch_note": ""}
        finish_row(row, run.settings, environment, run.gemm_peak_gflops, 61.0, count, reference)
        rows.append(row)
    return rows


def _overrides(label: str) -> dict[str, object]:
    """'dynamixer_s(fused=False)' -> {'fused': False}, "x(cycle_fc='shift')" -> {'cycle_fc':
    'shift'}: the labels ModelSpec writes (values as repr writes them)."""
    if "(" not in label:
        return {}
    inner = label.split("(", 1)[1].rstrip(")")
    pairs = (item.split("=", 1) for item in inner.split(", "))
    return {key: ast.literal_eval(value) for key, value in pairs}


def _throughput(
    spec: ModelSpec, settings: ThroughputSettings, step: str, seconds: Sequence[float]
) -> Throughput:
    rates = [settings.batch_size / s for s in seconds]
    return Throughput(
        model=spec.name,
        overrides=spec.overrides,
        batch_size=settings.batch_size,
        input_size=(3, 224, 224),
        precision=settings.precision,
        channels_last=settings.channels_last,
        compiled=settings.compile,
        compile_mode=settings.compile_mode if settings.compile else None,
        warmup=settings.warmup,
        iters=len(seconds),
        batch_seconds=tuple(seconds),
        median_images_per_s=statistics.median(rates),
        min_images_per_s=min(rates),
        max_images_per_s=max(rates),
        load_average_before=1.5,
        load_average_after=2.0,
        environment=ENVIRONMENT,
        step=step,
        warmup_batch_size=settings.warmup_batch_size,
    )
