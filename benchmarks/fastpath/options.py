"""The fast-path report's settings: what to measure, and the targets it is judged against."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from benchmarks.settings import (
    COMPILE_MODES,
    COMPILE_SCOPES,
    CUDA_GRAPH_MODES,
    check_cuda_graph_warmup,
)
from common.files import RESULTS_DIR

__all__ = [
    "BEST_MODE_SPEEDUP",
    "BF16_EMULATED",
    "COMPILE_CHOICES",
    "DEFAULT_OUTPUT_DIR",
    "DYNAMIXER",
    "FAST_EAGER_SPEEDUP",
    "FP32_UTILISATION",
    "IMAGE_SIZE",
    "PATHS",
    "PRECISIONS",
    "PRECISION_DTYPES",
    "SLOW_BF16_BATCH",
    "VIP",
    "Settings",
    "check_settings",
]

DYNAMIXER, VIP = "dynamixer_s", "vip_s7"
PATHS = ("plain", "fused", "vip", "vip contiguous")
#: What ``--compile`` compiles: each MixerLayer (one graph per stage), the whole model, nothing.
COMPILE_CHOICES = (*COMPILE_SCOPES, "none")
IMAGE_SIZE = (3, 224, 224)
# The targets per device type. The fused path in fp32 eager must beat the authors' computation
# (plain) by enough to be worth a second code path, and the best mode (compile and/or bf16) by
# what a GPU's or a native-bf16 CPU's faster arithmetic should give; see targets.py.
FAST_EAGER_SPEEDUP = {"cpu": 1.25, "cuda": 1.3}
BEST_MODE_SPEEDUP = {"cpu": 2.5, "cuda": 5.0}
# CPU only: fp32 FLOP/s over the GEMM peak measured in the same run. A model whose time is
# mostly GEMMs should run its matmuls near the peak; below 70% the overhead is elsewhere.
FP32_UTILISATION = 0.70
# On a CPU without native bf16 (bf16 matmul slower than fp32) bf16 cases are timed at this batch
# so that the default run stays within minutes; the report says so.
SLOW_BF16_BATCH = 2
#: The verdict of a bf16 target (and of the best mode, whose target presumes fast bf16) on a CPU
#: without native bf16 instructions: its bf16 numbers say nothing about a CPU that has them.
BF16_EMULATED = "cannot be read on this CPU (bf16 emulated)"
PRECISIONS = (("fp32", torch.float32), ("bf16", torch.bfloat16))
#: The autocast dtype of each precision (None: no autocast).
PRECISION_DTYPES = {"fp32": None, "bf16": torch.bfloat16}
DEFAULT_OUTPUT_DIR = RESULTS_DIR


@dataclass(frozen=True)
class Settings:
    """What to measure (the command line, checked)."""

    device: str = "cpu"
    batch_size: int = 32
    bf16_batch_size: int | None = None  # None: batch_size, or SLOW_BF16_BATCH on slow-bf16 CPUs
    warmup: int = 1  # the CLI's default: 1 on a CPU, CUDA_GRAPH_MIN_WARMUP on a GPU
    iters: int = 3
    train_iters: int = 2
    compile_scope: str = "regional"  # one of COMPILE_CHOICES
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
    if settings.compile_scope not in COMPILE_CHOICES:
        raise ValueError(
            f"--compile-scope must be one of {COMPILE_CHOICES}; got {settings.compile_scope!r}"
        )
    if settings.compile_mode not in COMPILE_MODES:
        raise ValueError(
            f"--compile-mode must be one of {COMPILE_MODES}; got {settings.compile_mode!r}"
        )
    if settings.compile_scope == "none" and settings.compile_mode != "default":
        raise ValueError(
            f"--compile-mode {settings.compile_mode} has nothing to compile with "
            + "--compile-scope none"
        )
    cuda_graphs = device.type == "cuda" and settings.compile_mode in CUDA_GRAPH_MODES
    if cuda_graphs and settings.compile_scope == "regional":
        raise ValueError(
            f"--compile-mode {settings.compile_mode} captures CUDA graphs: per-layer compile "
            + "would make every layer a graph of its own; use --compile-scope full"
        )
    if settings.compile_scope != "none":
        check_cuda_graph_warmup(device, settings.compile_mode, settings.warmup)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {settings.device} was asked for but CUDA is not available")
