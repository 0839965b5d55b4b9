"""How each vision MLP's cost grows: resolution, batch and memory, one model per family.

For every model and requested input side, the side actually used is the nearest one the model
takes, found by running it (on the meta device): first the same weights at the new size (a
size-agnostic model), else the model rebuilt for that size as its authors' code allows
(``img_size=``; its token-mixing weights change shape, and so does its parameter count). Which
of the two happened is measured, never declared. A size a model cannot take at all is a row
saying why. Each model's points are then timed interleaved with each other
(:func:`benchmarks.series.time_series`), so the growth of its seconds per image comes with an
interval from the rounds; peak memory is measured point by point in a fresh process (CPU) or
with the CUDA allocator's peak (GPU), :mod:`benchmarks.memory`.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch

from benchmarks.counting import count_flops, count_params, skip_meta_init
from benchmarks.memory import MEMORY_MEASURES, series_memory
from benchmarks.ratios import median_ranks
from benchmarks.records import ModelSpec
from benchmarks.series import Point, time_series
from benchmarks.settings import DEFAULT_ROUNDS, Rounds, ThroughputSettings
from common.environment import describe_environment

__all__ = [
    "DEFAULT_BATCHES",
    "DEFAULT_MODELS",
    "DEFAULT_SIZES",
    "MAX_SIZE",
    "MIN_SIZE",
    "SCALING_BATCH",
    "SCALING_ROUNDS",
    "SizeFit",
    "check_batches",
    "check_sizes",
    "fit_size",
    "growth_frame",
    "measure_scaling",
]

#: One model per family, the smallest of each (DynaMixer-S on both paths).
DEFAULT_MODELS = (
    ModelSpec("dynamixer_s", {"fused": False}),
    ModelSpec("dynamixer_s", {"fused": True}),
    ModelSpec("vip_s7"),
    ModelSpec("resmlp_s12"),
    ModelSpec("mixer_b16_224"),
    ModelSpec("gmlp_s16_224"),
    ModelSpec("as_mlp_t"),
    ModelSpec("smlpnet_t"),
    ModelSpec("convmlp_s"),
    ModelSpec("hire_mlp_ti"),
    ModelSpec("raftmlp_12"),
    ModelSpec("cyclemlp_b1"),
    ModelSpec("s2mlpv2_s7"),
)
DEFAULT_SIZES = (160, 224, 288, 384, 448)
DEFAULT_BATCHES = (1, 2, 4, 8, 16, 32, 64)
#: The batch of the resolution sweep: small, so 448 fits every model on a laptop.
SCALING_BATCH = 4
#: Rounds of both sweeps: many points per model, so fewer timed rounds than the default on a GPU.
SCALING_ROUNDS: Rounds = {"cpu": DEFAULT_ROUNDS["cpu"], "cuda": (5, 20)}
MIN_SIZE, MAX_SIZE = 32, 1024
#: The strides the families' grids need (patch 7 and two stages: 14; patch 16; 4 stages of
#: 2 after a stride-4 stem: 32); the nearest size a model takes is searched among their
#: multiples, within this distance of the request.
_STRIDES = (14, 16, 32)
_SEARCH = 112
_TRIES = 12  # the nearest candidates tried per request (a model that takes none says why)
_REFERENCE_SIDE = 224


@dataclass(frozen=True)
class SizeFit:
    """The input side a model runs at for one requested side, and how."""

    requested: int
    size: int | None  # None: no side near the request runs
    spec: ModelSpec  # the model as built for that side
    same_weights: bool | None  # True: the default model ran as it is; False: rebuilt
    # The rebuilt model's weights have the default model's names and shapes (its checkpoint
    # loads), though the default model refused the size: a size check, not a size-bound weight.
    weights_load: bool | None
    params: int | None
    macs: int | None
    status: str  # "ok", or why nothing near the request runs


def check_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    """The requested sides, or a ValueError naming the bad value and what is accepted."""
    if not sizes:
        raise ValueError("--sizes: give at least one input side, e.g. 160 224 288")
    for size in sizes:
        if not MIN_SIZE <= size <= MAX_SIZE:
            raise ValueError(f"--sizes: {size} is outside {MIN_SIZE}-{MAX_SIZE} pixels")
    return tuple(sizes)


def check_batches(batches: Sequence[int]) -> tuple[int, ...]:
    """The batch sweep's sizes: positive and increasing (ValueError otherwise)."""
    if not batches:
        raise ValueError("--batches: give at least one batch size, e.g. 1 2 4 8")
    if any(b < 1 for b in batches) or any(b >= c for b, c in itertools.pairwise(batches)):
        raise ValueError(
            f"--batches must be increasing positive integers; got {' '.join(map(str, batches))}"
        )
    return tuple(batches)


def _counts(spec: ModelSpec, side: int, params: int | None = None) -> tuple[int, int]:
    """Parameters (unless known: the same weights) and MACs at ``side``, on the meta device;
    raises if the model does not run there."""
    with skip_meta_init():
        macs = count_flops(spec, (3, side, side)).macs
        return params if params is not None else count_params(spec).params, macs


