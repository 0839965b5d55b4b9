"""Where a number was made: the device, the CPU model and its native bf16, threads, library
versions, the date and how busy the machine was."""

from __future__ import annotations

import datetime
import os
import platform
from dataclasses import dataclass
from functools import cache
from importlib import metadata

import torch

__all__ = [
    "BF16_FLAGS",
    "Environment",
    "cpu_bf16_flags",
    "cpu_name",
    "describe_environment",
    "library_version",
    "load_average",
]


@dataclass(frozen=True)
class Environment:
    """Where and with which libraries a measurement was made."""

    device: str  # "cpu", "cuda:0", or "meta" for shape-only counting
    device_name: str  # the CPU model from /proc/cpuinfo, or the GPU's name
    threads: int  # torch.get_num_threads(): intra-op CPU threads
    cpu_count: int  # os.cpu_count() of the machine
    torch_version: str
    timm_version: str
    ptflops_version: str
    python_version: str
    date: str  # ISO 8601, UTC, to the second
    # The CPU's native bf16 instructions ("avx512_bf16", "amx_bf16"; empty: bf16 is emulated
    # and slower than fp32), None where unknown (records written before it was recorded).
    cpu_bf16: tuple[str, ...] | None = None

    @property
    def native_bf16(self) -> bool | None:
        """Whether the CPU runs bf16 matmuls natively (None: not recorded)."""
        return None if self.cpu_bf16 is None else bool(self.cpu_bf16)

    @property
    def cpu_bf16_text(self) -> str:
        """The native bf16 flags as a table cell: 'avx512_bf16 amx_bf16', 'none' (bf16 is
        emulated) or 'unknown' (not recorded)."""
        return "unknown" if self.cpu_bf16 is None else (" ".join(self.cpu_bf16) or "none")


@cache
def cpu_name() -> str:
    """The CPU model as /proc/cpuinfo names it (else what platform knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


#: The CPU flags (as /proc/cpuinfo names them) of native bf16 matmul instructions.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@cache
def cpu_bf16_flags() -> tuple[str, ...]:
    """The native bf16 instructions this CPU has (empty where bf16 is emulated in fp32)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return tuple(flag for flag in BF16_FLAGS if flag in flags)
    except OSError:
        pass
    return ()


def library_version(package: str) -> str:
    """The installed version of ``package``, or "not installed"."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe_environment(device: str = "cpu") -> Environment:
    """The provenance of a measurement made now on ``device`` ("meta": shape-only counting)."""
    torch_device = torch.device(device)
    if torch_device.type == "cuda":
        index = (
            torch_device.index if torch_device.index is not None else torch.cuda.current_device()
        )
        device_name = torch.cuda.get_device_name(index)
        device = f"cuda:{index}"
    elif torch_device.type == "meta":
        device_name = "meta (shapes only)"
    else:
        device_name = cpu_name()
    return Environment(
        device=device,
        device_name=device_name,
        threads=torch.get_num_threads(),
        cpu_count=os.cpu_count() or 1,
        torch_version=torch.__version__,
        timm_version=library_version("timm"),
        ptflops_version=library_version("ptflops"),
        python_version=platform.python_version(),
        date=datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat(),
        cpu_bf16=cpu_bf16_flags(),
    )


def load_average() -> tuple[float, float, float] | None:
    """The 1-, 5- and 15-minute load averages (None where the OS has none): was the CPU busy?"""
    try:
        one, five, fifteen = os.getloadavg()
    except (AttributeError, OSError):
        return None
    return round(one, 2), round(five, 2), round(fifteen, 2)
