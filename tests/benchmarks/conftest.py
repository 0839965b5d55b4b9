"""Shared records of the benchmarks tests: the made-up machine and sweep rows built from fixed
records by the sweep's own row builders (no model is built)."""

from __future__ import annotations

import ast
import dataclasses
import statistics
from collections.abc import Mapping, Sequence

from benchmarks.records import FlopCount, ModelSpec, ParamCount, Throughput
from benchmarks.rows import finish_row, model_row
from benchmarks.settings import ThroughputSettings
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


def fixed_rows(
    seconds: Mapping[str, Sequence[float]],
    settings: ThroughputSettings | None = None,
    reference: str | None = None,
    statuses: Mapping[str, str] | None = None,
    environment: Environment = ENVIRONMENT,
    steps: Sequence[str] = ("inference",),
    macs: int = 2_000_000_000,
    params: int = 10_000_000,
    gemm_peak_gflops: float = 100.0,
) -> list[dict[str, object]]:
    """Rows of made-up per-round seconds (model label -> seconds), nothing built or timed, as
    :func:`benchmarks.sweep.run_sweep` writes them with its own row builders: one group with
    ``reference`` (default ResMLP-S24 where it is timed, else the first label), every model of
    ``macs`` and ``params``; ``statuses`` marks models that failed (their seconds ignored)."""
    settings = settings or ThroughputSettings(batch_size=32, warmup=1, iters=3, warmup_batch_size=2)
    specs = [ModelSpec(label.split("(")[0], _overrides(label)) for label in seconds]
    labels = [spec.label for spec in specs]
    reference = reference or ("resmlp_s24" if "resmlp_s24" in labels else labels[0])
    anchor = {step: seconds[reference] for step in steps}
    rows = []
    for spec in specs:
        status = (statuses or {}).get(spec.label, STATUS_OK)
        records = {
            step: _throughput(spec, settings, step, seconds[spec.label]) for step in steps
        } if status == STATUS_OK else {}  # fmt: skip
        count = (
            ParamCount(spec.name, spec.overrides, params, META),
            FlopCount(spec.name, spec.overrides, (3, 224, 224), macs, "ptflops 0.7.5, aten backend",
                      META),
            STATUS_OK,
        )  # fmt: skip
        row = model_row(spec, count[0], count[1], status, records, gemm_peak_gflops, anchor)
        row |= {"group": 0 if spec.label == reference else 1, "batch_note": ""}
        finish_row(row, settings, environment, gemm_peak_gflops, 61.0, count, reference, "run-1")
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
