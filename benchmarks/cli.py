"""``python -m benchmarks MODEL [MODEL ...]``: time zoo or timm models side by side, write a CSV.

Every option and name is checked before anything is built (argparse's error, exit 2); then
the models are counted, timed interleaved by the one timing engine, and written as one CSV with
timm's ``benchmark.py`` column names plus the provenance. This package knows nothing of the
paper: the paper's zoo table is ``python -m reproduce mlp-zoo``, built on this.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pandas as pd
import torch

from benchmarks.launching import run_array, status_counts
from benchmarks.records import ModelSpec
from benchmarks.resume import held_rows, print_interrupted, raise_interrupt_on_sigterm
from benchmarks.rows import sweep_frame
from benchmarks.settings import (
    COMPILE_MODES,
    DEFAULT_ROUNDS,
    DEVICES,
    LATENCY_ROUNDS,
    Rounds,
    ThroughputSettings,
    emulated_bf16_warning,
    rounds_on,
    validate,
)
from benchmarks.suite import (
    input_size_of,
    note,
    select_models,
)
from benchmarks.sweep import DEFAULT_GROUP_SIZE, STATUS_OK, Sweep, run_sweep
from common.files import REPO_ROOT, RESULTS_DIR, write_text_atomic
from common.launch import SlurmOptions, add_launch_options, slurm_from_args
from common.precision import AMP_DEVICES, AMP_DTYPES

__all__ = [
    "BENCHES",
    "Options",
    "add_timing_options",
    "fail",
    "main",
    "make_parser",
    "parse_options",
    "results_file_name",
    "settings_from_args",
    "summary_frame",
]

PROG = "python -m benchmarks"
DEFAULT_SWEEP = Sweep()
DEFAULT_LOG_DIR = REPO_ROOT / "runs" / "benchmarks"
#: What ``--bench`` accepts (timm's names): which steps are timed. ``latency`` is inference at
#: batch 1 with many timed calls (per-call median, p90, p99 in ms).
BENCHES = {
    "inference": ("inference",),
    "train": ("train",),
    "both": ("inference", "train"),
    "latency": ("inference",),
}
# Warm-up runs at the timed batch by default: a smaller warm-up batch leaves the new shape's
# first-call costs in the first timed round (measured: README, "Measurement notes").


@dataclass(frozen=True)
class Options:
    """The parsed command line."""

    specs: tuple[ModelSpec, ...]
    input_sizes: dict[str, tuple[int, int, int]]
    settings: ThroughputSettings
    steps: tuple[str, ...]
    results_file: Path
    sweep: Sweep = DEFAULT_SWEEP
    resume: Path | None = None
    executor: str = "local"
    slurm: SlurmOptions | None = None
    log_dir: Path = DEFAULT_LOG_DIR


def add_timing_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    rounds: Rounds,
    batch_size: int | None,
    batch_help: str = "",
) -> None:
    """The options every timing command shares: device, precision, compile, layout, batch and
    rounds (``rounds``: the default (warm-up, timed) rounds per device type; ``batch_size``
    None leaves the batch to the command, which ``batch_help`` then describes)."""
    parser.add_argument("--device", default="cpu", help=f"{' or '.join(DEVICES)} (or cuda:N)")
    parser.add_argument(
        "--amp",
        nargs="?",
        const="bf16",
        choices=sorted(AMP_DTYPES),
        default=None,
        help="autocast dtype (default: fp32; --amp alone: bf16); "
        + "; ".join(f"{name}: {' or '.join(types)}" for name, types in AMP_DEVICES.items())
        + " (bf16 on a CPU without AVX512-BF16 or AMX is emulated, slower than fp32)",
    )
    parser.add_argument(
        "--compile",
        nargs="?",
        const="default",
        default=None,
        choices=COMPILE_MODES,
        metavar="MODE",
        help="torch.compile each model; MODE: " + ", ".join(COMPILE_MODES),
    )
    parser.add_argument("--channels-last", action="store_true", help="channels_last memory")
    parser.add_argument(
        "-b",
        "--batch-size",
        type=int,
        default=batch_size,
        help=batch_help or f"default {batch_size or '32 (1 for --bench latency)'}",
    )
    warmups = ", ".join(f"{device} {warmup}" for device, (warmup, _) in rounds.items())
    iters = ", ".join(f"{device} {timed}" for device, (_, timed) in rounds.items())
    parser.add_argument(
        "--warmup", type=int, default=None, help=f"warm-up rounds (default: {warmups})"
    )
    parser.add_argument(
        "--iters",
        type=int,
        default=None,
        help=f"timed rounds, each one batch of every model (default: {iters})",
    )
    parser.add_argument(
        "--warmup-batch-size",
        type=int,
        default=None,
        help="warm-up batch (default: the timed batch; a smaller one leaves first-call costs in "
        + "the first timed round)",
    )


def settings_from_args(args: argparse.Namespace, rounds: Rounds) -> ThroughputSettings:
    """The settings :func:`add_timing_options`' options ask for (not yet validated)."""
    warmup, iters = rounds_on(rounds, args.device)
    return ThroughputSettings(
        device=args.device,
        batch_size=args.batch_size,
        amp=args.amp,
        channels_last=args.channels_last,
        compile=args.compile is not None,
        compile_mode=args.compile or "default",
        warmup=warmup if args.warmup is None else args.warmup,
        iters=iters if args.iters is None else args.iters,
        warmup_batch_size=args.warmup_batch_size,
    )


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Time zoo or timm models side by side (interleaved rounds, median and "
        + "spread, MFU against a GEMM peak timed in the same run); write a CSV with timm's "
        + "benchmark.py column names plus where and how it was measured.",
    )
    parser.add_argument(
        "models", nargs="+", metavar="MODEL", help="zoo or timm names, or globs: 'dynamixer_*'"
    )
    add_timing_options(parser, DEFAULT_ROUNDS, batch_size=None)
    parser.add_argument(
        "--img-size", type=int, default=None, help="square input side (default: each model's)"
    )
    parser.add_argument(
        "--bench",
        choices=list(BENCHES),
        default="inference",
        help="default inference; latency: batch 1, per-call median/p90/p99 ms",
    )
    parser.add_argument(
        "--results-file", type=Path, default=None, help=f"CSV path (default: in {RESULTS_DIR})"
    )
    add_sweep_options(parser)
    return parser


