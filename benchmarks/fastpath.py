"""Issue 7's report: DynaMixer-S's fused path against its plain path and ViP-S/7, in one run.

``python -m benchmarks.fastpath`` (the last step of ``nox -s benchmark``) measures, on one device:

* the GEMM peak (one large fp32 and one bf16 matmul, the median of the same interleaved rounds
  as the models), the yardstick for FLOP utilisation;
* inference throughput at batch 32 of DynaMixer-S plain and fused and of ViP-S/7, in fp32 eager,
  ``torch.compile`` and bf16 autocast, and of ViP-S/7 given the fused path's contiguous token
  layout (context: how much of the ViP ratio is layout rather than architecture);
* a training step (forward + backward) of DynaMixer-S, plain against fused: fp32 on a CPU,
  bf16 autocast on a GPU, as the issue asks;
* the peak memory of that training step, each path in a fresh subprocess (on a CPU, the peak
  resident set size: ``tracemalloc`` does not see torch's allocations);

then prints every ratio against the issue's targets for this device type (CPU or GPU) with PASS
or MISS and writes ``results/fastpath_<device>.md`` and ``.json`` (:func:`read_report` reads the
JSON back).

Ratios are only meaningful between numbers taken side by side, so every timed case runs in this
one process, interleaved: each round times one batch of every case in turn, and each case
reports the median of its rounds (and its spread). Machine load therefore hits all cases alike;
the load average before and after is recorded beside the results.

``torch.compile`` is applied per layer by default (``--compile regional``): every
:class:`~models.hierarchical.MixerLayer` of a stage shares one compiled graph, so a model
compiles in under a minute instead of several; ``--compile full`` compiles the whole model.
On a GPU the CUDA-graph modes (``--compile-mode reduce-overhead`` or ``max-autotune``) need
``--compile full``: each compiled layer would be a graph of its own, re-recorded per call.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from benchmarks.files import write_text_atomic
from benchmarks.measure import (
    COMPILE_MODES,
    CUDA_GRAPH_MIN_WARMUP,
    CUDA_GRAPH_MODES,
    GEMM_SHAPE,
    Environment,
    check_cuda_graph_warmup,
    count_flops,
    describe_environment,
    gemm_call,
    gemm_flops,
    measure_gemm_peak,
    time_call,
)
from models import create_model
from models.hierarchical import MixerLayer

__all__ = [
    "Case",
    "CaseResult",
    "FastPathReport",
    "Target",
    "main",
    "peak_training_memory",
    "run_report",
]

DYNAMIXER, VIP = "dynamixer_s", "vip_s7"
PATHS = ("plain", "fused", "vip", "vip contiguous")
#: What ``--compile`` compiles: each MixerLayer (one graph per stage), the whole model, nothing.
COMPILE_SCOPES = ("regional", "full", "none")
DEFAULT_OUTPUT_DIR = Path("results")
IMAGE_SIZE = (3, 224, 224)
# The targets per device type: the fused path in fp32 eager over the plain path, and the
# best mode (compile and/or bf16) over the plain fp32 eager path; see evaluate_targets.
FAST_EAGER_SPEEDUP = {"cpu": 1.25, "cuda": 1.3}
BEST_MODE_SPEEDUP = {"cpu": 2.5, "cuda": 5.0}
FP32_UTILISATION = 0.70  # CPU only: fp32 FLOP/s over the GEMM peak measured in the same run
# On a CPU without native bf16 (bf16 matmul slower than fp32) bf16 cases are timed at this batch
# so that the default run stays within minutes; the report says so.
SLOW_BF16_BATCH = 2
PRECISIONS = (("fp32", torch.float32), ("bf16", torch.bfloat16))


@dataclass(frozen=True)
class Case:
    """One timed configuration: a model, its path, its precision and how it runs."""

    key: str  # e.g. "dynamixer_s fused compiled fp32"
    model: str
    path: str  # "plain", "fused" (DynaMixer) or "-" (ViP)
    mode: str  # "eager", "compiled", "train"
    precision: str  # "fp32" or "bf16"
    batch_size: int


@dataclass(frozen=True)
class CaseResult:
    """Every timed batch of one case, and its median throughput."""

    case: Case
    batch_seconds: tuple[float, ...]
    median_seconds: float
    images_per_s: float
    min_images_per_s: float
    max_images_per_s: float
    gflop_per_image: float  # forward pass, 2 x multiply-accumulates (ptflops, aten backend)
    utilisation: float | None  # achieved FLOP/s over the GEMM peak of its precision (inference)
    first_call_seconds: float  # the first warm-up batch: includes compilation when compiled


@dataclass(frozen=True)
class MemoryPeak:
    """Peak memory of one training step, measured in a fresh process."""

    model: str
    path: str
    batch_size: int
    measure: str  # "peak RSS" (CPU) or "max_memory_allocated" (CUDA)
    before_mb: float  # model, inputs and (CPU) the interpreter, before the step
    peak_mb: float
    step_mb: float  # peak - before: what the step itself needed
    precision: str = "fp32"  # of the step: "fp32" (CPU) or "bf16" autocast (GPU)


@dataclass(frozen=True)
class Target:
    """One of the issue's targets: what was measured, what was required, and whether it held."""

    name: str
    measured: float
    required: float
    passed: bool
    detail: str


