"""Peak memory of one training step, each path in a fresh process (``--memory-probe``)."""

from __future__ import annotations

import json
import subprocess
import sys

import torch
from torch import nn

from benchmarks.fastpath.options import DYNAMIXER, IMAGE_SIZE, PRECISION_DTYPES
from benchmarks.fastpath.report import MemoryPeak
from benchmarks.memory import reset_peak_rss, status_mb
from common.precision import autocast
from models import create_model

__all__ = ["measure_step_memory", "peak_training_memory", "train_precision"]


def train_precision(device: torch.device | str) -> str:
    """The timed training step's precision: bf16 autocast on a GPU (how GPUs train), fp32 on a
    CPU."""
    return "bf16" if torch.device(device).type == "cuda" else "fp32"


def measure_step_memory(name: str, fused: bool, batch_size: int, device: str) -> dict[str, float]:
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
        reset_peak_rss()
        before = status_mb("VmRSS")
    with autocast(torch_device, PRECISION_DTYPES[train_precision(torch_device)]):
        loss = nn.functional.cross_entropy(model(images), labels)
    loss.backward()
    if torch_device.type == "cuda":
        torch.cuda.synchronize(torch_device)
        peak = torch.cuda.max_memory_allocated(torch_device) / 2**20
    else:
        peak = status_mb("VmHWM")
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
