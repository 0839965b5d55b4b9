"""Where a sweep runs: in this process, or as a submitit job array (one task per group).

In this process (``--executor local``) the rows are written to the output as each group ends,
and Ctrl-C or SIGTERM ends the run with one line saying what was kept and how to resume. Through
submitit (``debug`` in-process, ``slurm`` as a job array), each array task times one group with
the reference on the node it lands on; the parent merges the tasks' rows into one CSV, each row
naming its node and task, and gives the models of a task that failed or was cancelled a row that
says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import submitit

from benchmarks.records import ModelSpec
from benchmarks.resume import raise_interrupt_on_sigterm
from benchmarks.settings import ThroughputSettings
from benchmarks.sweep import STATUS_OK, Sweep, plan_groups, run_sweep
from common.launch import SlurmOptions, make_executor

__all__ = ["SweepJob", "SweepTaskFailure", "run_array", "status_counts", "task_failure_rows"]


@dataclass(frozen=True)
class SweepJob:
    """One group (the reference first) as a picklable submitit job: its rows."""

    specs: tuple[ModelSpec, ...]
    settings: ThroughputSettings
    steps: tuple[str, ...]
    input_sizes: Mapping[str, tuple[int, ...]]
    sweep: Sweep

    def __call__(self) -> list[dict[str, object]]:
        raise_interrupt_on_sigterm()
        sweep = replace(self.sweep, group_size=max(len(self.specs) - 1, 1))
        result = run_sweep(
            self.specs, self.settings, self.steps, self.input_sizes, sweep, progress=False
        )
        return result.rows

    def checkpoint(self) -> submitit.helpers.DelayedSubmission:
        """Requeued from scratch: a group's timing cannot be resumed halfway."""
        return submitit.helpers.DelayedSubmission(replace(self))


class SweepTaskFailure(RuntimeError):
    """An array task that did not finish: its models' rows say so."""


def task_failure_rows(specs: Sequence[ModelSpec], status: str, task: str) -> list[dict]:
    """Rows for the models of a task that did not finish (the reference excluded)."""
    return [
        {"model": spec.label, "name": spec.name, "status": status, "slurm_task": task}
        for spec in specs[1:]
    ]


def _task_status(job: submitit.Job) -> str:
    state = str(job.state).upper()
    if "CANCEL" in state:
        return f"cancelled (Slurm state {state})"
    return f"error: array task failed (Slurm state {state})"


def run_array(
    specs: Sequence[ModelSpec],
    settings: ThroughputSettings,
    steps: Sequence[str],
    input_sizes: Mapping[str, tuple[int, ...]],
    sweep: Sweep,
    executor_kind: str,
    log_dir: Path,
    slurm: SlurmOptions,
    on_submitted: Callable[[list[submitit.Job]], None] | None = None,
) -> list[dict[str, object]]:
    """Submit one task per group and wait; the merged rows in the list's order (the reference's
    row from the first task that finished)."""
    labels = [spec.label for spec in specs]
    reference = sweep.reference or labels[0]
    by_label = {spec.label: spec for spec in specs}
    groups = plan_groups(labels, reference, sweep.group_size)
    jobs_specs = [(by_label[reference], *(by_label[label] for label in g)) for g in groups]
    executor = make_executor(executor_kind, log_dir, name="benchmarks", slurm=slurm)
    sweep_jobs = [
        SweepJob(group, settings, tuple(steps), dict(input_sizes), sweep) for group in jobs_specs
    ]
    if executor_kind == "slurm":
        with executor.batch():
            jobs = [executor.submit(job) for job in sweep_jobs]
    else:
        jobs = [executor.submit(job) for job in sweep_jobs]
    if on_submitted is not None:
        on_submitted(jobs)
    rows: dict[str, dict[str, object]] = {}
    for job, group in zip(jobs, jobs_specs, strict=True):
        try:
            task_rows = job.result()
        except Exception:  # submitit raises its own types for failed and cancelled tasks
            for row in task_failure_rows(group, _task_status(job), str(job.job_id)):
                rows[str(row["model"])] = row
            continue
        for row in task_rows:
            if row["model"] != reference or reference not in rows:
                rows[str(row["model"])] = row
    return [rows[label] for label in labels if label in rows]


def status_counts(rows: Sequence[Mapping[str, object]]) -> tuple[int, int]:
    """How many rows are ``ok`` and how many are not."""
    ok = sum(1 for row in rows if row.get("status") == STATUS_OK)
    return ok, len(rows) - ok