@dataclass
class FastPathReport:
    """Everything one run measured, with its provenance."""

    environment: Environment
    settings: dict[str, Any]
    gemm_peak_gflops: dict[str, float]
    gemm_seconds: dict[str, tuple[float, ...]] = field(default_factory=dict)
    results: list[CaseResult] = field(default_factory=list)
    memory: list[MemoryPeak] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Comparisons that are not the targets but say what its ratios mean.
    context: list[Target] = field(default_factory=list)
    load_average_before: tuple[float, float, float] | None = None
    load_average_after: tuple[float, float, float] | None = None
    wall_seconds: float = 0.0


# ---------------------------------------------------------------------------------------------
# Measuring


def _load_average() -> tuple[float, float, float] | None:
    try:
        one, five, fifteen = os.getloadavg()
    except (AttributeError, OSError):
        return None
    return round(one, 2), round(five, 2), round(fifteen, 2)


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
    raise ValueError(f"compile scope must be one of {COMPILE_SCOPES[:2]}; got {scope!r}")


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def time_interleaved(
    calls: Mapping[str, Callable[[], object]],
    warmup: int,
    iters: int,
    device: torch.device,
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Per key: the seconds of each timed call, and the seconds of its first (warm-up) call.

    Each round calls every key once, in order, so all keys see the same machine load.
    """
    first: dict[str, float] = {}
    for round_index in range(warmup):
        for key, call in calls.items():
            elapsed = time_call(call, device)
            if round_index == 0:
                first[key] = elapsed
    seconds: dict[str, list[float]] = {key: [] for key in calls}
    for _ in range(iters):
        for key, call in calls.items():
            seconds[key].append(time_call(call, device))
    return seconds, first


def _result(
    case: Case, seconds: Sequence[float], first: float, gflop: float, peak: float | None
) -> CaseResult:
    rates = [case.batch_size / s for s in seconds]
    median = statistics.median(seconds)
    images_per_s = case.batch_size / median
    utilisation = images_per_s * gflop / peak if peak and case.mode != "train" else None
    return CaseResult(
        case=case,
        batch_seconds=tuple(seconds),
        median_seconds=median,
        images_per_s=images_per_s,
        min_images_per_s=min(rates),
        max_images_per_s=max(rates),
        gflop_per_image=gflop,
        utilisation=utilisation,
        first_call_seconds=first,
    )


def _rss_mb(field_name: str) -> float:
    """A memory field of /proc/self/status (VmRSS: now, VmHWM: peak since the last reset)."""
    with open("/proc/self/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"/proc/self/status has no {field_name}")


def train_precision(device: torch.device | str) -> str:
    """The issue's training step: AMP (bf16 autocast) on a GPU, fp32 on a CPU."""
    return "bf16" if torch.device(device).type == "cuda" else "fp32"


def _memory_probe(name: str, fused: bool, batch_size: int, device: str) -> dict[str, float]:
    """In this (fresh) process: the peak memory of one training step of ``name``.

    The step is the timed one (:func:`train_precision`). On a CPU the peak resident set size of
    the step alone: VmHWM is reset (``clear_refs``) after the model and inputs exist, so
    building the model does not count as the peak.
    """
    torch.manual_seed(0)
    torch_device = torch.device(device)
    overrides = {"fused": fused} if name == DYNAMIXER else {}
    model = create_model(name, **overrides).to(torch_device).train()
    images = torch.randn(batch_size, *IMAGE_SIZE, device=torch_device)
    labels = torch.randint(0, 1000, (batch_size,), device=torch_device)
    if torch_device.type == "cuda":
        torch.cuda.synchronize(torch_device)
        torch.cuda.reset_peak_memory_stats(torch_device)
        before = torch.cuda.memory_allocated(torch_device) / 2**20
    else:
        with open("/proc/self/clear_refs", "w", encoding="utf-8") as clear_refs:
            clear_refs.write("5")  # reset VmHWM to the current RSS
        before = _rss_mb("VmRSS")
    with _autocast(torch_device, train_precision(torch_device)):
        loss = nn.functional.cross_entropy(model(images), labels)
    loss.backward()
    if torch_device.type == "cuda":
        torch.cuda.synchronize(torch_device)
        peak = torch.cuda.max_memory_allocated(torch_device) / 2**20
    else:
        peak = _rss_mb("VmHWM")
    return {"before_mb": before, "peak_mb": peak}


def peak_training_memory(name: str, fused: bool, batch_size: int, device: str) -> MemoryPeak:
    """Peak memory of one forward + backward of a fresh model, in a fresh subprocess."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.fastpath",
        "--memory-probe",
        name,
        "--fused" if fused else "--plain",
        "--batch-size",
        str(batch_size),
        "--device",
        device,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memory probe {' '.join(command)} failed:\n{done.stderr[-2000:]}")
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    return MemoryPeak(
        model=name,
        path="fused" if fused else "plain",
        batch_size=batch_size,
        measure="max_memory_allocated" if device.startswith("cuda") else "peak RSS",
        precision=train_precision(device),
        before_mb=probe["before_mb"],
        peak_mb=probe["peak_mb"],
        step_mb=probe["peak_mb"] - probe["before_mb"],
    )


@dataclass(frozen=True)
class Settings:
    """What to measure (the command line, checked)."""

    device: str = "cpu"
    batch_size: int = 32
    bf16_batch_size: int | None = None  # None: batch_size, or SLOW_BF16_BATCH on slow-bf16 CPUs
    warmup: int = 1  # the CLI's default: 1 on a CPU, CUDA_GRAPH_MIN_WARMUP on a GPU
    iters: int = 3
    train_iters: int = 2
    compile: str = "regional"  # one of COMPILE_SCOPES
    compile_mode: str = "default"  # torch.compile's mode, one of COMPILE_MODES
    compile_plain: bool = False
    bf16: bool = True
    train: bool = True
    memory: bool = True
    output_dir: Path = DEFAULT_OUTPUT_DIR


def check_settings(settings: Settings) -> None:
    """Raise a ValueError naming the first bad setting, before anything is built or timed."""
    for name in ("batch_size", "iters", "train_iters", "warmup"):
        value = getattr(settings, name)
        if value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1; got {value}")
    if settings.bf16_batch_size is not None and settings.bf16_batch_size < 1:
        raise ValueError(f"--bf16-batch-size must be >= 1; got {settings.bf16_batch_size}")
    try:
        device = torch.device(settings.device)
    except RuntimeError:
        raise ValueError(f"--device must be cpu or cuda; got {settings.device!r}") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device must be cpu or cuda; got {settings.device!r}")
    if settings.compile not in COMPILE_SCOPES:
        raise ValueError(f"--compile must be one of {COMPILE_SCOPES}; got {settings.compile!r}")
    if settings.compile_mode not in COMPILE_MODES:
        raise ValueError(
            f"--compile-mode must be one of {COMPILE_MODES}; got {settings.compile_mode!r}"
        )
    if settings.compile == "none" and settings.compile_mode != "default":
        raise ValueError(
            f"--compile-mode {settings.compile_mode} has nothing to compile with --compile none"
        )
    cuda_graphs = device.type == "cuda" and settings.compile_mode in CUDA_GRAPH_MODES
    if cuda_graphs and settings.compile == "regional":
        raise ValueError(
            f"--compile-mode {settings.compile_mode} captures CUDA graphs: per-layer compile "
            + "would make every layer a graph of its own; use --compile full"
        )
    if settings.compile != "none":
        check_cuda_graph_warmup(device, settings.compile_mode, settings.warmup)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {settings.device} was asked for but CUDA is not available")


def _models(device: torch.device) -> dict[str, nn.Module]:
    """DynaMixer-S plain and fused with the same weights, and ViP-S/7 as its authors lay out its
    tokens and with the fused path's contiguous NHWC tokens (same numbers, ~1e-7), in eval mode.

    The fused DynaMixer keeps its tokens contiguous between stages, a layout choice that speeds
    up any model of this skeleton; the second ViP shows how much of a ratio against the
    official ViP that choice alone accounts for.
    """
    torch.manual_seed(0)
    plain = create_model(DYNAMIXER, fused=False)
    fused = create_model(DYNAMIXER, fused=True)
    fused.load_state_dict(plain.state_dict())
    vip = create_model(VIP)
    vip_contiguous = copy.deepcopy(vip)
    vip_contiguous.contiguous_tokens = True
    return {
        name: model.to(device).eval()
        for name, model in zip(PATHS, (plain, fused, vip, vip_contiguous), strict=True)
    }


def run_report(settings: Settings, progress: Callable[[str], None] = print) -> FastPathReport:
    """Measure everything the issue's targets need, side by side; see the module docstring."""
    check_settings(settings)
    start = time.perf_counter()
    device = torch.device(settings.device)
    report = FastPathReport(
        environment=describe_environment(str(device)),
        settings={k: str(v) for k, v in dataclasses.asdict(settings).items()},
        gemm_peak_gflops={},
        load_average_before=_load_average(),
    )
    # A quick probe decides the bf16 batch; the reported peaks are timed with the models below.
    probe = {
        precision: measure_gemm_peak(settings.device, dtype, (1024, 1024, 1024), iters=1)
        for precision, dtype in PRECISIONS
    }
    bf16_batch = settings.bf16_batch_size or settings.batch_size
    slow_bf16 = probe["bf16"] < probe["fp32"]
    if settings.bf16 and settings.bf16_batch_size is None and slow_bf16 and device.type == "cpu":
        bf16_batch = min(settings.batch_size, SLOW_BF16_BATCH)
        report.notes.append(
            f"This CPU has no fast bf16 matmul (a bf16 GEMM runs at {probe['bf16']:.1f} "
            + f"GFLOP/s against {probe['fp32']:.1f} in fp32), so the bf16 cases are timed at "
            + f"batch {bf16_batch} to keep the run short; their ratios compare images per second."
        )

    gflop = {name: 2 * count_flops(name, IMAGE_SIZE).macs / 1e9 for name in (DYNAMIXER, VIP)}
    models = _models(device)
    images = torch.randn(settings.batch_size, *IMAGE_SIZE, device=device)
    bf16_images = images[:bf16_batch].contiguous()

    cases: dict[str, tuple[Case, Callable[[], object]]] = {}

    def add(name: str, path: str, mode: str, precision: str, model: nn.Module) -> None:
        batch = bf16_images if precision == "bf16" else images
        key = f"{name} {path + ' ' if path != '-' else ''}{mode} {precision}"

        def call() -> object:
            with _autocast(device, precision):
                return model(batch)

        cases[key] = (Case(key, name, path, mode, precision, batch.shape[0]), call)

    add(DYNAMIXER, "plain", "eager", "fp32", models["plain"])
    add(DYNAMIXER, "fused", "eager", "fp32", models["fused"])
    add(VIP, "-", "eager", "fp32", models["vip"])
    add(VIP, "contiguous", "eager", "fp32", models["vip contiguous"])
    if settings.compile != "none":
        add(DYNAMIXER, "fused", "compiled", "fp32", _compiled(models["fused"], settings))
        add(VIP, "-", "compiled", "fp32", _compiled(models["vip"], settings))
        if settings.compile_plain:
            add(DYNAMIXER, "plain", "compiled", "fp32", _compiled(models["plain"], settings))
    if settings.bf16:
        add(DYNAMIXER, "plain", "eager", "bf16", models["plain"])
        add(DYNAMIXER, "fused", "eager", "bf16", models["fused"])
        add(VIP, "-", "eager", "bf16", models["vip"])
    if settings.compile != "none" and settings.bf16 and not slow_bf16:
        add(DYNAMIXER, "fused", "compiled", "bf16", _compiled(models["fused"], settings))
        add(VIP, "-", "compiled", "bf16", _compiled(models["vip"], settings))

    # The GEMM peak is timed in the same rounds as the models, so it sees the same load.
    gemms = {f"gemm {precision}": gemm_call(device, dtype) for precision, dtype in PRECISIONS}
    progress(
        f"inference: {len(cases)} cases and the GEMM peak ({'x'.join(map(str, GEMM_SHAPE))} "
        + f"linear), batch {settings.batch_size} (bf16 {bf16_batch}), {settings.warmup} warm-up "
        + f"+ {settings.iters} timed rounds, interleaved ..."
    )
    calls = {**gemms, **{k: call for k, (_, call) in cases.items()}}
    with torch.inference_mode():
        seconds, first = time_interleaved(calls, settings.warmup, settings.iters, device)
    flops = gemm_flops(device)
    for precision, _ in PRECISIONS:
        gemm_seconds = seconds[f"gemm {precision}"]
        report.gemm_peak_gflops[precision] = flops / statistics.median(gemm_seconds) / 1e9
        report.gemm_seconds[precision] = tuple(gemm_seconds)
    progress(
        "  GEMM peak "
        + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in report.gemm_peak_gflops.items())
    )
    for key, (case, _) in cases.items():
        peak = report.gemm_peak_gflops[case.precision]
        result = _result(case, seconds[key], first[key], gflop[case.model], peak)
        report.results.append(result)
        progress(f"  {key:<38} {result.images_per_s:7.2f} img/s")

    if settings.train:
        precision = train_precision(device)
        progress(
            f"training step (forward + backward, {precision}), batch {settings.batch_size} ..."
        )
        labels = torch.randint(0, 1000, (settings.batch_size,), device=device)
        train_cases = {}
        for path in ("plain", "fused"):
            model = models[path].train()
            key = f"{DYNAMIXER} {path} train {precision}"
            case = Case(key, DYNAMIXER, path, "train", precision, len(images))
            step = _training_step(model, images, labels, _autocast(device, precision))
            train_cases[case.key] = (case, step)
        seconds, first = time_interleaved(
            {k: call for k, (_, call) in train_cases.items()},
            settings.warmup,
            settings.train_iters,
            device,
        )
        for key, (case, _) in train_cases.items():
            result = _result(case, seconds[key], first[key], gflop[DYNAMIXER], None)
            report.results.append(result)
            progress(f"  {key:<38} {result.median_seconds:7.2f} s/step")
        for path in ("plain", "fused"):
            models[path].eval()

    if settings.memory:
        progress(f"peak memory of a training step, batch {settings.batch_size}, subprocesses ...")
        for fused in (False, True):
            peak = peak_training_memory(DYNAMIXER, fused, settings.batch_size, settings.device)
            report.memory.append(peak)
            progress(f"  {peak.path:<6} step {peak.step_mb:8.0f} MB (peak {peak.peak_mb:.0f} MB)")

    report.load_average_after = _load_average()
    report.targets = evaluate_targets(report)
    report.context = evaluate_context(report)
    report.wall_seconds = time.perf_counter() - start
    return report


