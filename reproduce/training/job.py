"""The training job: a picklable, checkpointable callable that runs one recipe to its result.

`TrainJob` holds only plain data (the recipe, paths, options); everything a run accumulates
lives on disk in its run folder (``last.pt``, ``best.pt``, ``metrics.jsonl``: see
`reproduce.training.checkpoints`), so submitit can pickle the job, and after a preemption or a
time limit (Slurm's warning signal) `TrainJob.checkpoint` resubmits the same job, which resumes
from the run folder's last checkpoint. The job sets up its process, calls the loop
(`reproduce.training.loop`) and keeps its record in the results store up to date: a completed
record holds the whole per-epoch history, the batch it reached (processes, per-process batch,
accumulation steps, global batch) and the weights it started from, so it stands on its own
without the run folder.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
import traceback
from pathlib import Path
from typing import Any

import submitit
from submitit.slurm.slurm import SlurmJobEnvironment

from reproduce.training import store
from reproduce.training.checkpoints import (
    CHECKPOINT_FORMAT,
    model_identity,
    rng_state,
    save_training_checkpoint,
    trim_metrics,
)
from reproduce.training.components import Training
from reproduce.training.data import DataSpec
from reproduce.training.distributed import (
    ProcessPlacement,
    barrier,
    describe_device,
    gather_objects,
    set_up_processes,
    tear_down_processes,
)
from reproduce.training.loop import run_epoch, start_training
from reproduce.training.overrides import changed_fields, config_key
from reproduce.training.recipe import Recipe

__all__ = ["TrainJob", "job_environment"]

# Set in a job process once submitit checkpoints it for a requeue (never pickled: module state).
_REQUEUEING = False


def job_environment() -> submitit.JobEnvironment | None:
    """submitit's view of the running job, or None when called outside submitit."""
    if not os.environ.get("SUBMITIT_EXECUTOR"):
        return None
    try:
        return submitit.JobEnvironment()
    except RuntimeError:
        return None


def _ignore_sigterm() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _requeue_ignoring_step_kill(self: Any, countdown: int) -> None:
    """submitit's ``scontrol requeue``, run with SIGTERM ignored.

    submitit runs scontrol from inside the job step. Slurm cancels the step (SIGTERM to every
    process in it, KILL after KillWait) as soon as it accepts the requeue, and can do so before
    scontrol has exited; scontrol then dies of SIGTERM and submitit reports the requeued job as
    failed (seen here: ``Command '['scontrol', 'requeue', '9']' died with SIGTERM``).
    """
    job_id = self.job_id
    subprocess.check_call(["scontrol", "requeue", job_id], timeout=60, preexec_fn=_ignore_sigterm)
    logging.getLogger("submitit").info(f"Requeued job {job_id} ({countdown} remaining timeouts)")


def _patch_slurm_requeue(environment: submitit.JobEnvironment | None) -> None:
    if environment is not None and environment.cluster == "slurm":
        SlurmJobEnvironment._requeue = _requeue_ignoring_step_kill  # type: ignore[method-assign]


def _log_paths(environment: submitit.JobEnvironment | None) -> dict[str, str | None] | None:
    """Where submitit writes this job's stdout and stderr, as the record keeps them."""
    if environment is None:
        return None
    paths = environment.paths
    return {
        "stdout": store.path_for_record(paths.stdout),
        "stderr": store.path_for_record(paths.stderr),
    }


