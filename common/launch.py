"""Thin submitit launcher: local (default), debug (in-process) or Slurm executors, for training
and for measuring (submitit is the one dependency here beyond torch and the standard library).

A job is a picklable callable; this module only builds the executor, checks before anything
is submitted that the chosen cluster exists, and renders the sbatch script a Slurm submission
would use (for ``--dry-run``, which needs no cluster).
"""

from __future__ import annotations

import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import submitit
from submitit.slurm.slurm import _convert_mem, _make_sbatch_string

EXECUTORS = ("local", "debug", "slurm")
LOCAL_TIMEOUT_MIN = 60 * 24 * 30  # local runs have no scheduler limit; submitit needs one


@dataclass(frozen=True)
class SlurmOptions:
    """Slurm resources for one job (the local executor uses tasks_per_node, gpus and timeout).

    ``tasks_per_node > 1`` (or ``nodes > 1``) runs one process per task with torch.distributed
    set up from submitit's environment (one task per GPU). ``signal_delay_s`` is how long before
    the time limit Slurm sends USR2, on which submitit checkpoints and requeues the job, at most
    ``max_num_timeout`` times.
    """

    partition: str | None = None
    gpus_per_node: int = 0
    nodes: int = 1
    tasks_per_node: int = 1
    cpus_per_task: int = 2
    timeout_min: int = 60
    constraint: str | None = None
    signal_delay_s: int = 90
    mem_gb: float | None = None
    account: str | None = None
    qos: str | None = None
    max_num_timeout: int = 3
    array_parallelism: int = 256

    @property
    def num_tasks(self) -> int:
        return self.nodes * self.tasks_per_node


def check_executor(kind: str) -> str:
    """Validate the executor name and, for Slurm, that ``sbatch``, ``srun`` and ``sacct`` exist."""
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


def slurm_parameters(name: str, slurm: SlurmOptions) -> dict[str, Any]:
    """The parameters of submitit's SlurmExecutor (sbatch flags) for ``slurm``."""
    params: dict[str, Any] = {
        "job_name": name,
        "nodes": slurm.nodes,
        "ntasks_per_node": slurm.tasks_per_node,
        "cpus_per_task": slurm.cpus_per_task,
        "time": slurm.timeout_min,
        "signal_delay_s": slurm.signal_delay_s,
        "array_parallelism": slurm.array_parallelism,
    }
    if slurm.gpus_per_node:
        params["gpus_per_node"] = slurm.gpus_per_node
    optional = {
        "partition": slurm.partition,
        "constraint": slurm.constraint,
        "account": slurm.account,
        "qos": slurm.qos,
    }
    params.update({key: value for key, value in optional.items() if value})
    if slurm.mem_gb is not None:
        params["mem"] = _convert_mem(slurm.mem_gb)
    return params


def sbatch_script(
    folder: str | Path, name: str, slurm: SlurmOptions, array_size: int | None = None
) -> str:
    """The sbatch script submitit would submit for these options (no cluster needed)."""
    python = shlex.quote(sys.executable)
    command = f"{python} -u -m submitit.core._submit {shlex.quote(str(folder))}"
    count = array_size if array_size and array_size > 1 else None
    return _make_sbatch_string(
        command=command, folder=folder, map_count=count, **slurm_parameters(name, slurm)
    )


def make_executor(
    kind: str, folder: str | Path, name: str, slurm: SlurmOptions | None = None
) -> submitit.Executor:
    """Build a submitit executor of ``kind`` logging to ``folder`` (``%j`` is the job id)."""
    check_executor(kind)
    slurm = slurm or SlurmOptions()
    folder = Path(folder)
    if kind == "slurm":
        executor: submitit.Executor = submitit.SlurmExecutor(
            folder=folder, max_num_timeout=slurm.max_num_timeout
        )
        executor.update_parameters(**slurm_parameters(name, slurm))
        return executor
    executor = submitit.AutoExecutor(folder=folder, cluster=kind)
    if kind == "local":
        executor.update_parameters(
            name=name,
            timeout_min=slurm.timeout_min,
            tasks_per_node=slurm.tasks_per_node,
            gpus_per_node=slurm.gpus_per_node,
        )
    else:
        executor.update_parameters(name=name, timeout_min=slurm.timeout_min)
    return executor


def add_launch_options(parser: Any, default_log_dir: Path, local_help: str) -> None:
    """``--executor`` and the Slurm resources, as every command that can go to Slurm takes them."""
    launch = parser.add_argument_group("where to run")
    launch.add_argument("--executor", choices=EXECUTORS, default="local", help=local_help)
    launch.add_argument("--partition", default=None, help="Slurm partition")
    launch.add_argument(
        "--gpus", type=int, default=None, help="GPUs per node (default: 1 for cuda, else 0)"
    )
    launch.add_argument("--cpus-per-task", type=int, default=SlurmOptions.cpus_per_task)
    launch.add_argument("--timeout-min", type=int, default=60, help="Slurm time limit, minutes")
    launch.add_argument("--log-dir", type=Path, default=default_log_dir, help="submitit logs")


def slurm_from_args(args: Any) -> SlurmOptions:
    """The Slurm resources :func:`add_launch_options`' options ask for (ValueError if negative);
    checks that the executor is available."""
    check_executor(args.executor)
    gpus = args.gpus if args.gpus is not None else int(args.device.split(":")[0] == "cuda")
    for name, value in (("gpus", gpus), ("cpus-per-task", args.cpus_per_task)):
        if value < 0:
            raise ValueError(f"--{name} must be >= 0; got {value}")
    if args.timeout_min < 1:
        raise ValueError(f"--timeout-min must be >= 1; got {args.timeout_min}")
    return SlurmOptions(
        partition=args.partition,
        gpus_per_node=gpus,
        cpus_per_task=args.cpus_per_task,
        timeout_min=args.timeout_min,
    )
