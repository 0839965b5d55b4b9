"""One numeric DataFrame per table: the paper's cells beside the measured counts and top-1.

Numbers stay numbers here (formatting happens in :mod:`reproduce.render`). A measured top-1
comes from the results store, and only from a completed run of exactly the row's configuration
with the paper's recipe.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from models import is_reconstruction
from reproduce.paper import PaperRow, parse_giga, parse_millions
from reproduce.tables.counts import COUNT_COLUMNS, Measurement
from reproduce.tables.specs import NOT_IN_ZOO, MeasureKey, TableSpec, row_dataset, row_key
from reproduce.training.data import num_classes
from reproduce.training.recipes import same_model

__all__ = ["find_result", "table_frame"]


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
        and same_model(
            row.zoo_name, record.get("overrides") or {}, row.overrides, num_classes(dataset)
        )
    ]
    return max(matches, key=lambda r: str(r.get("finished", ""))) if matches else None


def _parse(parse: Any, text: str) -> float:
    return parse(text) if text else math.nan


def table_frame(
    spec: TableSpec,
    measurements: Mapping[MeasureKey, Measurement],
    results: Sequence[Mapping[str, Any]] = (),
) -> pd.DataFrame:
    """One row per paper row: its printed cells, the measured counts and their differences."""
    records = [
        _row_record(spec, index, row, measurements, results)
        for index, row in enumerate(spec.paper.rows, start=1)
    ]
    frame = pd.DataFrame.from_records(records)
    derived = ["measured_params_m", "params_diff_m", "measured_gmacs", "gmacs_diff"]
    for column in derived:  # exact counts are beside them; this only drops float noise
        if column in frame:
            frame[column] = frame[column].astype(float).round(6)
    for column in COUNT_COLUMNS:
        frame[column] = frame[column].astype("Int64")
    return frame


def _built_as(key: MeasureKey | None) -> str:
    """What builds a row: 'zoo name(overrides)', 'timm name', or "not in zoo"; a zoo model
    without official code says it is a reconstruction."""
    if key is None:
        return NOT_IN_ZOO
    if key.source == "zoo" and is_reconstruction(key.name):
        return f"{key.label} (reconstruction)"
    return key.label


def _row_record(
    spec: TableSpec,
    index: int,
    row: PaperRow,
    measurements: Mapping[MeasureKey, Measurement],
    results: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """One paper row's record: printed cells, counts, differences, top-1 and provenance."""
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
        "built_as": _built_as(key),
        "why_not_built": row.unbuilt_reason,
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
    return record
