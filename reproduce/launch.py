"""Thin submitit launcher: local (default), debug (in-process) or Slurm executors.

A job is a picklable callable; this module only builds the executor and checks, before
anything is submitted, that the chosen cluster exists.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import submitit

EXECUTORS = ("local", "debug", "slurm")


@dataclass(frozen=True)
class SlurmOptions:
    """Slurm resources for one job (ignored by the local and debug executors)."""

    partition: str | None = None
    gpus_per_node: int = 0
    nodes: int = 1
    tasks_per_node: int = 1
    cpus_per_task: int = 2
    timeout_min: int = 60
    constraint: str | None = None
    signal_delay_s: int = 90


def check_executor(kind: str) -> str:
    """Validate the executor name and, for Slurm, that ``sbatch`` and ``srun`` exist."""
    if kind not in EXECUTORS:
        raise ValueError(f"unknown executor {kind!r}; accepted: {', '.join(EXECUTORS)}")
    if kind == "slurm":
        missing = [tool for tool in ("sbatch", "srun", "sacct") if shutil.which(tool) is None]
        if missing:
            raise RuntimeError(
                f"--executor slurm needs Slurm's {', '.join(missing)} on PATH and none was found; "
                + "run on a Slurm login node, or use --executor local"
            )
    return kind


def make_executor(
    kind: str, folder: str | Path, name: str, slurm: SlurmOptions | None = None
) -> submitit.Executor:
    """Build a submitit executor of ``kind`` logging to ``folder`` (``%j`` is the job id)."""
    check_executor(kind)
    slurm = slurm or SlurmOptions()
    folder = Path(folder)
    if kind == "slurm":
        executor: submitit.Executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
        extra = {"constraint": slurm.constraint} if slurm.constraint else {}
        executor.update_parameters(
            name=name,
            nodes=slurm.nodes,
            tasks_per_node=slurm.tasks_per_node,
            cpus_per_task=slurm.cpus_per_task,
            gpus_per_node=slurm.gpus_per_node,
            timeout_min=slurm.timeout_min,
            slurm_partition=slurm.partition,
            slurm_signal_delay_s=slurm.signal_delay_s,
            slurm_additional_parameters=extra,
        )
        return executor
    executor = submitit.AutoExecutor(folder=folder, cluster=kind)
    executor.update_parameters(name=name, timeout_min=slurm.timeout_min)
    return executor
