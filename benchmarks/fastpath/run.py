"""Measuring the fast-path report: every case timed side by side by the one timing engine."""

from __future__ import annotations

import copy
import dataclasses
import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import nn

from benchmarks.counting import count_flops
from benchmarks.fastpath.compiling import compile_model
from benchmarks.fastpath.memory import peak_training_memory, train_precision
from benchmarks.fastpath.options import (
    DYNAMIXER,
    IMAGE_SIZE,
    PATHS,
    PRECISION_DTYPES,
    PRECISIONS,
    SLOW_BF16_BATCH,
    VIP,
    Settings,
    check_settings,
)
from benchmarks.fastpath.profiling import profile_call
from benchmarks.fastpath.report import Case, CaseResult, FastPathReport
from benchmarks.fastpath.targets import evaluate_context, evaluate_targets
from benchmarks.gemm import (
    GEMM_SHAPE,
    flop_per_image,
    gemm_call,
    gemm_flops,
    measure_gemm_peak,
    model_flop_utilisation,
)
from benchmarks.timing import time_interleaved
from common.environment import describe_environment, load_average
from common.precision import autocast
from models import create_model

__all__ = ["run_report"]


def _result(
    case: Case, seconds: Sequence[float], first: float, macs: int, peak: float | None
) -> CaseResult:
    rates = [case.batch_size / s for s in seconds]
    median = statistics.median(seconds)
    images_per_s = case.batch_size / median
    utilisation = (
        model_flop_utilisation(macs, images_per_s, peak) if peak and case.mode != "train" else None
    )
    return CaseResult(
        case=case,
        batch_seconds=tuple(seconds),
        median_seconds=median,
        images_per_s=images_per_s,
        min_images_per_s=min(rates),
        max_images_per_s=max(rates),
        gflop_per_image=flop_per_image(macs) / 1e9,
        utilisation=utilisation,
        first_call_seconds=first,
    )


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
    """Measure every case the targets need, side by side; see the package docstring."""
    check_settings(settings)
    start = time.perf_counter()
    device = torch.device(settings.device)
    report = FastPathReport(
        environment=describe_environment(str(device)),
        settings={k: str(v) for k, v in dataclasses.asdict(settings).items() if k != "output_dir"},
        gemm_peak_gflops={},
        load_average_before=load_average(),
    )
    bf16_batch, slow_bf16 = _bf16_batch(settings, device, report)
    models = _models(device)
    images = torch.randn(settings.batch_size, *IMAGE_SIZE, device=device)
    cases = _inference_cases(settings, device, models, images, bf16_batch, slow_bf16)
    _time_inference(settings, device, cases, report, progress)
    if device.type == "cpu":
        progress("one batch of each case under torch.profiler (where the time goes) ...")
        report.profiles = {key: profile_call(call) for key, (_, call) in cases.items()}
    if settings.train:
        for precision in _training_precisions(settings, device):
            batch = images[:bf16_batch] if precision == "bf16" else images
            _time_training(settings, device, models, batch, precision, report, progress)
    if settings.memory:
        progress(f"peak memory of a training step, batch {settings.batch_size}, subprocesses ...")
        for fused in (False, True):
            peak = peak_training_memory(DYNAMIXER, fused, settings.batch_size, settings.device)
            report.memory.append(peak)
            progress(f"  {peak.path:<6} step {peak.step_mb:8.0f} MB (peak {peak.peak_mb:.0f} MB)")
    report.load_average_after = load_average()
    report.targets = evaluate_targets(report)
    report.context = evaluate_context(report)
    report.wall_seconds = time.perf_counter() - start
    return report


def _bf16_batch(
    settings: Settings, device: torch.device, report: FastPathReport
) -> tuple[int, bool]:
    """The batch of the bf16 cases, and whether bf16 matmuls are slower than fp32 here.

    A quick probe decides; the reported peaks are timed with the models. Without a fast bf16
    matmul (no native bf16 on the CPU) the bf16 cases run at a small batch to keep the run short.
    """
    probe = {
        precision: measure_gemm_peak(settings.device, dtype, (1024, 1024, 1024), iters=1)
        for precision, dtype in PRECISIONS
    }
    bf16_batch = settings.bf16_batch_size or settings.batch_size
    slow_bf16 = probe["bf16"] < probe["fp32"]
    environment = report.environment
    if settings.bf16 and device.type == "cpu" and environment.native_bf16 is False:
        report.notes.append(
            f"This CPU ({environment.device_name}) has no native bf16 instructions (no "
            + "avx512_bf16 or amx_bf16 among its flags): bf16 is emulated, so the bf16 targets "
            + "and the best mode cannot be read here. Their numbers are shown as measured."
        )
    if settings.bf16 and settings.bf16_batch_size is None and slow_bf16 and device.type == "cpu":
        bf16_batch = min(settings.batch_size, SLOW_BF16_BATCH)
        report.notes.append(
            f"This CPU has no fast bf16 matmul (a bf16 GEMM runs at {probe['bf16']:.1f} "
            + f"GFLOP/s against {probe['fp32']:.1f} in fp32), so the bf16 cases are timed at "
            + f"batch {bf16_batch} to keep the run short; their ratios compare images per second."
        )
    return bf16_batch, slow_bf16


Cases = dict[str, tuple[Case, Callable[[], object]]]


