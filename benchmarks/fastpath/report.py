"""What the fast-path report measures: its cases, their results, the targets and the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.environment import Environment

__all__ = ["Case", "CaseResult", "FastPathReport", "MemoryPeak", "Target"]


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
    """One target: what was measured, what was required, and whether it held."""

    name: str
    measured: float
    required: float
    passed: bool
    detail: str
    # Why this machine cannot judge the target, shown instead of PASS or MISS; empty where it
    # can. A bf16 target on a CPU without native bf16 (bf16 emulated, slower than fp32).
    unreadable: str = ""


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
    # Comparisons that are not targets but say what the targets' ratios mean.
    context: list[Target] = field(default_factory=list)
    # Self CPU ms by kind of op of one profiled batch per inference case (CPU runs).
    profiles: dict[str, dict[str, float]] = field(default_factory=dict)
    load_average_before: tuple[float, float, float] | None = None
    load_average_after: tuple[float, float, float] | None = None
    wall_seconds: float = 0.0
