"""REPORT.md rendered from the checks: every not-reproduced finding listed, every row nothing
builds accounted for with its reason."""

from __future__ import annotations

from pathlib import Path

from reproduce.claims.audit import build_audit
from reproduce.commands.tables import table4_frames
from reproduce.paper import TABLES
from reproduce.render.report import render_report
from reproduce.tables.counts import counting_environment
from reproduce.tables.specs import row_key
from tests.reproduce.conftest import fixed_measurements


def test_report_lists_every_finding_and_says_why_each_unjudged_one_is(tmp_path: Path) -> None:
    measurements = fixed_measurements()
    audit = build_audit(measurements, [], table4_frames(tmp_path))
    text = render_report(audit, counting_environment(measurements))
    not_reproduced = [c for c in audit.checks if c.verdict == "not reproduced"]
    assert not_reproduced
    for check in not_reproduced:
        assert f"**{check.source}, {check.subject}** ({check.kind})" in text
    table8 = {c.subject: c for c in audit.checks if c.source == "Table 8" and c.kind == "params"}
    assert table8["- channel fusion"].why == "rounding and truncation"
    # Every figure of a row nothing here builds is a check, not out of scope.
    unbuilt = [row for n in (2, 3, 9) for row in TABLES[n].rows if row_key(row) is None]
    for row in unbuilt:
        assert any(
            c.subject == row.model_text and c.verdict == "not checkable here" for c in audit.checks
        ), row.label
    assert "no measured run times both models" in text
    assert "## Not checkable here, by reason" in text
