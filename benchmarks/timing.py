"""The one timing engine: interleaved rounds, after settings checked up front.

Every timing in the suite (Table 4, the fast-path report, the zoo benchmark) goes through
:func:`time_interleaved`: each round calls every case once, in turn, each call bracketed by
device synchronisation, after untimed warm-up rounds. A change of machine load or clock during a
run then hits every case alike, so the ratios between them are steadier than those of cases
timed one after another (the README's "Measurement notes" say by how much).
:func:`measure_throughputs` builds zoo or timm models and times their inference (eval mode,
inference mode) or a training step (forward, backward, optimizer step) with timm's benchmark
discipline (warm-up, then median and spread of the timed batches). :mod:`benchmarks.gemm` times
its yardstick (one large matmul) with the same timer.

Every argument is checked by :func:`~benchmarks.settings.validate` before any model is built, so
a bad device, precision, batch size or model name fails in milliseconds with a message naming
the bad value.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from timm.optim import create_optimizer_v2
from torch import nn
from tqdm.auto import tqdm

from benchmarks.records import ModelSpec, Throughput
from benchmarks.settings import (
    STEPS,
    ThroughputSettings,
    check_input_size,
    validate,
)
from common.environment import Environment, describe_environment, load_average
from common.precision import autocast

__all__ = [
    "InterleavedTimes",
    "measure_throughput",
    "measure_throughputs",
    "time_call",
    "time_interleaved",
]


# ---------------------------------------------------------------------------------------------
# The engine


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(call: Callable[[], object], device: torch.device) -> float:
    """Wall seconds of one ``call()``, bracketed by device synchronisation."""
    _synchronize(device)
    start = time.perf_counter()
    call()
    _synchronize(device)
    return time.perf_counter() - start


@dataclass(frozen=True)
class InterleavedTimes:
    """What :func:`time_interleaved` measured, per case key."""

    seconds: dict[str, list[float]]  # every timed call, in round order
    first_call: dict[str, float]  # the first warm-up call (includes compilation when compiled)
    warmup_seconds: dict[str, list[float]] = field(default_factory=dict)  # every warm-up call


def time_interleaved(
    calls: Mapping[str, Callable[[], object]],
    warmup: int,
    iters: int,
    device: torch.device,
    bar: Any = None,
    postfix: Callable[[str, float], str] | None = None,
    warmup_calls: Mapping[str, Callable[[], object]] | None = None,
    after_warmup: Callable[[dict[str, list[float]]], None] | None = None,
    failures: dict[str, BaseException] | None = None,
) -> InterleavedTimes:
    """Time every call of ``calls`` once per round: ``warmup`` untimed rounds, then ``iters``.

    Each round calls every key once, in order, so all keys see the same machine load. ``bar``
    (a tqdm bar) advances once per call; ``postfix(key, seconds)`` labels it after a timed call.
    ``warmup_calls`` (same keys) stand in for ``calls`` in the warm-up rounds (a smaller batch);
    ``after_warmup(warmup_seconds)`` runs between the warm-up and the timed rounds (an estimate
    of the time left). With ``failures`` (a dict to fill), a call that raises an Exception is
    recorded there and its key leaves the remaining rounds; without it, the error propagates.
    """
    warming = calls if warmup_calls is None else warmup_calls
    warmup_seconds: dict[str, list[float]] = {key: [] for key in calls}
    seconds: dict[str, list[float]] = {key: [] for key in calls}

    def run_round(times: dict[str, list[float]], chosen: Mapping[str, Callable[[], object]]):
        for key in list(calls):
            if failures is not None and key in failures:
                continue
            try:
                times[key].append(time_call(chosen[key], device))
            except Exception as error:
                if failures is None:
                    raise
                failures[key] = error
            if bar is not None:
                bar.update()
                if postfix is not None and times is seconds and times[key]:
                    bar.set_postfix_str(postfix(key, times[key][-1]))

    for _ in range(warmup):
        run_round(warmup_seconds, warming)
    if after_warmup is not None:
        after_warmup({k: v for k, v in warmup_seconds.items() if k not in (failures or {})})
    for _ in range(iters):
        run_round(seconds, calls)
    dropped = failures or {}
    first = {key: t[0] for key, t in warmup_seconds.items() if t and key not in dropped}
    return InterleavedTimes(
        {key: t for key, t in seconds.items() if key not in dropped}, first, warmup_seconds
    )


# ---------------------------------------------------------------------------------------------
# Throughput of zoo and timm models

#: The settings a call gives none of (frozen, so one shared instance is safe).
DEFAULT_SETTINGS = ThroughputSettings()


def measure_throughput(
    model: ModelSpec | str,
    settings: ThroughputSettings = DEFAULT_SETTINGS,
    progress: bool = False,
) -> Throughput:
    """Time ``settings.iters`` batches after ``settings.warmup`` untimed ones; images per second.

    Eval mode and ``torch.inference_mode``; random inputs (the models' cost does not depend on
    values); each timed batch is bracketed by device synchronisation. ``progress`` shows a bar
    over the batches.
    """
    return measure_throughputs([model], settings, progress)[0]


def measure_throughputs(
    models: Sequence[ModelSpec | str],
    settings: ThroughputSettings = DEFAULT_SETTINGS,
    progress: bool = False,
    *,
    step: str = "inference",
    input_sizes: Mapping[str, tuple[int, ...]] | None = None,
    after_warmup: Callable[[dict[str, list[float]]], None] | None = None,
    failures: dict[str, BaseException] | None = None,
) -> list[Throughput | None]:
    """:func:`measure_throughput` for several models side by side, one record each.

    Every model is built first; then warm-up and timed rounds (:func:`time_interleaved`) each
    run one batch of every model in turn, so a change of machine load hits all models alike.
    The load averages are those of the whole run. ``step`` is "inference"
    or "train" (forward, cross-entropy, backward and an SGD step, timm's train benchmark);
    ``input_sizes`` maps a model's label to its own input size (default: the settings' one);
    ``after_warmup`` is :func:`time_interleaved`'s hook. With ``failures`` (a dict to fill),
    a model that fails to build or to run is recorded there by label, its record is None, and
    the others are timed on; without it, the first error propagates.
    """
    specs = [ModelSpec.of(model) for model in models]
    sizes = _checked_sizes(specs, settings, step, input_sizes)
    device = torch.device(settings.device)
    prepare = _inference_calls if step == "inference" else _training_calls
    calls, warmup_calls = {}, {}
    for spec in specs:
        try:
            calls[spec.label], warmup_calls[spec.label] = prepare(
                spec, settings, device, sizes[spec.label]
            )
        except Exception as error:
            if failures is None:
                raise
            failures[spec.label] = error
    label = specs[0].label if len(specs) == 1 else f"{len(specs)} models, interleaved"
    bar = tqdm(
        total=(settings.warmup + settings.iters) * len(calls),
        desc=label if step == "inference" else f"{label}, train",
        unit="batch",
        disable=not progress,
        leave=False,
        dynamic_ncols=True,
    )

    def postfix(key: str, seconds: float) -> str:
        return f"{key} {settings.batch_size / seconds:.1f} img/s"

    load_before = load_average()
    context = torch.inference_mode() if step == "inference" else contextlib.nullcontext()
    with bar, context:
        times = time_interleaved(
            calls,
            settings.warmup,
            settings.iters,
            device,
            bar,
            postfix,
            warmup_calls,
            after_warmup,
            failures,
        )
    load_after = load_average()
    environment = describe_environment(str(device))
    return [
        _throughput_record(
            spec,
            settings,
            step,
            sizes[spec.label],
            times.seconds[spec.label],
            (load_before[0] if load_before else None, load_after[0] if load_after else None),
            environment,
        )
        if spec.label in times.seconds
        else None
        for spec in specs
    ]


def _checked_sizes(
    specs: Sequence[ModelSpec],
    settings: ThroughputSettings,
    step: str,
    input_sizes: Mapping[str, tuple[int, ...]] | None,
) -> dict[str, tuple[int, ...]]:
    """Every model's input size, after checking the settings, the step and the names."""
    validate(settings, specs)
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}; accepted: {', '.join(STEPS)}")
    if len({spec.label for spec in specs}) != len(specs):
        raise ValueError(f"each model may be timed once per run; got {[s.label for s in specs]}")
    sizes = {
        spec.label: tuple((input_sizes or {}).get(spec.label, settings.input_size))
        for spec in specs
    }
    for size in sizes.values():
        check_input_size(size)
    return sizes