def _compiled(model: nn.Module, settings: Settings) -> nn.Module:
    """A compiled copy (compilation happens in the first warm-up round, timed apart)."""
    return compile_model(copy.deepcopy(model), settings.compile, settings.compile_mode)


def _training_step(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    autocast: contextlib.AbstractContextManager[Any],
) -> Callable[[], object]:
    def step() -> object:
        model.zero_grad(set_to_none=True)
        with autocast:
            loss = nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        return loss

    return step


# ---------------------------------------------------------------------------------------------
# Judging and rendering


def _find(report: FastPathReport, key: str) -> CaseResult | None:
    return next((r for r in report.results if r.case.key == key), None)


def evaluate_targets(report: FastPathReport) -> list[Target]:
    """The issue's targets for this device type (ratios of medians of this run), PASS or MISS."""
    device_type = report.environment.device.split(":")[0]
    fast_eager, best_mode = FAST_EAGER_SPEEDUP[device_type], BEST_MODE_SPEEDUP[device_type]
    targets: list[Target] = []
    plain = _find(report, f"{DYNAMIXER} plain eager fp32")
    fused = _find(report, f"{DYNAMIXER} fused eager fp32")
    if plain is None or fused is None:
        return targets
    ratio = fused.images_per_s / plain.images_per_s
    targets.append(
        Target(
            "fused fp32 eager vs plain fp32 eager",
            ratio,
            fast_eager,
            ratio >= fast_eager,
            f"{fused.images_per_s:.2f} vs {plain.images_per_s:.2f} img/s",
        )
    )
    fused_modes = [r for r in report.results if r.case.path == "fused" and r.case.mode != "train"]
    best = max(fused_modes, key=lambda r: r.images_per_s)
    ratio = best.images_per_s / plain.images_per_s
    targets.append(
        Target(
            "best DynaMixer-S mode vs plain fp32 eager",
            ratio,
            best_mode,
            ratio >= best_mode,
            f"best: {best.case.key}, {best.images_per_s:.2f} img/s",
        )
    )
    fp32 = [r for r in fused_modes if r.case.precision == "fp32" and r.utilisation is not None]
    if device_type == "cpu" and fp32:
        best_fp32 = max(fp32, key=lambda r: r.utilisation or 0.0)
        utilisation = best_fp32.utilisation or 0.0
        achieved = best_fp32.images_per_s * best_fp32.gflop_per_image
        targets.append(
            Target(
                "fp32 FLOP utilisation (of the GEMM peak)",
                utilisation,
                FP32_UTILISATION,
                utilisation >= FP32_UTILISATION,
                f"{best_fp32.case.key}: {achieved:.1f} "
                + f"of {report.gemm_peak_gflops['fp32']:.1f} GFLOP/s",
            )
        )
    parity = (("eager", "fp32"), ("compiled", "fp32"), ("eager", "bf16"), ("compiled", "bf16"))
    for mode, precision in parity:
        dyna = _find(report, f"{DYNAMIXER} fused {mode} {precision}")
        vip = _find(report, f"{VIP} {mode} {precision}")
        if dyna is None or vip is None:
            continue
        ratio = dyna.images_per_s / vip.images_per_s
        targets.append(
            Target(
                f"DynaMixer-S (fused) vs ViP-S/7, {mode} {precision}",
                ratio,
                1.0,
                ratio >= 1.0,
                f"{dyna.images_per_s:.2f} vs {vip.images_per_s:.2f} img/s",
            )
        )
    train = {r.case.path: r for r in report.results if r.case.mode == "train"}
    train_plain, train_fused = train.get("plain"), train.get("fused")
    if train_plain and train_fused:
        ratio = train_plain.median_seconds / train_fused.median_seconds
        targets.append(
            Target(
                f"training step speed ({train_fused.case.precision}), fused vs plain",
                ratio,
                1.0,
                ratio >= 1.0,
                f"{train_fused.median_seconds:.2f} vs {train_plain.median_seconds:.2f} s/step",
            )
        )
    memory = {m.path: m for m in report.memory}
    if {"plain", "fused"} <= memory.keys():
        ratio = memory["fused"].peak_mb / memory["plain"].peak_mb
        targets.append(
            Target(
                "training-step peak memory, fused / plain (at most 1)",
                ratio,
                1.0,
                ratio <= 1.0,
                f"{memory['fused'].peak_mb:.0f} vs {memory['plain'].peak_mb:.0f} MB "
                + f"({memory['plain'].measure})",
            )
        )
    return targets


