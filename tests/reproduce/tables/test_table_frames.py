"""One numeric frame per table: the paper's text beside measured counts and matched runs."""

from __future__ import annotations

import pytest

from reproduce.paper import TABLES
from reproduce.render.tables import render_table
from reproduce.tables.specs import (
    TABLE_SPECS,
    TableSpec,
)
from tests.reproduce.conftest import (
    FIXED_PARAMS,
    fixed_frame,
    fixed_measurements,
    markdown_table,
    run_record,
)


def test_specs_name_every_paper_column_and_reject_unknown_ones() -> None:
    for number, spec in TABLE_SPECS.items():
        assert spec.paper is TABLES[number]
    with pytest.raises(ValueError, match="Table 8: spec names columns"):
        TableSpec(8, "# parameters", "Top-1 (%)", text_columns=("Scale",))


def test_frame_keeps_the_papers_text_and_puts_measured_counts_beside_it() -> None:
    frame = fixed_frame(8)
    paper = TABLES[8]
    assert list(frame["model"]) == [row.model_text for row in paper.rows]
    assert list(frame["paper_params"]) == [row.cells["# parameters"] for row in paper.rows]
    assert list(frame["measured_params"]) == list(FIXED_PARAMS.values())
    assert frame.loc[3, "params_diff_m"] == pytest.approx(0.495016)
    assert frame["measured_top1"].isna().all()
    assert frame.loc[3, "built_as"] == "zoo dynamixer_s(channel_mixing=False)"


def test_measured_top1_only_from_a_completed_run_of_exactly_that_configuration() -> None:
    results = [
        run_record(),  # DynaMixer-S itself: Table 5's D/S=24 row is the same model
        run_record(config_key="x", overrides={"reduced_dim": 4}, changed={"epochs": 1}, top1=50.0),
        run_record(config_key="y", overrides={"segment_dim": 96}, status="running", top1=60.0),
        run_record(config_key="z", overrides={"segment_dim": 48}, dataset="cifar10", top1=70.0),
    ]
    frame = fixed_frame(5, results).set_index("paper_D/S")
    assert frame.loc["24", "measured_top1"] == 82.31
    assert frame.loc["24", "top1_run"] == "imagenet_dynamixer_s"
    assert frame[["measured_top1"]].drop(index="24").isna().all().all()
    assert fixed_frame(7, results).set_index("paper_d")["measured_top1"].notna().tolist() == [
        False,
        True,
        False,
        False,
    ]  # d=4 was run with a changed recipe: not the paper's configuration
    shown = markdown_table(
        render_table(TABLE_SPECS[5], fixed_frame(5, results), fixed_measurements())
    )
    assert list(shown["Top-1 (%), measured"]) == ["—", "—", "—", "82.3"]


def test_table9_top1_is_matched_per_dataset_and_head() -> None:
    record = run_record(
        config_key="cifar100_dynamixer_s", dataset="cifar100", overrides={"num_classes": 100}
    )
    frame = fixed_frame(9, [record])
    hits = frame[frame["measured_top1"].notna()]
    assert list(zip(hits["model"], hits["dataset"], strict=True)) == [("DynaMixer-S", "cifar100")]
