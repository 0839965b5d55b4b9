"""One numeric DataFrame per table: the paper's cells beside the measured counts and top-1.

Numbers stay numbers here (formatting happens in :mod:`reproduce.render`). A row's measured
top-1 comes from the results store through `measured_top1`, the one rule every table, figure and
claim uses: completed training runs of exactly the row's configuration with the paper's recipe
(any seed; the recipe's global batch reached), their mean ± std over seeds; else the latest
evaluation of released weights for that model on the dataset's whole evaluation split.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from models import is_reconstruction
from reproduce.paper import PaperRow, parse_giga, parse_millions
from reproduce.tables.counts import COUNT_COLUMNS, Measurement
from reproduce.tables.specs import NOT_IN_ZOO, MeasureKey, TableSpec, row_dataset, row_key
from reproduce.training.data import num_classes
from reproduce.training.recipe import EXECUTION_FIELDS
from reproduce.training.recipes import same_model
from reproduce.training.store import kind_of

__all__ = [
    "RELEASED_WEIGHTS",
    "MeasuredTop1",
    "counts_as_evaluation",
    "counts_as_training_run",
    "measured_top1",
    "table_frame",
]

#: The provenance of a top-1 measured by evaluating released weights here.
RELEASED_WEIGHTS = "released weights, evaluated here"
_DEFAULT_SIDE = 224


@dataclass(frozen=True)
class MeasuredTop1:
    """A row's measured top-1 (percent) and where it comes from.

    ``top1`` is the mean over the ``n`` matching training runs (each its best epoch on the
    evaluation set, as the authors' code reports it; ``std`` the sample standard deviation,
    None for one run), or one evaluation of released weights. ``source`` is the provenance a
    table shows; ``records`` the store keys aggregated; ``which_weights`` EMA or not where known.
    """

    top1: float
    top5: float | None
    std: float | None
    n: int
    source: str
    kind: str  # "training" or "evaluation"
    records: tuple[str, ...]
    which_weights: str | None
    weights_source: str | None = None  # evaluations: the user's label ("authors' release")


def _row_side(row: PaperRow) -> int:
    return row.input_size or _DEFAULT_SIDE


def _recipe_global_batch(record: Mapping[str, Any]) -> int | None:
    """The global batch the record's recipe asks for (older records: from their recipe)."""
    if record.get("recipe_global_batch") is not None:
        return int(record["recipe_global_batch"])
    recipe = record.get("recipe") or {}
    if recipe.get("batch_size") and recipe.get("paper_gpus"):
        return int(recipe["batch_size"]) * int(recipe["paper_gpus"])
    return None


def counts_as_training_run(record: Mapping[str, Any], row: PaperRow, dataset: str) -> bool:
    """Whether ``record`` is a completed run of exactly ``row``'s model on ``dataset`` with the
    paper's recipe: nothing changed but execution settings (seed, threads, per-process batch
    with the global batch kept, ...), and the recipe's global batch reached."""
    if kind_of(record) != "training" or row.zoo_name is None:
        return False
    changed = set(record.get("changed") or {})
    side = (record.get("recipe") or {}).get("img_size", _DEFAULT_SIDE)
    return (
        record.get("status") == "completed"
        and record.get("top1") is not None
        and record.get("model") == row.zoo_name
        and record.get("dataset") == dataset
        and changed <= set(EXECUTION_FIELDS)
        and side == _row_side(row)
        and record.get("global_batch") is not None
        and record.get("global_batch") == _recipe_global_batch(record)
        and same_model(
            row.zoo_name, record.get("overrides") or {}, row.overrides, num_classes(dataset)
        )
    )


