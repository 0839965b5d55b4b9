"""``python -m reproduce train CONFIG [options] [key=value ...]``: launch training through submitit.

CONFIG is a config name (``digits``, ``imagenet_dynamixer_s``), a sweep (``table7``: every row
of Table 7, submitted on Slurm as one job array) or a comma-separated list. Everything is
validated before anything is submitted: config names and keys, the data path, the executor,
resume and init checkpoints. ``--dry-run`` prints what would be submitted (for Slurm, the
sbatch script) and needs no cluster. Results land in ``results/runs/<config key>.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from common.launch import EXECUTORS
from reproduce.commands.errors import USER_ERRORS, checked, fail
from reproduce.training import store
from reproduce.training.plan import LaunchOptions, describe, plan
from reproduce.training.recipes import ALIASES, RECIPES, SWEEPS
from reproduce.training.submission import submit, wait

__all__ = ["main", "make_parser", "parse_options"]

PROG = "python -m reproduce train"
_DEFAULTS = LaunchOptions()


def make_parser() -> argparse.ArgumentParser:
    """The ``train`` command's arguments (defaults: `LaunchOptions`'s)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
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
        default=_DEFAULTS.executor,
        help="local: a subprocess here (default); debug: in this process, pdb on failure; "
        + "slurm: sbatch",
    )
    parser.add_argument("--data", help="dataset location (ImageNet folder with train/ and val/)")
    parser.add_argument("--download", action="store_true", help="let torchvision fetch CIFAR")
    parser.add_argument("--dry-run", action="store_true", help="print what would be submitted")
    parser.add_argument("--force", action="store_true", help="retrain a completed config")
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs")
    parser.add_argument("--resume", help="checkpoint to resume from (same model variant only)")
    parser.add_argument("--device", default=_DEFAULTS.device, choices=("auto", "cpu", "cuda"))
    parser.add_argument("--runs-dir", help="results store (default results/runs)")
    parser.add_argument("--output", help="run folders: checkpoints, metrics (default runs/)")
    parser.add_argument("--logs", help="submitit log folder (default <output>/submitit/%%j)")
    wait_group = parser.add_mutually_exclusive_group()
    wait_group.add_argument(
        "--wait", action="store_true", default=None, help="wait for the jobs (local default)"
    )
    wait_group.add_argument(
        "--no-wait", dest="wait", action="store_false", help="submit and return"
    )
    _add_slurm_arguments(parser)
    return parser


def _add_slurm_arguments(parser: argparse.ArgumentParser) -> None:
    slurm = parser.add_argument_group("Slurm")
    slurm.add_argument("--partition")
    slurm.add_argument(
        "--gpus-per-node",
        type=int,
        help="default: the recipe's GPUs (digits 0; local: at most those here)",
    )
    slurm.add_argument("--nodes", type=int, default=_DEFAULTS.nodes)
    slurm.add_argument("--tasks-per-node", type=int, help="default: one per GPU (at least 1)")
    slurm.add_argument("--cpus-per-task", type=int, help="default: data workers + 1")
    slurm.add_argument("--timeout-min", type=int, help="time limit (Slurm default 1440)")
    slurm.add_argument("--constraint")
    slurm.add_argument("--mem-gb", type=float)
    slurm.add_argument("--account")
    slurm.add_argument("--qos")
    slurm.add_argument(
        "--signal-delay-s",
        type=int,
        default=_DEFAULTS.signal_delay_s,
        help="USR2 this long before the time limit",
    )
    slurm.add_argument(
        "--max-num-timeout",
        type=int,
        default=_DEFAULTS.max_num_timeout,
        help="requeues allowed after time limits",
    )


def parse_options(argv: list[str], parser: argparse.ArgumentParser | None = None) -> LaunchOptions:
    """The launch ``argv`` asks for (argparse's error and exit status 2 on a bad option)."""
    arguments = vars((parser or make_parser()).parse_intermixed_args(argv))  # key=value anywhere
    del arguments["list"]
    return LaunchOptions(**arguments)


def _list_text() -> str:
    lines = ["configs:"]
    for name, recipe in RECIPES.items():
        lines.append(f"  {name:<28} {recipe.model:<17} {recipe.dataset:<9} {recipe.source}")
    lines.append("aliases (same run):")
    lines += [f"  {alias:<28} -> {name}" for alias, name in ALIASES.items()]
    lines.append("sweeps:")
    lines += [f"  {sweep:<28} {', '.join(names)}" for sweep, names in SWEEPS.items()]
    return "\n".join(lines)


def _summary(results: list[dict[str, Any]], runs_dir: Path) -> str:
    lines = []
    for record in results:
        top1 = record.get("top1")
        score = f"top-1 {top1:.2f}" if isinstance(top1, float) else ""
        error = f" ({record.get('error')})" if record.get("error") else ""
        key = record.get("config_key", "?")
        path = store.record_path(runs_dir, key)
        lines.append(f"{key}: {record.get('status')} {score}{error} -> {path}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Entry point of ``python -m reproduce train``; returns the exit status.

    0: every job completed (or nothing was left to run); 1: a job did not complete; 2: a
    user's mistake (argparse's error while the options are checked, one line later on).
    """
    if "--list" in argv:
        print(_list_text())
        return 0
    parser = make_parser()
    options = parse_options(argv, parser)
    the_plan = checked(parser, lambda: plan(options))
    if the_plan.dry_run:
        print(describe(the_plan))
        return 0
    for launch in the_plan.launches:
        if launch.skip:
            print(f"skip {launch.key}: {launch.skip}")
    try:
        jobs = submit(the_plan)
    except USER_ERRORS as error:  # sbatch refused the job (a bad partition, account, ...)
        fail(PROG, str(error))
    if not jobs:
        return 0
    if not the_plan.wait:
        print(f"submitted {len(jobs)} job(s); results will appear in {the_plan.runs_dir}")
        return 0
    if len(the_plan.to_run) > 1 and the_plan.executor != "slurm":
        results = [store.load_record(the_plan.runs_dir, x.key) or {} for x in the_plan.to_run]
    else:
        results = wait(the_plan, jobs)
    print(_summary(results, the_plan.runs_dir))
    return 0 if all(r.get("status") == "completed" for r in results) else 1
