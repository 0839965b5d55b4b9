"""What a launch will do, checked before anything is submitted: `plan` and its dry-run `describe`.

`plan` turns `LaunchOptions` (what ``python -m reproduce train`` was asked) into a `Plan`: every
config resolved, its data path, model overrides, resume and init checkpoints checked, and a
`TrainJob` built for each config that is not already done or running. A user's mistake raises
ValueError, FileNotFoundError or RuntimeError (no Slurm) naming the bad value. `describe` is
the ``--dry-run`` text; `reproduce.training.submission` submits a plan and waits for it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import models
from common.files import REPO_ROOT
from common.launch import LOCAL_TIMEOUT_MIN, SlurmOptions, check_executor, sbatch_script
from reproduce.training import store
from reproduce.training.checkpoints import check_resume, read_training_checkpoint, resolve_init
from reproduce.training.data import DataSpec, check_data
from reproduce.training.job import TrainJob
from reproduce.training.overrides import changed_fields, config_key, parse_overrides, resolve
from reproduce.training.recipe import Recipe, accumulation_steps
from reproduce.training.recipes import expand, model_arguments

__all__ = [
    "DEFAULT_OUTPUT",
    "Launch",
    "LaunchOptions",
    "Plan",
    "count_parameters",
    "describe",
    "plan",
]

#: Run folders (checkpoints, metrics, submitit logs) unless ``--output`` says otherwise.
DEFAULT_OUTPUT = REPO_ROOT / "runs"


@dataclass(frozen=True)
class LaunchOptions:
    """What a launch was asked: the ``train`` command's options, one field each.

    ``config`` is a config, a sweep or a comma-separated list; ``overrides`` are ``key=value``
    words. The Slurm fields left None default from the recipes (`plan`).
    """

    config: str | None = None
    overrides: Sequence[str] = ()
    executor: str = "local"
    data: str | None = None
    download: bool = False
    dry_run: bool = False
    force: bool = False
    epochs: int | None = None
    resume: str | None = None
    device: str = "auto"
    runs_dir: str | None = None
    output: str | None = None
    logs: str | None = None
    wait: bool | None = None  # None: wait unless the executor is Slurm
    partition: str | None = None
    gpus_per_node: int | None = None
    nodes: int = 1
    tasks_per_node: int | None = None
    cpus_per_task: int | None = None
    timeout_min: int | None = None
    constraint: str | None = None
    mem_gb: float | None = None
    account: str | None = None
    qos: str | None = None
    signal_delay_s: int = 90
    max_num_timeout: int = 20


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
    runs_dir: Path
    output: Path
    dry_run: bool
    wait: bool
    force: bool

    @property
    def to_run(self) -> list[Launch]:
        """The launches that are not skipped."""
        return [launch for launch in self.launches if launch.skip is None]

    @property
    def job_name(self) -> str:
        """The name submitit (and Slurm) gives the jobs."""
        return f"mlp-repro:{self.request}"


def count_parameters(recipe: Recipe) -> int:
    """Build the model on the meta device (no memory, no init cost) to validate its overrides."""
    try:
        with torch.device("meta"):
            model = models.create_model(recipe.model, **model_arguments(recipe))
    except (TypeError, ValueError) as exc:
        message = f"config {recipe.name!r}: model {recipe.model!r} rejects it: {exc}"
        raise ValueError(message) from exc
    return sum(p.numel() for p in model.parameters())


# Slurm options taken as given; the others default from the recipes.
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


def _slurm_options(options: LaunchOptions, recipes: list[Recipe]) -> SlurmOptions:
    gpus = options.gpus_per_node
    if gpus is None:
        gpus = max(0 if r.dataset == "digits" else r.paper_gpus for r in recipes)
        if options.executor != "slurm":  # here: as many of the recipe's GPUs as this machine has
            gpus = min(gpus, torch.cuda.device_count())
    tasks = options.tasks_per_node if options.tasks_per_node is not None else max(1, gpus)
    cpus = options.cpus_per_task
    if cpus is None:
        cpus = max(r.workers + 1 for r in recipes)
    timeout = options.timeout_min
    if timeout is None:
        timeout = 24 * 60 if options.executor == "slurm" else LOCAL_TIMEOUT_MIN
    return SlurmOptions(
        gpus_per_node=gpus,
        tasks_per_node=tasks,
        cpus_per_task=cpus,
        timeout_min=timeout,
        **{name: getattr(options, name) for name in _SLURM_AS_GIVEN},
    )


def _resolve_recipes(options: LaunchOptions) -> list[Recipe]:
    if not options.config:
        raise ValueError("no config given; run with --list to see the names")
    overrides = parse_overrides(list(options.overrides))
    if options.epochs is not None:
        overrides["epochs"] = options.epochs
    recipes = [resolve(name, overrides) for name in expand(options.config)]
    if len(recipes) > 1 and options.resume:
        raise ValueError("--resume names one checkpoint; give a single config, not a sweep")
    return recipes


def _skip_reason(options: LaunchOptions, runs_dir: Path, key: str) -> str | None:
    """Why ``key`` is not launched again (done, or still running), or None to launch it."""
    record = store.load_record(runs_dir, key)
    if record is None or options.force:
        return None
    if record.get("status") == "completed":
        return (
            f"already completed (top-1 {record.get('top1')}) in "
            + f"{store.record_path(runs_dir, key)}; --force retrains it"
        )
    if record.get("status") in store.ACTIVE and not options.dry_run:
        record = store.reconcile(runs_dir, record)
    if record.get("status") in store.ACTIVE:
        return f"already {record['status']} (job {record.get('job_id')}); --force launches it again"
    return None


def _plan_launch(
    options: LaunchOptions,
    recipe: Recipe,
    runs_dir: Path,
    output: Path,
    source: dict[str, Any],
    processes: int,
) -> Launch:
    """Check one config's data, model, batch, checkpoints and record; its job."""
    warnings: list[str] = []
    accumulation = accumulation_steps(recipe, processes)  # ValueError: no whole number of steps
    reached = recipe.batch_size * processes * accumulation
    if reached != recipe.global_batch:
        warnings.append(
            f"batch_size {recipe.batch_size} x {processes} process(es) x {accumulation} "
            + f"accumulation step(s) make a global batch of {reached}, not the recipe's "
            + f"{recipe.global_batch}: no table will take the run"
        )
    try:
        spec = check_data(recipe.dataset, options.data, options.download)
    except (FileNotFoundError, ValueError) as exc:
        if not options.dry_run:
            raise
        warnings.append(f"would fail: {exc}")
        spec = DataSpec(recipe.dataset, options.data, f"{recipe.dataset} at {options.data}")
    params = count_parameters(recipe)
    key = config_key(recipe)
    run_dir = output / key
    if options.resume:
        check_resume(read_training_checkpoint(options.resume), recipe, options.resume)
    if (run_dir / "last.pt").exists():
        check_resume(read_training_checkpoint(run_dir / "last.pt"), recipe, run_dir / "last.pt")
    init = None
    try:
        init = resolve_init(recipe, runs_dir)
    except FileNotFoundError as exc:
        if not options.dry_run:
            raise
        warnings.append(f"would fail: {exc}")
    skip = _skip_reason(options, runs_dir, key)
    job = TrainJob(
        recipe,
        run_dir,
        runs_dir,
        spec,
        commit=source["commit"],
        tree_dirty=source["tree_dirty"],
        executor=options.executor,
        device=options.device,
        download=options.download,
        resume_from=options.resume,
        init_checkpoint=init,
    )
    return Launch(recipe, key, job, params, skip, warnings)


