"""Every printed count and configuration cell of Tables 1-9 against the models, and each top-1
against the results store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reproduce.claims.verdicts import (
    NOT_CHECKABLE,
    NOT_REPRODUCED,
    REPRODUCED,
    Check,
    check_count,
    top1_verdict,
)
from reproduce.paper import TABLES, PaperRow
from reproduce.tables.counts import Measurement
from reproduce.tables.frames import measured_top1
from reproduce.tables.specs import TABLE_SPECS, MeasureKey, TableSpec, row_dataset, row_key
from reproduce.tables.table1 import TABLE1, built_configuration

__all__ = ["row_checks", "table1_checks"]

#: Why a top-1 of this suite cannot be measured without a run, by dataset.
_NEEDS = {
    "imagenet": "needs ImageNet: a training run of this configuration or its released weights "
    + "evaluated (python -m reproduce evaluate); none in results/runs",
    "cifar10": "needs an ImageNet-pretrained model fine-tuned on CIFAR-10; no run in results/runs",
    "cifar100": "needs an ImageNet-pretrained model fine-tuned on CIFAR-100; no run in "
    + "results/runs",
}


def table1_checks(measurements: Mapping[MeasureKey, Measurement]) -> list[Check]:
    """Every configuration cell and parameter count of Table 1 against the zoo's configs."""
    checks = []
    for column, name in TABLE1.column_zoo_names.items():
        params = measurements[MeasureKey("zoo", name)].params.params
        built = built_configuration(name, params)
        for row in TABLE1.rows:
            printed = row.cells[column]
            subject = f"{column}: {row.label}" + (f" ({row.group})" if row.group != "other" else "")
            if row.label == "#Parameters":
                checks.append(check_count("Table 1", subject, "params", printed, params, table=1))
                continue
            ours = built[(row.group, row.label)]
            where = (
                f"training recipe imagenet_{name}" if row.label == "Stoch. Dep." else f"zoo {name}"
            )
            verdict = REPRODUCED if ours == printed else NOT_REPRODUCED
            why = where if ours == printed else f"{where} has {ours}, the paper prints {printed}"
            checks.append(
                Check("Table 1", subject, "configuration", printed, ours, verdict, why, table=1)
            )
    return checks


def _top1_check(
    spec: TableSpec, subject: str, row: PaperRow, results: Sequence[Mapping[str, Any]]
) -> Check:
    source, printed = f"Table {spec.number}", row.cells[spec.top1_column]
    dataset = row_dataset(spec, row)
    measured = measured_top1(results, row, dataset)
    if measured is None:
        why = _NEEDS[dataset]
        return Check(source, subject, "top-1", printed, "—", NOT_CHECKABLE, why, table=spec.number)
    top1 = measured.top1
    spread = f" ± {measured.std:.2f} (n={measured.n})" if measured.std is not None else ""
    why = (
        f"{measured.source} ({', '.join(measured.records)}): {top1:.2f}{spread} − {printed} = "
        + f"{top1 - float(printed):+.2f}"
    )
    verdict = top1_verdict(top1, printed)
    shown = f"{top1:.2f}{spread}"
    return Check(source, subject, "top-1", printed, shown, verdict, why, table=spec.number)


def _unbuilt_checks(spec: TableSpec, row: PaperRow) -> list[Check]:
    """The figures of a row nothing here builds: not checkable, with the row's reason."""
    source, why = f"Table {spec.number}", f"not in zoo: {row.unbuilt_reason}"
    columns = [spec.params_column, spec.flops_column, spec.top1_column]
    kinds = ["params", "FLOPs", "top-1"]
    return [
        Check(
            source,
            row.model_text,
            kind,
            row.cells[column],
            "—",
            NOT_CHECKABLE,
            why,
            table=spec.number,
        )
        for kind, column in zip(kinds, columns, strict=True)
        if column is not None
    ]


def row_checks(
    measurements: Mapping[MeasureKey, Measurement], results: Sequence[Mapping[str, Any]]
) -> list[Check]:
    """Checks of Tables 2-9's rows: parameters, FLOPs where printed, and top-1."""
    checks: list[Check] = []
    for number in range(2, 10):
        spec = TABLE_SPECS[number]
        source = f"Table {number}"
        for row in TABLES[number].rows:
            key = row_key(row)
            if key is None:
                checks += _unbuilt_checks(spec, row)
                continue
            measured = measurements[key]
            subject = row.model_text
            if number in (5, 6, 7, 9):
                subject += f" ({spec.text_columns[0]} {row.cells[spec.text_columns[0]]})"
            printed = row.cells[spec.params_column]
            count = measured.params.params
            checks.append(check_count(source, subject, "params", printed, count, table=number))
            if spec.flops_column is not None and measured.flops is not None:
                printed = row.cells[spec.flops_column]
                macs = measured.flops.macs
                checks.append(check_count(source, subject, "FLOPs", printed, macs, table=number))
            checks.append(_top1_check(spec, subject, row, results))
    return checks
