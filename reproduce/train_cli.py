"""``python -m reproduce train CONFIG [options] [key=value ...]``: launch training through submitit.

CONFIG is a config name (``digits``, ``imagenet_dynamixer_s``), a sweep (``table7``: every row
of Table 7, submitted on Slurm as one job array) or a comma-separated list. Everything is
validated before anything is submitted: config names and keys, the data path, the executor,
resume and init checkpoints. ``--dry-run`` prints what would be submitted (for Slurm, the
sbatch script) and needs no cluster. Results land in ``results/runs/<config key>.json``.

The library API the tests and other tools use: `plan` (parse and validate), `describe`
(the dry-run text), `submit` and `wait`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import submitit

from reproduce import recipes as recipes_mod
from reproduce import store
from reproduce.data import DataSpec, check_data
from reproduce.launch import (
    EXECUTORS,
    LOCAL_TIMEOUT_MIN,
    SlurmOptions,
    check_executor,
    make_executor,
    sbatch_script,
)
from reproduce.recipes import Recipe, config_key
from reproduce.train import TrainJob, check_resume, load_checkpoint, resolve_init

__all__ = ["Launch", "Plan", "build_parser", "describe", "main", "plan", "submit", "wait"]

DEFAULT_OUTPUT = store.REPO_ROOT / "runs"


@dataclass
class Launch:
    """One config to run: its recipe, key, job, and why it is skipped (None if it runs)."""

    recipe: Recipe
    key: str
    job: TrainJob
    params: int
    skip: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """Everything a launch will do, validated; nothing submitted yet."""

    request: str
    launches: list[Launch]
    executor: str
    folder: Path
    slurm: SlurmOptions
    results_dir: Path
    output: Path
    dry_run: bool
    wait: bool
    force: bool

    @property
    def to_run(self) -> list[Launch]:
        return [launch for launch in self.launches if launch.skip is None]

    @property
    def job_name(self) -> str:
        return f"mlp-repro:{self.request}"


def build_parser() -> argparse.ArgumentParser:
    """The ``train`` command's arguments."""
    parser = argparse.ArgumentParser(
        prog="python -m reproduce train",
        description="Launch a training config (or a sweep of them) through submitit.",
        epilog="key=value overrides set recipe fields (lr=1e-3, epochs=5) or model overrides "
        + "(reduced_dim=4). --list shows the configs and sweeps.",
    )
    parser.add_argument("config", nargs="?", help="config, sweep, or comma-separated configs")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="recipe/model overrides")
    parser.add_argument("--list", action="store_true", help="list configs and sweeps, then exit")
    parser.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        help="local: a subprocess here (default); debug: in this process, pdb on failure; "
        + "slurm: sbatch",
    )
    parser.add_argument("--data", help="dataset location (ImageNet folder with train/ and val/)")
    parser.add_argument("--download", action="store_true", help="let torchvision fetch CIFAR")
    parser.add_argument("--dry-run", action="store_true", help="print what would be submitted")
    parser.add_argument("--force", action="store_true", help="retrain a completed config")
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs")
    parser.add_argument("--resume", help="checkpoint to resume from (same model variant only)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--results", help="results store (default results/runs)")
    parser.add_argument("--output", help="run folders: checkpoints, metrics (default runs/)")
    parser.add_argument("--logs", help="submitit log folder (default <output>/submitit/%%j)")
    wait = parser.add_mutually_exclusive_group()
    wait.add_argument(
        "--wait", action="store_true", default=None, help="wait for the jobs (local default)"
    )
    wait.add_argument("--no-wait", dest="wait", action="store_false", help="submit and return")
    slurm = parser.add_argument_group("Slurm")
    slurm.add_argument("--partition")
    slurm.add_argument(
        "--gpus-per-node",
        type=int,
        help="default: the recipe's GPUs (digits 0; local: at most those here)",
    )
    slurm.add_argument("--nodes", type=int, default=1)
    slurm.add_argument("--tasks-per-node", type=int, help="default: one per GPU (at least 1)")
    slurm.add_argument("--cpus-per-task", type=int, help="default: data workers + 1")
    slurm.add_argument("--timeout-min", type=int, help="time limit (Slurm default 1440)")
    slurm.add_argument("--constraint")
    slurm.add_argument("--mem-gb", type=float)
    slurm.add_argument("--account")
    slurm.add_argument("--qos")
    slurm.add_argument(
        "--signal-delay-s", type=int, default=90, help="USR2 this long before the time limit"
    )
    slurm.add_argument(
        "--max-num-timeout", type=int, default=20, help="requeues allowed after time limits"
    )
    return parser


