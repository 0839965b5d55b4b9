"""Tables 2, 3 and 5-9 of the paper, each cell as printed beside what this suite measures.

``python -m reproduce tables`` (``nox -s reproduce_tables``) writes ``results/tableN.md`` and
``results/tableN.csv`` for N in 2, 3, 5, 6, 7, 8, 9, then ``results/REPORT.md`` (the consistency
report, :mod:`reproduce.report`) and ``results/figure1.png`` (:mod:`reproduce.figure1`).

Flow: every distinct model of every table is counted once (parameters and FLOPs, on the meta
device: our zoo through :mod:`benchmarks.measure`, timm's models through
:mod:`benchmarks.external`) -> one numeric DataFrame per table (:func:`build_frame`: the paper's
text, the measured counts, the difference, and a training result from the results store when
one exists for exactly that configuration) -> markdown via ``DataFrame.to_markdown`` and CSV.
The paper's figures come only from :mod:`reproduce.paper`; a column is "paper" or "measured".

``--check`` recounts in memory and compares the counts with the committed CSVs instead of
writing (the CI regression test does the same through :func:`count_differences`).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from benchmarks.external import count_timm_flops, count_timm_params, skip_meta_init
from benchmarks.files import write_text_atomic
from benchmarks.measure import (
    DEFAULT_INPUT_SIZE,
    Environment,
    FlopCount,
    ModelSpec,
    ParamCount,
    count_flops,
    count_params,
)
from models import dynamixer
from reproduce import store
from reproduce.data import num_classes
from reproduce.paper import TABLES, PaperRow, PaperTable, parse_giga, parse_millions

__all__ = [
    "COUNT_COLUMNS",
    "NOT_IN_ZOO",
    "TABLE_SPECS",
    "MeasureKey",
    "Measurement",
    "TableSpec",
    "build_frame",
    "count_differences",
    "display_frame",
    "find_result",
    "main",
    "measure",
    "measure_keys",
    "render_markdown",
    "row_dataset",
    "row_key",
]

DEFAULT_OUTPUT_DIR = Path("results")
NOT_IN_ZOO = "not in zoo"
MISSING = "—"  # a cell with nothing measured (the "else —")
#: The measured counts the CI regression test compares with the committed CSVs.
COUNT_COLUMNS = ("measured_params", "measured_macs")


# ---------------------------------------------------------------------------------------------
# Which columns each table has


@dataclass(frozen=True)
class TableSpec:
    """How one paper table is laid out: which of its columns are figures we measure.

    The paper's other columns (``text_columns``: Date, Family, Scale, D/S, ...) are kept as
    printed. Every table gets measured params and FLOPs; ``flops_column`` is None where the
    paper prints no FLOPs (Tables 5-9), so there is nothing to take a difference with.
    """

    number: int
    params_column: str
    top1_column: str
    flops_column: str | None = None
    text_columns: tuple[str, ...] = ()
    dataset: str | None = "imagenet"  # None: the row's "dataset" cell names it (Table 9)

    @property
    def paper(self) -> PaperTable:
        return TABLES[self.number]

    def __post_init__(self) -> None:
        columns = set(TABLES[self.number].columns[1:])
        named = {self.params_column, self.top1_column, *self.text_columns}
        if self.flops_column is not None:
            named.add(self.flops_column)
        if named != columns:
            raise ValueError(
                f"Table {self.number}: spec names columns {sorted(named)}, "
                + f"the paper has {sorted(columns)}"
            )


TABLE_SPECS: Mapping[int, TableSpec] = {
    spec.number: spec
    for spec in (
        TableSpec(2, "Param", "Top-1 (%)", "FLOPs", ("Date",)),
        TableSpec(3, "Param", "Top-1 (%)", "FLOPs", ("Family", "Scale")),
        TableSpec(5, "# parameters", "Top-1 (%)", text_columns=("D/S",)),
        TableSpec(6, "# parameters", "Top-1 (%)", text_columns=("generating methods",)),
        TableSpec(7, "# parameters", "Top-1 (%)", text_columns=("d",)),
        TableSpec(8, "# parameters", "Top-1 (%)"),
        TableSpec(9, "# parameters", "Top-1 (%)", text_columns=("dataset",), dataset=None),
    )
}


# ---------------------------------------------------------------------------------------------
# Measuring: each distinct model once


@dataclass(frozen=True)
class MeasureKey:
    """One model to count: from our zoo or timm, with overrides, at one input size."""

    source: str  # "zoo" or "timm"
    name: str
    overrides: tuple[tuple[str, Any], ...] = ()
    input_size: tuple[int, ...] = DEFAULT_INPUT_SIZE

    @property
    def label(self) -> str:
        """'zoo dynamixer_s(reduced_dim=4)' or 'timm efficientnet_b3 @ 300×300'."""
        name = (
            ModelSpec(self.name, dict(self.overrides)).label if self.source == "zoo" else self.name
        )
        size = (
            ""
            if self.input_size == DEFAULT_INPUT_SIZE
            else " @ " + "×".join(map(str, self.input_size[1:]))
        )
        return f"{self.source} {name}{size}"


@dataclass(frozen=True)
class Measurement:
    """The two counts of one model, each with its provenance record."""

    key: MeasureKey
    params: ParamCount
    flops: FlopCount | None  # None when counted with flops=False (the quick CI comparison)


def row_key(row: PaperRow) -> MeasureKey | None:
    """What a paper row measures, or None when neither our zoo nor timm builds it."""
    side = row.input_size or DEFAULT_INPUT_SIZE[-1]
    size = (DEFAULT_INPUT_SIZE[0], side, side)
    if row.zoo_name is not None:
        return MeasureKey("zoo", row.zoo_name, tuple(row.overrides.items()), size)
    if row.timm_name is not None:
        return MeasureKey("timm", row.timm_name, (), size)
    return None


def measure_keys(numbers: Iterable[int] = (1, 2, 3, 4, 5, 6, 7, 8, 9)) -> list[MeasureKey]:
    """Every distinct model the given paper tables need, in first-seen order."""
    keys: dict[MeasureKey, None] = {}
    for number in numbers:
        table = TABLES[number]
        for name in table.column_zoo_names.values():  # Table 1: one model per column
            keys[MeasureKey("zoo", name)] = None
        for row in table.rows:
            key = row_key(row)
            if key is not None:
                keys[key] = None
    return list(keys)


def measure(
    keys: Iterable[MeasureKey], flops: bool = True, progress: bool = True
) -> dict[MeasureKey, Measurement]:
    """Count each model's parameters, and FLOPs unless ``flops=False``; a tqdm bar over models."""
    keys = list(keys)
    results: dict[MeasureKey, Measurement] = {}
    bar = tqdm(keys, desc="counting", unit="model", disable=not progress, dynamic_ncols=True)
    with skip_meta_init():
        for key in bar:
            bar.set_postfix_str(key.label)
            if key.source == "zoo":
                spec = ModelSpec(key.name, dict(key.overrides))
                params = count_params(spec)
                macs = count_flops(spec, key.input_size) if flops else None
            else:
                params = count_timm_params(key.name)
                macs = count_timm_flops(key.name, key.input_size) if flops else None
            results[key] = Measurement(key, params, macs)
    return results