def _prepare(spec: ModelSpec, settings: ThroughputSettings, device: torch.device) -> nn.Module:
    """The model on ``device`` in eval mode, channels-last and compiled as the settings ask."""
    net = spec.build().to(device).eval()
    if settings.channels_last:
        net = net.to(memory_format=torch.channels_last)
    return torch.compile(net, mode=settings.compile_mode) if settings.compile else net


def _images(batch_size: int, size: tuple[int, ...], settings: ThroughputSettings) -> torch.Tensor:
    images = torch.randn(batch_size, *size, device=settings.device)
    if settings.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return images


Call = Callable[[], object]


def _inference_calls(
    spec: ModelSpec, settings: ThroughputSettings, device: torch.device, size: tuple[int, ...]
) -> tuple[Call, Call]:
    """A timed and a warm-up call: one forward pass of a batch under the settings' autocast
    (the caller holds ``torch.inference_mode``)."""
    net = _prepare(spec, settings, device)
    dtype = None if settings.amp is None else settings.dtype

    def forward(images: torch.Tensor) -> Call:
        def call() -> object:
            with autocast(device, dtype):
                return net(images)

        return call

    images = _images(settings.batch_size, size, settings)
    warmup_images = _images(settings.warmup_batch, size, settings)
    return forward(images), forward(warmup_images)


