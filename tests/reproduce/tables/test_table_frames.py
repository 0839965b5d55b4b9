"""One numeric frame per table: the paper's text beside measured counts and matched runs; one
rule for a row's measured top-1 (runs of the recipe, any seed, at its global batch; else
released weights evaluated on the whole split), shown with its provenance."""

from __future__ import annotations

import statistics

import pytest

from reproduce.paper import TABLES, PaperRow
from reproduce.render.tables import render_table
from reproduce.tables.frames import RELEASED_WEIGHTS, measured_top1
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


def _run(**fields) -> dict:
    """A completed training record that reached its recipe's global batch (2048)."""
    batch = {"global_batch": 2048, "recipe_global_batch": 2048}
    return run_record(
        **{"kind": "training", "config": "imagenet_dynamixer_s", "eval_model": "ema", **batch}
        | fields
    )


def _evaluation(model: str = "vip_s7", **fields) -> dict:
    """A completed evaluation of released weights on the whole ImageNet validation set."""
    record = {
        "kind": "evaluation", "status": "completed", "config_key": f"eval_{model}_imagenet",
        "model": model, "model_source": "zoo", "overrides": {}, "changed": {},
        "dataset": "imagenet", "top1": 81.48, "top5": 95.62, "weights_source": "authors' release",
        "checkpoint": {"ema": None, "trained_here": None, "sha256": "ab" * 32},
        "data": {"classes": 1000, "images": 50_000, "complete": True},
        "transform": {"input_size": [3, 224, 224]}, "finished": "2026-02-01T00:00:00+00:00",
    }  # fmt: skip
    return record | fields


def _row(table: int, label: str) -> PaperRow:
    return next(row for row in TABLES[table].rows if row.label == label)


def test_measured_top1_only_from_a_completed_run_of_exactly_that_configuration() -> None:
    results = [
        _run(),  # DynaMixer-S itself: Table 5's D/S=24 row is the same model
        _run(config_key="x", overrides={"reduced_dim": 4}, changed={"epochs": 1}, top1=50.0),
        _run(config_key="y", overrides={"segment_dim": 96}, status="running", top1=60.0),
        _run(config_key="z", overrides={"segment_dim": 48}, dataset="cifar10", top1=70.0),
    ]
    frame = fixed_frame(5, results).set_index("paper_D/S")
    assert frame.loc["24", "measured_top1"] == 82.31
    assert frame.loc["24", "top1_run"] == "imagenet_dynamixer_s"
    assert frame.loc["24", "top1_source"] == "trained here with recipe imagenet_dynamixer_s"
    assert frame.loc["24", "top1_weights"] == "EMA" and frame.loc["24", "measured_top1_n"] == 1
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
    assert list(shown["Top-1 (%), measured"]) == [
        "—", "—", "—", "82.3 (trained here with recipe imagenet_dynamixer_s)",
    ]  # fmt: skip


def test_runs_of_one_configuration_with_other_seeds_count_together() -> None:
    seeds = [
        _run(config_key=f"imagenet_dynamixer_s+{seed}", changed={"seed": seed}, top1=top1)
        for seed, top1 in ((1, 82.5), (2, 82.6))
    ]
    # Execution settings are not recipe changes: threads, or the per-process batch with the
    # global batch kept by accumulation.
    other = _run(config_key="k", changed={"batch_size": 128, "threads": 4}, top1=82.7)
    measured = measured_top1([_run(), *seeds, other], _row(2, "DynaMixer-S"), "imagenet")
    assert measured is not None and measured.n == 4 and measured.kind == "training"
    assert measured.top1 == pytest.approx(statistics.fmean([82.31, 82.5, 82.6, 82.7]))
    assert measured.std == pytest.approx(statistics.stdev([82.31, 82.5, 82.6, 82.7]))
    assert measured.records == ("imagenet_dynamixer_s", "imagenet_dynamixer_s+1",
                                "imagenet_dynamixer_s+2", "k")  # fmt: skip
    shown = markdown_table(
        render_table(TABLE_SPECS[2], fixed_frame(2, [_run(), *seeds]), fixed_measurements())
    ).set_index("Model")
    assert shown.loc["DynaMixer-S", "Top-1 (%), measured"] == (
        "82.5 ± 0.1, n=3 (trained here with recipe imagenet_dynamixer_s)"
    )
    assert measured_top1([_run(), *seeds], _row(2, "DynaMixer-S"), "imagenet").n == 3