def _candidates(requested: int) -> list[int]:
    sides = {
        multiple
        for stride in _STRIDES
        for multiple in range(stride, MAX_SIZE + 1, stride)
        if abs(multiple - requested) <= _SEARCH and multiple >= MIN_SIZE
    }
    return sorted(sides, key=lambda side: (abs(side - requested), side))


def fit_size(spec: ModelSpec, requested: int) -> SizeFit:
    """The nearest side to ``requested`` that ``spec`` runs at (see the module docstring)."""
    reasons: list[str] = []
    default_params = _default_params(spec)
    sides = [requested, *(c for c in _candidates(requested) if c != requested)][:_TRIES]
    for side in sides:
        for same_weights, candidate in ((True, spec), (False, _rebuilt(spec, side))):
            if candidate is None:
                continue
            try:
                known = default_params if same_weights else None
                params, macs = _counts(candidate, side, known)
            except Exception as error:  # this side does not fit this model
                if not same_weights or side == _REFERENCE_SIDE:
                    reasons.append(_reason(error))  # the rebuilt model's reason says most
                continue
            loads = True if same_weights else _same_shapes(spec, candidate)
            return SizeFit(requested, side, candidate, same_weights, loads, params, macs, "ok")
    # The first reason that is not about the side's divisibility (the search's own misses).
    reason = next((r for r in reasons if "multiple" not in r), reasons[0] if reasons else "")
    return SizeFit(requested, None, spec, None, None, None, None, f"error: {reason}")


def _same_shapes(spec: ModelSpec, rebuilt: ModelSpec) -> bool:
    """Whether two builds of a model have the same weight names and shapes (meta device)."""
    with skip_meta_init(), torch.device("meta"):
        a, b = spec.build().state_dict(), rebuilt.build().state_dict()
    return a.keys() == b.keys() and all(a[k].shape == b[k].shape for k in a)


_DEFAULT_PARAMS: dict[str, int] = {}


def _default_params(spec: ModelSpec) -> int:
    """The parameters of the model as built by default (cached by label)."""
    if spec.label not in _DEFAULT_PARAMS:
        with skip_meta_init():
            _DEFAULT_PARAMS[spec.label] = count_params(spec).params
    return _DEFAULT_PARAMS[spec.label]


def _rebuilt(spec: ModelSpec, side: int) -> ModelSpec | None:
    """The model built for ``side`` (``img_size=``), or None at its default side."""
    if side == _REFERENCE_SIDE:
        return None
    return replace(spec, overrides={**spec.overrides, "img_size": side})


