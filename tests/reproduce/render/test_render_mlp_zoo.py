"""The zoo table's markdown and figure: what was timed where, the paper's top-1, the front."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from benchmarks.settings import ThroughputSettings
from common.environment import Environment
from reproduce.render.mlp_zoo import (
    figure_points,
    mlp_zoo_caption,
    mlp_zoo_stem,
    pareto_front,
    render_mlp_zoo,
    write_mlp_zoo_figure,
)
from reproduce.tables.mlp_zoo import mlp_zoo_frame, select_entries, zoo_entries
from tests.benchmarks.conftest import ENVIRONMENT, fixed_rows
from tests.reproduce.conftest import markdown_table

SECONDS = {
    "mixer_b16_224": [4.0, 4.0, 4.0],
    "resmlp_s24": [2.0, 4.0, 2.0],
    "s2mlpv2_s7": [3.0, 3.0, 3.0],
    "cyclemlp_b1(cycle_fc='deform_conv')": [2.0, 2.0, 2.0],
    "cyclemlp_b1(cycle_fc='shift')": [1.0, 1.0, 1.0],
    "dynamixer_s(fused=False)": [8.0, 8.0, 8.0],
    "dynamixer_s(fused=True)": [2.0, 2.0, 2.0],
}


def _frame(
    settings: ThroughputSettings | None = None, run_environment: Environment | None = None
) -> pd.DataFrame:
    names = ["mixer_b16_224", "resmlp_s24", "s2mlpv2_s7", "cyclemlp_b1", "dynamixer_s"]
    rows = fixed_rows(SECONDS, settings=settings, environment=run_environment or ENVIRONMENT)
    return mlp_zoo_frame(rows, select_entries(zoo_entries(), names))


def test_table_cells_say_what_is_measured_and_what_is_the_papers() -> None:
    table = markdown_table(render_mlp_zoo(_frame()))
    assert list(table["Model"]) == [
        "Mixer-B/16",
        "Mixer-B/16†",
        "ResMLP-S24",
        "S²-MLPv2-Small/7",
        "CycleMLP-B1",
        "CycleMLP-B1",
        "DynaMixer-S",
        "DynaMixer-S",
    ]
    rows = table.set_index("timed as")
    shift = "`cyclemlp_b1(cycle_fc='shift')`, released family (not a paper row), shift + linear"
    assert rows.loc[shift, "Top-1 (%), paper"] == "—"
    assert "`s2mlpv2_s7`, reconstruction (no official code)" in rows.index
    fused = rows.loc["`dynamixer_s(fused=True)`, fused"]
    # ResMLP-S24 over DynaMixer-S fused, per round: 1, 2, 1.
    assert fused["vs ResMLP-S24, measured [interval]"] == "1.00 [1.00–2.00]"
    assert fused["img/s, measured [min–max]"] == "16.0 [16.0–16.0]"
    assert (fused["Params"], fused["MACs"], fused["Top-1 (%), paper"]) == ("10.0M", "2.00G", "82.7")
    assert fused["MFU, measured"] == "64%"  # 2 x 2 GMAC x 16 img/s over 100 GFLOP/s


def test_caption_says_where_how_and_what_the_labels_mean() -> None:
    caption = mlp_zoo_caption(_frame())
    for text in (
        "SUBSET",
        "Test CPU 9000, cpu, 2 threads, fp32",
        "batch 32, 3×224×224 input",
        "median images/s of 3 timed batches [min–max] after 1 warm-up round(s) at batch 2",
        "all 7 models interleaved",
        "median [a 95% distribution-free interval for the median of the per-round ratios",
        "100.0 GFLOP/s",
        "Top-1 is the paper's Table 2 (not measured)",
        "CycleMLP-B1–B5 are the released CycleMLP family",
        "S²-MLPv2 is a reconstruction",
        "Mixer-B/16 and Mixer-B/16† are one timm model",
        "authors' computation (fused=False) and on the fused fast path",
        "CycleMLP is timed on its authors' Cycle FC (torchvision's deform_conv2d)",
        "torch 2.14.1, timm 1.0.31; 2026-01-02T03:04:05+00:00",
    ):
        assert text in caption, text
    assert "emulated" not in caption  # fp32
    bf16 = mlp_zoo_caption(_frame(ThroughputSettings(amp="bf16", iters=3, warmup_batch_size=2)))
    assert "cpu, 2 threads, amp-bf16" in bf16 and "bf16 is emulated on this CPU" in bf16
    native = dataclasses.replace(ENVIRONMENT, cpu_bf16=("amx_bf16",))
    frame = _frame(ThroughputSettings(amp="bf16", iters=3), run_environment=native)
    assert "bf16 runs natively on this CPU (amx_bf16)" in mlp_zoo_caption(frame)


def test_file_names_carry_the_device_and_every_non_default_setting() -> None:
    frame = _frame()
    assert mlp_zoo_stem(frame) == "mlp_zoo_cpu_subset"
    full = frame.assign(subset=False)
    assert mlp_zoo_stem(full) == "mlp_zoo_cpu"
    gpu = full.assign(device="cuda:0", device_name="NVIDIA H200", precision="amp-bf16")
    assert mlp_zoo_stem(gpu) == "mlp_zoo_h200_amp-bf16"
    compiled = gpu.assign(compile_mode="max-autotune", infer_batch_size=64)
    assert mlp_zoo_stem(compiled) == "mlp_zoo_h200_amp-bf16_compile-max-autotune_batch64"


def test_pareto_front_keeps_the_points_nothing_beats_on_both_axes() -> None:
    points = pd.DataFrame(
        {
            "label": ["fast weak", "slow strong", "dominated", "middle", "tie faster"],
            "images_per_s": [10.0, 1.0, 2.0, 5.0, 5.5],
            "top1": [76.0, 84.0, 80.0, 81.0, 81.0],
        }
    )
    front = pareto_front(points)
    assert list(front["label"]) == ["fast weak", "tie faster", "slow strong"]
    plotted = figure_points(_frame())
    assert "CycleMLP-B1" not in set(plotted["label"])  # no paper top-1 to plot
    assert {"DynaMixer (authors' computation)", "DynaMixer (fused)"} <= set(plotted["family"])


def test_figure_is_written_atomically_and_byte_stable(tmp_path: Path) -> None:
    frame = _frame()
    first = write_mlp_zoo_figure(frame, tmp_path / "zoo.png").read_bytes()
    second = write_mlp_zoo_figure(frame, tmp_path / "zoo.png").read_bytes()
    assert first[:8] == b"\x89PNG\r\n\x1a\n" and first == second
    assert [p.name for p in tmp_path.iterdir()] == ["zoo.png"]


def test_without_the_reference_row_the_ratio_column_is_blank() -> None:
    names = ["cyclemlp_b1", "dynamixer_s"]
    run = fixed_rows({k: v for k, v in SECONDS.items() if k.startswith(("cyclemlp", "dynamixer"))})
    frame = mlp_zoo_frame(run, select_entries(zoo_entries(), names))
    assert frame[["relative", "relative_low", "relative_high"]].isna().all().all()
    table = markdown_table(render_mlp_zoo(frame))
    assert set(table["vs ResMLP-S24, measured [interval]"]) == {"–"}


def test_a_partial_run_and_a_failed_model_render_and_say_so() -> None:
    names = ["mixer_b16_224", "resmlp_s24", "s2mlpv2_s7", "cyclemlp_b1", "dynamixer_s"]
    measured = {k: v for k, v in SECONDS.items() if not k.startswith("dynamixer")}
    rows = fixed_rows(measured, statuses={"cyclemlp_b1(cycle_fc='shift')": "oom"})
    frame = mlp_zoo_frame(rows, select_entries(zoo_entries(), names))
    text = render_mlp_zoo(frame)
    assert "PARTIAL: 6 of 8 rows measured, 2 missing" in text  # DynaMixer-S, both paths
    assert "1 model(s) could not be timed; their rows say why." in text
    table = markdown_table(text).set_index("Model")
    cycle = table.set_index("timed as").filter(like="shift + linear", axis=0)
    assert list(cycle["img/s, measured [min–max]"]) == ["not timed: oom"]
    labels = ["Mixer-B/16", "Mixer-B/16†", "ResMLP-S24", "S²-MLPv2-Small/7"]  # not CycleMLP
    assert figure_points(frame)["label"].tolist() == labels
