"""The training job: a picklable, checkpointable callable that runs one recipe to its result.

`TrainJob` holds only plain data (the recipe, paths, options); everything a run accumulates
lives on disk in its run folder, so submitit can pickle the job, and after a preemption or a
time limit (Slurm's warning signal) `TrainJob.checkpoint` resubmits the same job, which resumes
from the run folder's last checkpoint. Run folder contents:

* ``last.pt`` / ``best.pt``: model, EMA, optimizer, AMP scaler, scheduler, RNG states and
  epoch, written atomically at the end of every epoch (``best.pt`` when the evaluated top-1
  improves).
* ``metrics.jsonl``: one JSON line per epoch (losses, top-1/top-5, lr, images/s, epoch time).

The training step and loop are ours; the components are timm's (``create_optimizer_v2``,
``create_scheduler_v2``, ``Mixup``, ``SoftTargetCrossEntropy``, ``ModelEmaV3``, the native AMP
scaler). With ``deterministic=True`` on CPU a resumed run ends with exactly the weights of an
uninterrupted one: data order is drawn from ``seed + epoch`` and every RNG state is restored.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import random
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import submitit
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from benchmarks.files import write_atomic
from reproduce import store
from reproduce.data import DataSpec, build_datasets, num_classes
from reproduce.recipes import RECIPES, Recipe, changed_fields, config_key

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointMismatch",
    "TrainJob",
    "check_resume",
    "load_checkpoint",
    "resolve_init",
]

CHECKPOINT_FORMAT = 1


class CheckpointMismatch(ValueError):
    """A checkpoint was written for another model or variant than the one being trained."""


# ---------------------------------------------------------------------------------------------
# Checkpoints


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a training checkpoint (tensors and plain data only: ``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    return torch.load(path, map_location="cpu", weights_only=True)


def _model_identity(recipe: Recipe) -> dict[str, Any]:
    overrides = dict(recipe.overrides)
    overrides.setdefault("num_classes", num_classes(recipe.dataset))
    return {"model": recipe.model, "overrides": overrides}


def check_resume(checkpoint: dict[str, Any], recipe: Recipe, source: str | Path) -> None:
    """Raise CheckpointMismatch unless ``checkpoint`` was written for ``recipe``'s model variant."""
    if checkpoint.get("format") != CHECKPOINT_FORMAT or "model_identity" not in checkpoint:
        raise CheckpointMismatch(
            f"{source} is not a training checkpoint of this suite (no 'model_identity'); "
            + "use init_from=PATH to start from foreign weights"
        )
    theirs, ours = checkpoint["model_identity"], _model_identity(recipe)
    if theirs != ours:
        raise CheckpointMismatch(
            f"cannot resume from {source}: it was written for model {theirs['model']!r} with "
            + f"overrides {theirs['overrides']}, but config {recipe.name!r} trains "
            + f"{ours['model']!r} with overrides {ours['overrides']}"
        )


def resolve_init(recipe: Recipe, results_dir: str | Path) -> Path | None:
    """The checkpoint a fine-tuning recipe starts from: a config's best checkpoint, or a path."""
    if recipe.init_from is None:
        return None
    if recipe.init_from in RECIPES:
        record = store.load_record(results_dir, recipe.init_from)
        if record is None or record.get("status") != "completed":
            raise FileNotFoundError(
                f"{recipe.name} starts from config {recipe.init_from!r}, which has no completed "
                + f"run in {results_dir}; train it first or pass init_from=PATH"
            )
        path = _from_repo(record.get("best_checkpoint") or record["checkpoint"])
    else:
        path = Path(recipe.init_from).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{recipe.name}: init_from checkpoint {path} does not exist")
    return path.resolve()


def _rng_state() -> dict[str, Any]:
    _, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    numpy = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            numpy["keys"].numpy().astype(np.uint32),
            numpy["pos"],
            numpy["has_gauss"],
            numpy["cached_gaussian"],
        )
    )
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _save(path: Path, payload: dict[str, Any]) -> None:
    write_atomic(path, lambda tmp: torch.save(payload, tmp))


