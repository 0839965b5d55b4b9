"""One model at several operating points (input sizes, batch sizes), timed interleaved.

How a model's cost grows is a comparison of the model with itself: each round of
:func:`benchmarks.timing.time_interleaved` runs one batch at every point in turn, so a change
of machine load hits every point of the series alike, and the per-round times give the growth
with an interval, as the per-round ratios do for two models. A point whose model cannot be
built or run gets a status instead of times; the others are timed on.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from benchmarks.records import ModelSpec
from benchmarks.settings import ThroughputSettings
from benchmarks.sweep import failure_status
from benchmarks.timing import time_interleaved
from common.precision import autocast

__all__ = ["Point", "SeriesTimes", "time_series"]


@dataclass(frozen=True)
class Point:
    """One operating point: the model as built for it, its input size and batch."""

    spec: ModelSpec
    size: tuple[int, int, int]
    batch: int

    @property
    def key(self) -> str:
        """Unique within a series: 'cyclemlp_b1 @ 3x288x288, batch 8'."""
        return f"{self.spec.label} @ {'x'.join(map(str, self.size))}, batch {self.batch}"


@dataclass(frozen=True)
class SeriesTimes:
    """Every timed call of every point that ran (seconds, round order), and why the others
    did not."""

    seconds: dict[str, list[float]]
    statuses: dict[str, str]


def _forward(
    net: nn.Module, point: Point, settings: ThroughputSettings, device: torch.device
) -> Callable[[], object]:
    images = torch.randn(point.batch, *point.size, device=device)
    if settings.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    dtype = None if settings.amp is None else settings.dtype

    def call() -> object:
        with autocast(device, dtype):
            return net(images)

    return call


def time_series(
    points: Sequence[Point], settings: ThroughputSettings, progress: bool = False
) -> SeriesTimes:
    """Time every point ``settings.iters`` times after ``settings.warmup`` untimed rounds, one
    call of each point per round (eval mode, inference mode). Each distinct model is built once
    and shared by its points (the same weights at every input size it takes)."""
    device = torch.device(settings.device)
    nets: dict[str, nn.Module] = {}
    calls: dict[str, Callable[[], object]] = {}
    failures: dict[str, BaseException] = {}
    for point in points:
        try:
            if point.spec.label not in nets:
                nets[point.spec.label] = point.spec.build().to(device).eval()
            calls[point.key] = _forward(nets[point.spec.label], point, settings, device)
        except Exception as error:
            failures[point.key] = error
    bar = tqdm(
        total=(settings.warmup + settings.iters) * len(calls),
        desc=f"{points[0].spec.name}, {len(points)} points",
        unit="batch",
        disable=not progress,
        leave=False,
    )
    with bar, torch.inference_mode() if calls else contextlib.nullcontext():
        times = time_interleaved(
            calls, settings.warmup, settings.iters, device, bar, failures=failures
        )
    del nets, calls
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return SeriesTimes(
        dict(times.seconds), {key: failure_status(error) for key, error in failures.items()}
    )
