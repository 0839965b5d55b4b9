"""The one timing engine: settings checked up front, then interleaved rounds.

Every timing in the suite (Table 4, the fast-path report, the zoo benchmark) goes through
:func:`time_interleaved`: each round calls every case once, in turn, each call bracketed by
device synchronisation, after untimed warm-up rounds. A change of machine load or clock during
a run then hits every case alike, so the ratios between them are steadier than those of cases
timed one after another (on a 2-core CPU, two sequential Table 4 runs an hour apart put ViP-M/7
at 1.55 and 1.70 img/s). :func:`measure_throughputs` builds zoo models and times their inference
with timm's benchmark discipline (eval mode, inference mode, warm-up, median and spread).
:mod:`benchmarks.gemm` times its yardstick (one large matmul) with the same timer.

Every argument is checked by :func:`validate` before any model is built, so a bad device,
precision, batch size or model name fails in milliseconds with a message naming the bad value.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from benchmarks.records import (
    DEFAULT_INPUT_SIZE,
    Environment,
    ModelSpec,
    Throughput,
    describe_environment,
    load_average,
)
from models import check_model_name
from models.hierarchical import MixerLayer

__all__ = [
    "AMP_DTYPES",
    "COMPILE_MODES",
    "COMPILE_SCOPES",
    "CUDA_GRAPH_MIN_WARMUP",
    "CUDA_GRAPH_MODES",
    "DEVICES",
    "InterleavedTimes",
    "ThroughputSettings",
    "autocast",
    "check_cuda_graph_warmup",
    "check_positive_int",
    "compile_model",
    "measure_throughput",
    "measure_throughputs",
    "time_call",
    "time_interleaved",
    "validate",
]

#: Device types ``measure_throughput`` accepts ("cuda" may carry an index: "cuda:1").
DEVICES = ("cpu", "cuda")
#: Mixed-precision (autocast) dtypes, by the names the command line uses. GPU only.
AMP_DTYPES: Mapping[str, torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16}
#: ``torch.compile`` modes (``mode=``); "reduce-overhead" adds CUDA graphs on a GPU.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
#: Modes that capture CUDA graphs on a GPU: graphs are recorded on the second call, so they
#: need a few warm-up calls, and each compiled call is its own graph (see validate).
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")
CUDA_GRAPH_MIN_WARMUP = 3
#: What ``compile_model`` compiles: each MixerLayer (one graph per stage), or the whole model.
COMPILE_SCOPES = ("regional", "full")


@dataclass(frozen=True)
class ThroughputSettings:
    """How to time a model: device, batch, precision and the optional fast paths."""

    device: str = "cpu"
    batch_size: int = 32
    input_size: tuple[int, ...] = DEFAULT_INPUT_SIZE
    amp: str | None = None  # None (fp32) or a key of AMP_DTYPES; GPU only
    channels_last: bool = False
    compile: bool = False  # torch.compile before warm-up (the first warm-up batch compiles)
    compile_mode: str = "default"  # torch.compile(mode=...), one of COMPILE_MODES
    warmup: int = 1
    iters: int = 3

    @property
    def precision(self) -> str:
        """ "fp32", "amp-bf16" or "amp-fp16"."""
        return "fp32" if self.amp is None else f"amp-{self.amp}"

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the matmuls run in: fp32, or the autocast dtype."""
        return torch.float32 if self.amp is None else AMP_DTYPES[self.amp]


# ---------------------------------------------------------------------------------------------
# Validation: every bad argument fails here, before a model is built.


def check_positive_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")


def check_cuda_graph_warmup(device: torch.device, compile_mode: str, warmup: int) -> None:
    """CUDA graphs are recorded on a compiled model's second call: refuse fewer warm-up calls
    than :data:`CUDA_GRAPH_MIN_WARMUP` for a CUDA-graph mode on a GPU (else a timed batch
    would include the recording)."""
    graphs = device.type == "cuda" and compile_mode in CUDA_GRAPH_MODES
    if graphs and warmup < CUDA_GRAPH_MIN_WARMUP:
        raise ValueError(
            f"compile mode {compile_mode!r} on {device} records CUDA graphs on its second "
            + f"call: it needs warmup >= {CUDA_GRAPH_MIN_WARMUP}; got {warmup} "
            + f"(pass --warmup {CUDA_GRAPH_MIN_WARMUP})"
        )


