"""Tables 2, 3 and 5-9 as markdown: the paper's cells as printed beside the measured ones."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from reproduce.claims.verdicts import Check
from reproduce.paper import ARTEFACTS
from reproduce.render.text import MISSING, cell_text
from reproduce.tables.counts import Measurement, counting_environment
from reproduce.tables.specs import NOT_IN_ZOO, MeasureKey, TableSpec

__all__ = ["display_frame", "render_table", "table_caption"]


def display_frame(spec: TableSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """The markdown table's cells: the paper's text as printed, measured cells formatted."""
    paper = spec.paper
    columns: dict[str, list[str]] = {paper.columns[0]: list(frame["model"])}
    for column in spec.text_columns:
        columns[column] = [
            "" if (spec.number, column, text) in ARTEFACTS else text
            for text in frame[f"paper_{column}"].fillna("")
        ]
    params = spec.params_column
    columns[f"{params}, paper"] = list(frame["paper_params"])
    columns[f"{params}, measured"] = [cell_text(v, "{:,}") for v in frame["measured_params"]]
    columns[f"{params}, measured (M)"] = [
        cell_text(v, "{:.2f}M") for v in frame["measured_params_m"]
    ]
    columns[f"{params}, Δ (M)"] = [cell_text(v, "{:+.2f}") for v in frame["params_diff_m"]]
    flops = spec.flops_column or "FLOPs"
    if spec.flops_column is not None:
        columns[f"{flops}, paper"] = list(frame["paper_flops"])
    columns[f"{flops}, measured (G MACs)"] = [
        cell_text(v, "{:.2f}G") for v in frame["measured_gmacs"]
    ]
    if spec.flops_column is not None:
        columns[f"{flops}, Δ (G)"] = [cell_text(v, "{:+.2f}") for v in frame["gmacs_diff"]]
    top1 = spec.top1_column
    columns[f"{top1}, paper"] = [f"{v:.1f}" for v in frame["paper_top1"]]
    columns[f"{top1}, measured"] = [
        _top1_text(value, std, n, source)
        for value, std, n, source in zip(
            frame["measured_top1"],
            frame["measured_top1_std"],
            frame["measured_top1_n"],
            frame["top1_source"],
            strict=True,
        )
    ]
    reasons = _reason_numbers(frame)
    columns["built as"] = [
        f"{built} ({reasons[why]})" if isinstance(why, str) else built
        for built, why in zip(frame["built_as"], frame["why_not_built"], strict=True)
    ]
    return pd.DataFrame(columns)


def _top1_text(value: Any, std: Any, n: Any, source: Any) -> str:
    """'82.3 (released weights, evaluated here)', '82.3 ± 0.2, n=3 (trained here with recipe
    imagenet_dynamixer_s)', or — where nothing was measured."""
    text = cell_text(value, "{:.1f}")
    if text == MISSING:
        return text
    if isinstance(n, int | float) and n > 1:
        text += f" ± {std:.1f}, n={int(n)}"
    return f"{text} ({source})"


def _reason_numbers(frame: pd.DataFrame) -> dict[str, int]:
    """Each distinct reason a row is not built, numbered in order of first appearance."""
    reasons = [why for why in frame["why_not_built"] if isinstance(why, str)]
    return {why: number for number, why in enumerate(dict.fromkeys(reasons), start=1)}


def _artefact_notes(spec: TableSpec, frame: pd.DataFrame) -> str:
    """The paper's cells shown empty because they are typesetting artefacts, and why."""
    notes = [
        note
        for (number, column, text), note in ARTEFACTS.items()
        if number == spec.number and (frame[f"paper_{column}"] == text).any()
    ]
    return "".join(f"Shown empty: {note}.\n\n" for note in notes)


def _reason_notes(frame: pd.DataFrame) -> str:
    reasons = _reason_numbers(frame)
    if not reasons:
        return ""
    lines = "".join(f"- ({number}) {why}.\n" for why, number in reasons.items())
    return f"Why nothing here builds a row marked not in zoo:\n\n{lines}\n"


def table_caption(
    spec: TableSpec,
    frame: pd.DataFrame,
    measurements: Mapping[MeasureKey, Measurement],
) -> str:
    """One line: what was measured, how, with which libraries, when; then the paper's caption."""
    environment = counting_environment(measurements)
    runs = int(frame["measured_top1"].notna().sum())
    top1 = (
        f"{runs} of {len(frame)} rows have one"
        if runs
        else "none exists yet, so every measured top-1 cell is —"
    )
    evaluation_set = (
        "CIFAR test set (10,000 images)"
        if spec.number == 9
        else "ImageNet-1K validation set (50,000 images)"
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
        + "Top-1 measured, from `results/runs/`, with its source in brackets: for runs trained "
        + "here, each run's best epoch on the evaluation set, as the authors' code reports it "
        + "(EMA weights where the recipe keeps them), of exactly this configuration with the "
        + "paper's recipe at its global batch, any seed (mean ± sample std, n runs, where "
        + "n > 1); else released weights evaluated here once on the whole "
        + f"{evaluation_set} with the model's own transform — {top1}. "
        + f'"{NOT_IN_ZOO}": neither our zoo nor timm builds the model faithfully. '
        + f'Paper\'s caption: "{spec.paper.caption}"'
    )


def _finding_notes(findings: Sequence[Check]) -> str:
    """The prose's claims about this table that the audit did not reproduce, and why."""
    if not findings:
        return ""
    lines = "".join(
        f"- {check.source}: {check.subject} ({check.verdict}): {check.why}.\n" for check in findings
    )
    return f"What the text says of this table, checked (REPORT.md has every check):\n\n{lines}\n"


def render_table(
    spec: TableSpec,
    frame: pd.DataFrame,
    measurements: Mapping[MeasureKey, Measurement],
    findings: Sequence[Check] = (),
) -> str:
    """The whole ``tableN.md``: caption line, table, notes (cells shown empty, rows not built,
    the text's claims about the table that are not reproduced), provenance footnote."""
    table = display_frame(spec, frame).to_markdown(index=False, disable_numparse=True)
    notes = _artefact_notes(spec, frame) + _reason_notes(frame) + _finding_notes(findings)
    return (
        f"{table_caption(spec, frame, measurements)}\n\n{table}\n\n"
        + notes
        + "Generated by `nox -s reproduce_tables` (`python -m reproduce tables`); do not edit. "
        + "The CSV beside this file has every count exactly, with its provenance; "
        + "`REPORT.md` checks each figure against the paper's rounding.\n"
    )