def test_a_run_short_of_the_recipes_global_batch_does_not_count() -> None:
    row = _row(2, "DynaMixer-S")
    four_gpus = _run(global_batch=1024)  # 256 x 4 processes, no accumulation
    assert measured_top1([four_gpus], row, "imagenet") is None
    bare = {
        key: value
        for key, value in run_record().items()
        if key not in ("global_batch", "recipe_global_batch", "recipe")
    }
    legacy = bare | {"global_batch": 2048, "recipe": {"batch_size": 256, "paper_gpus": 8}}
    assert measured_top1([legacy], row, "imagenet") is not None  # a schema-1 record
    assert measured_top1([bare], row, "imagenet") is None  # says nothing of its batch


def test_released_weights_evaluated_here_show_with_their_provenance() -> None:
    vip, mixer = _row(2, "ViP-Small/7"), _row(2, "Mixer-B/16")
    measured = measured_top1([_evaluation()], vip, "imagenet")
    assert measured is not None and measured.source == RELEASED_WEIGHTS
    assert (measured.top1, measured.top5, measured.n, measured.std) == (81.48, 95.62, 1, None)
    assert measured.weights_source == "authors' release" and measured.kind == "evaluation"
    timm_weights = _evaluation("mixer_b16_224", model_source="timm", top1=76.6)
    assert measured_top1([timm_weights], mixer, "imagenet").top1 == 76.6
    # Not the paper's evaluation: part of the split, another transform, a run's own weights.
    for other in (
        _evaluation(data={"classes": 1000, "images": 5_000, "complete": False}),
        _evaluation(changed={"crop_pct": 1.0}),
        _evaluation(checkpoint={"ema": True, "trained_here": "imagenet_vip_s7"}),
        _evaluation(transform={"input_size": [3, 384, 384]}),
        _evaluation(overrides={"num_classes": 10}),
    ):
        assert measured_top1([other], vip, "imagenet") is None, other
    # A run trained here comes first; the latest evaluation otherwise.
    trained = _run(model="vip_s7", config="imagenet_vip_s7", config_key="imagenet_vip_s7")
    assert measured_top1([_evaluation(), trained], vip, "imagenet").kind == "training"
    later = _evaluation(top1=81.5, finished="2026-03-01T00:00:00+00:00", config_key="later")
    assert measured_top1([later, _evaluation()], vip, "imagenet").records == ("later",)
    frame = fixed_frame(2, [_evaluation(), timm_weights]).set_index("model")
    assert frame.loc["ViP-Small/7 (Hou et al., 2021)", "top1_source"] == RELEASED_WEIGHTS
    shown = markdown_table(
        render_table(TABLE_SPECS[2], fixed_frame(2, [_evaluation()]), fixed_measurements())
    )
    row = shown[shown["Model"].str.startswith("ViP-Small/7")].iloc[0]
    assert row["Top-1 (%), measured"] == "81.5 (released weights, evaluated here)"


def test_caption_says_top1_is_the_best_epoch_and_where_it_comes_from() -> None:
    text = render_table(TABLE_SPECS[2], fixed_frame(2), fixed_measurements())
    caption = text.splitlines()[0]
    assert "each run's best epoch on the evaluation set, as the authors' code reports it" in caption
    assert "any seed (mean ± sample std, n runs, where n > 1)" in caption
    assert "released weights evaluated here once on the whole ImageNet-1K validation set" in caption


def test_table9_top1_is_matched_per_dataset_and_head() -> None:
    record = _run(
        config_key="cifar100_dynamixer_s", dataset="cifar100", overrides={"num_classes": 100},
        global_batch=128, recipe_global_batch=128,
    )  # fmt: skip
    frame = fixed_frame(9, [record])
    hits = frame[frame["measured_top1"].notna()]
    assert list(zip(hits["model"], hits["dataset"], strict=True)) == [("DynaMixer-S", "cifar100")]