def _from_repo(path: str) -> Path:
    """A path as stored in a record: relative ones are relative to the repository."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else store.REPO_ROOT / candidate


def _for_record(path: str | Path | None) -> str | None:
    """Store paths inside the repository relative to it, so records read the same in a clone."""
    if path is None:
        return None
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(store.REPO_ROOT))
    except ValueError:
        return str(resolved)


# ---------------------------------------------------------------------------------------------
# Execution environment


@dataclass(frozen=True)
class Dist:
    """Process-group placement: rank, world size and local rank (1 process: 0, 1, 0)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _job_environment() -> submitit.JobEnvironment | None:
    """submitit's view of the running job, or None when called outside submitit."""
    if not os.environ.get("SUBMITIT_EXECUTOR"):
        return None
    try:
        return submitit.JobEnvironment()
    except RuntimeError:
        return None


def _setup_distributed(env: submitit.JobEnvironment | None) -> Dist:
    """One process per task; with several tasks, init torch.distributed from submitit's env."""
    if env is None or env.num_tasks <= 1:
        return Dist()
    dist_env = submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    torch.distributed.init_process_group(backend=backend, init_method="env://")
    return Dist(dist_env.rank, dist_env.world_size, dist_env.local_rank)


# Set in a job process once submitit checkpoints it for a requeue (never pickled: module state).
_REQUEUEING = False


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


def _patch_slurm_requeue(env: submitit.JobEnvironment | None) -> None:
    if env is not None and env.cluster == "slurm":
        from submitit.slurm.slurm import SlurmJobEnvironment

        SlurmJobEnvironment._requeue = _requeue_ignoring_step_kill  # type: ignore[method-assign]


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu: {name} ({torch.get_num_threads()} threads)"


class _Shard(Sampler[int]):
    """Every ``world``-th index from ``rank``, in order, unpadded (exact distributed eval)."""

    def __init__(self, length: int, rank: int, world: int) -> None:
        self.indices = list(range(rank, length, world))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


# ---------------------------------------------------------------------------------------------
# Progress


