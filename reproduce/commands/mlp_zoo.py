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

from benchmarks.cli import (
    add_sweep_options,
    add_timing_options,
    settings_from_args,
    sweep_from_args,
)
from benchmarks.resume import held_rows, print_interrupted, raise_interrupt_on_sigterm
from benchmarks.settings import ThroughputSettings, emulated_bf16_warning, validate
from benchmarks.sweep import STATUS_OK, Sweep
from common.files import RESULTS_DIR, write_text_atomic
from reproduce.commands.errors import checked, fail
from reproduce.render.mlp_zoo import mlp_zoo_stem, render_mlp_zoo, write_mlp_zoo_figure
from reproduce.render.text import duration_text
from reproduce.tables.mlp_zoo import (
    DEFAULT_ZOO_SWEEP,
    REFERENCE_MODEL,
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
    sweep: Sweep = DEFAULT_ZOO_SWEEP
    resume: Path | None = None


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
    add_sweep_options(parser, f"the row every group is timed with (default {REFERENCE_MODEL})")
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
    names = [spec.label for spec in zoo_specs(entries)]
    if args.reference is None:  # the reference row, where the selection has it
        args.reference = REFERENCE_MODEL if REFERENCE_MODEL in names else names[0]
    if args.reference not in names:
        raise ValueError(f"--reference {args.reference!r} is not timed here; timed: {names}")
    if args.executor != "local":
        raise ValueError(
            f"--executor {args.executor}: the zoo table runs here (local); for a Slurm job "
            + "array use python -m benchmarks with the same models"
        )
    if args.resume is not None:
        held_rows(args.resume, settings)
    return Options(
        entries=entries,
        settings=settings,
        output_dir=args.output_dir,
        sweep=sweep_from_args(args),
        resume=args.resume,
    )


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
    held = held_rows(options.resume, settings) if options.resume else {}
    models = len(zoo_specs(options.entries))
    print(
        f"timing {models} models for {len(options.entries)} rows on {settings.device}, "
        + f"{settings.precision}, batch {settings.batch_size}: {settings.warmup} warm-up "
        + f"round(s) at batch {settings.warmup_batch}, then {settings.iters} timed round(s), "
        + f"in groups of {options.sweep.group_size} interleaved with {options.sweep.reference}"
        + (f"; {len(held)} rows kept from {options.resume}" if held else ""),
        file=sys.stderr,
    )
    start = time.perf_counter()
    raise_interrupt_on_sigterm()
    written = {"rows": len(held), "csv": options.resume}

    def write(frame: pd.DataFrame) -> None:
        written["csv"] = write_text_atomic(
            Path(options.output_dir) / f"{mlp_zoo_stem(frame)}.csv", frame.to_csv(index=False)
        )
        written["rows"] = len(frame)

    try:
        run = measure_mlp_zoo(options.entries, settings, options.sweep, held, write)
    except KeyboardInterrupt:
        path = Path(str(written["csv"] or options.output_dir))
        return print_interrupted(PROG, int(written["rows"] or 0), models, path, argv)
    except ValueError as error:  # the reference cannot be timed
        fail(PROG, str(error))
    frame = mlp_zoo_frame(run.rows, options.entries)
    ok = int((frame["status"] == STATUS_OK).sum())
    if not ok:
        fail(PROG, "every model failed; no table written: " + "; ".join(frame["status"]))
    markdown, csv, figure = write_outputs(frame, options.output_dir)
    print(render_mlp_zoo(frame, figure.name))
    print(
        f"{ok} ok, {len(frame) - ok} failed; wrote {markdown}, {csv} and {figure} ({models} "
        + f"models; measuring {duration_text(run.wall_seconds)}, whole command "
        + f"{duration_text(time.perf_counter() - start)})"
    )
    return 0 if ok == len(frame) else 1
