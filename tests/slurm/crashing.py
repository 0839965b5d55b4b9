"""Models for the Slurm tests' job array, importable by the job that unpickles them: one kills
its own process when it runs on real data (the task that fails; counting on the meta device
works), one takes a minute a batch (the task still running when it is cancelled)."""

from __future__ import annotations

import os
import signal
import time

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


class _TakesItsTime(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(3, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "meta":
            time.sleep(60)
        return self.head(x.mean(dim=(2, 3)))


class SlowSpec(ModelSpec):
    """A spec whose model sleeps a minute per batch (its task is cancelled while it runs)."""

    def build(self) -> nn.Module:
        return _TakesItsTime().eval()
