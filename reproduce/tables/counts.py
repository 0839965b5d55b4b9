"""Counting every model the tables need, once each, and the regression check of the counts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from benchmarks.counting import (
    count_flops,
    count_params,
    count_timm_flops,
    count_timm_params,
    skip_meta_init,
)
from benchmarks.records import FlopCount, ModelSpec, ParamCount
from common.environment import Environment
from reproduce.tables.specs import MeasureKey

__all__ = [
    "COUNT_COLUMNS",
    "Measurement",
    "count_differences",
    "count_models",
    "counting_environment",
    "read_committed",
]

#: The measured counts the CI regression test compares with the committed CSVs.
COUNT_COLUMNS = ("measured_params", "measured_macs")


@dataclass(frozen=True)
class Measurement:
    """The two counts of one model, each with its provenance record."""

    key: MeasureKey
    params: ParamCount
    flops: FlopCount | None  # None when counted with flops=False (the quick CI comparison)


def count_models(
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


def counting_environment(measurements: Mapping[MeasureKey, Measurement]) -> Environment:
    """Where the counts were made (the libraries they depend on)."""
    return next(iter(measurements.values())).params.environment


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
