"""Where a training process runs: its place among its peers, its device, and the collective
steps a run takes.

One process per submitit task: with several tasks, torch.distributed is set up from submitit's
environment (NCCL on GPUs, gloo on CPUs), one GPU per process. With one, every collective here
is a no-op, so the training code reads the same either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import submitit
import torch
from torch.utils.data import Sampler

from common.environment import cpu_name

__all__ = [
    "EvaluationShard",
    "ProcessPlacement",
    "all_reduce_mean",
    "all_reduce_sum",
    "barrier",
    "choose_device",
    "describe_device",
    "gather_objects",
    "set_up_processes",
    "tear_down_processes",
]


@dataclass(frozen=True)
class ProcessPlacement:
    """This process's rank, the number of processes, and its rank on its node (alone: 0, 1, 0)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Whether this process writes records, checkpoints and logs (rank 0)."""
        return self.rank == 0


def set_up_processes(environment: submitit.JobEnvironment | None) -> ProcessPlacement:
    """One process per task; with several tasks, init torch.distributed from submitit's env."""
    if environment is None or environment.num_tasks <= 1:
        return ProcessPlacement()
    exported = submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    torch.distributed.init_process_group(backend=backend, init_method="env://")
    return ProcessPlacement(exported.rank, exported.world_size, exported.local_rank)


def choose_device(requested: str, placement: ProcessPlacement) -> torch.device:
    """``auto``, ``cpu`` or ``cuda``; on CUDA, this process's GPU on its node."""
    if requested == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(requested)
    if device.type == "cuda":
        device = torch.device("cuda", placement.local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    return device


def describe_device(device: torch.device) -> str:
    """``cuda: <GPU name>`` or ``cpu: <CPU model> (<n> threads)``, as a record keeps it."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {cpu_name()} ({torch.get_num_threads()} threads)"


def tear_down_processes(placement: ProcessPlacement) -> None:
    """Destroy the process group `set_up_processes` made, if any."""
    if placement.world_size > 1 and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


class EvaluationShard(Sampler[int]):
    """Every ``world_size``-th index from ``rank``, in order, unpadded (exact distributed eval)."""

    def __init__(self, length: int, rank: int, world_size: int) -> None:
        self.indices = list(range(rank, length, world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def all_reduce_sum(tensor: torch.Tensor, placement: ProcessPlacement) -> torch.Tensor:
    """Sum ``tensor`` over every process, in place."""
    if placement.world_size > 1:
        torch.distributed.all_reduce(tensor)
    return tensor


def all_reduce_mean(value: float, device: torch.device, placement: ProcessPlacement) -> float:
    """The mean of ``value`` over every process."""
    if placement.world_size == 1:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(tensor)
    return float(tensor.item()) / placement.world_size


def gather_objects(value: Any, placement: ProcessPlacement) -> list[Any]:
    """Every process's ``value``, in rank order."""
    if placement.world_size == 1:
        return [value]
    values: list[Any] = [None] * placement.world_size
    torch.distributed.all_gather_object(values, value)
    return values


def barrier(placement: ProcessPlacement) -> None:
    """Wait until every process gets here."""
    if placement.world_size > 1:
        torch.distributed.barrier()