def _reason(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (lines[-1] if lines else type(error).__name__)[:200]


def _fits(spec: ModelSpec, sizes: Sequence[int]) -> list[SizeFit]:
    """One fit per requested side; two requests that land on one side keep the first."""
    fits, seen = [], set()
    for requested in sizes:
        fit = fit_size(spec, requested)
        if fit.size is not None and fit.size in seen:
            continue
        seen.add(fit.size)
        fits.append(fit)
    return fits


def _row(
    spec: ModelSpec, sweep: str, fit: SizeFit, batch: int, seconds: Sequence[float] | None
) -> dict[str, object]:
    row: dict[str, object] = {
        "model": spec.label,
        "sweep": sweep,
        "requested_size": fit.requested,
        "size": fit.size,
        "same_weights": fit.same_weights,
        "weights_load": fit.weights_load,
        "built_as": fit.spec.label,
        "params": fit.params,
        "macs": fit.macs,
        "batch_size": batch,
        "status": fit.status,
    }
    if seconds:
        rates = [batch / s for s in seconds]
        row |= {
            "images_per_s": statistics.median(rates),
            "images_per_s_min": min(rates),
            "images_per_s_max": max(rates),
            "seconds_per_image": statistics.median(seconds) / batch,
            "batch_seconds": " ".join(f"{s:.4f}" for s in seconds),
        }
    return row


def _measure_model(
    spec: ModelSpec,
    sizes: Sequence[int],
    batches: Sequence[int],
    settings: ThroughputSettings,
    memory: bool,
    progress: bool,
) -> list[dict[str, object]]:
    """One model's rows: its resolution series, then its batch series at 224."""
    fits = _fits(spec, sizes)
    base = fit_size(spec, _REFERENCE_SIDE)
    series = {
        "resolution": [(fit, settings.batch_size) for fit in fits],
        "batch": [(base, batch) for batch in batches] if base.status == "ok" else [],
    }
    rows = []
    for sweep, members in series.items():
        points = [
            (fit, Point(fit.spec, (3, fit.size, fit.size), batch))
            for fit, batch in members
            if fit.status == "ok"
        ]
        times = time_series([p for _, p in points], settings, progress) if points else None
        memories = (
            series_memory([(p.spec, p.batch, p.size) for _, p in points], settings)
            if memory and points
            else []
        )
        by_key = dict(zip((p.key for _, p in points), memories, strict=False))
        for fit, batch in members:
            point = Point(fit.spec, (3, fit.size or 0, fit.size or 0), batch)
            seconds = times.seconds.get(point.key) if times else None
            row = _row(spec, sweep, fit, batch, seconds)
            if times and point.key in times.statuses:
                row["status"] = times.statuses[point.key]
            megabytes = by_key.get(point.key)
            if isinstance(megabytes, float):
                row["peak_memory_mb"] = megabytes
            elif isinstance(megabytes, str):
                row["memory_status"] = megabytes
            rows.append(row)
    return rows


def measure_scaling(
    specs: Sequence[ModelSpec],
    sizes: Sequence[int],
    batches: Sequence[int],
    settings: ThroughputSettings,
    memory: bool = True,
    progress: bool = True,
    report: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Every model's resolution series (at ``settings.batch_size``) and batch series (at 224),
    one row per point, with the run's provenance on every row."""
    rows = []
    for index, spec in enumerate(specs, start=1):
        if report is not None:
            report(f"[{index}/{len(specs)}] {spec.label}")
        rows += _measure_model(spec, sizes, batches, settings, memory, progress)
    environment = describe_environment(settings.device)
    frame = pd.DataFrame.from_records(rows)
    device_type = environment.device.split(":")[0]
    frame = frame.assign(
        precision=settings.precision,
        warmup=settings.warmup,
        iters=settings.iters,
        device=environment.device,
        device_name=environment.device_name,
        cpu_bf16=environment.cpu_bf16_text,
        threads=environment.threads,
        torch=environment.torch_version,
        timm=environment.timm_version,
        ptflops=environment.ptflops_version,
        memory_measure=MEMORY_MEASURES[device_type] if memory else "",
        date=environment.date,
    )
    return frame


def _slope(pixels: Sequence[float], values: Sequence[float]) -> float:
    """The least-squares slope of log(value) against log(pixels)."""
    x, y = np.log(np.asarray(pixels, float)), np.log(np.asarray(values, float))
    return float(np.polyfit(x, y, 1)[0])


def _round_slopes(rows: pd.DataFrame) -> tuple[float, float, float] | None:
    """The seconds-per-image slope of each round (every point ran in each round), its median
    and the distribution-free interval of that median (:func:`median_ranks`)."""
    seconds = [[float(s) for s in str(text).split()] for text in rows["batch_seconds"]]
    rounds = min(len(times) for times in seconds)
    if rounds == 0 or len(rows) < 2:
        return None
    pixels = list(rows["size"].astype(float) ** 2)
    slopes = sorted(
        _slope(pixels, [t[r] / b for t, b in zip(seconds, rows["batch_size"], strict=True)])
        for r in range(rounds)
    )
    k, _ = median_ranks(rounds)
    return statistics.median(slopes), slopes[k - 1], slopes[-k]


def growth_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model: the sides it ran at, whether the same weights ran at all of them, and the
    growth exponents (slopes on log-log axes against pixels: 1 is linear, 2 quadratic) of its
    MACs, seconds per image (median and interval over the rounds) and peak memory."""
    records = []
    resolution = frame[frame["sweep"] == "resolution"]
    for model, rows in resolution.groupby("model", sort=False):
        ran = rows[(rows["status"] == "ok") & rows["images_per_s"].notna()]
        record: dict[str, object] = {
            "model": model,
            "sizes": " ".join(str(int(s)) for s in ran["size"]),
            "points": len(ran),
            "same_weights": bool(ran["same_weights"].astype(bool).all()) if len(ran) else None,
            "weights_load": bool(ran["weights_load"].astype(bool).all()) if len(ran) else None,
            "params_range": _range_text(ran["params"]),
            "not_run": "; ".join(
                f"{int(r)}: {s}"
                for r, s in zip(rows["requested_size"], rows["status"], strict=True)
                if s != "ok"
            ),
        }
        if len(ran) >= 2:
            pixels = list(ran["size"].astype(float) ** 2)
            record["macs_slope"] = _slope(pixels, list(ran["macs"].astype(float)))
            slopes = _round_slopes(ran)
            if slopes is not None:
                names = ("time_slope", "time_slope_low", "time_slope_high")
                record |= dict(zip(names, slopes, strict=True))
            if "peak_memory_mb" in ran and ran["peak_memory_mb"].notna().all():
                record["memory_slope"] = _slope(pixels, list(ran["peak_memory_mb"].astype(float)))
        records.append(record)
    return pd.DataFrame.from_records(records)


def _range_text(values: pd.Series) -> str:
    values = [int(v) for v in values.dropna()]
    if not values:
        return ""
    low, high = min(values), max(values)
    return f"{low:,}" if low == high else f"{low:,}–{high:,}"


def pixels_of(side: float) -> float:
    """Pixels of a square input side (the x axis of every growth exponent)."""
    return math.pow(side, 2)
