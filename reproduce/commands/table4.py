"""``python -m reproduce table4``: measure the paper's Table 4 here and write it into results/.

Parse and check every option (nothing is built before they all pass) -> measure with the
suite's one timing engine, in this process or as one submitit job (``--executor debug|slurm``)
-> one DataFrame -> markdown and CSV, each written atomically. A model that fails gets a row
saying why (exit status 1); Ctrl-C or Slurm's SIGTERM ends with one line and the ``--resume``
command. ``--render CSV`` measures nothing: it renders a Table 4 CSV's markdown again, beside it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from benchmarks.cli import add_timing_options, settings_from_args
from benchmarks.resume import held_rows, print_interrupted, raise_interrupt_on_sigterm
from benchmarks.settings import (
    DEFAULT_ROUNDS,
    ThroughputSettings,
    emulated_bf16_warning,
    validate,
)
from benchmarks.sweep import STATUS_OK
from common.files import RESULTS_DIR, write_text_atomic
from common.launch import SlurmOptions, add_launch_options, slurm_from_args
from reproduce.commands.errors import checked, fail
from reproduce.render.table4 import render_table4, table4_stem
from reproduce.render.text import duration_text
from reproduce.tables.table4 import (
    DEFAULT_LOG_DIR,
    QUICK,
    TABLE,
    TABLE_BATCH_SIZE,
    row_spec,
    table4_rows,
)
from reproduce.tables.table4_measurement import (
    Table4Job,
    Table4Result,
    measure_table4,
    submit_table4,
    table4_frame,
)

__all__ = ["Options", "main", "make_parser", "parse_options", "write_outputs"]

PROG = "python -m reproduce table4"


@dataclass(frozen=True)
class Options:
    """The parsed command line."""

    models: tuple[str, ...]
    settings: ThroughputSettings
    quick: bool
    fused: bool
    executor: str
    slurm: SlurmOptions
    output_dir: Path
    log_dir: Path
    resume: Path | None = None


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Measure the paper's Table 4 (params, FLOPs, batch-32 throughput) here.",
    )
    _measurement_options(parser.add_argument_group("measurement"))
    add_launch_options(parser, DEFAULT_LOG_DIR, "local: in this process (default)")
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="CSV",
        help="measure nothing: render a measured Table 4 CSV's markdown again, beside it",
    )
    return parser


def _measurement_options(measure: argparse._ArgumentGroup) -> None:
    add_timing_options(
        measure,
        DEFAULT_ROUNDS,
        batch_size=None,
        batch_help=f"default {TABLE_BATCH_SIZE}, the paper's ({QUICK['batch_size']} with --quick)",
    )
    measure.add_argument(
        "--quick",
        action="store_true",
        help=f"CI smoke run: batch {QUICK['batch_size']}, {QUICK['warmup']} warm-up, "
        + f"{QUICK['iters']} timed batches (explicit options still win)",
    )
    measure.add_argument(
        "--fused",
        action="store_true",
        help="time DynaMixer on its fused fast path (default: the official computation, as the "
        + "paper timed the authors' code)",
    )
    measure.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="CSV",
        help="keep the rows of an earlier Table 4 CSV made with the same settings; time the rest "
        + "(with the reference row again, so their ratios come from shared rounds)",
    )
    measure.add_argument(
        "--models",
        nargs="+",
        default=None,
        metavar="NAME",
        help="only these rows, by zoo name: " + " ".join(str(row.zoo_name) for row in TABLE.rows),
    )


def parse_options(argv: Sequence[str]) -> Options:
    """Parse and validate everything; ValueError (naming the bad value) before anything is built."""
    args = make_parser().parse_args(list(argv))
    rounds = DEFAULT_ROUNDS
    if args.quick:
        rounds = {device: (QUICK["warmup"], QUICK["iters"]) for device in DEFAULT_ROUNDS}
    if args.batch_size is None:
        args.batch_size = QUICK["batch_size"] if args.quick else TABLE_BATCH_SIZE
    settings = settings_from_args(args, rounds)
    rows = table4_rows(args.models)
    # A Slurm job checks for its GPU on the node it lands on, not here on the login node.
    validate(settings, [row_spec(row, args.fused) for row in rows], args.executor != "slurm")
    slurm = slurm_from_args(args)
    if args.resume is not None:
        _check_resume(args.resume, settings, args.fused)
    return Options(
        models=tuple(str(row.zoo_name) for row in rows),
        settings=settings,
        quick=args.quick,
        fused=args.fused,
        executor=args.executor,
        slurm=slurm,
        output_dir=args.output_dir,
        log_dir=args.log_dir,
        resume=args.resume,
    )


def _check_resume(path: Path, settings: ThroughputSettings, fused: bool) -> None:
    """Refuse (ValueError naming the field) a file that is not an earlier Table 4 output of
    these settings, or that timed DynaMixer on the other path."""
    held = held_rows(path, settings)
    paths = {str(row.get("fused")) for row in held.values() if "fused" in row}
    if paths and paths != {str(fused)}:
        raise ValueError(
            f"--resume {path} was made with fused={', '.join(sorted(paths))}; this run has "
            + f"fused={fused}: resume with the same settings, or start a new file"
        )


def run(
    options: Options,
    held: Mapping[str, dict[str, object]],
    write_rows: Callable[[list[dict[str, object]]], None] | None = None,
) -> Table4Result:
    """Measure in this process (local, writing rows as they are measured), or through submitit
    (debug, slurm) and wait."""
    if options.executor == "local":
        result = measure_table4(
            options.models, options.settings, fused=options.fused, held=held, write_rows=write_rows
        )
        return replace(result, quick=options.quick)
    job = Table4Job(
        options.models, options.settings, options.quick, fused=options.fused, held=dict(held)
    )
    submitted = submit_table4(job, options.executor, options.log_dir, options.slurm)
    if options.executor == "slurm":
        print(
            f"submitted Slurm job {submitted.job_id}; logs: {submitted.paths.stdout}; waiting "
            + "for its result (Ctrl-C stops waiting, not the job)",
            file=sys.stderr,
        )
    return submitted.result()


def write_outputs(frame: pd.DataFrame, output_dir: str | Path = RESULTS_DIR) -> tuple[Path, Path]:
    """Write ``<stem>.md`` and ``<stem>.csv`` atomically; return their paths."""
    output_dir = Path(output_dir)
    stem = table4_stem(frame)
    markdown = write_text_atomic(output_dir / f"{stem}.md", render_table4(frame))
    csv = write_text_atomic(output_dir / f"{stem}.csv", frame.to_csv(index=False))
    return markdown, csv


def _render(parser: argparse.ArgumentParser, path: Path) -> int:
    if not path.is_file():
        parser.error(f"--render needs a Table 4 CSV; {path} is not a file")
    markdown = write_text_atomic(path.with_suffix(".md"), render_table4(pd.read_csv(path)))
    print(f"wrote {markdown}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = make_parser()
    render = parser.parse_args(argv).render
    if render is not None:
        return _render(parser, render)
    options = checked(parser, lambda: parse_options(argv))
    warning = emulated_bf16_warning(options.settings)
    if warning and options.executor != "slurm":  # a Slurm node may have another CPU
        print(warning, file=sys.stderr)
    held = held_rows(options.resume, options.settings) if options.resume else {}
    start = time.perf_counter()
    raise_interrupt_on_sigterm()
    written: dict[str, object] = {"rows": len(held), "csv": options.resume}

    def write_rows(rows: list[dict[str, object]]) -> None:
        frame = table4_frame(rows, options.quick, options.fused)
        path = Path(options.output_dir) / f"{table4_stem(frame)}.csv"
        written["csv"] = write_text_atomic(path, frame.to_csv(index=False))
        written["rows"] = int((frame["status"] == STATUS_OK).sum())

    try:
        result = run(options, held, write_rows)
    except KeyboardInterrupt:
        path = Path(str(written["csv"] or options.output_dir))
        kept, total = int(str(written["rows"])), len(options.models)
        return print_interrupted(PROG, kept, total, path, argv)
    except ValueError as error:  # the reference row cannot be timed
        fail(PROG, str(error))
    frame = table4_frame(result.rows, result.quick, result.fused)
    ok = int((frame["status"] == STATUS_OK).sum())
    if not ok:
        fail(PROG, "every model failed; no table written: " + "; ".join(frame["status"]))
    markdown, csv = write_outputs(frame, options.output_dir)
    print(render_table4(frame))
    print(
        f"{ok} ok, {len(frame) - ok} failed; wrote {markdown} and {csv} ({len(frame)} models; "
        + f"measuring {duration_text(result.wall_seconds)}, whole command "
        + f"{duration_text(time.perf_counter() - start)})"
    )
    return 0 if ok == len(frame) else 1