def add_sweep_options(parser: argparse.ArgumentParser, reference_help: str = "") -> None:
    """The options of every command that times a list: memory bound, failures, resume, Slurm."""
    sweep = parser.add_argument_group("long lists")
    sweep.add_argument(
        "--group-size",
        type=int,
        default=DEFAULT_GROUP_SIZE,
        help="models resident at once besides the reference: each group is timed interleaved "
        + f"with the reference (default {DEFAULT_GROUP_SIZE})",
    )
    sweep.add_argument(
        "--reference",
        default=None,
        metavar="MODEL",
        help=reference_help or "the model every group is timed with (default: the first)",
    )
    sweep.add_argument(
        "--retry-smaller-batch",
        action="store_true",
        help="retry a model that runs out of memory at smaller batches (the row says which)",
    )
    sweep.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="CSV",
        help="keep the rows of an earlier output made with the same settings; time the rest",
    )
    sweep.add_argument(
        "--memory",
        action="store_true",
        help="also measure each model's peak step memory (on a CPU: a fresh process per model)",
    )
    add_launch_options(
        parser,
        DEFAULT_LOG_DIR,
        "local: in this process (default); debug, slurm: one submitit "
        + "task per group (a Slurm job array)",
    )


def parse_options(argv: Sequence[str]) -> Options:
    """Parse and check everything; a ValueError names the bad value before anything is built."""
    args = make_parser().parse_args(list(argv))
    latency = args.bench == "latency"
    if latency and args.batch_size not in (None, 1):
        raise ValueError(f"--bench latency times batch 1; got --batch-size {args.batch_size}")
    if latency:
        args.batch_size = 1
    elif args.batch_size is None:
        args.batch_size = 32
    settings = settings_from_args(args, LATENCY_ROUNDS if latency else DEFAULT_ROUNDS)
    validate(settings)  # device, precision, batch, rounds: before the names, which are slower
    sweep = sweep_from_args(args)
    if args.img_size is not None and args.img_size < 1:
        raise ValueError(f"--img-size must be an integer >= 1; got {args.img_size}")
    specs = tuple(ModelSpec(name) for name in select_models(args.models))
    sizes = {spec.label: input_size_of(spec.name, args.img_size) for spec in specs}
    steps = BENCHES[args.bench]
    labels = [spec.label for spec in specs]
    if sweep.reference is not None and sweep.reference not in labels:
        raise ValueError(
            f"--reference {sweep.reference!r} is not one of the models timed: {', '.join(labels)}"
        )
    results_file = args.results_file or RESULTS_DIR / results_file_name(settings, args.bench)
    if args.resume is not None:
        held_rows(args.resume, settings)  # not this suite's output, or other settings
    slurm = slurm_from_args(args)
    return Options(
        specs=specs,
        input_sizes=sizes,
        settings=settings,
        steps=steps,
        results_file=results_file,
        sweep=sweep,
        resume=args.resume,
        executor=args.executor,
        slurm=slurm,
        log_dir=args.log_dir,
    )


def sweep_from_args(args: argparse.Namespace) -> Sweep:
    """The sweep the long-list options ask for (ValueError for a group size below 1)."""
    if args.group_size < 1:
        raise ValueError(f"--group-size must be at least 1; got {args.group_size}")
    memory = args.memory or args.device.startswith("cuda")
    return Sweep(args.group_size, args.reference, args.retry_smaller_batch, memory)


def results_file_name(settings: ThroughputSettings, bench: str) -> str:
    """timm's results naming: 'benchmark-infer-fp32-nchw-cpu.csv',
    'benchmark-train-amp-bf16-nhwc-cuda.csv', 'benchmark-both-...', 'benchmark-latency-...'."""
    bench = {"inference": "infer"}.get(bench, bench)
    layout = "nhwc" if settings.channels_last else "nchw"
    compiled = f"-compile-{settings.compile_mode}" if settings.compile else ""
    device = torch.device(settings.device).type
    return f"benchmark-{bench}-{settings.precision}-{layout}{compiled}-{device}.csv"