# ---------------------------------------------------------------------------------------------
# Training results: a measured top-1 only for exactly the paper's configuration


def row_dataset(spec: TableSpec, row: PaperRow) -> str:
    """The dataset a row's top-1 is on: 'imagenet', or Table 9's 'cifar10' / 'cifar100'."""
    if spec.dataset is not None:
        return spec.dataset
    return row.cells["dataset"].replace("-", "").lower()  # "CIFAR-10" -> "cifar10"


def _same_model(model: str, dataset: str, a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two override sets build the same model (a DynaMixer by its resolved config)."""
    a, b = dict(a), dict(b)
    classes = num_classes(dataset)
    if a.pop("num_classes", classes) != b.pop("num_classes", classes):
        return False
    if model in dynamixer.CONFIGS:
        try:
            return dynamixer.config_dict(model, **a) == dynamixer.config_dict(model, **b)
        except (TypeError, ValueError):
            return False
    return a == b


def find_result(
    results: Sequence[Mapping[str, Any]], row: PaperRow, dataset: str
) -> Mapping[str, Any] | None:
    """The latest completed run of this row's exact model on ``dataset`` with the paper's recipe.

    A run whose recipe was changed at launch (``changed`` non-empty: fewer epochs, another
    learning rate, ...) is not the paper's configuration and does not count.
    """
    if row.zoo_name is None:
        return None
    matches = [
        record
        for record in results
        if record.get("status") == "completed"
        and record.get("top1") is not None
        and record.get("model") == row.zoo_name
        and record.get("dataset") == dataset
        and not record.get("changed")
        and _same_model(row.zoo_name, dataset, record.get("overrides") or {}, row.overrides)
    ]
    return max(matches, key=lambda r: str(r.get("finished", ""))) if matches else None


# ---------------------------------------------------------------------------------------------
# From measurements to a DataFrame (numbers stay numbers until rendering)


def _parse(parse: Any, text: str) -> float:
    return parse(text) if text else math.nan


def build_frame(
    spec: TableSpec,
    measurements: Mapping[MeasureKey, Measurement],
    results: Sequence[Mapping[str, Any]] = (),
) -> pd.DataFrame:
    """One row per paper row: its printed cells, the measured counts and their differences."""
    records = []
    for index, row in enumerate(spec.paper.rows, start=1):
        key = row_key(row)
        measured = measurements.get(key) if key is not None else None
        if key is not None and measured is None:
            raise KeyError(f"Table {spec.number} row {row.model_text!r}: {key.label} not measured")
        params = None if measured is None else measured.params.params
        macs = None if measured is None or measured.flops is None else measured.flops.macs
        dataset = row_dataset(spec, row)
        result = find_result(results, row, dataset)
        paper_params = parse_millions(row.cells[spec.params_column])
        record: dict[str, Any] = {
            "table": spec.number,
            "row": index,
            "model": row.model_text,
            **{f"paper_{column}": row.cells[column] for column in spec.text_columns},
            "paper_params": row.cells[spec.params_column],
            "paper_params_m": paper_params,
            "measured_params": params,
            "measured_params_m": None if params is None else params / 1e6,
            "params_diff_m": None if params is None else params / 1e6 - paper_params,
        }
        if spec.flops_column is not None:
            paper_gflops = _parse(parse_giga, row.cells[spec.flops_column])
            record |= {
                "paper_flops": row.cells[spec.flops_column],
                "paper_gflops": paper_gflops,
            }
        record |= {
            "measured_macs": macs,
            "measured_gmacs": None if macs is None else macs / 1e9,
        }
        if spec.flops_column is not None:
            record["gmacs_diff"] = None if macs is None else macs / 1e9 - paper_gflops
        record |= {
            "paper_top1": float(row.cells[spec.top1_column]),
            "measured_top1": None if result is None else float(result["top1"]),
            "top1_run": None if result is None else result.get("config_key"),
            "dataset": dataset,
            "built_as": NOT_IN_ZOO if key is None else key.label,
            "input_size": None if key is None else "x".join(map(str, key.input_size)),
        }
        if measured is not None:
            environment = measured.params.environment
            record |= {
                "flop_counter": None if measured.flops is None else measured.flops.counter,
                "torch": environment.torch_version,
                "timm": environment.timm_version,
                "ptflops": environment.ptflops_version,
            }
        records.append(record)
    frame = pd.DataFrame.from_records(records)
    derived = ["measured_params_m", "params_diff_m", "measured_gmacs", "gmacs_diff"]
    for column in derived:  # exact counts are beside them; this only drops float noise
        if column in frame:
            frame[column] = frame[column].astype(float).round(6)
    for column in COUNT_COLUMNS:
        frame[column] = frame[column].astype("Int64")
    return frame


def _fmt(value: Any, pattern: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return MISSING
    return pattern.format(value)


def display_frame(spec: TableSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """The markdown table's cells: the paper's text as printed, measured cells formatted."""
    paper = spec.paper
    columns: dict[str, list[str]] = {paper.columns[0]: list(frame["model"])}
    for column in spec.text_columns:
        columns[column] = list(frame[f"paper_{column}"])
    params = spec.params_column
    columns[f"{params}, paper"] = list(frame["paper_params"])
    columns[f"{params}, measured"] = [_fmt(v, "{:,}") for v in frame["measured_params"]]
    columns[f"{params}, measured (M)"] = [_fmt(v, "{:.2f}M") for v in frame["measured_params_m"]]
    columns[f"{params}, Δ (M)"] = [_fmt(v, "{:+.2f}") for v in frame["params_diff_m"]]
    flops = spec.flops_column or "FLOPs"
    if spec.flops_column is not None:
        columns[f"{flops}, paper"] = list(frame["paper_flops"])
    columns[f"{flops}, measured (G MACs)"] = [_fmt(v, "{:.2f}G") for v in frame["measured_gmacs"]]
    if spec.flops_column is not None:
        columns[f"{flops}, Δ (G)"] = [_fmt(v, "{:+.2f}") for v in frame["gmacs_diff"]]
    top1 = spec.top1_column
    columns[f"{top1}, paper"] = [f"{v:.1f}" for v in frame["paper_top1"]]
    columns[f"{top1}, measured"] = [_fmt(v, "{:.1f}") for v in frame["measured_top1"]]
    columns["built as"] = list(frame["built_as"])
    return pd.DataFrame(columns)


def _environment(measurements: Mapping[MeasureKey, Measurement]) -> Environment:
    return next(iter(measurements.values())).params.environment


def caption(
    spec: TableSpec,
    frame: pd.DataFrame,
    measurements: Mapping[MeasureKey, Measurement],
) -> str:
    """One line: what was measured, how, with which libraries, when; then the paper's caption."""
    environment = _environment(measurements)
    runs = int(frame["measured_top1"].notna().sum())
    top1 = (
        f"{runs} of {len(frame)} rows have one"
        if runs
        else "none exists yet, so every measured top-1 cell is —"
    )
    sizes = (
        "224×224 input, 300×300 or 384×384 where the Scale column says so"
        if spec.number == 3
        else "224×224 input"
    )
    difference = "; Δ = measured − paper" if spec.flops_column else "; Δ = measured − paper params"
    return (
        f"**Table {spec.number}: the paper's cells as printed beside measured counts.** "
        + "Params counted from the model's shapes on PyTorch's meta device (nothing "
        + "downloaded, nothing initialised); FLOPs are multiply-accumulates (MACs, what the "
        + f"paper's FLOPs count) of one image at batch 1, {sizes}, counted by ptflops "
        + f"{environment.ptflops_version} with its aten backend; torch "
        + f"{environment.torch_version}, timm {environment.timm_version} (counts depend on "
        + f"shapes and these versions only, so the file changes only when they do){difference}. "
        + "Top-1 measured: the best top-1 of a completed run "
        + "of exactly this configuration with the paper's recipe in `results/runs/` — "
        + f'{top1}. "{NOT_IN_ZOO}": neither our zoo nor timm builds the model faithfully. '
        + f'Paper\'s caption: "{spec.paper.caption}"'
    )


def render_markdown(
    spec: TableSpec,
    frame: pd.DataFrame,
    measurements: Mapping[MeasureKey, Measurement],
) -> str:
    """The whole ``tableN.md``: caption line, table, provenance footnote."""
    table = display_frame(spec, frame).to_markdown(index=False, disable_numparse=True)
    return (
        f"{caption(spec, frame, measurements)}\n\n{table}\n\n"
        + "Generated by `nox -s reproduce_tables` (`python -m reproduce tables`); do not edit. "
        + "The CSV beside this file has every count exactly, with its provenance; "
        + "`REPORT.md` checks each figure against the paper's rounding.\n"
    )


# ---------------------------------------------------------------------------------------------
# The regression check: a change that moves any count fails, naming table, row, old and new


def count_differences(
    committed: pd.DataFrame, regenerated: pd.DataFrame, columns: Sequence[str] = COUNT_COLUMNS
) -> list[str]:
    """One line per count that differs between a committed CSV and a regenerated frame.

    A missing value on either side (an unmeasured row, or a column left out of the
    regeneration) is compared only where the regenerated frame has a value.
    """
    problems = []
    old_rows = {int(r["row"]): r for _, r in committed.iterrows()}
    for _, new in regenerated.iterrows():
        where = f"Table {new['table']}, row {new['row']} {new['model']!r}"
        old = old_rows.get(int(new["row"]))
        if old is None or old["model"] != new["model"]:
            found = "nothing" if old is None else repr(old["model"])
            problems.append(f"{where}: the committed CSV has {found} at that row")
            continue
        for column in columns:
            value = new.get(column)
            if value is None or pd.isna(value):
                continue
            before = old.get(column)
            if before is None or pd.isna(before) or int(before) != int(value):
                shown = "nothing" if before is None or pd.isna(before) else f"{int(before):,}"
                problems.append(f"{where}: {column} was {shown}, now {int(value):,}")
    return problems


def read_committed(path: str | Path) -> pd.DataFrame:
    """A committed ``tableN.csv``, counts as nullable integers."""
    return pd.read_csv(path, dtype={column: "Int64" for column in COUNT_COLUMNS})


# ---------------------------------------------------------------------------------------------
# Command line


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m reproduce tables",
        description="Regenerate Tables 2, 3, 5-9 (paper beside measured), REPORT.md and "
        + "Figure 1 on the CPU.",
    )
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR)
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


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def main(argv: Sequence[str] | None = None) -> int:
    # report and figure1 import this module, so they are imported here, not at the top.
    from reproduce import figure1, report

    args = make_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    start = time.perf_counter()
    measurements = measure(measure_keys(), progress=not args.no_progress)
    results = store.load_results(args.runs_dir)
    frames = {n: build_frame(spec, measurements, results) for n, spec in TABLE_SPECS.items()}
    counted = time.perf_counter() - start

    if args.check:
        problems = []
        for number, frame in frames.items():
            path = args.output_dir / f"table{number}.csv"
            if not path.exists():
                problems.append(f"Table {number}: {path} does not exist")
                continue
            problems += count_differences(read_committed(path), frame)
        print("\n".join(problems) or f"every count matches the CSVs in {args.output_dir}")
        return 1 if problems else 0

    written = []
    for number, frame in frames.items():
        spec = TABLE_SPECS[number]
        stem = args.output_dir / f"table{number}"
        written.append(
            write_text_atomic(stem.with_suffix(".md"), render_markdown(spec, frame, measurements))
        )
        written.append(write_text_atomic(stem.with_suffix(".csv"), frame.to_csv(index=False)))
    written.append(report.write_report(measurements, results, args.output_dir))
    zoo_params = {
        key.name: m.params.params
        for key, m in measurements.items()
        if key.source == "zoo" and not key.overrides
    }
    written.append(figure1.write_figure(results, args.output_dir / "figure1.png", zoo_params))
    total = time.perf_counter() - start
    print("wrote " + ", ".join(str(path) for path in written))
    print(
        f"{len(measurements)} models counted in {_duration(counted)}; "
        + f"whole command {_duration(total)}"
    )
    return 0
