"""``python -m reproduce scaling``: how each vision MLP's cost grows with resolution and batch.

Parse and check every option (nothing is built before they all pass) -> for each model: the
side it runs at for each requested side, its resolution series and its batch series timed
interleaved, peak memory point by point -> ``scaling_<device>.csv``, ``.md`` and ``.png``,
each written atomically. ``--render CSV`` measures nothing: it renders a scaling CSV again.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from benchmarks.cli import add_timing_options, settings_from_args
from benchmarks.records import ModelSpec
from benchmarks.settings import ThroughputSettings, emulated_bf16_warning, validate
from benchmarks.suite import note
from common.files import RESULTS_DIR, write_text_atomic
from reproduce.commands.errors import checked, fail
from reproduce.render.scaling import render_scaling, scaling_stem, write_scaling_figure
from reproduce.render.text import duration_text
from reproduce.tables.scaling import (
    DEFAULT_BATCHES,
    DEFAULT_MODELS,
    DEFAULT_SIZES,
    SCALING_BATCH,
    SCALING_ROUNDS,
    check_batches,
    check_sizes,
    growth_frame,
    measure_scaling,
)

__all__ = ["Options", "main", "make_parser", "parse_options"]

PROG = "python -m reproduce scaling"


@dataclass(frozen=True)
class Options:
    """The parsed command line."""

    specs: tuple[ModelSpec, ...]
    sizes: tuple[int, ...]
    batches: tuple[int, ...]
    settings: ThroughputSettings
    memory: bool
    output_dir: Path


def _integers(option: str):
    def parse(text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{option} takes whole numbers; got {text!r}"
            ) from None

    return parse


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Time one vision MLP per family at several input sides and batch sizes; "
        + "growth exponents of MACs, time and memory; write the table and figure.",
    )
    add_timing_options(parser, SCALING_ROUNDS, batch_size=SCALING_BATCH)
    parser.add_argument(
        "--models",
        nargs="+",
        default=None,
        metavar="NAME",
        help="zoo or timm names (default: the smallest model of each family)",
    )
    parser.add_argument(
        "--sizes",
        nargs="+",
        type=_integers("--sizes"),
        default=list(DEFAULT_SIZES),
        help=f"requested input sides (default {' '.join(map(str, DEFAULT_SIZES))})",
    )
    parser.add_argument(
        "--batches",
        nargs="+",
        type=_integers("--batches"),
        default=list(DEFAULT_BATCHES),
        help=f"the batch sweep at 224 (default {' '.join(map(str, DEFAULT_BATCHES))})",
    )
    parser.add_argument("--no-memory", dest="memory", action="store_false")
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument(
        "--render", type=Path, default=None, metavar="CSV", help="measure nothing: render a CSV"
    )
    return parser


def parse_options(argv: Sequence[str]) -> Options:
    """Parse and check everything; a ValueError names the bad value before anything is built."""
    args = make_parser().parse_args(list(argv))
    sizes = check_sizes(args.sizes)
    batches = check_batches(args.batches)
    settings = settings_from_args(args, SCALING_ROUNDS)
    validate(settings)
    specs = tuple(ModelSpec(name) for name in args.models) if args.models else tuple(DEFAULT_MODELS)
    return Options(specs, sizes, batches, settings, args.memory, args.output_dir)


def write_outputs(frame: pd.DataFrame, output_dir: Path) -> tuple[Path, Path, Path]:
    """``<stem>.csv``, ``.png`` and ``.md``, each atomically."""
    growth = growth_frame(frame)
    stem = scaling_stem(frame)
    csv = write_text_atomic(output_dir / f"{stem}.csv", frame.to_csv(index=False))
    figure = write_scaling_figure(frame, growth, output_dir / f"{stem}.png")
    markdown = write_text_atomic(
        output_dir / f"{stem}.md", render_scaling(frame, growth, figure.name)
    )
    return markdown, csv, figure


def _render(parser: argparse.ArgumentParser, path: Path) -> int:
    if not path.is_file():
        parser.error(f"--render needs a scaling CSV; {path} is not a file")
    frame = pd.read_csv(path)
    missing = {"model", "sweep", "size", "images_per_s"} - set(frame.columns)
    if missing:
        fail(PROG, f"{path} is not a scaling CSV: it has no column {', '.join(sorted(missing))}")
    markdown, _, figure = write_outputs(frame, path.parent)
    print(f"wrote {markdown} and {figure}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = make_parser()
    render = parser.parse_args(argv).render
    if render is not None:
        return _render(parser, render)
    options = checked(parser, lambda: parse_options(argv))
    settings = options.settings
    warning = emulated_bf16_warning(settings)
    if warning:
        print(warning, file=sys.stderr)
    points = len(options.sizes) + len(options.batches)
    print(
        f"{len(options.specs)} models x ({len(options.sizes)} sides at batch "
        + f"{settings.batch_size} + {len(options.batches)} batches at 224) on {settings.device}, "
        + f"{settings.precision}: {settings.warmup} warm-up and {settings.iters} timed rounds "
        + f"per point, {points} points per model interleaved"
        + ("; peak memory point by point" if options.memory else "")
        + " (defaults: about 20 min on a 2-core CPU)",
        file=sys.stderr,
    )
    start = time.perf_counter()
    frame = measure_scaling(
        options.specs,
        options.sizes,
        options.batches,
        replace(settings, warmup_batch_size=None),
        memory=options.memory,
        report=note,
    )
    frame["wall_seconds"] = time.perf_counter() - start
    if not (frame["status"] == "ok").any():
        fail(PROG, "no model ran at any point; no table written")
    markdown, csv, figure = write_outputs(frame, options.output_dir)
    print(render_scaling(frame, growth_frame(frame), figure.name))
    print(f"wrote {markdown}, {csv} and {figure} in {duration_text(frame['wall_seconds'][0])}")
    return 0
