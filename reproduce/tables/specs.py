"""What each table of the paper holds: one spec per table, and the model each row measures.

A :class:`TableSpec` says which of a paper table's columns are figures the suite measures
(parameters, FLOPs, top-1) and which are kept as printed; Table 4 is one more spec (its
throughput column is measured by :mod:`reproduce.tables.table4`). :func:`row_key` names the
model a paper row builds (our zoo or timm, with overrides and input size), so every distinct
model is counted once however many tables list it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from benchmarks.records import DEFAULT_INPUT_SIZE, ModelSpec
from reproduce.paper import TABLES, PaperRow, PaperTable

__all__ = [
    "COUNTED_TABLES",
    "NOT_IN_ZOO",
    "TABLE_SPECS",
    "MeasureKey",
    "TableSpec",
    "measure_keys",
    "row_dataset",
    "row_key",
]

NOT_IN_ZOO = "not in zoo"


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
        TableSpec(4, "# Param", "Top-1 (%)", "FLOPs", ("Throughput image/s",)),
        TableSpec(5, "# parameters", "Top-1 (%)", text_columns=("D/S",)),
        TableSpec(6, "# parameters", "Top-1 (%)", text_columns=("generating methods",)),
        TableSpec(7, "# parameters", "Top-1 (%)", text_columns=("d",)),
        TableSpec(8, "# parameters", "Top-1 (%)"),
        TableSpec(9, "# parameters", "Top-1 (%)", text_columns=("dataset",), dataset=None),
    )
}
#: The tables whose rows are counted from shapes alone (Table 4 is timed, Table 1 is checked).
COUNTED_TABLES = (2, 3, 5, 6, 7, 8, 9)


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


def row_dataset(spec: TableSpec, row: PaperRow) -> str:
    """The dataset a row's top-1 is on: 'imagenet', or Table 9's 'cifar10' / 'cifar100'."""
    if spec.dataset is not None:
        return spec.dataset
    return row.cells["dataset"].replace("-", "").lower()  # "CIFAR-10" -> "cifar10"
