"""``python -m reproduce tables``: Tables 2, 3 and 5-9, REPORT.md, Figure 1 and the model zoo
table into results/.

Every distinct model of every table is counted once (parameters and FLOPs, on the meta device)
-> one numeric DataFrame per table (the paper's text, the measured counts, the difference, and
a training result from the results store when one exists for exactly that configuration) ->
markdown and CSV; then every claim is checked (REPORT.md) and Figure 1 drawn. ``--check``
recounts in memory and compares the counts with the committed CSVs instead of writing.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from benchmarks.fastpath.render import read_report
from common.files import RESULTS_DIR, write_text_atomic
from reproduce.claims.audit import Audit, build_audit
from reproduce.claims.speed import Timing, fastpath_timings, zoo_timings
from reproduce.claims.verdicts import CLOSE, NOT_REPRODUCED, Check
from reproduce.commands.errors import fail
from reproduce.render import figure1
from reproduce.render.model_zoo import render_zoo
from reproduce.render.report import render_report
from reproduce.render.table1 import render_table1
from reproduce.render.tables import render_table
from reproduce.render.text import duration_text
from reproduce.tables.counts import (
    Measurement,
    count_differences,
    count_models,
    counting_environment,
    read_committed,
)
from reproduce.tables.frames import table_frame
from reproduce.tables.model_zoo import route_ratios, zoo_frame, zoo_keys
from reproduce.tables.specs import COUNTED_TABLES, TABLE_SPECS, MeasureKey, measure_keys
from reproduce.tables.table1 import table1_frame
from reproduce.training.store import KINDS, load_results

__all__ = ["main", "make_parser", "table4_frames", "timing_runs"]


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m reproduce tables",
        description="Regenerate Tables 2, 3, 5-9 (paper beside measured), REPORT.md and "
        + "Figure 1 on the CPU.",
    )
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument(
        "--runs-dir",
        type=Path,
        default=None,
        help="training results store (default: results/runs in the repository)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing: recount and compare with the CSVs in --output-dir (exit 1 if any "
        + "count moved)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def table4_frames(output_dir: str | Path) -> list[tuple[str, pd.DataFrame]]:
    """Every measured Table 4 CSV in ``output_dir`` (quick runs left out), by file name."""
    paths = sorted(p for p in Path(output_dir).glob("table4*.csv") if "quick" not in p.stem)
    return [(path.name, pd.read_csv(path)) for path in paths]


def _route_ratios(output_dir: Path) -> pd.DataFrame:
    """The faster routes' ratios in every committed MLP timing table."""
    frames = [
        route_ratios(pd.read_csv(path), path.name)
        for path in sorted(Path(output_dir).glob("mlp_zoo_*.csv"))
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def scaling_frames(output_dir: str | Path) -> list[tuple[str, pd.DataFrame]]:
    """Every committed scaling study in ``output_dir``, by file name."""
    paths = sorted(Path(output_dir).glob("scaling_*.csv"))
    return [(path.name, pd.read_csv(path)) for path in paths]


def timing_runs(output_dir: str | Path) -> list[tuple[str, dict[str, Timing]]]:
    """The models each committed interleaved run timed, by file name: DynaMixer-S and ViP-S/7
    in each fast-path report, every model of each (whole) zoo table."""
    output_dir = Path(output_dir)
    runs = []
    for path in sorted(output_dir.glob("fastpath_*.json")):
        runs.append((f"fast-path report ({path.name})", fastpath_timings(read_report(path))))
    for path in sorted(output_dir.glob("mlp_zoo_*.csv")):
        frame = pd.read_csv(path)
        if not frame.empty and not frame["subset"].any():
            runs.append((f"zoo table ({path.name})", zoo_timings(frame)))
    return runs


def table_findings(audit: Audit, number: int) -> list[Check]:
    """The prose's claims about Table ``number`` that are not reproduced."""
    return [
        c
        for c in audit.checks
        if c.table == number and c.kind == "claim" and c.verdict in (NOT_REPRODUCED, CLOSE)
    ]


def _check_counts(frames: Mapping[int, pd.DataFrame], output_dir: Path) -> int:
    problems = []
    for number, frame in frames.items():
        path = output_dir / f"table{number}.csv"
        if not path.exists():
            problems.append(f"Table {number}: {path} does not exist")
            continue
        problems += count_differences(read_committed(path), frame)
    print("\n".join(problems) or f"every count matches the CSVs in {output_dir}")
    return 1 if problems else 0


def _write(
    frames: Mapping[int, pd.DataFrame],
    measurements: Mapping[MeasureKey, Measurement],
    results: Sequence[Mapping[str, object]],
    output_dir: Path,
) -> list[Path]:
    written = []
    audit = build_audit(
        measurements,
        results,
        table4_frames(output_dir),
        timing_runs(output_dir),
        scaling_frames(output_dir),
    )
    for number, frame in frames.items():
        spec = TABLE_SPECS[number]
        stem = output_dir / f"table{number}"
        markdown = render_table(spec, frame, measurements, table_findings(audit, number))
        written.append(write_text_atomic(stem.with_suffix(".md"), markdown))
        written.append(write_text_atomic(stem.with_suffix(".csv"), frame.to_csv(index=False)))
    zoo = zoo_frame(measurements)
    environment = counting_environment(measurements)
    written.append(
        write_text_atomic(
            output_dir / "model_zoo.md",
            render_zoo(zoo, environment.ptflops_version, _route_ratios(output_dir)),
        )
    )
    written.append(write_text_atomic(output_dir / "model_zoo.csv", zoo.to_csv(index=False)))
    frame1 = table1_frame(measurements)
    written.append(write_text_atomic(output_dir / "table1.md", render_table1(frame1)))
    written.append(write_text_atomic(output_dir / "table1.csv", frame1.to_csv(index=False)))
    report = render_report(audit, environment)
    written.append(write_text_atomic(output_dir / "REPORT.md", report))
    zoo_params = {
        key.name: m.params.params
        for key, m in measurements.items()
        if key.source == "zoo" and not key.overrides
    }
    written.append(figure1.write_figure(results, output_dir / "figure1.png", zoo_params))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    start = time.perf_counter()
    try:  # before anything is counted
        results = load_results(args.runs_dir, kinds=KINDS)  # training runs and evaluations
    except ValueError as error:  # a record that cannot be read: one line naming the file
        fail("python -m reproduce tables", str(error))
    keys = list(dict.fromkeys([*measure_keys(), *zoo_keys()]))
    measurements = count_models(keys, progress=not args.no_progress)
    frames = {n: table_frame(TABLE_SPECS[n], measurements, results) for n in COUNTED_TABLES}
    counted = time.perf_counter() - start
    if args.check:
        return _check_counts(frames, args.output_dir)
    written = _write(frames, measurements, results, args.output_dir)
    print("wrote " + ", ".join(str(path) for path in written))
    print(
        f"{len(measurements)} models counted in {duration_text(counted)}; "
        + f"whole command {duration_text(time.perf_counter() - start)}"
    )
    return 0
