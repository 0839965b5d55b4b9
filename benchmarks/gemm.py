"""The yardstick of FLOP utilisation (MFU): one large matmul timed on the device being measured.

Achieved FLOP/s of a model means little alone; over what a matmul of the same dtype reaches on
the same device, timed beside the models rather than read from a datasheet, it says how much of
the machine the model uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from benchmarks.settings import check_positive_int
from benchmarks.timing import time_call

__all__ = [
    "FLOP_PER_MAC",
    "GEMM_PEAK_CALLS",
    "GEMM_SHAPE",
    "TRAIN_FLOP_FACTOR",
    "flop_per_image",
    "gemm_call",
    "gemm_flops",
    "measure_gemm_peak",
    "model_flop_utilisation",
]

#: The GEMM-peak yardstick for FLOP utilisation: one linear layer of 2048 tokens, 2048 -> 2048
#: features (17 GFLOP), large enough to run near the device's best matmul rate.
GEMM_SHAPE = (2048, 2048, 2048)
#: Timed calls of that GEMM per peak measurement (the best one counts).
GEMM_PEAK_CALLS = 5
#: Back-to-back GEMMs per timed call: one on a CPU (~0.25 s each); on a GPU one bf16 GEMM takes
#: tens of microseconds, as long as a launch and a sync, so 50 run between two syncs.
GEMM_REPEATS = {"cpu": 1, "cuda": 50}
FLOP_PER_MAC = 2
#: A training step costs about three forward passes (forward, and backward's two products per
#: layer): the usual convention for a training step's FLOPs, used for its MFU.
TRAIN_FLOP_FACTOR = 3


def flop_per_image(macs: float, step: str = "inference") -> float:
    """Floating-point operations of one image's step: 2 per MAC, three forwards for training."""
    return FLOP_PER_MAC * macs * (TRAIN_FLOP_FACTOR if step == "train" else 1)


def model_flop_utilisation(
    macs: float, images_per_s: float, peak_gflops: float | None, step: str = "inference"
) -> float:
    """MFU, the one definition every table uses: achieved FLOP/s (:func:`flop_per_image` x
    images/s) over the GEMM peak measured in the same run; NaN without a peak."""
    if not peak_gflops or not peak_gflops > 0:
        return math.nan
    return flop_per_image(macs, step) * images_per_s / (peak_gflops * 1e9)


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
    check_positive_int("iters", iters, 1)
    check_positive_int("warmup", warmup, 0)
    torch_device = torch.device(device)
    call = gemm_call(torch_device, dtype, shape)
    seconds = []
    with torch.inference_mode():
        for index in range(warmup + iters):
            elapsed = time_call(call, torch_device)
            if index >= warmup:
                seconds.append(elapsed)
    return gemm_flops(torch_device, shape) / min(seconds) / 1e9
