"""Mixed precision by the names the command lines use, and the autocast every step runs under."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["AMP_DEVICES", "AMP_DTYPES", "autocast"]

#: Mixed-precision (autocast) dtypes, by the names the command line uses.
AMP_DTYPES: Mapping[str, torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16}
#: The device types each autocast dtype runs on: bf16 on CPUs (emulated where the CPU has no
#: native bf16) and GPUs; fp16 autocast is a GPU mode (on a CPU it is not a speed mode at all).
AMP_DEVICES: Mapping[str, tuple[str, ...]] = {"bf16": ("cpu", "cuda"), "fp16": ("cuda",)}


def autocast(
    device: torch.device, dtype: torch.dtype | None
) -> contextlib.AbstractContextManager[Any]:
    """``torch.autocast`` to ``dtype`` on ``device``, or nothing for None (fp32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