def summary_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The run in a few columns, for the terminal (the CSV has everything)."""
    shown = {"model": frame["model"], "params (M)": frame["param_count"].map("{:.2f}".format)}
    if "infer_gmacs" in frame:
        shown["GMACs"] = frame["infer_gmacs"].map("{:.2f}".format)
    for prefix in ("infer", "train"):
        if f"{prefix}_samples_per_sec" not in frame:
            continue
        shown[f"{prefix} img/s [min-max]"] = [
            f"{median:.2f} [{low:.2f}-{high:.2f}]"
            for median, low, high in zip(
                frame[f"{prefix}_samples_per_sec"],
                frame[f"{prefix}_samples_per_sec_min"],
                frame[f"{prefix}_samples_per_sec_max"],
                strict=True,
            )
        ]
        shown[f"{prefix} ms/batch"] = frame[f"{prefix}_step_time"].map("{:.1f}".format)
        shown[f"{prefix} MFU"] = frame[f"{prefix}_mfu"].map("{:.0%}".format)
    return pd.DataFrame(shown)


def fail(message: str) -> NoReturn:
    """Bad input found after the options were checked: one line, exit status 2."""
    print(f"{PROG}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = make_parser()
    try:
        options = parse_options(argv)
    except (ValueError, RuntimeError) as error:
        parser.error(str(error))
    warning = emulated_bf16_warning(options.settings)
    if warning:
        print(warning, file=sys.stderr)
    settings, path = options.settings, options.results_file
    held = held_rows(options.resume, settings) if options.resume else {}
    print(
        f"timing {len(options.specs)} models ({', '.join(options.steps)}) on {settings.device}, "
        + f"{settings.precision}, batch {settings.batch_size}: {settings.warmup} warm-up "
        + f"round(s) at batch {settings.warmup_batch}, then {settings.iters} timed round(s), "
        + f"interleaved in groups of {options.sweep.group_size} with the reference"
        + (f"; {len(held)} rows kept from {options.resume}" if held else ""),
        file=sys.stderr,
    )
    raise_interrupt_on_sigterm()
    written: list[int] = [len(held)]

    def write(rows: list[dict[str, object]]) -> None:
        write_text_atomic(path, sweep_frame(rows).to_csv(index=False))
        written[0] = len(rows)

    try:
        rows = _sweep(options, held, write)
    except KeyboardInterrupt:
        return print_interrupted(PROG, written[0], len(options.specs), path, argv)
    except ValueError as error:  # a reference that cannot be timed
        fail(str(error))
    return _summarise(rows, path)


def _sweep(
    options: Options,
    held: Mapping[str, dict[str, object]],
    write: Callable[[list[dict[str, object]]], None],
) -> list[dict[str, object]]:
    """The rows, timed here (written as each group ends) or by a submitit job array."""
    if options.executor == "local":
        result = run_sweep(
            options.specs,
            options.settings,
            options.steps,
            options.input_sizes,
            options.sweep,
            held=held,
            write_rows=write,
        )
        return result.rows
    todo = [s for s in options.specs if s.label not in held or s.label == _reference(options)]
    rows = run_array(
        todo,
        options.settings,
        options.steps,
        options.input_sizes,
        options.sweep,
        options.executor,
        options.log_dir,
        options.slurm or SlurmOptions(),
        on_submitted=lambda jobs: note(
            f"submitted {len(jobs)} array task(s): {', '.join(str(j.job_id) for j in jobs)}; "
            + "waiting for them"
        ),
    )
    merged = {**held, **{str(row["model"]): row for row in rows}}
    ordered = [merged[s.label] for s in options.specs if s.label in merged]
    write(ordered)
    return ordered


def _reference(options: Options) -> str:
    return options.sweep.reference or options.specs[0].label


def _summarise(rows: Sequence[Mapping[str, object]], path: Path) -> int:
    """Print the table and the counts; exit status 0 only if every model succeeded."""
    ok, failed = status_counts(rows)
    frame = sweep_frame(rows)
    if ok:
        print(summary_frame(frame).to_markdown(index=False, disable_numparse=True))
    for row in rows:
        if row.get("status") != STATUS_OK:
            print(f"{row['model']}: {row.get('status')}", file=sys.stderr)
    nodes = {str(row.get("node")) for row in rows if row.get("node")}
    if len(nodes) > 1:
        print(
            f"rows measured on {len(nodes)} nodes ({', '.join(sorted(nodes))}): compare models "
            + "through their vs_reference columns, each from its own node's rounds",
            file=sys.stderr,
        )
    if not ok:
        path.unlink(missing_ok=True)
        print(f"{PROG}: every model failed ({failed}); no table written", file=sys.stderr)
        return 1
    print(f"{ok} ok, {failed} failed; wrote {path}")
    return 0 if not failed else 1
