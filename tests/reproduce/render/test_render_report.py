"""REPORT.md rendered from the checks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from reproduce.claims.audit import build_audit
from reproduce.claims.verdicts import MATCH, MISMATCH
from reproduce.commands.tables import table4_frames
from reproduce.paper import TABLES
from reproduce.render.report import render_report
from reproduce.tables.counts import (
    counting_environment,
)
from reproduce.tables.specs import (
    row_key,
)
from tests.reproduce.conftest import (
    fixed_measurements,
)


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


def test_report_counts_checks_and_lists_every_mismatch(tmp_path: Path) -> None:
    measurements = fixed_measurements()
    audit = build_audit(measurements, [], table4_frames(tmp_path))
    checks, unbuilt_rows = audit.checks, audit.unbuilt_rows
    text = render_report(audit, counting_environment(measurements))
    mismatches = [c for c in checks if c.outcome == MISMATCH]
    matches = [c for c in checks if c.outcome == MATCH]
    assert f"{len(matches) + len(mismatches)} figures checked: {len(matches)} match, " in text
    for check in mismatches:
        assert f"**{check.source}, {check.subject}, {check.kind}**" in text
    table8 = {c.subject: c for c in checks if c.source == "Table 8" and c.kind == "params"}
    assert table8["- channel fusion"].how == "rounding and truncation"
    assert unbuilt_rows == sum(
        key is None for n in (2, 3, 9) for key in map(row_key, TABLES[n].rows)
    )
    assert "not checked: run nox -s reproduce_table4" in text