def evaluate_context(report: FastPathReport) -> list[Target]:
    """DynaMixer-S (fused) against ViP-S/7 given the same contiguous token layout, and that
    layout's own effect on ViP: what remains of the penalty once both get the same care."""
    dyna = _find(report, f"{DYNAMIXER} fused eager fp32")
    vip = _find(report, f"{VIP} eager fp32")
    same_layout = _find(report, f"{VIP} contiguous eager fp32")
    if dyna is None or vip is None or same_layout is None:
        return []
    gflop_ratio = vip.gflop_per_image / dyna.gflop_per_image
    ratio = dyna.images_per_s / same_layout.images_per_s
    layout = same_layout.images_per_s / vip.images_per_s
    return [
        Target(
            "DynaMixer-S (fused) vs ViP-S/7 with contiguous tokens too, eager fp32",
            ratio,
            1.0,
            ratio >= 1.0,
            f"{dyna.images_per_s:.2f} vs {same_layout.images_per_s:.2f} img/s; their FLOP "
            + f"ratio (ViP/DynaMixer) is {gflop_ratio:.3f}",
        ),
        Target(
            "ViP-S/7: contiguous tokens vs its authors' layout, eager fp32",
            layout,
            1.0,
            layout >= 1.0,
            f"{same_layout.images_per_s:.2f} vs {vip.images_per_s:.2f} img/s (same numbers)",
        ),
    ]