def validate(
    settings: ThroughputSettings,
    models: Iterable[ModelSpec | str] = (),
    check_device_available: bool = True,
) -> None:
    """Raise a ValueError naming the first bad setting or unknown model name.

    ``check_device_available=False`` skips only the "is there a GPU here" check, for settings
    that will run on another machine (a Slurm job validates again where it runs).
    """
    for model in models:
        if not isinstance(model, ModelSpec):
            check_model_name(model)
    try:
        device = torch.device(settings.device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"unknown device {settings.device!r}; accepted: {', '.join(DEVICES)} (or cuda:N)"
        ) from None
    if device.type not in DEVICES:
        raise ValueError(
            f"unknown device {settings.device!r}; accepted: {', '.join(DEVICES)} (or cuda:N)"
        )
    if device.type == "cuda" and check_device_available:
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {settings.device!r} was asked for but CUDA is not available here "
                + f"(torch {torch.__version__}, CUDA build {torch.version.cuda}); "
                + "use --device cpu"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {settings.device!r} does not exist: "
                + f"{torch.cuda.device_count()} CUDA device(s) visible"
            )
    if settings.amp is not None:
        if settings.amp not in AMP_DTYPES:
            raise ValueError(
                f"unknown AMP dtype {settings.amp!r}; accepted: {', '.join(AMP_DTYPES)} "
                + "(or none for fp32)"
            )
        if device.type != "cuda":
            raise ValueError(
                f"AMP ({settings.amp}) is for GPUs: it was asked for on device "
                + f"{settings.device!r}. Measure fp32 on the CPU (drop --amp), or use --device cuda"
            )
    check_positive_int("batch_size", settings.batch_size, 1)
    check_positive_int("iters", settings.iters, 1)
    check_positive_int("warmup", settings.warmup, 0)
    if settings.compile_mode not in COMPILE_MODES:
        raise ValueError(
            f"unknown compile mode {settings.compile_mode!r}; accepted: {', '.join(COMPILE_MODES)}"
        )
    if settings.compile and settings.warmup < 1:
        raise ValueError("compile=True needs warmup >= 1: the first batch compiles the model")
    if settings.compile:
        check_cuda_graph_warmup(device, settings.compile_mode, settings.warmup)
    size = tuple(settings.input_size)
    if len(size) != 3 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in size):
        raise ValueError(f"input_size must be (channels, height, width) > 0; got {size!r}")


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


def time_interleaved(
    calls: Mapping[str, Callable[[], object]],
    warmup: int,
    iters: int,
    device: torch.device,
    bar: Any = None,
    postfix: Callable[[str, float], str] | None = None,
) -> InterleavedTimes:
    """Time every call of ``calls`` once per round: ``warmup`` untimed rounds, then ``iters``.

    Each round calls every key once, in order, so all keys see the same machine load. ``bar``
    (a tqdm bar) advances once per call; ``postfix(key, seconds)`` labels it after a timed call.
    """
    first: dict[str, float] = {}
    for round_index in range(warmup):
        for key, call in calls.items():
            elapsed = time_call(call, device)
            if round_index == 0:
                first[key] = elapsed
            if bar is not None:
                bar.update()
    seconds: dict[str, list[float]] = {key: [] for key in calls}
    for _ in range(iters):
        for key, call in calls.items():
            seconds[key].append(time_call(call, device))
            if bar is not None:
                bar.update()
                if postfix is not None:
                    bar.set_postfix_str(postfix(key, seconds[key][-1]))
    return InterleavedTimes(seconds, first)


