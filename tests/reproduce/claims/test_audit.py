"""The audit's verdicts, pinned: a claim whose verdict changes must change this file.

Built from the real parameter counts (no FLOPs: the FLOPs checks are covered by the count
regression test) and no training run, as a fresh clone has them.
"""

from __future__ import annotations

from collections import Counter

import pytest

from reproduce.claims.audit import Audit, build_audit
from reproduce.claims.copied_figures import date_checks, source_checks
from reproduce.claims.statements import statement_checks
from reproduce.claims.verdicts import VERDICTS
from reproduce.render.report import render_report
from reproduce.tables.counts import Measurement, count_models, counting_environment
from reproduce.tables.specs import MeasureKey, measure_keys


@pytest.fixture(scope="module")
def measurements() -> dict[MeasureKey, Measurement]:
    return count_models(measure_keys(), flops=False, progress=False)


@pytest.fixture(scope="module")
def audit(measurements: dict[MeasureKey, Measurement]) -> Audit:
    return build_audit(measurements, [], [])


def test_claims_that_need_no_training(measurements: dict[MeasureKey, Measurement]) -> None:
    verdicts = {(c.claim_id, c.subject): c.verdict for c in statement_checks(measurements)}
    assert verdicts == {
        ("operation_parameter_formula", "DynaMixer-S operation, 32x32 tokens of width 192"): (
            "reproduced"  # 105,472 weights; with biases 106,704
        ),
        ("operation_parameter_formula", "DynaMixer-S operation, 16x16 tokens of width 384"): (
            "reproduced"  # 167,936 weights; with biases 168,608
        ),
        ("dynamixer_s_better_than_gmlp_b", "DynaMixer-S vs gMLP-B"): "reproduced",
        # The paper's own Table 2 has Hire-MLP-L at 83.8%.
        ("dynamixer_m_superior_to_all_mlps", "DynaMixer-M vs Table 2's MLPs"): "not reproduced",
        ("dynamixer_s_fewer_parameters_than_swin_t", "DynaMixer-S vs Swin-T"): "reproduced",
        ("more_segments_better", "Table 5's trend"): "reproduced",
        ("synthesizer_random_close_to_vip", "Synthesizer (Random) vs ViP-S/7"): "reproduced",
        ("reduced_dim_1_beats_vip_by_0_9", "d = 1 vs ViP-S/7"): "reproduced",
        ("without_row_or_column_about_79", "Table 8's row/column removals"): "reproduced",
        ("without_channel_mixing_minus_0_6", "Table 8's channel removal"): "reproduced",
        # ViT-S/16 has 49M parameters beside DynaMixer-S's 26M: not "similar model sizes".
        ("transfer_similar_model_sizes", "Table 9, CIFAR-10"): "not reproduced",
        ("transfer_similar_model_sizes", "Table 9, CIFAR-100"): "not reproduced",
    }
    formula = statement_checks(measurements)[0]
    assert formula.measured == "106,704 (105,472 weights)"


def test_the_paper_against_its_sources() -> None:
    verdicts = {c.subject: c.verdict for c in source_checks()}
    assert verdicts == {
        # ViP's README: V100, batch 32; the paper prints 5-7% lower figures.
        "ViP-M/7 throughput (img/s)": "not reproduced",
        "ViP-L/7 throughput (img/s)": "not reproduced",
        "ResMLP S24 throughput (img/s)": "not reproduced",
        "ResMLP B24 throughput (img/s)": "not reproduced",
        "DynaMixer-S throughput (img/s)": "not checkable here",  # no second source
        "sMLPNet-T top-1 (%)": "reproduced",
        "sMLPNet-S top-1 (%)": "reproduced",
        "sMLPNet-B top-1 (%)": "not reproduced",  # 83.3 printed, 83.4 in its README
        "ViP-Small/14 top-1 (%)": "not checkable here",  # arXiv v1 not reachable here
        "Hire-MLP-Ti top-1 (%)": "reproduced",
        "Hire-MLP-S top-1 (%)": "reproduced",
        "Hire-MLP-B top-1 (%)": "reproduced",
        "Hire-MLP-L top-1 (%)": "reproduced",
        "Hire-MLP rows (top-1)": "not checkable here",
        "CycleMLP-T/S/B sizes": "not checkable here",  # no released code
    }
    dates = {c.subject: (c.paper, c.measured, c.verdict) for c in date_checks()}
    assert dates["CycleMLP-S date"] == ("NOV, 2021", "JUL, 2021", "not reproduced")
    assert dates["Hire-MLP-S date"] == ("NOV, 2021", "AUG, 2021", "not reproduced")
    assert sum(v == "reproduced" for _, _, v in dates.values()) == 9


def test_verdict_counts_by_kind(audit: Audit) -> None:
    counts = Counter((c.kind, c.verdict) for c in audit.checks)
    assert {verdict for _, verdict in counts} <= set(VERDICTS)
    assert counts == {
        ("configuration", "reproduced"): 42,  # Table 1: every cell as printed
        ("params", "reproduced"): 91,
        # gMLP-S 19.42M printed 20M; Swin-T 28.29M printed 29M; PVT-S 24.49M printed 25M;
        # Table 9's ViT-S/16 and T2T-14 with CIFAR heads (48.0-48.1M, 21.2M) printed 49M, 22M
        ("params", "close"): 7,
        ("params", "not checkable here"): 3,  # CycleMLP-T/S/B: no released code
        ("FLOPs", "not checkable here"): 3,
        ("claim", "reproduced"): 9,
        ("claim", "not reproduced"): 4,  # superior to all MLPs, similar sizes (x2), Dense 20%
        ("top-1", "not checkable here"): 96,  # no run in a fresh clone's results/runs
        ("speed", "not checkable here"): 5,  # no measured Table 4 given
        ("source", "reproduced"): 15,
        ("source", "not reproduced"): 7,
        ("source", "not checkable here"): 4,
    }


def test_report_first_screen_counts_every_check_once(
    audit: Audit, measurements: dict[MeasureKey, Measurement]
) -> None:
    text = render_report(audit, counting_environment(measurements))
    first_screen = text.split("## Close")[0]
    counts = Counter(c.verdict for c in audit.checks)
    summary = ", ".join(f"{counts[v]} {v}" for v in VERDICTS)
    assert f"**{len(audit.checks)} figures and claims checked: {summary}.**" in first_screen
    for verdict in VERDICTS:
        assert f"- **{verdict}**: " in first_screen  # each tolerance stated once, at the top
    not_reproduced = [c for c in audit.checks if c.verdict == "not reproduced"]
    assert f"## Not reproduced ({len(not_reproduced)})" in first_screen
    for check in not_reproduced:
        assert f"**{check.source}, {check.subject}** ({check.kind})" in first_screen
    assert "| Table 2 " in first_screen and "| Sources " in first_screen