def _inference_cases(
    settings: Settings,
    device: torch.device,
    models: dict[str, nn.Module],
    images: torch.Tensor,
    bf16_batch: int,
    slow_bf16: bool,
) -> Cases:
    """Every inference case of this run, keyed "model [path] mode precision"."""
    bf16_images = images[:bf16_batch].contiguous()
    cases: Cases = {}

    def add(name: str, path: str, mode: str, precision: str, model: nn.Module) -> None:
        batch = bf16_images if precision == "bf16" else images
        key = f"{name} {path + ' ' if path != '-' else ''}{mode} {precision}"
        dtype = PRECISION_DTYPES[precision]

        def call() -> object:
            with autocast(device, dtype):
                return model(batch)

        cases[key] = (Case(key, name, path, mode, precision, batch.shape[0]), call)

    add(DYNAMIXER, "plain", "eager", "fp32", models["plain"])
    add(DYNAMIXER, "fused", "eager", "fp32", models["fused"])
    add(VIP, "-", "eager", "fp32", models["vip"])
    add(VIP, "contiguous", "eager", "fp32", models["vip contiguous"])
    if settings.compile_scope != "none":
        add(DYNAMIXER, "fused", "compiled", "fp32", _compiled(models["fused"], settings))
        add(VIP, "-", "compiled", "fp32", _compiled(models["vip"], settings))
        if settings.compile_plain:
            add(DYNAMIXER, "plain", "compiled", "fp32", _compiled(models["plain"], settings))
    if settings.bf16:
        add(DYNAMIXER, "plain", "eager", "bf16", models["plain"])
        add(DYNAMIXER, "fused", "eager", "bf16", models["fused"])
        add(VIP, "-", "eager", "bf16", models["vip"])
    if settings.compile_scope != "none" and settings.bf16 and not slow_bf16:
        add(DYNAMIXER, "fused", "compiled", "bf16", _compiled(models["fused"], settings))
        add(VIP, "-", "compiled", "bf16", _compiled(models["vip"], settings))
    return cases


def _time_inference(
    settings: Settings,
    device: torch.device,
    cases: Cases,
    report: FastPathReport,
    progress: Callable[[str], None],
) -> None:
    """Time every case and the GEMM peak in the same interleaved rounds (the same load)."""
    gemms = {f"gemm {precision}": gemm_call(device, dtype) for precision, dtype in PRECISIONS}
    bf16_batch = min((c.batch_size for c, _ in cases.values() if c.precision == "bf16"), default=0)
    progress(
        f"inference: {len(cases)} cases and the GEMM peak ({'x'.join(map(str, GEMM_SHAPE))} "
        + f"linear), batch {settings.batch_size} (bf16 {bf16_batch or settings.batch_size}), "
        + f"{settings.warmup} warm-up + {settings.iters} timed rounds, interleaved ..."
    )
    calls = {**gemms, **{k: call for k, (_, call) in cases.items()}}
    with torch.inference_mode():
        times = time_interleaved(calls, settings.warmup, settings.iters, device)
    flops = gemm_flops(device)
    for precision, _ in PRECISIONS:
        gemm_seconds = times.seconds[f"gemm {precision}"]
        report.gemm_peak_gflops[precision] = flops / statistics.median(gemm_seconds) / 1e9
        report.gemm_seconds[precision] = tuple(gemm_seconds)
    progress(
        "  GEMM peak "
        + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in report.gemm_peak_gflops.items())
    )
    macs = {name: count_flops(name, IMAGE_SIZE).macs for name in (DYNAMIXER, VIP)}
    for key, (case, _) in cases.items():
        peak = report.gemm_peak_gflops[case.precision]
        result = _result(case, times.seconds[key], times.first_call[key], macs[case.model], peak)
        report.results.append(result)
        progress(f"  {key:<38} {result.images_per_s:7.2f} img/s")


def _training_precisions(settings: Settings, device: torch.device) -> tuple[str, ...]:
    """The precisions of the timed training steps: bf16 autocast on a GPU (how GPUs train);
    fp32 on a CPU, and bf16 autocast too unless ``--no-bf16``."""
    precision = train_precision(device)
    if device.type == "cpu" and settings.bf16 and precision != "bf16":
        return (precision, "bf16")
    return (precision,)


def _time_training(
    settings: Settings,
    device: torch.device,
    models: dict[str, nn.Module],
    images: torch.Tensor,
    precision: str,
    report: FastPathReport,
    progress: Callable[[str], None],
) -> None:
    """A training step (forward + backward) of DynaMixer-S, plain against fused, interleaved."""
    progress(f"training step (forward + backward, {precision}), batch {len(images)} ...")
    labels = torch.randint(0, 1000, (len(images),), device=device)
    train_cases = {}
    for path in ("plain", "fused"):
        model = models[path].train()
        key = f"{DYNAMIXER} {path} train {precision}"
        case = Case(key, DYNAMIXER, path, "train", precision, len(images))
        context = autocast(device, PRECISION_DTYPES[precision])
        train_cases[case.key] = (case, _training_step(model, images, labels, context))
    times = time_interleaved(
        {k: call for k, (_, call) in train_cases.items()},
        settings.warmup,
        settings.train_iters,
        device,
    )
    macs = count_flops(DYNAMIXER, IMAGE_SIZE).macs
    for key, (case, _) in train_cases.items():
        result = _result(case, times.seconds[key], times.first_call[key], macs, None)
        report.results.append(result)
        progress(f"  {key:<38} {result.median_seconds:7.2f} s/step")
    for path in ("plain", "fused"):
        models[path].eval()


def _compiled(model: nn.Module, settings: Settings) -> nn.Module:
    """A compiled copy (compilation happens in the first warm-up round, timed apart)."""
    return compile_model(copy.deepcopy(model), settings.compile_scope, settings.compile_mode)


def _training_step(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    context: AbstractContextManager[Any],
) -> Callable[[], object]:
    def step() -> object:
        model.zero_grad(set_to_none=True)
        with context:
            loss = nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        return loss

    return step