def _fmt_time(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """A tqdm bar on a terminal, otherwise one log line every ``every`` steps.

    Shows epoch, running loss, lr, images/s and the ETA of the whole run.
    """

    def __init__(self, epoch: int, epochs: int, steps: int, every: int, enabled: bool) -> None:
        self.epoch, self.epochs, self.steps, self.every = epoch, epochs, steps, max(1, every)
        self.enabled = enabled
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{epochs}", leave=False)

    def update(self, step: int, loss: float, lr: float, images_per_s: float, elapsed: float):
        if not self.enabled:
            return
        done = step + 1
        per_step = elapsed / done
        remaining = (self.steps - done) + (self.epochs - self.epoch - 1) * self.steps
        eta = _fmt_time(per_step * remaining)
        if self.bar is not None:
            self.bar.set_postfix_str(f"loss {loss:.4f} lr {lr:.2e} {images_per_s:.0f} img/s")
            self.bar.update(1)
            self.bar.set_description(f"epoch {self.epoch + 1}/{self.epochs} (ETA {eta})")
        elif done % self.every == 0 or done == self.steps:
            print(
                f"epoch {self.epoch + 1}/{self.epochs} step {done}/{self.steps} "
                + f"loss {loss:.4f} lr {lr:.2e} {images_per_s:.0f} img/s ETA {eta}",
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ---------------------------------------------------------------------------------------------
# The job


class TrainJob(submitit.helpers.Checkpointable):
    """Train ``recipe`` into ``run_dir`` and record the result in ``results_dir``.

    Holds plain data only, so it pickles small. ``resume_from`` is a checkpoint to continue
    from when the run folder has none yet. ``interrupt_at_epoch`` ends the attempt that
    completes that epoch (status ``interrupted``; a later attempt resumes past it), to simulate
    a preemption in tests.
    """

    def __init__(
        self,
        recipe: Recipe,
        run_dir: str | Path,
        results_dir: str | Path,
        data: DataSpec,
        *,
        commit: str | None = None,
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
        self.results_dir = str(Path(results_dir).resolve())
        self.data = data
        self.commit = commit
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
        env = _job_environment()
        if env is None or env.global_rank == 0:
            store.update_record(
                self.results_dir, self.key, status="requeued", requeued_at=store.now()
            )
            print(f"checkpoint(): requeueing {self.key}; resumes from {self.run_dir}/last.pt")
        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)

    def __call__(self) -> dict[str, Any]:
        env = _job_environment()
        _patch_slurm_requeue(env)
        dist = _setup_distributed(env)
        started = time.time()
        try:
            return self._run(env, dist)
        except Exception as exc:
            if _REQUEUEING and not isinstance(exc, submitit.core.utils.UncompletedJobError):
                # Being requeued: Slurm is tearing the step down (data-loader workers die, ...).
                # Exit quietly, so no failure is recorded and no result pickle says "done".
                print(f"exiting for requeue; ignoring {type(exc).__name__}: {exc}", flush=True)
                raise SystemExit(-1) from exc
            if dist.main:
                paths = env.paths if env is not None else None
                store.update_record(
                    self.results_dir,
                    self.key,
                    **self._identity(),
                    status="failed",
                    error=f"{type(exc).__name__}: {exc}",
                    traceback=traceback.format_exc()[-4000:],
                    log_paths=self._log_paths(env),
                    job_id=env.job_id if env is not None else None,
                    finished=store.now(),
                    wall_time_s=round(time.time() - started, 1),
                    submitit_folder=_for_record(paths.folder) if paths else None,
                )
            raise
        finally:
            if dist.world_size > 1 and torch.distributed.is_initialized():
                torch.distributed.destroy_process_group()

    # -----------------------------------------------------------------------------------------

    def _identity(self) -> dict[str, Any]:
        recipe = self.recipe
        return {
            "schema": store.SCHEMA,
            "config": recipe.name,
            "config_key": self.key,
            "model": recipe.model,
            "overrides": dict(recipe.overrides),
            "dataset": recipe.dataset,
            "data": self.data.description,
            "changed": changed_fields(recipe),
            "recipe": recipe.to_dict(),
            "commit": self.commit or store.git_commit(),
            "executor": self.executor,
            "run_dir": _for_record(self.run_dir),
            "table": recipe.table,
            "row": recipe.row,
        }

    @staticmethod
    def _log_paths(env: submitit.JobEnvironment | None) -> dict[str, str] | None:
        if env is None:
            return None
        return {"stdout": _for_record(env.paths.stdout), "stderr": _for_record(env.paths.stderr)}

    def _run(self, env: submitit.JobEnvironment | None, dist: Dist) -> dict[str, Any]:
        recipe = self.recipe
        run_dir = Path(self.run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        started = time.time()

        if recipe.threads > 0:
            torch.set_num_threads(recipe.threads)
        if recipe.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        else:
            torch.backends.cudnn.benchmark = True
        _seed_everything(recipe.seed + dist.rank)

        if self.device == "auto":
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        else:
            device = torch.device(self.device)
        if device.type == "cuda":
            device = torch.device("cuda", dist.local_rank % torch.cuda.device_count())
            torch.cuda.set_device(device)
        use_amp = recipe.amp and device.type == "cuda"

        # Model (and where its weights start).
        import models  # registers the zoo with timm

        classes = recipe.overrides.get("num_classes", num_classes(recipe.dataset))
        if classes != num_classes(recipe.dataset):
            raise ValueError(
                f"{recipe.name}: num_classes={classes} but {recipe.dataset} has "
                + f"{num_classes(recipe.dataset)} classes"
            )
        kwargs = recipe.model_kwargs()
        kwargs["num_classes"] = classes
        kwargs["img_size"] = recipe.img_size
        model = models.create_model(recipe.model, **kwargs)
        params = sum(p.numel() for p in model.parameters())
        resume_path = run_dir / "last.pt"
        if not resume_path.exists() and self.resume_from is not None:
            resume_path = Path(self.resume_from)
        resume = load_checkpoint(resume_path) if resume_path.exists() else None
        if resume is not None:
            check_resume(resume, recipe, resume_path)
        elif self.init_checkpoint is not None:
            _load_init(model, Path(self.init_checkpoint), recipe.init_use_ema)
        model.to(device)

        from timm.data import Mixup, resolve_data_config
        from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
        from timm.optim import create_optimizer_v2
        from timm.scheduler import create_scheduler_v2
        from timm.utils import ModelEmaV3, NativeScaler

        data_config = resolve_data_config(model=model)
        train_set, val_set = build_datasets(recipe, self.data, data_config, self.download)
        train_loader, val_loader = self._loaders(train_set, val_set, dist, device)
        steps = len(train_loader)

        optimizer = create_optimizer_v2(
            _param_groups(model, recipe) if recipe.backbone_lr_scale != 1.0 else model,
            opt=recipe.opt,
            lr=recipe.lr,
            weight_decay=recipe.weight_decay,
            momentum=recipe.momentum,
            filter_bias_and_bn=recipe.filter_bias_and_bn,
        )
        scheduler, total_epochs = create_scheduler_v2(
            optimizer,
            sched=recipe.sched,
            num_epochs=recipe.epochs,
            cooldown_epochs=recipe.cooldown_epochs,
            min_lr=recipe.min_lr,
            warmup_lr=recipe.warmup_lr,
            warmup_epochs=recipe.warmup_epochs,
            step_on_epochs=True,
            updates_per_epoch=steps,
        )
        mixup = None
        if recipe.mixup > 0 or recipe.cutmix > 0:
            mixup = Mixup(
                mixup_alpha=recipe.mixup,
                cutmix_alpha=recipe.cutmix,
                prob=recipe.mixup_prob,
                switch_prob=recipe.mixup_switch_prob,
                label_smoothing=recipe.smoothing,
                num_classes=classes,
            )
            train_loss: nn.Module = SoftTargetCrossEntropy()
        elif recipe.smoothing > 0:
            train_loss = LabelSmoothingCrossEntropy(smoothing=recipe.smoothing)
        else:
            train_loss = nn.CrossEntropyLoss()
        ema = None
        if recipe.model_ema:
            ema = ModelEmaV3(
                model, decay=recipe.model_ema_decay, use_warmup=recipe.model_ema_warmup
            )
        scaler = NativeScaler() if use_amp else None
        net: nn.Module = model
        if dist.world_size > 1:
            net = nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None
            )

        start_epoch, num_updates = 0, 0
        best = {"top1": -1.0, "top5": None, "epoch": None}
        if resume is not None:
            model.load_state_dict(resume["model"])
            if ema is not None and resume.get("model_ema") is not None:
                ema.module.load_state_dict(resume["model_ema"])
            optimizer.load_state_dict(resume["optimizer"])
            scheduler.load_state_dict(resume["scheduler"])
            if scaler is not None and resume.get("scaler") is not None:
                scaler.load_state_dict(resume["scaler"])
            start_epoch, num_updates = int(resume["epoch"]), int(resume["num_updates"])
            best = dict(resume["best"])
            _set_rng_state(resume["rng"][min(dist.rank, len(resume["rng"]) - 1)])
            if dist.main:
                print(f"resumed {self.key} from {resume_path} at epoch {start_epoch}", flush=True)
        metrics_path = run_dir / "metrics.jsonl"
        if dist.main:
            _trim_metrics(metrics_path, start_epoch)

        restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)
        identity = self._identity()
        base = {
            **identity,
            "params": params,
            "epochs_planned": total_epochs,
            "device": _device_name(device),
            "world_size": dist.world_size,
            "global_batch": recipe.batch_size * dist.world_size,
            "amp": use_amp,
            "versions": store.versions(),
            "host": store.host(),
            "job_id": env.job_id if env is not None else None,
            "log_paths": self._log_paths(env),
            "restarts": restarts,
            "checkpoint": _for_record(run_dir / "last.pt"),
            "metrics": _for_record(metrics_path),
            "error": None,
            "traceback": None,
        }
        if dist.main:
            previous = store.load_record(self.results_dir, self.key) or {}
            store.update_record(
                self.results_dir,
                self.key,
                **base,
                status="running",
                started=(previous.get("started") if resume is not None else None) or store.now(),
                epochs=start_epoch,
            )
            print(
                f"training {self.key}: {recipe.model} ({params / 1e6:.2f}M params) on "
                + f"{self.data.description}, {total_epochs} epochs x {steps} steps, "
                + f"batch {recipe.batch_size} x {dist.world_size} on {base['device']}",
                flush=True,
            )

        last_metrics: dict[str, Any] = {}
        for epoch in range(start_epoch, total_epochs):
            if hasattr(train_loader.sampler, "set_epoch"):
                train_loader.sampler.set_epoch(epoch)
            t0 = time.time()
            loss, num_updates, seen = self._train_epoch(
                net, ema, train_loader, train_loss, optimizer, scheduler, scaler, mixup,
                device, use_amp, epoch, total_epochs, num_updates, dist,
            )  # fmt: skip
            epoch_time = time.time() - t0
            evaluated = _evaluate(model, val_loader, device, use_amp, dist)
            line = {
                "epoch": epoch,
                "train_loss": loss,
                "val_loss": evaluated["loss"],
                "top1": evaluated["top1"],
                "top5": evaluated["top5"],
                "lr": optimizer.param_groups[-1]["lr"],
                "images_per_s": seen / epoch_time,
                "epoch_time_s": epoch_time,
            }
            chosen = evaluated
            if ema is not None:
                ema_eval = _evaluate(ema.module, val_loader, device, use_amp, dist)
                line.update(ema_val_loss=ema_eval["loss"], ema_top1=ema_eval["top1"])
                line["ema_top5"] = ema_eval["top5"]
                chosen = ema_eval  # timm's convention: with EMA, the EMA weights are evaluated
            line["eval_top1"], line["eval_top5"] = chosen["top1"], chosen["top5"]
            scheduler.step(epoch + 1, chosen["top1"])
            improved = chosen["top1"] > best["top1"]
            if improved:
                best = {"top1": chosen["top1"], "top5": chosen["top5"], "epoch": epoch}
            rng_states = _gather_rng(dist)
            if dist.main:
                with metrics_path.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(line) + "\n")
                payload = {
                    "format": CHECKPOINT_FORMAT,
                    "config_key": self.key,
                    "model_identity": _model_identity(recipe),
                    "recipe": recipe.to_dict(),
                    "epoch": epoch + 1,
                    "num_updates": num_updates,
                    "model": model.state_dict(),
                    "model_ema": ema.module.state_dict() if ema is not None else None,
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict() if scaler is not None else None,
                    "rng": rng_states,
                    "best": best,
                    "metrics": line,
                }
                _save(run_dir / "last.pt", payload)
                if improved:
                    _save(run_dir / "best.pt", payload)
                print(
                    f"epoch {epoch + 1}/{total_epochs}: train loss {loss:.4f}, val top-1 "
                    + f"{evaluated['top1']:.2f} top-5 {evaluated['top5']:.2f}"
                    + (f", EMA top-1 {line['ema_top1']:.2f}" if ema is not None else "")
                    + f", {line['images_per_s']:.0f} img/s, {epoch_time:.1f} s",
                    flush=True,
                )
                store.update_record(self.results_dir, self.key, epochs=epoch + 1, last_metrics=line)
            last_metrics = line
            if dist.world_size > 1:
                torch.distributed.barrier()
            if epoch + 1 == self.interrupt_at_epoch and epoch + 1 < total_epochs:
                if dist.main:
                    return store.update_record(
                        self.results_dir, self.key, status="interrupted", epochs=epoch + 1
                    )
                return {"status": "interrupted"}

        result: dict[str, Any] = {"status": "completed", "epochs": total_epochs}
        if dist.main:
            history = [json.loads(x) for x in metrics_path.read_text().splitlines() if x.strip()]
            previous = store.load_record(self.results_dir, self.key) or {}
            result = store.update_record(
                self.results_dir,
                self.key,
                **base,
                status="completed",
                epochs=total_epochs,
                top1=best["top1"],
                top5=best["top5"],
                best_epoch=best["epoch"],
                final_top1=last_metrics.get("eval_top1", previous.get("final_top1")),
                final_top5=last_metrics.get("eval_top5", previous.get("final_top5")),
                eval_model="ema" if ema is not None else "model",
                best_checkpoint=_for_record(run_dir / "best.pt"),
                train_images_per_s=round(
                    sum(h["images_per_s"] for h in history) / max(len(history), 1), 1
                ),
                train_time_s=round(sum(h["epoch_time_s"] for h in history), 1),
                attempt_wall_time_s=round(time.time() - started, 1),
                finished=store.now(),
            )
        return result

    def _loaders(
        self, train_set: Dataset, val_set: Dataset, dist: Dist, device: torch.device
    ) -> tuple[DataLoader, DataLoader]:
        recipe = self.recipe
        sampler: Sampler[int]
        if recipe.repeated_aug > 1:
            from timm.data.distributed_sampler import RepeatAugSampler

            sampler = RepeatAugSampler(
                train_set, dist.world_size, dist.rank, num_repeats=recipe.repeated_aug
            )
        else:
            sampler = DistributedSampler(
                train_set, dist.world_size, dist.rank, shuffle=True, seed=recipe.seed
            )
        common = {
            "num_workers": recipe.workers,
            "pin_memory": device.type == "cuda",
            "persistent_workers": recipe.workers > 0,
        }
        train_loader = DataLoader(
            train_set, recipe.batch_size, sampler=sampler, drop_last=True, **common
        )
        if len(train_loader) == 0:
            raise ValueError(
                f"{recipe.name}: {len(train_set)} training samples per process is less than "
                + f"one batch of {recipe.batch_size}"
            )
        val_loader = DataLoader(
            val_set,
            recipe.batch_size,
            sampler=_Shard(len(val_set), dist.rank, dist.world_size),  # type: ignore[arg-type]
            **common,
        )
        return train_loader, val_loader

    def _train_epoch(
        self,
        net: nn.Module,
        ema: Any,
        loader: DataLoader,
        loss_fn: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        scaler: Any,
        mixup: Any,
        device: torch.device,
        use_amp: bool,
        epoch: int,
        total_epochs: int,
        num_updates: int,
        dist: Dist,
    ) -> tuple[float, int, int]:
        recipe = self.recipe
        net.train()
        progress = Progress(epoch, total_epochs, len(loader), recipe.log_every, dist.main)
        loss_sum, count, seen = 0.0, 0, 0
        start = time.time()
        for step, (images, targets) in enumerate(loader):
            images = images.to(device, non_blocking=True)
            targets = targets.to(device, non_blocking=True)
            if mixup is not None:
                images, targets = mixup(images, targets)
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                loss = loss_fn(net(images), targets)
            if not math.isfinite(loss.item()):
                raise FloatingPointError(f"loss is {loss.item()} at epoch {epoch} step {step}")
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler(loss, optimizer, clip_grad=recipe.clip_grad, parameters=net.parameters())
            else:
                loss.backward()
                if recipe.clip_grad is not None:
                    nn.utils.clip_grad_norm_(net.parameters(), recipe.clip_grad)
                optimizer.step()
            num_updates += 1
            scheduler.step_update(num_updates=num_updates)
            if ema is not None:
                ema.update(net.module if isinstance(net, nn.parallel.DistributedDataParallel)
                           else net, step=num_updates)  # fmt: skip
            loss_sum += loss.item() * images.shape[0]
            count += images.shape[0]
            seen += images.shape[0] * dist.world_size
            elapsed = time.time() - start
            lr = optimizer.param_groups[-1]["lr"]
            progress.update(step, loss_sum / count, lr, seen / max(elapsed, 1e-9), elapsed)
        progress.close()
        mean_loss = loss_sum / max(count, 1)
        if dist.world_size > 1:
            mean_loss = _all_reduce_mean(mean_loss, device)
        return mean_loss, num_updates, seen


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _param_groups(model: nn.Module, recipe: Recipe) -> list[dict[str, Any]]:
    """Backbone at ``lr * backbone_lr_scale``, head at ``lr`` (the authors' transfer setup)."""
    head = {id(p) for p in model.get_classifier().parameters()}
    backbone = [p for p in model.parameters() if id(p) not in head]
    classifier = [p for p in model.parameters() if id(p) in head]
    return [
        {"params": backbone, "lr": recipe.lr * recipe.backbone_lr_scale},
        {"params": classifier, "lr": recipe.lr},
    ]


