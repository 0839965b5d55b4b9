"""Measure one model: parameter count, FLOPs and inference throughput.

Three small functions, each returning a frozen record that says what was measured and where:

* :func:`count_params` and :func:`count_flops` build the model on PyTorch's ``meta`` device
  (shapes only: no memory, no initialisation, no arithmetic), so counting even the largest model
  takes about a second. Both counts depend on shapes alone, so they equal those of a real model.
* :func:`measure_throughput` builds the real model on the requested device and times repeated
  batches with timm's benchmark discipline: eval mode, inference mode, warm-up batches, device
  synchronisation around every timed batch, and the median of the timed batches with its spread.

Every argument is checked by :func:`validate` before any model is built, so a bad device,
precision, batch size or model name fails in milliseconds with a message naming the bad value.
This module knows nothing of the paper; ``reproduce/`` decides what to measure.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import io
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, partial
from importlib import metadata
from typing import Any

import torch
from ptflops import get_model_complexity_info
from torch import nn
from tqdm.auto import tqdm

from models import check_model_name, create_model

__all__ = [
    "AMP_DTYPES",
    "COMPILE_MODES",
    "CUDA_GRAPH_MODES",
    "DEVICES",
    "GEMM_PEAK_CALLS",
    "GEMM_SHAPE",
    "Environment",
    "FlopCount",
    "ModelSpec",
    "ParamCount",
    "Throughput",
    "ThroughputSettings",
    "check_cuda_graph_warmup",
    "count_flops",
    "count_module_flops",
    "count_module_params",
    "count_params",
    "describe_environment",
    "flatten",
    "gemm_call",
    "gemm_flops",
    "measure_gemm_peak",
    "measure_throughput",
    "measure_throughputs",
    "time_call",
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
#: The GEMM-peak yardstick for FLOP utilisation: one linear layer of 2048 tokens, 2048 -> 2048
#: features (17 GFLOP), large enough to run near the device's best matmul rate.
GEMM_SHAPE = (2048, 2048, 2048)
#: Timed calls of that GEMM per peak measurement (the best one counts).
GEMM_PEAK_CALLS = 5
#: Back-to-back GEMMs per timed call: one on a CPU (~0.25 s each); on a GPU one bf16 GEMM takes
#: tens of microseconds, as long as a launch and a sync, so 50 run between two syncs.
GEMM_REPEATS = {"cpu": 1, "cuda": 50}
#: The device the counting functions build on: shapes only, no storage, no arithmetic.
COUNTING_DEVICE = "meta"
DEFAULT_INPUT_SIZE = (3, 224, 224)


@dataclass(frozen=True)
class ModelSpec:
    """A zoo model by name plus keyword overrides (ablations); checked when constructed."""

    name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_model_name(self.name)
        object.__setattr__(self, "overrides", dict(self.overrides))  # a plain, picklable copy

    @classmethod
    def of(cls, model: ModelSpec | str) -> ModelSpec:
        """Accept a spec or a bare zoo name."""
        return model if isinstance(model, ModelSpec) else cls(model)

    @property
    def label(self) -> str:
        """``name`` or ``name(key=value, ...)``: how tables and logs name this model."""
        if not self.overrides:
            return self.name
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.overrides.items())})"

    def build(self) -> nn.Module:
        """A fresh model, in eval mode, on the current default device."""
        return create_model(self.name, **dict(self.overrides)).eval()


@dataclass(frozen=True)
class Environment:
    """Where and with which libraries a measurement was made."""

    device: str  # "cpu", "cuda:0", or "meta" for shape-only counting
    device_name: str  # the CPU model from /proc/cpuinfo, or the GPU's name
    threads: int  # torch.get_num_threads(): intra-op CPU threads
    cpu_count: int  # os.cpu_count() of the machine
    torch_version: str
    timm_version: str
    ptflops_version: str
    python_version: str
    date: str  # ISO 8601, UTC, to the second


@dataclass(frozen=True)
class ParamCount:
    """The number of parameters (weights and biases; buffers excluded) of one model."""

    model: str
    overrides: Mapping[str, Any]
    params: int
    environment: Environment


@dataclass(frozen=True)
class FlopCount:
    """Multiply-accumulates of one forward pass of one image, as ptflops' aten backend counts.

    The aten backend counts matrix products and convolutions at the dispatcher, so it sees the
    ``matmul`` of a dynamically generated mixing matrix that module hooks miss. Element-wise
    ops, softmax and normalisation count zero. The paper's "FLOPs" are these MACs. Modules
    with a ``fused`` fast path are counted on their plain (reference) path.
    """

    model: str
    overrides: Mapping[str, Any]
    input_size: tuple[int, ...]
    macs: int
    counter: str  # e.g. "ptflops 0.7.5, aten backend"
    environment: Environment


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


@dataclass(frozen=True)
class Throughput:
    """Images per second of one model at one setting: every timed batch and their summary."""

    model: str
    overrides: Mapping[str, Any]
    batch_size: int
    input_size: tuple[int, ...]
    precision: str  # "fp32", "amp-bf16", "amp-fp16"
    channels_last: bool
    compiled: bool
    compile_mode: str | None  # torch.compile's mode when compiled
    warmup: int
    iters: int
    batch_seconds: tuple[float, ...]  # wall time of each timed batch, synchronised
    median_images_per_s: float
    min_images_per_s: float
    max_images_per_s: float
    load_average_before: float | None  # 1-minute load average: was the machine busy?
    load_average_after: float | None
    environment: Environment


# ---------------------------------------------------------------------------------------------
# Provenance


@cache
def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe_environment(device: str = "cpu") -> Environment:
    """The provenance of a measurement made now on ``device``."""
    torch_device = torch.device(device)
    if torch_device.type == "cuda":
        index = (
            torch_device.index if torch_device.index is not None else torch.cuda.current_device()
        )
        device_name = torch.cuda.get_device_name(index)
        device = f"cuda:{index}"
    elif torch_device.type == COUNTING_DEVICE:
        device_name = "meta (shapes only)"
    else:
        device_name = _cpu_name()
    return Environment(
        device=device,
        device_name=device_name,
        threads=torch.get_num_threads(),
        cpu_count=os.cpu_count() or 1,
        torch_version=torch.__version__,
        timm_version=_version("timm"),
        ptflops_version=_version("ptflops"),
        python_version=platform.python_version(),
        date=datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat(),
    )


def flatten(record: ParamCount | FlopCount | Throughput) -> dict[str, Any]:
    """A record as one flat dict (its environment's fields inlined), for CSV and DataFrames."""
    row = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    environment = row.pop("environment")
    row["overrides"] = dict(row["overrides"])
    return {**row, **dataclasses.asdict(environment)}


# ---------------------------------------------------------------------------------------------
# Validation: every bad argument fails here, before a model is built.


def _check_positive_int(name: str, value: object, minimum: int) -> None:
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
    _check_positive_int("batch_size", settings.batch_size, 1)
    _check_positive_int("iters", settings.iters, 1)
    _check_positive_int("warmup", settings.warmup, 0)
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
# Counting (meta device: shapes only)


def _build_on_meta(spec: ModelSpec) -> nn.Module:
    with torch.device(COUNTING_DEVICE):
        return spec.build()


def count_module_params(net: nn.Module, *, model: str, overrides: Mapping[str, Any]) -> ParamCount:
    """The parameter record of an already built ``net`` (weights and biases, no buffers).

    Shared by :func:`count_params` and :mod:`benchmarks.external`, so both count alike.
    """
    return ParamCount(
        model=model,
        overrides=overrides,
        params=sum(p.numel() for p in net.parameters()),
        environment=describe_environment(COUNTING_DEVICE),
    )


def count_module_flops(
    net: nn.Module,
    size: tuple[int, ...],
    *,
    model: str,
    overrides: Mapping[str, Any],
    label: str,
) -> FlopCount:
    """The FLOPs record of an already built ``net``: ptflops' aten MACs at batch 1.

    ``label`` names the model in the error raised when ptflops cannot count it. Shared by
    :func:`count_flops` and :mod:`benchmarks.external`, so both count alike.
    """
    log = io.StringIO()
    with torch.no_grad():
        macs, _ = get_model_complexity_info(
            net,
            size,
            as_strings=False,
            print_per_layer_stat=False,
            backend="aten",
            ost=log,
        )
    if macs is None:  # ptflops prints the exception and returns None instead of raising
        raise RuntimeError(f"ptflops could not count {label} at input {size}: {log.getvalue()}")
    return FlopCount(
        model=model,
        overrides=overrides,
        input_size=size,
        macs=int(macs),
        counter=f"ptflops {_version('ptflops')}, aten backend",
        environment=describe_environment(COUNTING_DEVICE),
    )


def count_params(model: ModelSpec | str) -> ParamCount:
    """Count the parameters of a zoo model (built on the meta device: fast, no memory)."""
    spec = ModelSpec.of(model)
    return count_module_params(_build_on_meta(spec), model=spec.name, overrides=spec.overrides)


def count_flops(
    model: ModelSpec | str, input_size: tuple[int, ...] = DEFAULT_INPUT_SIZE
) -> FlopCount:
    """Multiply-accumulates of one forward pass at batch 1, by ptflops' aten backend."""
    spec = ModelSpec.of(model)
    size = tuple(input_size)
    net = _build_on_meta(spec)
    # Count the reference computation, the one the official code runs: a module's fused fast
    # path may fold products together or use ops (baddbmm) that ptflops does not count.
    for module in net.modules():
        if isinstance(getattr(module, "fused", None), bool):
            module.fused = False
    return count_module_flops(
        net, size, model=spec.name, overrides=spec.overrides, label=spec.label
    )


# ---------------------------------------------------------------------------------------------
# Timing


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


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

    Every model is built and warmed up first; then each of ``settings.iters`` rounds times one
    batch of every model in turn. A change of machine load or clock during the run then hits
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
    forwards = [_prepare(spec, settings, device) for spec in specs]
    autocast = (
        torch.autocast(device.type, dtype=AMP_DTYPES[settings.amp])
        if settings.amp is not None
        else contextlib.nullcontext()
    )
    label = specs[0].label if len(specs) == 1 else f"{len(specs)} models, interleaved"
    batch_seconds: list[list[float]] = [[] for _ in specs]
    bar = tqdm(
        total=(settings.warmup + settings.iters) * len(specs),
        desc=f"{label} (warm-up)",
        unit="batch",
        disable=not progress,
        leave=False,
        dynamic_ncols=True,
    )
    load_before = _load_average()
    with bar, torch.inference_mode(), autocast:
        for forward in forwards:
            for _ in range(settings.warmup):
                time_call(partial(forward, images), device)
                bar.update()
        bar.set_description(label)
        for _ in range(settings.iters):
            for spec, forward, seconds in zip(specs, forwards, batch_seconds, strict=True):
                seconds.append(time_call(partial(forward, images), device))
                bar.update()
                bar.set_postfix_str(f"{spec.label} {settings.batch_size / seconds[-1]:.1f} img/s")
    load_after = _load_average()
    environment = describe_environment(str(device))
    return [
        _throughput_record(spec, settings, seconds, load_before, load_after, environment)
        for spec, seconds in zip(specs, batch_seconds, strict=True)
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


def gemm_repeats(device: torch.device | str) -> int:
    """How many GEMMs one timed call of :func:`gemm_call` runs on this device type."""
    return GEMM_REPEATS.get(torch.device(device).type, 1)


def gemm_call(
    device: torch.device | str, dtype: torch.dtype, shape: tuple[int, int, int] = GEMM_SHAPE
) -> Callable[[], object]:
    """``gemm_repeats(device)`` (M x K) by (K x N) linear layers in ``dtype``, as one call to time.

    ``F.linear`` rather than ``torch.mm``: it is what the models call, and on CPUs without
    native bf16 ``mm`` takes a reference path far slower than ``linear``'s oneDNN one.
    """
    m, k, n = shape
    inputs = torch.randn(m, k, device=device, dtype=dtype)
    weight = torch.randn(n, k, device=device, dtype=dtype)
    repeats = gemm_repeats(device)

    def call() -> torch.Tensor:
        for _ in range(repeats - 1):
            nn.functional.linear(inputs, weight)
        return nn.functional.linear(inputs, weight)

    return call


def gemm_flops(device: torch.device | str, shape: tuple[int, int, int] = GEMM_SHAPE) -> int:
    """Floating-point operations of one :func:`gemm_call` call on this device type."""
    m, k, n = shape
    return 2 * m * k * n * gemm_repeats(device)


def measure_gemm_peak(
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    shape: tuple[int, int, int] = GEMM_SHAPE,
    warmup: int = 1,
    iters: int = GEMM_PEAK_CALLS,
) -> float:
    """GFLOP/s of one large linear layer: the best of ``iters`` calls after ``warmup``.

    The yardstick for model FLOP utilisation: achieved FLOP/s over what a matmul of this dtype
    reaches on this device, measured beside the models rather than read from a datasheet. The
    best call, not the median: a peak is what the device can reach, and a busy moment should
    not lower the yardstick (which would inflate every utilisation measured against it).
    """
    _check_positive_int("iters", iters, 1)
    _check_positive_int("warmup", warmup, 0)
    torch_device = torch.device(device)
    call = gemm_call(torch_device, dtype, shape)
    seconds = []
    with torch.inference_mode():
        for index in range(warmup + iters):
            elapsed = time_call(call, torch_device)
            if index >= warmup:
                seconds.append(elapsed)
    return gemm_flops(torch_device, shape) / min(seconds) / 1e9


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
