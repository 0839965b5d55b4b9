"""Checking the paper: the verdict vocabulary, rounding conventions, arithmetic of a miss, speed
claims with their intervals, the claims that need no training, the sources, Table 8."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from reproduce.claims.construction import table8_removals
from reproduce.claims.speed import pair_checks, shared_rounds, speed_checks, zoo_timings
from reproduce.claims.verdicts import (
    CLOSE,
    INCONCLUSIVE,
    INDICATIVE,
    NOT_CHECKABLE,
    NOT_REPRODUCED,
    REPRODUCED,
    VERDICTS,
    Check,
    check_count,
    top1_verdict,
)
from reproduce.commands.tables import table4_frames
from reproduce.paper import TABLES
from reproduce.render.report import table8_lines


@pytest.mark.parametrize(
    ("count", "printed", "expected"),
    [
        (26_265_960, "26M", "rounding and truncation"),
        (97_818_088, "97M", "truncation only"),
        (25_704_296, "26M", "rounding only"),
        (32_718_184, "32M", "truncation only"),
        (23_495_016, "23M", "rounding and truncation"),
        (7_315_402_216, "7.3G", "rounding and truncation"),
        (5_964_981_736, "6.0G", "rounding only"),
    ],
)
def test_each_match_says_whether_rounding_or_truncation_gives_it(
    count: int, printed: str, expected: str
) -> None:
    check = check_count("Table X", "model", "params", printed, count)
    assert check.verdict == REPRODUCED
    assert check.why.startswith(expected)


def test_a_mismatch_comes_with_its_arithmetic() -> None:
    check = check_count("Table 2", "gMLP-S", "params", "20M", 19_422_656)
    assert check.verdict == CLOSE  # 2.9% off: within the 5% a close count allows
    assert check.why == (
        "19.423M rounds to 19M and truncates to 19M, not 20M (rounding up, a third convention, "
        + "would give 20M): measured − paper = -0.577M (-2.9%)"
    )
    check = check_count("Table 3", "DeiT-B", "FLOPs", "55.4G", 55_532_652_520)
    assert "rounds to 55.5G and truncates to 55.5G, not 55.4G:" in check.why
    assert check_count("Table 9", "ViT", "params", "49M", 22_050_664).verdict == NOT_REPRODUCED


def test_the_verdict_vocabulary_is_fixed() -> None:
    assert VERDICTS == (
        "reproduced",
        "close",
        "not reproduced",
        "indicative",
        "inconclusive",
        "not checkable here",
    )
    with pytest.raises(ValueError, match=r"verdict 'match'; accepted: \('reproduced'"):
        Check("Table 2", "x", "params", "1M", "1", "match", "")
    assert top1_verdict(82.71, "82.7") == REPRODUCED
    assert top1_verdict(82.3, "82.7") == CLOSE
    assert top1_verdict(81.9, "82.7") == NOT_REPRODUCED


RATES = {
    "resmlp_s24": 40.0,
    "resmlp_b24": 10.0,
    "vip_m7": 16.0,
    "dynamixer_s": 20.0,
    "vip_l7": 9.0,
    "dynamixer_m": 12.0,
}


def _table4_csv(
    folder: Path, device: str = "cpu", wobble: float = 0.02, rates: dict[str, float] = RATES
) -> Path:
    """A measured Table 4 as the table4 command writes it (the sweep's columns the checks read):
    one group with the reference, three
    interleaved rounds, each model's per-round time wobbling by ``wobble`` around its median."""
    rows = []
    for index, row in enumerate(TABLES[4].rows):
        name, rate = str(row.zoo_name), rates[str(row.zoo_name)]
        sign = 1 if index % 2 else -1  # neighbours wobble in opposite directions
        seconds = [32 / rate * (1 + sign * w) for w in (-wobble, 0.0, wobble)]
        rows.append(
            {
                "label": row.label,
                "paper_params_m": float(row.cells["# Param"][:-1]),
                "paper_gflops": float(row.cells["FLOPs"][:-1]),
                "paper_images_per_s": float(row.cells["Throughput image/s"]),
                "model": name,
                "name": name,
                "status": "ok",
                "params": 1_000_000,
                "macs": 1_000_000_000,
                "infer_samples_per_sec": rate,
                "infer_samples_per_sec_min": 32 / max(seconds),
                "infer_samples_per_sec_max": 32 / min(seconds),
                "infer_batch_seconds": " ".join(f"{s:.6f}" for s in seconds),
                "requested_batch_size": 32,
                "group": 0 if name == "resmlp_s24" else 1,
                "run_started": "2026-01-02T03:02:00",
                "precision": "fp32",
                "device": device,
                "device_name": "Test CPU 9000" if device == "cpu" else "Test GPU 9000",
                "threads": 2,
            }
        )
    path = folder / "table4.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_speed_claims_without_a_measured_run_are_not_checkable_here(tmp_path: Path) -> None:
    checks = speed_checks(table4_frames(tmp_path))
    assert checks and {c.verdict for c in checks} == {NOT_CHECKABLE}
    assert all("no measured run times both models" in c.why for c in checks)
    # One per pair of the 16-18% claim, one per faster-than claim.
    assert len(checks) == 5


def test_cpu_speed_checks_are_indicative_and_say_whether_they_hold_here(tmp_path: Path) -> None:
    _table4_csv(tmp_path)
    (tmp_path / "table4_quick.csv").write_text("ignored")  # quick runs are not evidence
    checks = speed_checks(table4_frames(tmp_path))
    measured = [c for c in checks if c.verdict != NOT_CHECKABLE]
    assert {c.verdict for c in measured} == {INDICATIVE}  # the paper timed a V100
    assert all(c.device == "Test CPU 9000, cpu, 2 threads, fp32, batch 32" for c in measured)
    ordering = measured[0]
    # Only ViP-L/7 (9 img/s) and ResMLP B24 (10) are in the other order than the paper's.
    assert ordering.holds_here is False
    assert "14 of 15 pairs" in ordering.why and "ViP-L/7 9.0 ≤ ResMLP B24 10.0" in ordering.why
    holds = {c.claim_id: c.holds_here for c in measured[1:4]}
    assert holds == {
        "dynamixer_s_faster_than_vip_m7": True,  # 1.25x, every round
        "dynamixer_s_faster_than_resmlp_b24": True,
        "throughput_lower_than_vip": False,  # 25% slower, not 16-18%
    }
    # The claim's other pairs (DynaMixer-S/ViP-S/7, -L/-L/7) are not rows of Table 4.
    unmeasured = [c for c in checks if c.verdict == NOT_CHECKABLE]
    assert [c.subject for c in unmeasured] == [
        "DynaMixer-S vs ViP-Small/7",
        "DynaMixer-L vs ViP-Large/7",
    ]


def test_on_a_gpu_a_spread_that_straddles_the_claim_is_inconclusive(tmp_path: Path) -> None:
    # DynaMixer-S 1.3% faster than ViP-M/7 at the median, but the rounds wobble by 5%.
    _table4_csv(tmp_path, device="cuda:0", wobble=0.05, rates={**RATES, "dynamixer_s": 16.2})
    checks = {
        c.claim_id: c
        for c in speed_checks(table4_frames(tmp_path))
        if c.claim_id and c.verdict != NOT_CHECKABLE  # (the pairs Table 4 does not time)
    }
    faster = checks["dynamixer_s_faster_than_vip_m7"]
    assert faster.holds_here is None and faster.verdict == INCONCLUSIVE
    assert checks["dynamixer_s_faster_than_resmlp_b24"].verdict == REPRODUCED
    # 25% slower at the median, but the wobble takes the interval to 17-32%: inconclusive too.
    lower = checks["throughput_lower_than_vip"]
    assert lower.verdict == INCONCLUSIVE and "[17.1–32.1]" in lower.measured


def _zoo_csv(tmp_path: Path, rows: list[tuple], **columns: object) -> pd.DataFrame:
    """A zoo CSV of (name, overrides, per-round seconds, ...) rows plus ``columns``, written by
    pandas and read back as the report reads it (empty overrides come back as NaN)."""
    frame = pd.DataFrame(
        {
            "name": [r[0] for r in rows],
            "overrides": [r[1] for r in rows],
            "infer_batch_seconds": [r[2] for r in rows],
            "device_name": "Test CPU 9000",
            "device": "cpu",
            "threads": 2,
            "precision": "fp32",
            **columns,
        }
    )
    path = tmp_path / "mlp_zoo_cpu.csv"
    frame.to_csv(path, index=False)
    return pd.read_csv(path)


def test_a_zoo_csv_read_back_times_every_pair_it_holds(tmp_path: Path) -> None:
    # Rows built without overrides read back with an empty (NaN) overrides cell; the fused
    # DynaMixer rows are not the authors' computation and are left out.
    rows = [
        ("vip_s7", "", "4.0 4.2"),
        ("vip_l7", "", "12.0 12.4"),
        ("dynamixer_s", "{'fused': False}", "5.0 5.0"),
        ("dynamixer_s", "{'fused': True}", "1.0 1.0"),
        ("dynamixer_l", "{'fused': False}", "14.0 15.0"),
    ]
    # A table written before rows said their group, run and requested batch.
    timings = zoo_timings(_zoo_csv(tmp_path, rows, infer_batch_size=32))
    assert sorted(timings) == ["dynamixer_l", "dynamixer_s", "vip_l7", "vip_s7"]
    assert timings["dynamixer_s"].seconds == (5.0, 5.0)  # the authors' computation, not fused
    subjects = [c.subject for c in pair_checks(timings, "zoo table")]
    assert subjects == [
        "DynaMixer-S about 16%–18% slower than ViP-Small/7",
        "DynaMixer-L about 16%–18% slower than ViP-Large/7",
    ]


def test_zoo_rows_of_different_groups_or_runs_are_never_compared_round_by_round(
    tmp_path: Path,
) -> None:
    # A grouped zoo sweep: ViP-S/7 and DynaMixer-S shared no rounds (groups 1 and 2); ViP-L/7
    # and DynaMixer-L did (group 3), but a resumed file holds ViP-L/7 from another run.
    rows = [
        ("resmlp_s24", "", "2.0 2.0", 0, "run-a"),
        ("vip_s7", "", "4.0 4.2", 1, "run-a"),
        ("dynamixer_s", "{'fused': False}", "5.0 5.0", 2, "run-a"),
        ("vip_l7", "", "12.0 12.4", 3, "run-b"),
        ("dynamixer_l", "{'fused': False}", "14.0 15.0", 3, "run-a"),
    ]
    columns = {"group": [r[3] for r in rows], "run_started": [r[4] for r in rows]}
    frame = _zoo_csv(tmp_path, rows, status="ok", requested_batch_size=32, **columns)
    timings = zoo_timings(frame)
    assert pair_checks(timings, "zoo table") == []
    assert shared_rounds(timings["resmlp_s24"], timings["dynamixer_s"])  # the reference
    assert not shared_rounds(timings["vip_s7"], timings["dynamixer_s"])
    assert not shared_rounds(timings["vip_l7"], timings["dynamixer_l"])


def test_table8_construction_explains_the_channel_fusion_count() -> None:
    lines = table8_lines(table8_removals())
    channel = next(line for line in lines if "channel fusion" in line)
    assert "23,495,016" in channel and "24,054,120" in channel and "(not 23M)" in channel