def plan(options: LaunchOptions) -> Plan:
    """Validate every config, path and option of a launch; submit nothing.

    Raises ValueError, FileNotFoundError or RuntimeError (missing Slurm) with a clear message.
    """
    recipes = _resolve_recipes(options)
    if not options.dry_run:
        check_executor(options.executor)
    runs_dir = Path(options.runs_dir).resolve() if options.runs_dir else store.DEFAULT_RUNS_DIR
    output = Path(options.output).resolve() if options.output else DEFAULT_OUTPUT
    folder = Path(options.logs).resolve() if options.logs else output / "submitit" / "%j"
    if "%j" not in str(folder):
        folder = folder / "%j"
    slurm = _slurm_options(options, recipes)
    source = store.git_state()
    return Plan(
        request=options.config or "",
        launches=[
            _plan_launch(options, r, runs_dir, output, source, slurm.num_tasks) for r in recipes
        ],
        executor=options.executor,
        folder=folder,
        slurm=slurm,
        runs_dir=runs_dir,
        output=output,
        dry_run=options.dry_run,
        wait=options.wait if options.wait is not None else options.executor != "slurm",
        force=options.force,
    )


def _describe_launch(the_plan: Plan, launch: Launch) -> list[str]:
    recipe, world = launch.recipe, the_plan.slurm.num_tasks
    cooldown = f" + {recipe.cooldown_epochs} cooldown" if recipe.cooldown_epochs else ""
    lines = [
        f"config {recipe.name} (key {launch.key})",
        f"  source:    {recipe.source}",
        f"  model:     {recipe.model} {json.dumps(recipe.overrides)} "
        + f"{launch.params / 1e6:.2f}M params, drop path {recipe.drop_path}",
        f"  data:      {launch.job.data.description}, {recipe.img_size}px, "
        + f"crop_pct {recipe.crop_pct}",
        f"  schedule:  {recipe.epochs}{cooldown} epochs, {recipe.opt} lr {recipe.lr:g} "
        + f"wd {recipe.weight_decay:g}, {recipe.sched} to {recipe.min_lr:g}, "
        + f"{recipe.warmup_epochs} warm-up epochs from {recipe.warmup_lr:g}",
        f"  batch:     {recipe.batch_size} per process x {world} processes x "
        + f"{accumulation_steps(recipe, world)} accumulation steps = "
        + f"{recipe.batch_size * world * accumulation_steps(recipe, world)} "
        + f"(recipe's global batch: {recipe.global_batch}, on {recipe.paper_gpus} GPUs)",
        f"  augment:   {recipe.augment} aa={recipe.auto_augment} mixup {recipe.mixup} "
        + f"cutmix {recipe.cutmix} smoothing {recipe.smoothing} reprob {recipe.reprob} "
        + f"({recipe.remode}) repeated-aug {recipe.repeated_aug}",
        f"  other:     EMA {recipe.model_ema} ({recipe.model_ema_decay}), AMP {recipe.amp}, "
        + f"seed {recipe.seed}, deterministic {recipe.deterministic}",
        f"  run dir:   {launch.job.run_dir}",
        f"  result:    {store.record_path(the_plan.runs_dir, launch.key)}",
    ]
    if recipe.init_from:
        lines.append(
            f"  init:      {launch.job.init_checkpoint or recipe.init_from} "
            + f"(EMA {recipe.init_use_ema}, backbone lr x{recipe.backbone_lr_scale:g}, "
            + f"frozen: {', '.join(recipe.frozen_modules) or 'nothing'})"
        )
    changed = changed_fields(recipe)
    if changed:
        lines.append(f"  overrides: {json.dumps(changed, default=str)}")
    lines += [f"  WARNING:   {w}" for w in launch.warnings]
    lines.append(f"  SKIP:      {launch.skip}" if launch.skip else "  submit:    yes")
    return lines


def describe(the_plan: Plan) -> str:
    """What submitting would do, for ``--dry-run``: each config's settings and the submission."""
    lines = [line for launch in the_plan.launches for line in _describe_launch(the_plan, launch)]
    to_run, slurm = the_plan.to_run, the_plan.slurm
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