def _target_table(
    title: str, headers: tuple[str, str, str], targets: Sequence[Target], verdicts: tuple[str, str]
) -> list[str]:
    """A markdown section: one row per target, measured beside required and the verdict."""
    what, required, verdict = headers
    lines = ["", f"## {title}", "", f"| {what} | measured | {required} | {verdict} | detail |"]
    lines.append("|---|---|---|---|---|")
    for t in targets:
        measured, required = _shown(t)
        verdict = verdicts[0] if t.passed else verdicts[1]
        lines.append(f"| {t.name} | {measured} | {required} | {verdict} | {t.detail} |")
    return lines


def render_markdown(report: FastPathReport) -> str:
    env = report.environment
    plain = _find(report, f"{DYNAMIXER} plain eager fp32")
    lines = [
        f"# DynaMixer fast path on {env.device} ({env.device_name})",
        "",
        "Generated by `python -m benchmarks.fastpath` (issue 7); do not edit. Every ratio is "
        + "between medians timed side by side in this one run (interleaved rounds).",
        "",
        f"- device: {env.device} ({env.device_name}), {env.threads} threads of "
        + f"{env.cpu_count} CPUs",
        f"- torch {env.torch_version}, timm {env.timm_version}, Python {env.python_version}",
        f"- date: {env.date}; run took {report.wall_seconds / 60:.1f} min",
        f"- load average (1, 5, 15 min) before: {report.load_average_before}, "
        + f"after: {report.load_average_after}",
        f"- GEMM peak (one linear, {'x'.join(map(str, GEMM_SHAPE))}; the median of the same "
        + "interleaved rounds as the models): "
        + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in report.gemm_peak_gflops.items()),
        "- settings: " + ", ".join(f"{k}={v}" for k, v in report.settings.items()),
    ]
    headers = ("target", "required", "result")
    lines += _target_table("Targets", headers, report.targets, ("PASS", "MISS"))
    if report.context:
        headers = ("comparison", "at least", "holds")
        title = "Context (not the issue's targets)"
        lines += _target_table(title, headers, report.context, ("yes", "no"))
    lines += [
        "",
        "## Throughput",
        "",
        "| case | batch | img/s (median) | min-max | vs plain fp32 eager | FLOP utilisation "
        + "| first call (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report.results:
        if r.case.mode == "train":
            continue
        ratio = f"{r.images_per_s / plain.images_per_s:.3f}" if plain else "-"
        utilisation = f"{r.utilisation:.0%}" if r.utilisation is not None else "-"
        lines.append(
            f"| {r.case.key} | {r.case.batch_size} | {r.images_per_s:.2f} | "
            + f"{r.min_images_per_s:.2f}-{r.max_images_per_s:.2f} | {ratio} | {utilisation} | "
            + f"{r.first_call_seconds:.1f} |"
        )
    train = [r for r in report.results if r.case.mode == "train"]
    if train:
        lines += [
            "",
            f"## Training step (forward + backward, {train[0].case.precision})",
            "",
            "| case | batch | s/step (median) | all steps (s) |",
            "|---|---|---|---|",
        ]
        for r in train:
            steps = ", ".join(f"{s:.2f}" for s in r.batch_seconds)
            lines.append(
                f"| {r.case.key} | {r.case.batch_size} | {r.median_seconds:.2f} | {steps} |"
            )
    if report.memory:
        lines += [
            "",
            "## Peak memory of a training step (fresh process each)",
            "",
            "| path | batch | precision | measure | before step (MB) | peak (MB) "
            + "| step needed (MB) |",
            "|---|---|---|---|---|---|---|",
        ]
        for m in report.memory:
            lines.append(
                f"| {m.path} | {m.batch_size} | {m.precision} | {m.measure} | "
                + f"{m.before_mb:.0f} | {m.peak_mb:.0f} | {m.step_mb:.0f} |"
            )
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in report.notes]
    return "\n".join(lines) + "\n"