def counts_as_evaluation(record: Mapping[str, Any], row: PaperRow, dataset: str) -> bool:
    """Whether ``record`` evaluates released weights of exactly ``row``'s model on the whole
    evaluation split of ``dataset``, with the model's own transform at the row's input size."""
    if kind_of(record) != "evaluation" or not row.buildable:
        return False
    source, name = ("zoo", row.zoo_name) if row.zoo_name else ("timm", row.timm_name)
    overrides = dict(record.get("overrides") or {})
    overrides.pop("img_size", None)  # the transform's input size is checked instead
    data, checkpoint = record.get("data") or {}, record.get("checkpoint") or {}
    input_size = (record.get("transform") or {}).get("input_size") or [0]
    same = (
        same_model(str(name), overrides, row.overrides, num_classes(dataset))
        if source == "zoo"
        else not overrides or overrides == {"num_classes": num_classes(dataset)}
    )
    return (
        record.get("status") == "completed"
        and record.get("top1") is not None
        and record.get("model") == name
        and record.get("model_source") == source
        and record.get("dataset") == dataset
        and not record.get("changed")
        and bool(data.get("complete"))
        and checkpoint.get("trained_here") is None
        and input_size[-1] == _row_side(row)
        and same
    )


_WEIGHTS = {"ema": "EMA", "model": "non-EMA"}


def _from_training(runs: Sequence[Mapping[str, Any]]) -> MeasuredTop1:
    runs = sorted(runs, key=lambda r: str(r.get("config_key")))
    top1 = [float(r["top1"]) for r in runs]
    top5 = [r.get("top5") for r in runs]
    configs = dict.fromkeys(str(r.get("config")) for r in runs)
    weights = dict.fromkeys(_WEIGHTS.get(str(r.get("eval_model")), "unknown") for r in runs)
    return MeasuredTop1(
        top1=statistics.fmean(top1),
        top5=None if None in top5 else statistics.fmean(float(v) for v in top5),
        std=statistics.stdev(top1) if len(top1) > 1 else None,
        n=len(top1),
        source=f"trained here with recipe {', '.join(configs)}",
        kind="training",
        records=tuple(str(r.get("config_key")) for r in runs),
        which_weights=" and ".join(weights),
    )


def _from_evaluation(record: Mapping[str, Any]) -> MeasuredTop1:
    checkpoint = record.get("checkpoint") or {}
    ema = checkpoint.get("ema")
    return MeasuredTop1(
        top1=float(record["top1"]),
        top5=None if record.get("top5") is None else float(record["top5"]),
        std=None,
        n=1,
        source=RELEASED_WEIGHTS,
        kind="evaluation",
        records=(str(record.get("config_key")),),
        which_weights=None if ema is None else ("EMA" if ema else "non-EMA"),
        weights_source=record.get("weights_source"),
    )


def measured_top1(
    results: Sequence[Mapping[str, Any]], row: PaperRow, dataset: str
) -> MeasuredTop1 | None:
    """The row's measured top-1 on ``dataset`` from the store's records, or None.

    Training runs first (`counts_as_training_run`: every seed counts, mean ± std); else the
    latest evaluation of released weights (`counts_as_evaluation`). ``results`` may hold
    records of both kinds (``load_results(kinds=KINDS)``).
    """
    runs = [r for r in results if counts_as_training_run(r, row, dataset)]
    if runs:
        return _from_training(runs)
    evaluations = [r for r in results if counts_as_evaluation(r, row, dataset)]
    if evaluations:
        return _from_evaluation(max(evaluations, key=lambda r: str(r.get("finished", ""))))
    return None


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


def _top1_columns(top1: MeasuredTop1 | None) -> dict[str, Any]:
    """A row's measured top-1 columns: value, spread, runs, provenance, weights, store keys."""
    if top1 is None:
        return dict.fromkeys(_TOP1_COLUMNS) | {"measured_top1_n": 0}
    return {
        "measured_top1": top1.top1,
        "measured_top1_std": top1.std,
        "measured_top1_n": top1.n,
        "top1_source": top1.source,
        "top1_weights": top1.which_weights,
        "top1_run": ", ".join(top1.records),
    }


_TOP1_COLUMNS = (
    "measured_top1",
    "measured_top1_std",
    "measured_top1_n",
    "top1_source",
    "top1_weights",
    "top1_run",
)


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
    top1 = measured_top1(results, row, dataset)
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
        **_top1_columns(top1),
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