def _training_calls(
    spec: ModelSpec, settings: ThroughputSettings, device: torch.device, size: tuple[int, ...]
) -> tuple[Call, Call]:
    """A timed and a warm-up training step, as timm's benchmark times it: forward and
    cross-entropy under autocast, backward, an SGD step (timm's ``create_optimizer_v2``)."""
    net = _prepare(spec, settings, device).train()
    optimizer = create_optimizer_v2(net, opt="sgd", lr=1e-4)
    loss_function = nn.CrossEntropyLoss()
    dtype = None if settings.amp is None else settings.dtype

    def training_step(images: torch.Tensor) -> Call:
        classes = getattr(net, "num_classes", 1000) or 1000
        targets = torch.randint(0, classes, (len(images),), device=device)

        def call() -> object:
            with autocast(device, dtype):
                loss = loss_function(net(images), targets)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)  # no model's gradients wait for its next turn
            return loss

        return call

    images = _images(settings.batch_size, size, settings)
    warmup_images = _images(settings.warmup_batch, size, settings)
    return training_step(images), training_step(warmup_images)


def _throughput_record(
    spec: ModelSpec,
    settings: ThroughputSettings,
    step: str,
    size: tuple[int, ...],
    seconds: Sequence[float],
    loads: tuple[float | None, float | None],
    environment: Environment,
) -> Throughput:
    rates = [settings.batch_size / s for s in seconds]
    return Throughput(
        model=spec.name,
        overrides=spec.overrides,
        batch_size=settings.batch_size,
        input_size=size,
        precision=settings.precision,
        channels_last=settings.channels_last,
        compiled=settings.compile,
        compile_mode=settings.compile_mode if settings.compile else None,
        warmup=settings.warmup,
        iters=settings.iters,
        batch_seconds=tuple(seconds),
        median_images_per_s=statistics.median(rates),
        min_images_per_s=min(rates),
        max_images_per_s=max(rates),
        load_average_before=loads[0],
        load_average_after=loads[1],
        environment=environment,
        step=step,
        warmup_batch_size=settings.warmup_batch_size,
    )
