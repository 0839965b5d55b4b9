"""Every printed count and configuration cell of Tables 1-9 against the models, and each top-1
against the results store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from models import dynamixer
from reproduce.claims.verdicts import (
    MATCH,
    MISMATCH,
    NOT_CHECKED,
    TOP1_TOLERANCE,
    Check,
    check_count,
)
from reproduce.paper import TABLES, PaperRow
from reproduce.tables.counts import Measurement
from reproduce.tables.frames import find_result
from reproduce.tables.specs import TABLE_SPECS, MeasureKey, row_dataset, row_key
from reproduce.training.recipes import get_recipe

__all__ = ["COUNT_TABLES", "row_checks", "table1_checks"]

COUNT_TABLES = (1, 2, 3, 4, 5, 6, 7, 8, 9)


def _table1_actual(name: str, measured: Measurement) -> dict[tuple[str | None, str], str]:
    """Table 1's rows for one DynaMixer, read from our configuration as the paper prints them."""
    config = dynamixer.CONFIGS[name]
    sides = config.resolutions()
    first = config.transitions.index(True)  # the paper's first stage ends at the first transition
    stages = {"first stage": range(first + 1), "second stage": range(first + 1, len(sides))}

    def one(values: list[Any]) -> str:
        return "/".join(str(v) for v in dict.fromkeys(values))  # "192", or "192/384" if mixed

    actual: dict[tuple[str | None, str], str] = {}
    for group, groups in stages.items():
        side = sides[groups[0]]
        patch = config.patch_size if group == "first stage" else sides[first] // side
        actual |= {
            (group, "Patch size"): f"{patch}×{patch}",
            (group, "Hidden size"): one([config.embed_dims[i] for i in groups]),
            (group, "#Tokens"): f"{side}×{side}",
            (group, "#Mixer Layers"): str(sum(config.layers[i] for i in groups)),
            (group, "S"): one([config.num_segments[i] for i in groups]),
        }
    actual |= {
        ("other", "#Layers"): str(sum(config.layers)),
        ("other", "MLP Ratio"): f"{config.mlp_ratio:g}",
        ("other", "Stoch. Dep."): f"{get_recipe(f'imagenet_{name}').drop_path:g}",
        ("other", "d"): str(config.reduced_dim),
    }
    return actual


def table1_checks(measurements: Mapping[MeasureKey, Measurement]) -> list[Check]:
    table = TABLES[1]
    checks = []
    for column, name in table.column_zoo_names.items():
        measured = measurements[MeasureKey("zoo", name)]
        actual = _table1_actual(name, measured)
        for row in table.rows:
            printed = row.cells[column]
            subject = f"{column}: {row.label}" + (f" ({row.group})" if row.group != "other" else "")
            if row.label == "#Parameters":
                checks.append(check_count("Table 1", subject, "params", printed, _params(measured)))
                continue
            ours = actual[(row.group, row.label)]
            source = (
                f"training recipe imagenet_{name}" if row.label == "Stoch. Dep." else f"zoo {name}"
            )
            if ours == printed:
                checks.append(
                    Check("Table 1", subject, "configuration", printed, ours, MATCH, source)
                )
            else:
                how = f"{source} has {ours}, the paper prints {printed}"
                checks.append(
                    Check("Table 1", subject, "configuration", printed, ours, MISMATCH, how)
                )
    return checks


def _params(measured: Measurement) -> int:
    return measured.params.params


def _top1_check(
    source: str,
    subject: str,
    row: PaperRow,
    printed: str,
    dataset: str,
    results: Sequence[Mapping[str, Any]],
) -> Check:
    result = find_result(results, row, dataset)
    if result is None:
        why = f"no completed {dataset} run of this exact configuration in results/runs"
        return Check(source, subject, "top-1", printed, "—", NOT_CHECKED, why)
    top1 = float(result["top1"])
    difference = top1 - float(printed)
    outcome = MATCH if abs(difference) <= TOP1_TOLERANCE else MISMATCH
    how = (
        f"run {result.get('config_key')}: {top1:.2f} − {printed} = {difference:+.2f} points "
        + f"(agreement: within ±{TOP1_TOLERANCE})"
    )
    return Check(source, subject, "top-1", printed, f"{top1:.2f}", outcome, how)


def row_checks(
    measurements: Mapping[MeasureKey, Measurement], results: Sequence[Mapping[str, Any]]
) -> tuple[list[Check], int, int]:
    """Checks of Tables 2-9's rows; also how many rows and figures nothing here builds."""
    checks: list[Check] = []
    unbuilt_rows = unbuilt_figures = 0
    for number in COUNT_TABLES[1:]:
        table = TABLES[number]
        spec = TABLE_SPECS[number]
        source = f"Table {number}"
        for row in table.rows:
            key = row_key(row)
            if key is None:
                unbuilt_rows += 1
                unbuilt_figures += 2 + (spec.flops_column is not None)
                continue
            measured = measurements[key]
            subject = row.model_text
            if number in (5, 6, 7, 9):
                subject += f" ({spec.text_columns[0]} {row.cells[spec.text_columns[0]]})"
            checks.append(
                check_count(
                    source, subject, "params", row.cells[spec.params_column], _params(measured)
                )
            )
            if spec.flops_column is not None and measured.flops is not None:
                printed = row.cells[spec.flops_column]
                checks.append(check_count(source, subject, "FLOPs", printed, measured.flops.macs))
            printed = row.cells[spec.top1_column]
            dataset = row_dataset(spec, row)
            checks.append(_top1_check(source, subject, row, printed, dataset, results))
    return checks, unbuilt_rows, unbuilt_figures
