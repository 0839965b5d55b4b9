"""Table 4 rendered from its frame: layout, caption, claims footnote, file names."""

from __future__ import annotations

import dataclasses

import pytest

from benchmarks.settings import ThroughputSettings
from reproduce.claims.speed import table4_claims
from reproduce.render.table4 import claim_line
from reproduce.render.text import gpu_short_name
from tests.reproduce.conftest import (
    ENVIRONMENT,
    MACS,
    PARAMS,
    RATES,
    TABLE,
    failed_row,
    fixed_result,
    frame_of,
    markdown_table,
    render,
    stem,
)


def test_layout_paper_beside_measured_in_the_papers_row_order() -> None:
    text = render(fixed_result())
    frame = markdown_table(text)
    device = "measured (Test CPU 9000, cpu, 2 threads, fp32)"
    assert list(frame.columns) == [
        "Model",
        "# Param, paper",
        "# Param, measured",
        "FLOPs, paper",
        "FLOPs, measured",
        "Throughput image/s, paper (V100)",
        f"Throughput image/s, {device} [min–max]",
        "vs ResMLP S24, paper",
        "vs ResMLP S24, measured [interval]",
        "MFU, measured",
        "Top-1 (%), paper",
    ]
    assert list(frame["Model"]) == [row.label for row in TABLE.rows]
    for (_, cells), row in zip(frame.iterrows(), TABLE.rows, strict=True):
        # Paper cells are the paper's text (read from reproduce.paper) ...
        assert cells["# Param, paper"] == row.cells["# Param"]
        assert cells["FLOPs, paper"] == row.cells["FLOPs"]
        assert cells["Throughput image/s, paper (V100)"] == row.cells["Throughput image/s"]
        assert cells["Top-1 (%), paper"] == row.cells["Top-1 (%)"]
        # ... and measured cells come from the records, never from the paper.
        name = str(row.zoo_name)
        assert cells["# Param, measured"] == f"{PARAMS[name] / 1e6:.2f}M"
        assert cells["FLOPs, measured"] == f"{MACS[name] / 1e9:.2f}G"
        median = RATES[name]
        measured = cells[f"Throughput image/s, {device} [min–max]"]
        assert measured.startswith(f"{median:.1f} [") or measured.startswith(f"{median:.2f} [")
    assert frame.loc[3, f"Throughput image/s, {device} [min–max]"] == "20.0 [18.0–22.0]"


def test_mfu_is_achieved_flops_over_the_measured_gemm_peak() -> None:
    result = fixed_result()
    frame = frame_of(result)
    # DynaMixer-S: 2 x 7.315 GMACs x 20 img/s = 292.6 GFLOP/s of a 1000 GFLOP/s peak.
    row = frame.set_index("name").loc["dynamixer_s"]
    assert row["infer_mfu"] == pytest.approx(2 * MACS["dynamixer_s"] * 20.0 / 1e12)
    assert row["infer_mfu"] == pytest.approx(0.2926, abs=1e-4)
    shown = markdown_table(render(result))
    assert list(shown["MFU, measured"]) == ["48%", "46%", "52%", "29%", "44%", "41%"]
    assert (
        "the best of 5 calls of one 2048×2048×2048 linear before and 5 after the rows, fp32: 1000.0"
        in (render(result))
    )
    blank = render(fixed_result(gemm_peak_gflops=None))
    assert set(markdown_table(blank)["MFU, measured"]) == {"–"}
    assert "MFU not measured" in blank


def test_relative_throughput_columns() -> None:
    frame = markdown_table(render(fixed_result()))
    paper = frame.set_index("Model")["vs ResMLP S24, paper"]
    measured = frame.set_index("Model")["vs ResMLP S24, measured [interval]"]
    assert paper["ResMLP S24"] == "1.00" and measured["ResMLP S24"] == "1.00 [1.00–1.00]"
    assert paper["DynaMixer-S"] == f"{551 / 680:.2f}" == "0.81"
    # The median of the per-round ratios (each round 20 / 40) and their interval.
    assert measured["DynaMixer-S"] == "0.50 [0.50–0.50]"
    assert measured["ViP-L/7"].startswith(f"{9 / 40:.2f} [")
    numbers = frame_of(fixed_result()).set_index("name")
    assert numbers.loc["resmlp_b24", "relative"] == pytest.approx(0.25)
    assert numbers.loc["resmlp_b24", "paper_relative"] == pytest.approx(215 / 680)


def test_relative_columns_are_blank_without_the_reference_row() -> None:
    result = fixed_result(models=["vip_m7", "dynamixer_s"])
    frame = markdown_table(render(result))
    assert list(frame["vs ResMLP S24, measured [interval]"]) == ["–", "–"]
    assert list(frame["vs ResMLP S24, paper"]) == [f"{390 / 680:.2f}", f"{551 / 680:.2f}"]


