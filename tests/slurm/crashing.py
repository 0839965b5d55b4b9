"""A model that kills its own process when it runs on real data (counting on the meta device
works): the Slurm tests' array task that fails. Importable by the job, which unpickles it."""

from __future__ import annotations

import os
import signal

import torch
from torch import nn

from benchmarks.records import ModelSpec


class _KillsItsProcess(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(3, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "meta":
            os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would
        return self.head(x.mean(dim=(2, 3)))


class CrashingSpec(ModelSpec):
    """A spec whose model takes its whole process down (the array task fails)."""

    def build(self) -> nn.Module:
        return _KillsItsProcess().eval()