def _list_text() -> str:
    lines = ["configs:"]
    for name, recipe in recipes_mod.RECIPES.items():
        lines.append(f"  {name:<28} {recipe.model:<17} {recipe.dataset:<9} {recipe.source}")
    lines.append("aliases (same run):")
    lines += [f"  {a:<28} -> {b}" for a, b in recipes_mod.ALIASES.items()]
    lines.append("sweeps:")
    lines += [f"  {s:<28} {', '.join(n)}" for s, n in recipes_mod.SWEEPS.items()]
    return "\n".join(lines)


def _count_params(recipe: Recipe) -> int:
    """Build the model on the meta device (no memory, no init cost) to validate its overrides."""
    import torch

    import models
    from reproduce.data import num_classes

    kwargs = recipe.model_kwargs()
    kwargs.setdefault("num_classes", num_classes(recipe.dataset))
    kwargs["img_size"] = recipe.img_size
    try:
        with torch.device("meta"):
            model = models.create_model(recipe.model, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"config {recipe.name!r}: model {recipe.model!r} rejects it: {exc}") from (
            exc
        )
    return sum(p.numel() for p in model.parameters())


# Slurm options taken from the command line as given; the others default from the recipes.
_SLURM_AS_GIVEN = (
    "partition",
    "nodes",
    "constraint",
    "signal_delay_s",
    "mem_gb",
    "account",
    "qos",
    "max_num_timeout",
)


def _slurm_options(args: argparse.Namespace, recipes: list[Recipe]) -> SlurmOptions:
    gpus = args.gpus_per_node
    if gpus is None:
        gpus = max(0 if r.dataset == "digits" else r.paper_gpus for r in recipes)
        if args.executor != "slurm":  # here: as many of the recipe's GPUs as this machine has
            import torch

            gpus = min(gpus, torch.cuda.device_count())
    tasks = args.tasks_per_node if args.tasks_per_node is not None else max(1, gpus)
    cpus = args.cpus_per_task if args.cpus_per_task is not None else max(
        r.workers + 1 for r in recipes
    )  # fmt: skip
    timeout = args.timeout_min
    if timeout is None:
        timeout = 24 * 60 if args.executor == "slurm" else LOCAL_TIMEOUT_MIN
    return SlurmOptions(
        gpus_per_node=gpus,
        tasks_per_node=tasks,
        cpus_per_task=cpus,
        timeout_min=timeout,
        **{name: getattr(args, name) for name in _SLURM_AS_GIVEN},
    )


_SLURM_ACTIVE = ("PENDING", "RUNNING", "REQUEUED", "SUSPENDED", "CONFIGURING", "COMPLETING")


def _job_alive(record: dict[str, Any]) -> tuple[bool, str]:
    """Whether the job behind an active record still exists, and what is known about it."""
    job_id = record.get("job_id")
    if record.get("executor") == "slurm" and job_id and shutil.which("sacct"):
        query = ["sacct", "-n", "-X", "-P", "-o", "State", "-j", str(job_id)]
        states = subprocess.run(query, capture_output=True, text=True, check=False).stdout.split()
        if not states:
            return True, "unknown to sacct"  # accounting lag or another cluster: assume alive
        state = states[-1]
        return state.split()[0] in _SLURM_ACTIVE, f"Slurm state {state}"
    pid = (record.get("host") or {}).get("pid")
    same_host = (record.get("host") or {}).get("hostname") == store.host()["hostname"]
    if record.get("executor") in ("local", "debug") and pid and same_host:
        return Path(f"/proc/{pid}").exists(), f"process {pid}"
    return True, "no way to check"