def test_claim_footnote_says_which_claims_hold() -> None:
    text = render(fixed_result())
    footnote = text.split(
        "Claims on this device (Test CPU 9000, cpu, 2 threads, fp32; in brackets an interval for "
        + "the median ratio: min–max of 3 rounds, 75% confidence for the median):"
    )[1]
    assert "- DynaMixer-S faster than ViP-M/7: paper 1.41x, measured 1.25x" in footnote
    assert "- DynaMixer-S faster than ResMLP B24: paper 2.56x, measured 2.00x" in footnote
    assert (
        "- DynaMixer-M about 16%–18% slower than ViP-M/7: paper 16.4% (Table 4), "
        + "measured 25.0% (slower) [25.0–25.0] — does not hold"
    ) in footnote
    assert (
        "- DynaMixer-M about 5% larger than ViP-M/7: paper +3.6% params, +4.3% FLOPs; "
        + "measured +3.4% params, +4.3% FLOPs — holds"
    ) in footnote
    checks = {c.subject: c.holds_here for c in table4_claims(frame_of(fixed_result()))}
    assert all(claim_line(c) in footnote for c in table4_claims(frame_of(fixed_result())))
    assert checks == {
        "DynaMixer-S faster than ViP-M/7": True,
        "DynaMixer-S faster than ResMLP B24": True,
        "DynaMixer-M about 16%–18% slower than ViP-M/7": False,
        "DynaMixer-M about 5% larger than ViP-M/7": True,
    }
    # Where DynaMixer-S is the slower one, the claim fails, and says so.
    slower = render(fixed_result(rates={**RATES, "vip_m7": 25.0}))
    assert (
        "DynaMixer-S faster than ViP-M/7: paper 1.41x, measured 0.80x [0.80–0.80] — does not hold"
        in slower
    )
    # Only claims whose models were measured are listed.
    partial = render(fixed_result(models=["resmlp_s24", "dynamixer_s"]))
    assert "Claims on this device" not in partial


def test_caption_says_device_settings_versions_and_duration() -> None:
    caption = render(fixed_result()).splitlines()[0]
    for text in (
        "Throughput of every model as its authors compute it (DynaMixer fused=False) on ",
        "Test CPU 9000, cpu, 2 threads, fp32",
        "batch 32",
        "median images/s of 3 timed batches after 1 warm-up",
        "load average 1.5–2.0",
        "ptflops 0.7.5, aten backend",
        "torch 2.14.1, timm 1.0.31",
        "2026-01-02T03:04:05+00:00",
        "measuring took 2 min 3 s",
        "batch 32 on one V100",
        TABLE.caption,
    ):
        assert text in caption, text
    assert "shared with other work" not in caption  # load 2.0 = this run's own 2 threads
    quick = render(fixed_result(quick=True)).splitlines()[0]
    assert "QUICK SMOKE RUN" in quick
    fused = render(fixed_result(fused=True))
    assert "Throughput of DynaMixer on its fused fast path (fused=True; ViP and ResMLP" in fused
    assert "measured (Test CPU 9000, cpu, 2 threads, fp32, DynaMixer fused) [min–max]" in fused


def test_caption_warns_when_other_work_shared_the_cpu() -> None:
    result = fixed_result()
    busy = result.rows[0] | {"infer_load_average": "1.50 4.40"}
    result = dataclasses.replace(result, rows=(busy, *result.rows[1:]))
    caption = render(result).splitlines()[0]
    assert "load average 1.5–4.4 while timing on 2 cores (above this run's own threads" in caption


@pytest.mark.parametrize(
    ("device_name", "short"),
    [
        ("NVIDIA H100 80GB HBM3", "h100"),
        ("NVIDIA A100-SXM4-40GB", "a100"),
        ("Tesla V100-SXM2-16GB", "v100"),
        ("NVIDIA GeForce RTX 4090", "rtx4090"),
        ("NVIDIA L4", "l4"),
    ],
)
def test_gpu_short_name(device_name: str, short: str) -> None:
    assert gpu_short_name(device_name) == short


def test_output_names_say_device_and_non_default_settings() -> None:
    h100 = dataclasses.replace(ENVIRONMENT, device="cuda:0", device_name="NVIDIA H100 80GB HBM3")
    assert stem(fixed_result()) == "table4"
    gpu = fixed_result(environment=h100, settings=ThroughputSettings(device="cuda"))
    assert stem(gpu) == "table4_h100"
    amp = ThroughputSettings(device="cuda", amp="bf16", compile=True, channels_last=True)
    amp_result = fixed_result(environment=h100, settings=amp)
    assert stem(amp_result) == "table4_h100_amp-bf16_channels-last_compile"
    autotuned = dataclasses.replace(amp, compile_mode="max-autotune")
    assert stem(fixed_result(environment=h100, settings=autotuned)) == (
        "table4_h100_amp-bf16_channels-last_compile-max-autotune"
    )
    assert stem(fixed_result(quick=True)) == "table4_quick"
    assert stem(fixed_result(fused=True)) == "table4_fused"
    assert stem(fixed_result(settings=ThroughputSettings(batch_size=8))) == ("table4_batch8")


def test_a_model_that_failed_is_a_row_saying_why_and_leaves_the_claims_it_touches_out() -> None:
    result = fixed_result()
    broken = failed_row("vip_m7", "oom")
    result = dataclasses.replace(
        result, rows=tuple(broken if r["name"] == "vip_m7" else r for r in result.rows)
    )
    text = render(result)
    row = markdown_table(text).set_index("Model").loc["ViP-M/7"]
    device = "measured (Test CPU 9000, cpu, 2 threads, fp32)"
    assert row[f"Throughput image/s, {device} [min–max]"] == "not timed: oom"
    assert row["# Param, measured"] == "–" and row["MFU, measured"] == "–"
    assert "1 of 6 models could not be timed (their rows say why)" in text.splitlines()[0]
    subjects = {c.subject for c in table4_claims(frame_of(result))}
    assert subjects == {"DynaMixer-S faster than ResMLP B24"}  # every other claim needs ViP-M/7
