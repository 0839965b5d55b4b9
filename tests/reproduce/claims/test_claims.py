"""Checking the paper: rounding conventions, mismatch arithmetic, speed claims, Table 8."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from reproduce.claims.construction import table8_removals
from reproduce.claims.speed import speed_checks
from reproduce.claims.verdicts import MATCH, MISMATCH, NOT_CHECKED, check_count
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
    assert check.outcome == MATCH
    assert check.how.startswith(expected)


def test_a_mismatch_comes_with_its_arithmetic() -> None:
    check = check_count("Table 2", "gMLP-S", "params", "20M", 19_422_656)
    assert check.outcome == MISMATCH
    assert check.how == (
        "19.423M rounds to 19M and truncates to 19M, not 20M (rounding up, a third convention, "
        + "would give 20M): measured − paper = -0.577M (-2.9%)"
    )
    check = check_count("Table 3", "DeiT-B", "FLOPs", "55.4G", 55_532_652_520)
    assert "rounds to 55.5G and truncates to 55.5G, not 55.4G:" in check.how


def _table4_csv(folder: Path) -> Path:
    """A measured Table 4 as reproduce.table4 writes it (the columns the checks read)."""
    rates = {
        "resmlp_s24": 40.0,
        "resmlp_b24": 10.0,
        "vip_m7": 16.0,
        "dynamixer_s": 20.0,
        "vip_l7": 9.0,
        "dynamixer_m": 12.0,
    }
    rows = []
    for row in TABLES[4].rows:
        name, rate = str(row.zoo_name), rates[str(row.zoo_name)]
        rows.append(
            {
                "model": name,
                "label": row.label,
                "paper_params_m": float(row.cells["# Param"][:-1]),
                "paper_gflops": float(row.cells["FLOPs"][:-1]),
                "paper_images_per_s": float(row.cells["Throughput image/s"]),
                "params": 1_000_000,
                "macs": 1_000_000_000,
                "images_per_s": rate,
                "images_per_s_min": rate * 0.9,
                "images_per_s_max": rate * 1.1,
                "batch_size": 32,
                "precision": "fp32",
                "device": "cpu",
                "device_name": "Test CPU 9000",
                "threads": 2,
            }
        )
    path = folder / "table4.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_speed_claims_without_a_measured_table4_are_not_checked(tmp_path: Path) -> None:
    checks = speed_checks(table4_frames(tmp_path))
    assert checks and {c.outcome for c in checks} == {NOT_CHECKED}
    assert all(c.how == "not checked: run nox -s reproduce_table4" for c in checks)


def test_speed_claims_are_checked_against_table4_csv_and_name_the_device(tmp_path: Path) -> None:
    _table4_csv(tmp_path)
    (tmp_path / "table4_quick.csv").write_text("ignored")  # quick runs are not evidence
    checks = speed_checks(table4_frames(tmp_path))
    assert all(c.device == "Test CPU 9000, cpu, 2 threads, fp32, batch 32" for c in checks)
    ordering = checks[0]
    # Only ViP-L/7 (9 img/s) and ResMLP B24 (10) are in the other order than the paper's.
    assert ordering.outcome == MISMATCH
    assert "14 of 15 pairs" in ordering.how and "ViP-L/7 9.0 ≤ ResMLP B24 10.0" in ordering.how
    by_claim = {c.claim_id: c.outcome for c in checks[1:4]}
    assert by_claim == {
        "dynamixer_s_faster_than_vip_m7": MATCH,
        "dynamixer_s_faster_than_resmlp_b24": MATCH,
        "throughput_lower_than_vip": MISMATCH,  # 25% slower, not 16-18%
    }
    # The claim's other pairs (DynaMixer-S/ViP-S/7, -L/-L/7) are not rows of Table 4.
    assert [c.outcome for c in checks[4:]] == [NOT_CHECKED] * 2


def test_table8_construction_explains_the_channel_fusion_count() -> None:
    lines = table8_lines(table8_removals())
    channel = next(line for line in lines if "channel fusion" in line)
    assert "23,495,016" in channel and "24,054,120" in channel and "(not 23M)" in channel