def _mark_ended(
    results_dir: Path, key: str, status: str, error: str, **fields: Any
) -> dict[str, Any]:
    """Record that the job for ``key`` ended in ``status`` (it could not say so itself), and why."""
    return store.update_record(
        results_dir, key, status=status, error=error, **fields, finished=store.now()
    )


def _reconcile(results_dir: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Mark a record 'failed' if its job is gone without saying so (killed, OOM, node lost)."""
    alive, what = _job_alive(record)
    if alive:
        return record
    logs = record.get("log_paths") or {}
    why = f"job {record.get('job_id')} ended without a result ({what}); see {logs}"
    return _mark_ended(results_dir, record["config_key"], "failed", why)


def plan(argv: list[str]) -> Plan:
    """Parse ``argv`` and validate every config, path and option; submit nothing.

    Raises ValueError, FileNotFoundError or RuntimeError (missing Slurm) with a clear message.
    """
    args = build_parser().parse_args(argv)
    if not args.config:
        raise ValueError("no config given; run with --list to see the names")
    overrides = recipes_mod.parse_overrides(args.overrides)
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    names = recipes_mod.expand(args.config)
    resolved = [recipes_mod.resolve(name, overrides) for name in names]
    if len(resolved) > 1 and args.resume:
        raise ValueError("--resume names one checkpoint; give a single config, not a sweep")
    if not args.dry_run:
        check_executor(args.executor)
    results_dir = Path(args.results).resolve() if args.results else store.default_results_dir()
    output = Path(args.output).resolve() if args.output else DEFAULT_OUTPUT
    folder = Path(args.logs).resolve() if args.logs else output / "submitit" / "%j"
    if "%j" not in str(folder):
        folder = folder / "%j"
    slurm = _slurm_options(args, resolved)
    wait = args.wait if args.wait is not None else args.executor != "slurm"
    commit = store.git_commit()
    launches = []
    for recipe in resolved:
        warnings: list[str] = []
        try:
            spec = check_data(recipe.dataset, args.data, args.download)
        except (FileNotFoundError, ValueError) as exc:
            if not args.dry_run:
                raise
            warnings.append(f"would fail: {exc}")
            spec = DataSpec(recipe.dataset, args.data, f"{recipe.dataset} at {args.data}")
        params = _count_params(recipe)
        key = config_key(recipe)
        run_dir = output / key
        if args.resume:
            check_resume(load_checkpoint(args.resume), recipe, args.resume)
        if (run_dir / "last.pt").exists():
            check_resume(load_checkpoint(run_dir / "last.pt"), recipe, run_dir / "last.pt")
        init = None
        try:
            init = resolve_init(recipe, results_dir)
        except FileNotFoundError as exc:
            if not args.dry_run:
                raise
            warnings.append(f"would fail: {exc}")
        skip = None
        record = store.load_record(results_dir, key)
        if record is not None and not args.force:
            if record.get("status") == "completed":
                skip = (
                    f"already completed (top-1 {record.get('top1')}) in "
                    + f"{store.record_path(results_dir, key)}; --force retrains it"
                )
            elif record.get("status") in store.ACTIVE and not args.dry_run:
                record = _reconcile(results_dir, record)
            if record.get("status") in store.ACTIVE:
                skip = (
                    f"already {record['status']} (job {record.get('job_id')}); "
                    + "--force launches it again"
                )
        job = TrainJob(
            recipe,
            run_dir,
            results_dir,
            spec,
            commit=commit,
            executor=args.executor,
            device=args.device,
            download=args.download,
            resume_from=args.resume,
            init_checkpoint=init,
        )
        launches.append(Launch(recipe, key, job, params, skip, warnings))
    return Plan(
        request=args.config,
        launches=launches,
        executor=args.executor,
        folder=folder,
        slurm=slurm,
        results_dir=results_dir,
        output=output,
        dry_run=args.dry_run,
        wait=wait,
        force=args.force,
    )


def describe(the_plan: Plan) -> str:
    """What `submit` would do, for ``--dry-run``: each config's settings and the submission."""
    lines = []
    slurm = the_plan.slurm
    for launch in the_plan.launches:
        recipe = launch.recipe
        world = slurm.num_tasks
        cooldown = f" + {recipe.cooldown_epochs} cooldown" if recipe.cooldown_epochs else ""
        lines += [
            f"config {recipe.name} (key {launch.key})",
            f"  source:    {recipe.source}",
            f"  model:     {recipe.model} {json.dumps(recipe.overrides)} "
            + f"{launch.params / 1e6:.2f}M params, drop path {recipe.drop_path}",
            f"  data:      {launch.job.data.description}, {recipe.img_size}px, "
            + f"crop_pct {recipe.crop_pct}",
            f"  schedule:  {recipe.epochs}{cooldown} epochs, {recipe.opt} lr {recipe.lr:g} "
            + f"wd {recipe.weight_decay:g}, {recipe.sched} to {recipe.min_lr:g}, "
            + f"{recipe.warmup_epochs} warm-up epochs from {recipe.warmup_lr:g}",
            f"  batch:     {recipe.batch_size} per process x {world} processes = "
            + f"{recipe.batch_size * world} (recipe: {recipe.batch_size} x {recipe.paper_gpus} "
            + f"= {recipe.global_batch})",
            f"  augment:   {recipe.augment} aa={recipe.auto_augment} mixup {recipe.mixup} "
            + f"cutmix {recipe.cutmix} smoothing {recipe.smoothing} reprob {recipe.reprob} "
            + f"({recipe.remode}) repeated-aug {recipe.repeated_aug}",
            f"  other:     EMA {recipe.model_ema} ({recipe.model_ema_decay}), AMP {recipe.amp}, "
            + f"seed {recipe.seed}, deterministic {recipe.deterministic}",
            f"  run dir:   {launch.job.run_dir}",
            f"  result:    {store.record_path(the_plan.results_dir, launch.key)}",
        ]
        if recipe.init_from:
            lines.append(
                f"  init:      {launch.job.init_checkpoint or recipe.init_from} "
                + f"(EMA {recipe.init_use_ema}, backbone lr x{recipe.backbone_lr_scale:g})"
            )
        changed = recipes_mod.changed_fields(recipe)
        if changed:
            lines.append(f"  overrides: {json.dumps(changed, default=str)}")
        if world != recipe.paper_gpus and recipe.dataset != "digits":
            lines.append(
                f"  note:      {world} processes where the recipe assumes {recipe.paper_gpus}; "
                + "the global batch differs and the lr is not rescaled"
            )
        lines += [f"  WARNING:   {w}" for w in launch.warnings]
        lines.append(f"  SKIP:      {launch.skip}" if launch.skip else "  submit:    yes")
    to_run = the_plan.to_run
    lines.append("")
    if not to_run:
        lines.append("nothing to submit")
    elif the_plan.executor == "slurm":
        kind = f"a job array of {len(to_run)}" if len(to_run) > 1 else "one job"
        lines.append(f"would submit {kind} to Slurm with this sbatch script:")
        lines.append(
            sbatch_script(the_plan.folder, the_plan.job_name, slurm, array_size=len(to_run))
        )
    else:
        lines.append(
            f"would run {len(to_run)} job(s) one after another with the {the_plan.executor} "
            + f"executor ({slurm.num_tasks} process(es) each), logs in {the_plan.folder}"
        )
    return "\n".join(lines)


def _submitted_record(the_plan: Plan, launch: Launch) -> dict[str, Any]:
    job = launch.job
    return {
        **job._identity(),
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
    store.write_record(the_plan.results_dir, {**record, "updated": store.now()})


def _log_paths(job: submitit.Job) -> dict[str, str]:
    """Where submitit writes the job's stdout and stderr, as the results record keeps them."""
    return {"stdout": str(job.paths.stdout), "stderr": str(job.paths.stderr)}


def _note_job(the_plan: Plan, launch: Launch, job: submitit.Job) -> None:
    """Record the job id and log paths (unless the job already moved past 'submitted')."""
    record = store.load_record(the_plan.results_dir, launch.key) or {}
    if record.get("status") == "submitted":
        store.update_record(
            the_plan.results_dir,
            launch.key,
            job_id=str(job.job_id),
            log_paths=_log_paths(job),
        )


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
    jobs = []
    for launch in to_run:
        job = executor.submit(launch.job)
        _note_job(the_plan, launch, job)
        print(f"running {launch.key} ({the_plan.executor} job {job.job_id}): {job.paths.stdout}")
        jobs.append(job)
        if len(to_run) > 1:
            wait(the_plan, [job], launches=[launch])
    return jobs


def wait(
    the_plan: Plan,
    jobs: list[submitit.Job],
    launches: list[Launch] | None = None,
    poll_s: float = 2.0,
) -> list[dict[str, Any]]:
    """Wait for ``jobs``; record cancellations and deaths the job itself could not record."""
    launches = launches if launches is not None else the_plan.to_run
    results = []
    for launch, job in zip(launches, jobs, strict=True):
        while the_plan.executor != "debug" and not job.done():  # a debug job runs in result()
            time.sleep(poll_s)
        state = str(job.state)
        error = ""
        if not state.upper().startswith("CANCELLED"):  # result() would wait for a pickle
            try:
                results.append(job.results()[0])  # rank 0's (one per task under DDP)
                continue
            except Exception as exc:  # submitit raises several types; all end the same here
                error = f"{type(exc).__name__}: {exc}"
                state = str(job.state)
        record = store.load_record(the_plan.results_dir, launch.key) or {}
        log_paths = _log_paths(job)
        if state.upper().startswith("CANCELLED"):
            why = f"job {job.job_id} {state}"
            record = _mark_ended(
                the_plan.results_dir, launch.key, "cancelled", why, log_paths=log_paths
            )
        elif record.get("status") == "failed":
            if not record.get("log_paths"):
                record = store.update_record(the_plan.results_dir, launch.key, log_paths=log_paths)
        else:
            why = f"job {job.job_id} ended in state {state}: {error[-2000:]}"
            record = _mark_ended(
                the_plan.results_dir, launch.key, "failed", why, log_paths=log_paths
            )
        results.append(record)
    return results


def _summary(results: list[dict[str, Any]], results_dir: Path) -> str:
    lines = []
    for record in results:
        top1 = record.get("top1")
        score = f"top-1 {top1:.2f}" if isinstance(top1, float) else ""
        error = f" ({record.get('error')})" if record.get("error") else ""
        key = record.get("config_key", "?")
        lines.append(
            f"{key}: {record.get('status')} {score}{error} -> {store.record_path(results_dir, key)}"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Entry point of ``python -m reproduce train``; returns the exit status."""
    if "--list" in argv:
        print(_list_text())
        return 0
    try:
        the_plan = plan(argv)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if the_plan.dry_run:
        print(describe(the_plan))
        return 0
    for launch in the_plan.launches:
        if launch.skip:
            print(f"skip {launch.key}: {launch.skip}")
    jobs = submit(the_plan)
    if not jobs:
        return 0
    if not the_plan.wait:
        print(f"submitted {len(jobs)} job(s); results will appear in {the_plan.results_dir}")
        return 0
    if len(the_plan.to_run) > 1 and the_plan.executor != "slurm":
        results = [store.load_record(the_plan.results_dir, x.key) or {} for x in the_plan.to_run]
    else:
        results = wait(the_plan, jobs)
    print(_summary(results, the_plan.results_dir))
    return 0 if all(r.get("status") == "completed" for r in results) else 1