class TrainJob(submitit.helpers.Checkpointable):
    """Train ``recipe`` into ``run_dir`` and record the result in the store at ``runs_dir``.

    Holds plain data only, so it pickles small. ``commit`` and ``tree_dirty`` are the
    repository's state at launch (None: read when the job starts). ``resume_from`` is a
    checkpoint to continue from when the run folder has none yet. ``interrupt_at_epoch`` ends
    the attempt that completes that epoch (status ``interrupted``; a later attempt resumes past
    it), to simulate a preemption in tests.
    """

    def __init__(
        self,
        recipe: Recipe,
        run_dir: str | Path,
        runs_dir: str | Path,
        data: DataSpec,
        *,
        commit: str | None = None,
        tree_dirty: bool | None = None,
        executor: str = "local",
        device: str = "auto",
        download: bool = False,
        resume_from: str | Path | None = None,
        init_checkpoint: str | Path | None = None,
        interrupt_at_epoch: int | None = None,
    ) -> None:
        self.recipe = recipe
        self.key = config_key(recipe)
        self.run_dir = str(Path(run_dir).resolve())
        self.runs_dir = str(Path(runs_dir).resolve())
        self.data = data
        self.commit = commit
        self.tree_dirty = tree_dirty
        self.executor = executor
        self.device = device
        self.download = download
        self.resume_from = None if resume_from is None else str(resume_from)
        self.init_checkpoint = None if init_checkpoint is None else str(init_checkpoint)
        self.interrupt_at_epoch = interrupt_at_epoch

    # submitit calls this from its USR2 handler (time limit near, or preemption).
    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        """Resubmit this job: the state is on disk, so the next attempt resumes from last.pt."""
        global _REQUEUEING
        _REQUEUEING = True
        environment = job_environment()
        if environment is None or environment.global_rank == 0:
            store.update_record(self.runs_dir, self.key, status="requeued", requeued_at=store.now())
            print(f"checkpoint(): requeueing {self.key}; resumes from {self.run_dir}/last.pt")
        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)

    def __call__(self) -> dict[str, Any]:
        environment = job_environment()
        _patch_slurm_requeue(environment)
        placement = set_up_processes(environment)
        started = time.time()
        try:
            return self._train(environment, placement)
        except Exception as error:
            if _REQUEUEING and not isinstance(error, submitit.core.utils.UncompletedJobError):
                # Being requeued: Slurm is tearing the step down (data-loader workers die, ...).
                # Exit quietly, so no failure is recorded and no result pickle says "done".
                print(f"exiting for requeue; ignoring {type(error).__name__}: {error}", flush=True)
                raise SystemExit(-1) from error
            if placement.is_main:
                self._record_failure(error, environment, started)
            raise
        finally:
            tear_down_processes(placement)

    def identity(self) -> dict[str, Any]:
        """What every record of this job says first: what it trains, where, from which commit."""
        recipe = self.recipe
        source = (
            store.git_state()
            if self.commit is None
            else {"commit": self.commit, "tree_dirty": self.tree_dirty}
        )
        return {
            "schema": store.SCHEMA,
            "kind": "training",
            "config": recipe.name,
            "config_key": self.key,
            "model": recipe.model,
            "overrides": dict(recipe.overrides),
            "dataset": recipe.dataset,
            "data": self.data.description,
            "changed": changed_fields(recipe),
            "recipe": recipe.to_dict(),
            **source,
            "executor": self.executor,
            "run_dir": store.path_for_record(self.run_dir),
            "table": recipe.table,
            "row": recipe.row,
        }

    def _record_failure(
        self, error: Exception, environment: submitit.JobEnvironment | None, started: float
    ) -> None:
        paths = environment.paths if environment is not None else None
        store.update_record(
            self.runs_dir,
            self.key,
            **self.identity(),
            status="failed",
            error=f"{type(error).__name__}: {error}",
            traceback=traceback.format_exc()[-4000:],
            log_paths=_log_paths(environment),
            job_id=environment.job_id if environment is not None else None,
            finished=store.now(),
            wall_time_s=round(time.time() - started, 1),
            submitit_folder=store.path_for_record(paths.folder) if paths else None,
        )

    def _train(
        self, environment: submitit.JobEnvironment | None, placement: ProcessPlacement
    ) -> dict[str, Any]:
        """One attempt: set up, resume if there is a checkpoint, train the epochs still to do."""
        started = time.time()
        run_dir = Path(self.run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        training, train_loader, val_loader, resumed_from = start_training(
            self.recipe,
            self.data,
            placement,
            requested_device=self.device,
            run_dir=run_dir,
            resume_from=self.resume_from,
            init_checkpoint=self.init_checkpoint,
            download=self.download,
        )
        metrics_path = run_dir / "metrics.jsonl"
        if placement.is_main:
            if resumed_from is not None:
                epoch = training.next_epoch
                print(f"resumed {self.key} from {resumed_from} at epoch {epoch}", flush=True)
            trim_metrics(metrics_path, training.next_epoch)
        facts = self._run_facts(environment, placement, training, metrics_path)
        if placement.is_main:
            self._record_start(facts, training, len(train_loader), placement, resumed_from)
        last_metrics: dict[str, Any] = {}
        while training.next_epoch < training.epochs:
            line, improved = run_epoch(training, train_loader, val_loader, self.recipe, placement)
            rng_states = gather_objects(rng_state(), placement)
            if placement.is_main:
                self._end_epoch(training, line, improved, rng_states, metrics_path)
            last_metrics = line
            barrier(placement)
            done = training.next_epoch
            if done == self.interrupt_at_epoch and done < training.epochs:
                if placement.is_main:
                    return store.update_record(
                        self.runs_dir, self.key, status="interrupted", epochs=done
                    )
                return {"status": "interrupted"}
        if not placement.is_main:
            return {"status": "completed", "epochs": training.epochs}
        return self._record_completion(facts, training, last_metrics, metrics_path, started)

    def _run_facts(
        self,
        environment: submitit.JobEnvironment | None,
        placement: ProcessPlacement,
        training: Training,
        metrics_path: Path,
    ) -> dict[str, Any]:
        """What the running and the completed record say about this attempt."""
        recipe = self.recipe
        return {
            **self.identity(),
            "params": sum(p.numel() for p in training.model.parameters()),
            "epochs_planned": training.epochs,
            "device": describe_device(training.device),
            "world_size": placement.world_size,
            "batch_size": recipe.batch_size,
            "accumulation_steps": training.accumulation_steps,
            "global_batch": recipe.batch_size * placement.world_size * training.accumulation_steps,
            "recipe_global_batch": recipe.global_batch,
            "initial_weights": training.initial_weights,
            "amp": training.use_amp,
            "versions": store.versions(),
            "host": store.host(),
            "job_id": environment.job_id if environment is not None else None,
            "log_paths": _log_paths(environment),
            "restarts": int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0),
            "checkpoint": store.path_for_record(Path(self.run_dir) / "last.pt"),
            "metrics": store.path_for_record(metrics_path),
            "error": None,
            "traceback": None,
        }

    def _record_start(
        self,
        facts: dict[str, Any],
        training: Training,
        steps: int,
        placement: ProcessPlacement,
        resumed_from: Path | None,
    ) -> None:
        previous = store.load_record(self.runs_dir, self.key) or {}
        store.update_record(
            self.runs_dir,
            self.key,
            **facts,
            status="running",
            started=(previous.get("started") if resumed_from else None) or store.now(),
            epochs=training.next_epoch,
        )
        recipe = self.recipe
        updates = steps // training.accumulation_steps
        print(
            f"training {self.key}: {recipe.model} ({facts['params'] / 1e6:.2f}M params) on "
            + f"{self.data.description}, {training.epochs} epochs x {updates} updates, batch "
            + f"{recipe.batch_size} x {placement.world_size} process(es) x "
            + f"{training.accumulation_steps} accumulation step(s) = {facts['global_batch']} "
            + f"(recipe {recipe.global_batch}) on {facts['device']}",
            flush=True,
        )
        if training.initial_weights is not None:
            weights = training.initial_weights
            print(f"starting from {weights['path']}: {weights['weights']}", flush=True)

    def _end_epoch(
        self,
        training: Training,
        line: dict[str, Any],
        improved: bool,
        rng_states: list[dict[str, Any]],
        metrics_path: Path,
    ) -> None:
        """Append the metrics, save ``last.pt`` (and ``best.pt``), print and record the epoch."""
        with metrics_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")
        checkpoint = {
            "format": CHECKPOINT_FORMAT,
            "config_key": self.key,
            "model_identity": model_identity(self.recipe),
            "recipe": self.recipe.to_dict(),
            **training.state_dict(),
            "rng": rng_states,
            "metrics": line,
        }
        save_training_checkpoint(Path(self.run_dir) / "last.pt", checkpoint)
        if improved:
            save_training_checkpoint(Path(self.run_dir) / "best.pt", checkpoint)
        print(
            f"epoch {training.next_epoch}/{training.epochs}: train loss {line['train_loss']:.4f}, "
            + f"val top-1 {line['top1']:.2f} top-5 {line['top5']:.2f}"
            + (f", EMA top-1 {line['ema_top1']:.2f}" if training.ema is not None else "")
            + f", {line['images_per_s']:.0f} img/s, {line['epoch_time_s']:.1f} s",
            flush=True,
        )
        store.update_record(self.runs_dir, self.key, epochs=training.next_epoch, last_metrics=line)

    def _record_completion(
        self,
        facts: dict[str, Any],
        training: Training,
        last_metrics: dict[str, Any],
        metrics_path: Path,
        started: float,
    ) -> dict[str, Any]:
        history = [json.loads(x) for x in metrics_path.read_text().splitlines() if x.strip()]
        previous = store.load_record(self.runs_dir, self.key) or {}
        best = training.best
        return store.update_record(
            self.runs_dir,
            self.key,
            **facts,
            status="completed",
            epochs=training.epochs,
            top1=best["top1"],
            top5=best["top5"],
            best_epoch=best["epoch"],
            final_top1=last_metrics.get("eval_top1", previous.get("final_top1")),
            final_top5=last_metrics.get("eval_top5", previous.get("final_top5")),
            top1_is="the best epoch's top-1 on the evaluation set (as the authors' code reports)",
            eval_model="ema" if training.ema is not None else "model",
            history=history,
            best_checkpoint=store.path_for_record(Path(self.run_dir) / "best.pt"),
            train_images_per_s=round(
                sum(h["images_per_s"] for h in history) / max(len(history), 1), 1
            ),
            train_time_s=round(sum(h["epoch_time_s"] for h in history), 1),
            attempt_wall_time_s=round(time.time() - started, 1),
            finished=store.now(),
        )
