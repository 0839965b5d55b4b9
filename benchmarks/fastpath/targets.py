"""The fast-path report's targets and context comparisons, judged from one run's medians."""

from __future__ import annotations

from dataclasses import replace

from benchmarks.fastpath.options import (
    BEST_MODE_SPEEDUP,
    BF16_EMULATED,
    DYNAMIXER,
    FAST_EAGER_SPEEDUP,
    FP32_UTILISATION,
    VIP,
)
from benchmarks.fastpath.report import CaseResult, FastPathReport, Target
from common.environment import Environment

__all__ = ["bf16_support", "evaluate_context", "evaluate_targets", "find_result"]


def find_result(report: FastPathReport, key: str) -> CaseResult | None:
    return next((r for r in report.results if r.case.key == key), None)


def evaluate_targets(report: FastPathReport) -> list[Target]:
    """The targets for this device type (ratios of medians of this run), PASS or MISS."""
    plain = find_result(report, f"{DYNAMIXER} plain eager fp32")
    fused = find_result(report, f"{DYNAMIXER} fused eager fp32")
    if plain is None or fused is None:
        return []
    return [
        *_speedup_targets(report, plain, fused),
        *_utilisation_target(report),
        *_parity_targets(report),
        *_training_targets(report),
    ]


def _device_type(report: FastPathReport) -> str:
    return report.environment.device.split(":")[0]


def bf16_support(environment: Environment) -> str:
    """Where bf16 ran and whether natively: "<CPU model>, no native bf16 (bf16 emulated)"."""
    if environment.device.startswith("cuda"):
        return f"{environment.device_name} (GPU)"
    if environment.native_bf16 is None:
        support = "native bf16 not recorded"
    elif environment.native_bf16:
        support = f"native bf16 ({', '.join(environment.cpu_bf16 or ())})"
    else:
        support = "no native bf16 (bf16 emulated)"
    return f"{environment.device_name}, {support}"


def _bf16_target(report: FastPathReport, target: Target) -> Target:
    """A target that needs fast bf16: it names the CPU and its bf16 support, and on a CPU
    without native bf16 it is not judged (its numbers are still shown)."""
    emulated = _device_type(report) == "cpu" and report.environment.native_bf16 is False
    return replace(
        target,
        detail=f"{target.detail}; {bf16_support(report.environment)}",
        unreadable=BF16_EMULATED if emulated else "",
    )


def _fused_inference(report: FastPathReport) -> list[CaseResult]:
    return [r for r in report.results if r.case.path == "fused" and r.case.mode != "train"]


def _speedup_targets(report: FastPathReport, plain: CaseResult, fused: CaseResult) -> list[Target]:
    """The fused path in fp32 eager, and the best mode, over the authors' computation."""
    device_type = _device_type(report)
    fast_eager, best_mode = FAST_EAGER_SPEEDUP[device_type], BEST_MODE_SPEEDUP[device_type]
    ratio = fused.images_per_s / plain.images_per_s
    best = max(_fused_inference(report), key=lambda r: r.images_per_s)
    best_ratio = best.images_per_s / plain.images_per_s
    return [
        Target(
            "fused fp32 eager vs plain fp32 eager",
            ratio,
            fast_eager,
            ratio >= fast_eager,
            f"{fused.images_per_s:.2f} vs {plain.images_per_s:.2f} img/s",
        ),
        _bf16_target(
            report,
            Target(
                "best DynaMixer-S mode vs plain fp32 eager",
                best_ratio,
                best_mode,
                best_ratio >= best_mode,
                f"best: {best.case.key}, {best.images_per_s:.2f} img/s",
            ),
        ),
    ]


def _utilisation_target(report: FastPathReport) -> list[Target]:
    """CPU only: the best fp32 case's achieved FLOP/s over the GEMM peak of the same run."""
    fp32 = [
        r
        for r in _fused_inference(report)
        if r.case.precision == "fp32" and r.utilisation is not None
    ]
    if _device_type(report) != "cpu" or not fp32:
        return []
    best = max(fp32, key=lambda r: r.utilisation or 0.0)
    utilisation = best.utilisation or 0.0
    achieved = best.images_per_s * best.gflop_per_image
    return [
        Target(
            "fp32 FLOP utilisation (of the GEMM peak)",
            utilisation,
            FP32_UTILISATION,
            utilisation >= FP32_UTILISATION,
            f"{best.case.key}: {achieved:.1f} of {report.gemm_peak_gflops['fp32']:.1f} GFLOP/s",
        )
    ]


def _parity_targets(report: FastPathReport) -> list[Target]:
    """DynaMixer-S (fused) at least as fast as ViP-S/7 in every mode timed."""
    targets = []
    parity = (("eager", "fp32"), ("compiled", "fp32"), ("eager", "bf16"), ("compiled", "bf16"))
    for mode, precision in parity:
        dyna = find_result(report, f"{DYNAMIXER} fused {mode} {precision}")
        vip = find_result(report, f"{VIP} {mode} {precision}")
        if dyna is None or vip is None:
            continue
        ratio = dyna.images_per_s / vip.images_per_s
        target = Target(
            f"DynaMixer-S (fused) vs ViP-S/7, {mode} {precision}",
            ratio,
            1.0,
            ratio >= 1.0,
            f"{dyna.images_per_s:.2f} vs {vip.images_per_s:.2f} img/s",
        )
        targets.append(_bf16_target(report, target) if precision == "bf16" else target)
    return targets


def _training_targets(report: FastPathReport) -> list[Target]:
    """A training step of the fused path no slower, and no hungrier, than the plain one."""
    targets = []
    train = {(r.case.path, r.case.precision): r for r in report.results if r.case.mode == "train"}
    for precision in dict.fromkeys(precision for _, precision in train):
        train_plain, train_fused = train.get(("plain", precision)), train.get(("fused", precision))
        if train_plain is None or train_fused is None:
            continue
        ratio = train_plain.median_seconds / train_fused.median_seconds
        target = Target(
            f"training step speed ({precision}), fused vs plain",
            ratio,
            1.0,
            ratio >= 1.0,
            f"{train_fused.median_seconds:.2f} vs {train_plain.median_seconds:.2f} s/step "
            + f"at batch {train_fused.case.batch_size}",
        )
        targets.append(_bf16_target(report, target) if precision == "bf16" else target)
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
    dyna = find_result(report, f"{DYNAMIXER} fused eager fp32")
    vip = find_result(report, f"{VIP} eager fp32")
    same_layout = find_result(report, f"{VIP} contiguous eager fp32")
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
