"""Submitting a `Plan` through submitit, and waiting for its jobs.

`submit` writes each config's ``submitted`` record, then hands the jobs to the executor: on
Slurm one job, or one job array for several configs; locally one after another, so a
workstation is not oversubscribed. `wait` waits for the jobs and records what a job could not
record itself (cancelled, or killed before it could say so); while it waits, it shows the
job's progress lines from its log.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import submitit

from common.launch import make_executor
from reproduce.training import store
from reproduce.training.plan import Launch, Plan
from reproduce.training.progress import LogFollower

__all__ = ["submit", "wait"]


def _submitted_record(the_plan: Plan, launch: Launch) -> dict[str, Any]:
    return {
        **launch.job.identity(),
        "status": "submitted",
        "submitted": store.now(),
        "params": launch.params,
        "epochs": 0,
        "error": None,
        "traceback": None,
        "job_id": None,
        "submitit_folder": str(the_plan.folder),
    }


def _prepare(the_plan: Plan, launch: Launch) -> None:
    """Before submitting: with --force, move an old run folder aside; write 'submitted'."""
    run_dir = Path(launch.job.run_dir)
    if the_plan.force and run_dir.exists():
        aside = run_dir.with_name(f"{run_dir.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
        shutil.move(run_dir, aside)
        print(f"--force: moved the previous run folder to {aside}")
    record = _submitted_record(the_plan, launch)
    store.write_record(the_plan.runs_dir, {**record, "updated": store.now()})


def _log_paths(job: submitit.Job) -> dict[str, str]:
    """Where submitit writes the job's stdout and stderr, as the results record keeps them."""
    return {"stdout": str(job.paths.stdout), "stderr": str(job.paths.stderr)}


def _note_job(the_plan: Plan, launch: Launch, job: submitit.Job) -> None:
    """Record the job id and log paths (unless the job already moved past 'submitted')."""
    record = store.load_record(the_plan.runs_dir, launch.key) or {}
    if record.get("status") == "submitted":
        store.update_record(
            the_plan.runs_dir, launch.key, job_id=str(job.job_id), log_paths=_log_paths(job)
        )


def _submit_to_slurm(
    the_plan: Plan, executor: submitit.Executor, to_run: list[Launch]
) -> list[submitit.Job]:
    if len(to_run) == 1:
        jobs = [executor.submit(to_run[0].job)]
    else:
        with executor.batch():
            pending = [executor.submit(launch.job) for launch in to_run]
        jobs = list(pending)
    for launch, job in zip(to_run, jobs, strict=True):
        _note_job(the_plan, launch, job)
        print(f"submitted {launch.key}: Slurm job {job.job_id}, log {job.paths.stdout}")
    return jobs


def submit(the_plan: Plan) -> list[submitit.Job]:
    """Submit every launch that is not skipped. Slurm: one job, or one array for several.

    With the local or debug executor, several configs run one after another (each waited for),
    so a workstation is not oversubscribed.
    """
    to_run = the_plan.to_run
    if not to_run:
        return []
    executor = make_executor(the_plan.executor, the_plan.folder, the_plan.job_name, the_plan.slurm)
    for launch in to_run:
        _prepare(the_plan, launch)
    if the_plan.executor == "slurm":
        return _submit_to_slurm(the_plan, executor, to_run)
    jobs = []
    for launch in to_run:
        job = executor.submit(launch.job)
        _note_job(the_plan, launch, job)
        print(f"running {launch.key} ({the_plan.executor} job {job.job_id}): {job.paths.stdout}")
        jobs.append(job)
        if len(to_run) > 1:
            wait(the_plan, [job], launches=[launch])
    return jobs


def _record_unfinished(
    the_plan: Plan, launch: Launch, job: submitit.Job, state: str, error: str
) -> dict[str, Any]:
    """The record of a job that gave no result: cancelled, failed, or ended without saying."""
    record = store.load_record(the_plan.runs_dir, launch.key) or {}
    log_paths = _log_paths(job)
    if state.upper().startswith("CANCELLED"):
        why = f"job {job.job_id} {state}"
        return store.mark_ended(
            the_plan.runs_dir, launch.key, "cancelled", why, log_paths=log_paths
        )
    if record.get("status") == "failed":
        if not record.get("log_paths"):
            record = store.update_record(the_plan.runs_dir, launch.key, log_paths=log_paths)
        return record
    why = f"job {job.job_id} ended in state {state}: {error[-2000:]}"
    return store.mark_ended(the_plan.runs_dir, launch.key, "failed", why, log_paths=log_paths)


def wait(
    the_plan: Plan,
    jobs: list[submitit.Job],
    launches: list[Launch] | None = None,
    poll_s: float = 2.0,
) -> list[dict[str, Any]]:
    """Wait for ``jobs``, echoing each job's log as it grows (its epoch, loss, lr, images/s and
    ETA); record cancellations and deaths the job itself could not record."""
    launches = launches if launches is not None else the_plan.to_run
    results = []
    for launch, job in zip(launches, jobs, strict=True):
        if the_plan.executor != "debug":  # a debug job runs in result(), printing here itself
            log = LogFollower(job.paths.stdout)
            while not job.done():
                log.poll()
                time.sleep(poll_s)
            log.poll()
        state = str(job.state)
        error = ""
        if not state.upper().startswith("CANCELLED"):  # result() would wait for a pickle
            try:
                results.append(job.results()[0])  # rank 0's (one per task under DDP)
                continue
            except Exception as exc:  # submitit raises several types; all end the same here
                error = f"{type(exc).__name__}: {exc}"
                state = str(job.state)
        results.append(_record_unfinished(the_plan, launch, job, state, error))
    return results
