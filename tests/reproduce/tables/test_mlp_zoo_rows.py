"""The zoo table's rows: Table 2's MLPs in the paper's order, labelled, each timed once."""

from __future__ import annotations

import pytest

from models import is_mlp, list_models
from reproduce.paper import TABLES
from reproduce.tables.mlp_zoo import (
    mlp_zoo_frame,
    select_entries,
    zoo_entries,
    zoo_specs,
)
from tests.benchmarks.conftest import fixed_rows


def test_rows_are_table_2s_buildable_mlps_in_the_papers_order_with_the_released_cyclemlps() -> None:
    entries = zoo_entries()
    labels = [entry.label for entry in entries]
    buildable = [row.label for row in TABLES[2].rows if row.buildable]
    # DynaMixer twice (both paths), CycleMLP-B1-B5 where the paper's CycleMLP rows stand.
    paper_rows = list(
        dict.fromkeys(label for label in labels if not label.startswith("CycleMLP-B"))
    )
    assert paper_rows == buildable
    cycle = [label for label in labels if label.startswith("CycleMLP")]
    # Each released CycleMLP on both routes of its Cycle FC (authors' deform_conv2d, the zoo's).
    assert cycle == [f"CycleMLP-B{n}" for n in range(1, 6) for _ in range(2)]
    first_cycle = labels.index("CycleMLP-B1")
    assert labels[first_cycle - 1] == "ConvMLP-L" and labels[first_cycle + 10] == "Hire-MLP-Ti"
    by_label = {}
    for entry in entries:
        by_label.setdefault(entry.label, []).append(entry)
    assert all(
        e.paper_top1 is None and "not a paper row" in e.note for e in by_label["CycleMLP-B1"]
    )
    assert [e.spec.label for e in by_label["CycleMLP-B1"]] == [
        "cyclemlp_b1(cycle_fc='deform_conv')",
        "cyclemlp_b1(cycle_fc='shift')",
    ]
    assert [e.note for e in by_label["S²-MLPv2-Small/7"]] == ["reconstruction (no official code)"]
    assert [(e.spec.label, e.note) for e in by_label["DynaMixer-M"]] == [
        ("dynamixer_m(fused=False)", "authors' computation"),
        ("dynamixer_m(fused=True)", "fused"),
    ]
    assert by_label["DynaMixer-M"][0].paper_top1 == 83.7
    assert [e.paper_top1 for e in by_label["Mixer-B/16†"]] == [77.3]


def test_each_model_is_timed_once() -> None:
    entries = zoo_entries()
    specs = zoo_specs(entries)
    assert len(entries) == 45 and len(specs) == 44  # the two Mixer-B/16 rows are one model
    assert len({spec.label for spec in specs}) == len(specs)
    names = {spec.name for spec in specs}
    mlps = {name for name in list_models() if is_mlp(name)}
    assert names >= mlps - {"dynamixer_digits"}  # every ImageNet zoo MLP
    assert not names & (set(list_models()) - mlps)  # and no transformer, hybrid or GFNet
    assert {"mixer_b16_224", "gmlp_ti16_224", "gmlp_s16_224", "gmlp_b16_224"} <= names


def test_a_subset_by_name_and_unknown_names_refused() -> None:
    subset = select_entries(zoo_entries(), ["dynamixer_s", "mixer_b16_224"])
    assert [(e.label, e.note) for e in subset] == [
        ("Mixer-B/16", ""),
        ("Mixer-B/16†", ""),
        ("DynaMixer-S", "authors' computation"),
        ("DynaMixer-S", "fused"),
    ]
    with pytest.raises(ValueError, match=r"'resnet18' is not a model of the zoo table; its models"):
        select_entries(zoo_entries(), ["resnet18"])


def test_frame_carries_the_papers_top1_the_ratio_interval_and_the_run() -> None:
    entries = select_entries(zoo_entries(), ["resmlp_s24", "dynamixer_s", "cyclemlp_b1"])
    run = fixed_rows(
        {
            "resmlp_s24": [2.0, 4.0, 2.0],
            "cyclemlp_b1(cycle_fc='deform_conv')": [2.0, 2.0, 2.0],
            "cyclemlp_b1(cycle_fc='shift')": [1.0, 1.0, 1.0],
            "dynamixer_s(fused=False)": [4.0, 4.0, 4.0],
            "dynamixer_s(fused=True)": [3.0, 4.0, 1.0],
        }
    )
    frame = mlp_zoo_frame(run, entries).set_index("model")
    labels = ["ResMLP-S24", "CycleMLP-B1", "CycleMLP-B1", "DynaMixer-S", "DynaMixer-S"]
    assert list(frame["label"]) == labels
    # Per round: ResMLP-S24's seconds over the row's. CycleMLP-B1 (shift): 2, 4, 2.
    cycle = frame.loc["cyclemlp_b1(cycle_fc='shift')"]
    assert (cycle["relative"], cycle["relative_low"], cycle["relative_high"]) == (2.0, 2.0, 4.0)
    fused = frame.loc["dynamixer_s(fused=True)"]
    assert (fused["relative_low"], fused["relative"], fused["relative_high"]) == pytest.approx(
        (2 / 3, 1.0, 2.0)
    )
    assert frame.loc["resmlp_s24", "relative"] == 1.0
    assert frame.loc["dynamixer_s(fused=False)", "paper_top1"] == 82.7
    assert frame["paper_top1"].isna().tolist() == [False, True, True, False, False]
    assert frame.loc["cyclemlp_b1(cycle_fc='shift')", "infer_samples_per_sec"] == 32.0
    assert set(frame["subset"]) == {True}