def autocast(
    device: torch.device, dtype: torch.dtype | None
) -> contextlib.AbstractContextManager[Any]:
    """``torch.autocast`` to ``dtype`` on ``device``, or nothing for None (fp32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def compile_model(model: nn.Module, scope: str, mode: str = "default") -> nn.Module:
    """``torch.compile(mode=mode)`` per MixerLayer (``regional``: one graph per stage) or of
    the whole model (``full``)."""
    if mode not in COMPILE_MODES:
        raise ValueError(f"compile mode must be one of {COMPILE_MODES}; got {mode!r}")
    if scope == "full":
        return torch.compile(model, mode=mode)
    if scope == "regional":
        for module in model.modules():
            if isinstance(module, MixerLayer):
                module.compile(mode=mode)
        return model
    raise ValueError(f"compile scope must be one of {COMPILE_SCOPES}; got {scope!r}")


# ---------------------------------------------------------------------------------------------
# Throughput of zoo models


def measure_throughput(
    model: ModelSpec | str,
    settings: ThroughputSettings = ThroughputSettings(),  # frozen, so a shared default is safe
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
    settings: ThroughputSettings = ThroughputSettings(),
    progress: bool = False,
) -> list[Throughput]:
    """:func:`measure_throughput` for several models side by side, one record each.

    Every model is built first; then warm-up and timed rounds (:func:`time_interleaved`) each
    run one batch of every model in turn. A change of machine load or clock during the run then hits
    all models alike, so the ratios between them are steadier than those of models timed one
    after another (on a 2-core CPU, two sequential Table 4 runs an hour apart put ViP-M/7 at
    1.55 and 1.70 img/s). The load averages are those of the whole run.
    """
    specs = [ModelSpec.of(model) for model in models]
    validate(settings, specs)
    device = torch.device(settings.device)
    images = torch.randn(settings.batch_size, *settings.input_size, device=device)
    if settings.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    if len({spec.label for spec in specs}) != len(specs):
        raise ValueError(f"each model may be timed once per run; got {[s.label for s in specs]}")
    calls = {spec.label: partial(_prepare(spec, settings, device), images) for spec in specs}
    label = specs[0].label if len(specs) == 1 else f"{len(specs)} models, interleaved"
    bar = tqdm(
        total=(settings.warmup + settings.iters) * len(specs),
        desc=label,
        unit="batch",
        disable=not progress,
        leave=False,
        dynamic_ncols=True,
    )

    def postfix(key: str, seconds: float) -> str:
        return f"{key} {settings.batch_size / seconds:.1f} img/s"

    load_before = load_average()
    dtype = AMP_DTYPES[settings.amp] if settings.amp is not None else None
    with bar, torch.inference_mode(), autocast(device, dtype):
        times = time_interleaved(calls, settings.warmup, settings.iters, device, bar, postfix)
    load_after = load_average()
    environment = describe_environment(str(device))
    return [
        _throughput_record(
            spec,
            settings,
            times.seconds[spec.label],
            load_before[0] if load_before else None,
            load_after[0] if load_after else None,
            environment,
        )
        for spec in specs
    ]


def _prepare(spec: ModelSpec, settings: ThroughputSettings, device: torch.device) -> nn.Module:
    """The model on ``device`` in eval mode, channels-last and compiled as the settings ask."""
    net = spec.build().to(device).eval()
    if settings.channels_last:
        net = net.to(memory_format=torch.channels_last)
    return torch.compile(net, mode=settings.compile_mode) if settings.compile else net


def _throughput_record(
    spec: ModelSpec,
    settings: ThroughputSettings,
    seconds: Sequence[float],
    load_before: float | None,
    load_after: float | None,
    environment: Environment,
) -> Throughput:
    rates = [settings.batch_size / s for s in seconds]
    return Throughput(
        model=spec.name,
        overrides=spec.overrides,
        batch_size=settings.batch_size,
        input_size=tuple(settings.input_size),
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
        load_average_before=load_before,
        load_average_after=load_after,
        environment=environment,
    )
