"""``python -m reproduce mlp-zoo`` (formerly ``zoo``): every MLP of the paper's Table 2 timed
side by side, into results/.

Parse and check every option (nothing is built before they all pass) -> count and time every
model in one interleaved run (:mod:`benchmarks.suite`, the engine of ``python -m benchmarks``) ->
one DataFrame -> ``mlp_zoo_<device>.md``, ``.csv`` and ``.png``, each written atomically.
``--render CSV`` measures nothing: it renders a zoo CSV's markdown and figure again, beside it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmarks.cli import add_timing_options, settings_from_args
from benchmarks.settings import ThroughputSettings, emulated_bf16_warning, validate
from common.files import RESULTS_DIR, write_text_atomic
from reproduce.commands.errors import checked, fail
from reproduce.render.mlp_zoo import mlp_zoo_stem, render_mlp_zoo, write_mlp_zoo_figure
from reproduce.render.text import duration_text
from reproduce.tables.mlp_zoo import (
    ZOO_BATCH_SIZE,
    ZOO_ROUNDS,
    ZooEntry,
    measure_mlp_zoo,
    mlp_zoo_frame,
    select_entries,
    zoo_entries,
    zoo_specs,
)

__all__ = ["Options", "main", "make_parser", "parse_options", "write_outputs"]

PROG = "python -m reproduce mlp-zoo"


@dataclass(frozen=True)
class Options:
    """The parsed command line."""

    entries: tuple[ZooEntry, ...]
    settings: ThroughputSettings
    output_dir: Path


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Time every vision MLP of the paper's Table 2 that the zoo builds (plus "
        + "CycleMLP-B1-B5, DynaMixer on both paths) side by side; write the table and figure.",
    )
    add_timing_options(parser, ZOO_ROUNDS, batch_size=ZOO_BATCH_SIZE)
    parser.add_argument(
        "--models",
        nargs="+",
        default=None,
        metavar="NAME",
        help="only these models (zoo or timm names of the table's rows): a subset table",
    )
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="CSV",
        help="measure nothing: render a zoo CSV's markdown and figure again, beside it",
    )
    return parser


def parse_options(argv: Sequence[str]) -> Options:
    """Parse and check everything; a ValueError names the bad value before anything is built."""
    args = make_parser().parse_args(list(argv))
    settings = settings_from_args(args, ZOO_ROUNDS)
    validate(settings)
    entries = select_entries(zoo_entries(), args.models)
    return Options(entries=entries, settings=settings, output_dir=args.output_dir)


def write_outputs(frame: pd.DataFrame, output_dir: str | Path = RESULTS_DIR) -> tuple[Path, ...]:
    """Write ``<stem>.csv``, ``<stem>.png`` and ``<stem>.md`` atomically; return their paths."""
    output_dir = Path(output_dir)
    stem = mlp_zoo_stem(frame)
    csv = write_text_atomic(output_dir / f"{stem}.csv", frame.to_csv(index=False))
    figure = write_mlp_zoo_figure(frame, output_dir / f"{stem}.png")
    markdown = write_text_atomic(
        output_dir / f"{stem}.md", render_mlp_zoo(frame, figure_name=figure.name)
    )
    return markdown, csv, figure


def _render(parser: argparse.ArgumentParser, path: Path) -> int:
    if not path.is_file():
        parser.error(f"--render needs a zoo CSV; {path} is not a file")
    frame = pd.read_csv(path)
    missing = {"label", "infer_samples_per_sec", "paper_top1"} - set(frame.columns)
    if missing:
        fail(PROG, f"{path} is not a zoo CSV: it has no column {', '.join(sorted(missing))}")
    figure = write_mlp_zoo_figure(frame, path.with_suffix(".png"))
    markdown = write_text_atomic(
        path.with_suffix(".md"), render_mlp_zoo(frame, figure_name=figure.name)
    )
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
    models = len(zoo_specs(options.entries))
    print(
        f"timing {models} models for {len(options.entries)} rows on {settings.device}, "
        + f"{settings.precision}, batch {settings.batch_size}: {settings.warmup} warm-up "
        + f"round(s) at batch {settings.warmup_batch}, then {settings.iters} timed round(s), "
        + "interleaved; a rough duration follows the counting, a closer one the warm-up",
        file=sys.stderr,
    )
    start = time.perf_counter()
    try:
        run = measure_mlp_zoo(options.entries, settings)
    except ValueError as error:  # a model that cannot run at its input size, found by counting
        fail(PROG, str(error))
    frame = mlp_zoo_frame(run, options.entries)
    markdown, csv, figure = write_outputs(frame, options.output_dir)
    print(render_mlp_zoo(frame, figure.name))
    print(
        f"wrote {markdown}, {csv} and {figure} ({models} models; measuring "
        + f"{duration_text(run.wall_seconds)}, whole command "
        + f"{duration_text(time.perf_counter() - start)})"
    )
    return 0