def render_text(report: FastPathReport) -> str:
    """The targets as the console summary."""
    lines = [
        "GEMM peak: "
        + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in report.gemm_peak_gflops.items())
    ]
    for t in report.targets:
        measured, required = _shown(t)
        lines.append(
            f"{'PASS' if t.passed else 'MISS'}  {t.name}: {measured} "
            + f"(target {required}; {t.detail})"
        )
    for t in report.context:
        measured, _ = _shown(t)
        lines.append(f"info  {t.name}: {measured} ({t.detail})")
    return "\n".join(lines)


def _shown(target: Target) -> tuple[str, str]:
    """Measured and required values as text; one more digit where a miss would print equal."""
    fmt = ".0%" if "utilisation" in target.name else ".3f"
    measured, required = f"{target.measured:{fmt}}", f"{target.required:{fmt}}"
    if measured == required and target.measured != target.required:
        measured = f"{target.measured:{'.1%' if fmt == '.0%' else '.4f'}}"
    return measured, required


def read_report(path: str | Path) -> FastPathReport:
    """A report back from the JSON :func:`write_report` wrote (to re-render or compare)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    results = [
        CaseResult(
            **{
                **r,
                "case": Case(**r["case"]),
                "batch_seconds": tuple(r["batch_seconds"]),
            }
        )
        for r in data["results"]
    ]

    def loads(key: str) -> tuple[float, float, float] | None:
        value = data.get(key)
        return None if value is None else (value[0], value[1], value[2])

    return FastPathReport(
        environment=Environment(**data["environment"]),
        settings=data["settings"],
        gemm_peak_gflops=data["gemm_peak_gflops"],
        gemm_seconds={k: tuple(v) for k, v in data.get("gemm_seconds", {}).items()},
        results=results,
        memory=[MemoryPeak(**m) for m in data.get("memory", [])],
        targets=[Target(**t) for t in data.get("targets", [])],
        notes=list(data.get("notes", [])),
        context=[Target(**t) for t in data.get("context", [])],
        load_average_before=loads("load_average_before"),
        load_average_after=loads("load_average_after"),
        wall_seconds=data.get("wall_seconds", 0.0),
    )


def write_report(report: FastPathReport, output_dir: Path) -> tuple[Path, Path]:
    """Write ``fastpath_<device type>.md`` and ``.json`` atomically; return their paths."""
    stem = Path(output_dir) / f"fastpath_{report.environment.device.split(':')[0]}"
    record = json.dumps(dataclasses.asdict(report), indent=2, default=str) + "\n"
    markdown = write_text_atomic(stem.with_suffix(".md"), render_markdown(report))
    data = write_text_atomic(stem.with_suffix(".json"), record)
    return markdown, data


# ---------------------------------------------------------------------------------------------
# Command line


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.fastpath",
        description="DynaMixer-S fused vs plain vs ViP-S/7, measured side by side (issue 7).",
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda (or cuda:N)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--bf16-batch-size",
        type=int,
        default=None,
        help=f"default: --batch-size, or {SLOW_BF16_BATCH} on a CPU without fast bf16",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="untimed rounds, compiling in the first (default: 1 on cpu, "
        + f"{CUDA_GRAPH_MIN_WARMUP} on cuda)",
    )
    parser.add_argument("--iters", type=int, default=3, help="timed inference rounds")
    parser.add_argument("--train-iters", type=int, default=2, help="timed training rounds")
    parser.add_argument(
        "--compile",
        choices=COMPILE_SCOPES,
        default="regional",
        help="what to compile: each layer (default), the whole model, or nothing",
    )
    parser.add_argument(
        "--compile-mode",
        choices=COMPILE_MODES,
        default="default",
        help="torch.compile mode (reduce-overhead: CUDA graphs on a GPU)",
    )
    parser.add_argument("--compile-plain", action="store_true", help="also compile plain")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--no-bf16", dest="bf16", action="store_false")
    parser.add_argument("--no-train", dest="train", action="store_false")
    parser.add_argument("--no-memory", dest="memory", action="store_false")
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR)
    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="JSON",
        help="measure nothing: re-render the markdown of a report's JSON beside it",
    )
    probe = parser.add_argument_group("internal: one memory probe in a fresh process")
    probe.add_argument("--memory-probe", metavar="MODEL", default=None)
    path = probe.add_mutually_exclusive_group()
    path.add_argument("--fused", dest="probe_fused", action="store_true", default=True)
    path.add_argument("--plain", dest="probe_fused", action="store_false")
    return parser


def _check(args: argparse.Namespace) -> Settings:
    on_gpu = str(args.device).startswith("cuda")
    warmup = args.warmup if args.warmup is not None else (CUDA_GRAPH_MIN_WARMUP if on_gpu else 1)
    settings = Settings(
        device=args.device,
        batch_size=args.batch_size,
        bf16_batch_size=args.bf16_batch_size,
        warmup=warmup,
        iters=args.iters,
        train_iters=args.train_iters,
        compile=args.compile,
        compile_mode=args.compile_mode,
        compile_plain=args.compile_plain,
        bf16=args.bf16,
        train=args.train,
        memory=args.memory,
        output_dir=args.output_dir,
    )
    check_settings(settings)
    return settings


@contextlib.contextmanager
def _threads(count: int | None) -> Iterator[None]:
    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    if args.memory_probe is not None:
        print(
            json.dumps(
                _memory_probe(args.memory_probe, args.probe_fused, args.batch_size, args.device)
            )
        )
        return 0
    if args.render is not None:
        if not args.render.is_file():
            raise ValueError(f"--render needs a report JSON; {args.render} is not a file")
        markdown = write_text_atomic(
            args.render.with_suffix(".md"), render_markdown(read_report(args.render))
        )
        print(f"wrote {markdown}")
        return 0
    settings = _check(args)
    with _threads(args.threads):
        report = run_report(settings)
    markdown, data = write_report(report, settings.output_dir)
    print(render_text(report))
    print(f"wrote {markdown} and {data}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
