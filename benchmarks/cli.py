"""``python -m benchmarks MODEL [MODEL ...]``: time zoo or timm models side by side, write a CSV.

Every option and name is checked before anything is built (argparse's error, exit 2); then
the models are counted, timed interleaved by the one timing engine, and written as one CSV with
timm's ``benchmark.py`` column names plus the provenance. This package knows nothing of the
paper: the paper's zoo table is ``python -m reproduce mlp-zoo``, built on this.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pandas as pd
import torch

from benchmarks.records import ModelSpec
from benchmarks.settings import (
    COMPILE_MODES,
    DEVICES,
    ThroughputSettings,
    emulated_bf16_warning,
    validate,
)
from benchmarks.suite import (
    TIMM_PREFIXES,
    benchmark_frame,
    input_size_of,
    run_benchmark,
    select_models,
)
from common.files import RESULTS_DIR, write_text_atomic
from common.precision import AMP_DEVICES, AMP_DTYPES

__all__ = [
    "BENCHES",
    "DEFAULT_ROUNDS",
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
#: What ``--bench`` accepts (timm's names): which steps are timed.
BENCHES = {"inference": ("inference",), "train": ("train",), "both": ("inference", "train")}
#: (warm-up rounds, timed rounds) per device type. On a 2-core CPU a batch-32 forward pass of a
#: 7-GMAC model takes seconds, so a few rounds are all a run can afford; GPUs use timm's counts.
DEFAULT_ROUNDS = {"cpu": (1, 3), "cuda": (10, 40)}
# Warm-up runs at the timed batch by default. A smaller warm-up batch saves time but leaves the
# new batch shape's first-call costs in the first timed round: after warming up at batch 2, the
# zoo's first batch-32 round ran 1.3x slower than its second on average (up to 1.75x) on a quiet
# 2-core Xeon; --warmup-batch-size is still there for a quick look.


@dataclass(frozen=True)
class Options:
    """The parsed command line."""

    specs: tuple[ModelSpec, ...]
    input_sizes: dict[str, tuple[int, int, int]]
    settings: ThroughputSettings
    steps: tuple[str, ...]
    results_file: Path


def add_timing_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    rounds: Mapping[str, tuple[int, int]],
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
        help=batch_help or f"default {batch_size}",
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


def settings_from_args(
    args: argparse.Namespace, rounds: Mapping[str, tuple[int, int]]
) -> ThroughputSettings:
    """The settings :func:`add_timing_options`' options ask for (not yet validated)."""
    device_type = args.device.split(":")[0]
    warmup, iters = rounds.get(device_type, rounds["cpu"])
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
    add_timing_options(parser, DEFAULT_ROUNDS, batch_size=32)
    parser.add_argument(
        "--img-size", type=int, default=None, help="square input side (default: each model's)"
    )
    parser.add_argument(
        "--bench", choices=list(BENCHES), default="inference", help="default inference"
    )
    parser.add_argument(
        "--results-file", type=Path, default=None, help=f"CSV path (default: in {RESULTS_DIR})"
    )
    return parser


def parse_options(argv: Sequence[str]) -> Options:
    """Parse and check everything; a ValueError names the bad value before anything is built."""
    args = make_parser().parse_args(list(argv))
    settings = settings_from_args(args, DEFAULT_ROUNDS)
    validate(settings)  # device, precision, batch, rounds: before the names, which are slower
    if args.img_size is not None and args.img_size < 1:
        raise ValueError(f"--img-size must be an integer >= 1; got {args.img_size}")
    specs = tuple(ModelSpec(name) for name in select_models(args.models))
    sizes = {spec.label: input_size_of(spec.name, args.img_size) for spec in specs}
    steps = BENCHES[args.bench]
    return Options(
        specs=specs,
        input_sizes=sizes,
        settings=settings,
        steps=steps,
        results_file=args.results_file or RESULTS_DIR / results_file_name(settings, steps),
    )


def results_file_name(settings: ThroughputSettings, steps: Sequence[str]) -> str:
    """timm's results naming: 'benchmark-infer-fp32-nchw-cpu.csv',
    'benchmark-train-amp-bf16-nhwc-cuda.csv', 'benchmark-both-...'."""
    bench = TIMM_PREFIXES[steps[0]] if len(steps) == 1 else "both"
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
    except ValueError as error:
        parser.error(str(error))
    warning = emulated_bf16_warning(options.settings)
    if warning:
        print(warning, file=sys.stderr)
    settings = options.settings
    print(
        f"timing {len(options.specs)} models ({', '.join(options.steps)}) on {settings.device}, "
        + f"{settings.precision}, batch {settings.batch_size}: {settings.warmup} warm-up "
        + f"round(s) at batch {settings.warmup_batch}, then {settings.iters} timed round(s), "
        + "interleaved; a rough duration follows the counting, a closer one the warm-up",
        file=sys.stderr,
    )
    try:
        run = run_benchmark(options.specs, settings, options.steps, options.input_sizes)
    except ValueError as error:  # a model that cannot run at its input size, found by counting
        fail(str(error))
    frame = benchmark_frame(run)
    write_text_atomic(options.results_file, frame.to_csv(index=False))
    print(summary_frame(frame).to_markdown(index=False, disable_numparse=True))
    print(
        f"GEMM peak ({settings.precision}, best call): {run.gemm_peak_gflops:.1f} GFLOP/s; "
        + f"{run.environment.device_name}; wrote {options.results_file} "
        + f"({run.wall_seconds:.0f} s)"
    )
    return 0