def _load_init(model: nn.Module, path: Path, use_ema: bool) -> None:
    """Start from pretrained weights (EMA if asked and present), re-initialising a new head."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state = checkpoint
    if isinstance(checkpoint, dict):
        if use_ema and checkpoint.get("model_ema") is not None:
            state = checkpoint["model_ema"]
        elif "model" in checkpoint:
            state = checkpoint["model"]
        elif "state_dict" in checkpoint:
            state = checkpoint["state_dict"]
    own = model.state_dict()
    head = model.pretrained_cfg.get("classifier", "head") + "."
    keep = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    missing = sorted(k for k in set(own) - set(keep) if not k.startswith(head))
    if missing:
        raise ValueError(f"init checkpoint {path} does not fit the model; missing: {missing[:8]}")
    model.load_state_dict(keep, strict=False)


@torch.no_grad()
def _evaluate(
    model: nn.Module, loader: DataLoader, device: torch.device, use_amp: bool, dist: Dist
) -> dict[str, float]:
    """Loss, top-1 and top-5 (percent) over the whole validation set (summed across ranks)."""
    model.eval()
    totals = torch.zeros(4, dtype=torch.float64, device=device)  # loss sum, top1, top5, count
    for images, targets in loader:
        images = images.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
            logits = model(images)
        loss = nn.functional.cross_entropy(logits.float(), targets, reduction="sum")
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        hits = top.eq(targets[:, None])
        totals += torch.stack(
            [
                loss.double(),
                hits[:, :1].sum().double(),
                hits.any(dim=1).sum().double(),
                torch.tensor(float(len(targets)), dtype=torch.float64, device=device),
            ]
        )
    if dist.world_size > 1:
        torch.distributed.all_reduce(totals)
    loss_sum, top1, top5, count = totals.tolist()
    count = max(count, 1.0)
    return {"loss": loss_sum / count, "top1": 100 * top1 / count, "top5": 100 * top5 / count}


def _all_reduce_mean(value: float, device: torch.device) -> float:
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(tensor)
    return float(tensor.item()) / torch.distributed.get_world_size()


def _gather_rng(dist: Dist) -> list[dict[str, Any]]:
    """Every rank's RNG state (rank order), so each resumes its own augmentation stream."""
    state = _rng_state()
    if dist.world_size == 1:
        return [state]
    states: list[Any] = [None] * dist.world_size
    torch.distributed.all_gather_object(states, state)
    return states


def _trim_metrics(path: Path, start_epoch: int) -> None:
    """Drop metric lines of epochs that will be trained again (after a preemption)."""
    if not path.exists():
        return
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = [line for line in lines if json.loads(line)["epoch"] < start_epoch]
    if len(kept) != len(lines):
        write_atomic(path, lambda tmp: tmp.write_text("".join(k + "\n" for k in kept)))
