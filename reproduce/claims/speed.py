"""The paper's throughput claims, checked against a measured Table 4 (a frame, never re-timed).

Each claim is checked here once and returned as :class:`~reproduce.claims.verdicts.Check`
records: Table 4's footnote and REPORT.md both render these records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd

from reproduce.claims.verdicts import ABOUT, MATCH, MISMATCH, NOT_CHECKED, Check
from reproduce.paper import CLAIMS, TABLES, row_label

__all__ = [
    "SPEED_CLAIMS",
    "TABLE4_CLAIMS",
    "device_of",
    "ordering_check",
    "speed_checks",
    "table4_claims",
    "unchecked_speed_claims",
]

#: The prose claims about speed that a measured Table 4 can check.
SPEED_CLAIMS = (
    "dynamixer_s_faster_than_vip_m7",
    "dynamixer_s_faster_than_resmlp_b24",
    "throughput_lower_than_vip",
)


def _outcome(holds: bool) -> str:
    return MATCH if holds else MISMATCH


def _claim_check(
    claim_id: str, subject: str, paper: str, measured: str, holds: bool, kind: str = "speed"
) -> Check:
    claim = CLAIMS[claim_id]
    return Check(
        source=f"Prose: {claim.section}",
        subject=subject,
        kind=kind,
        paper=claim.quote,
        measured=measured,
        outcome=_outcome(holds),
        how="",
        claim_id=claim_id,
        paper_figure=paper,
        measured_figure=measured,
    )


def _faster_claim(claim_id: str) -> Callable[[pd.DataFrame], list[Check]]:
    """'X is faster than Y': paper ratio from the claim's figures, measured ratio of medians."""

    def check(frame: pd.DataFrame) -> list[Check]:
        claim = CLAIMS[claim_id]
        ours, theirs = claim.pairs[0]
        rows = frame.set_index("model")
        if ours not in rows.index or theirs not in rows.index:
            return []
        paper_ratio = (
            claim.numbers[f"{ours}_images_per_s"] / claim.numbers[f"{theirs}_images_per_s"]
        )
        a, b = rows.loc[ours], rows.loc[theirs]
        ratio = a["images_per_s"] / b["images_per_s"]
        holds = bool(ratio > 1)
        if holds and a["images_per_s_min"] <= b["images_per_s_max"]:
            note = " (medians; the spreads overlap)"
        elif holds:
            note = " (every timed batch)"
        else:
            note = ""
        subject = f"{a['label']} faster than {b['label']}"
        return [
            _claim_check(claim_id, subject, f"{paper_ratio:.2f}x", f"{ratio:.2f}x{note}", holds)
        ]

    return check


def _lower_than_vip(frame: pd.DataFrame) -> list[Check]:
    """'throughputs are about 16%~18% lower' than ViPs of similar size, for pairs measured here."""
    claim = CLAIMS["throughput_lower_than_vip"]
    low = claim.numbers["throughput_lower_min_percent"]
    high = claim.numbers["throughput_lower_max_percent"]
    rows = frame.set_index("model")
    checks = []
    for ours, theirs in claim.pairs:
        if ours not in rows.index or theirs not in rows.index:
            continue
        a, b = rows.loc[ours], rows.loc[theirs]
        paper_lower = 100 * (1 - a["paper_images_per_s"] / b["paper_images_per_s"])
        lower = 100 * (1 - a["images_per_s"] / b["images_per_s"])
        holds = bool(low <= round(lower) <= high)
        direction = "slower" if lower > 0 else "not slower"
        subject = f"{a['label']} about {low:g}%–{high:g}% slower than {b['label']}"
        paper, measured = f"{paper_lower:.1f}% (Table 4)", f"{lower:.1f}% ({direction})"
        checks.append(_claim_check(claim.id, subject, paper, measured, holds))
    return checks


def _about_five_percent_larger(frame: pd.DataFrame) -> list[Check]:
    """'DynaMixer-M is about 5% larger than ViP-M/7': parameters and FLOPs, measured here."""
    claim = CLAIMS["dynamixer_m_about_5_percent_larger_than_vip_m7"]
    ours, theirs = claim.pairs[0]
    rows = frame.set_index("model")
    if ours not in rows.index or theirs not in rows.index:
        return []
    a, b = rows.loc[ours], rows.loc[theirs]
    target = claim.numbers["larger_percent"]
    params = 100 * (a["params"] / b["params"] - 1)
    macs = 100 * (a["macs"] / b["macs"] - 1)
    paper_params = 100 * (a["paper_params_m"] / b["paper_params_m"] - 1)
    paper_macs = 100 * (a["paper_gflops"] / b["paper_gflops"] - 1)
    holds = bool(all(abs(x - target) <= target * ABOUT for x in (params, macs)))
    subject = f"{a['label']} about {target:g}% larger than {b['label']}"
    paper = f"+{paper_params:.1f}% params, +{paper_macs:.1f}% FLOPs"
    measured = f"+{params:.1f}% params, +{macs:.1f}% FLOPs"
    return [_claim_check(claim.id, subject, paper, measured, holds, kind="ratio")]


#: The paper's claims Table 4's measurements can check, in the order its footnote lists them.
TABLE4_CLAIMS: dict[str, Callable[[pd.DataFrame], list[Check]]] = {
    "dynamixer_s_faster_than_vip_m7": _faster_claim("dynamixer_s_faster_than_vip_m7"),
    "dynamixer_s_faster_than_resmlp_b24": _faster_claim("dynamixer_s_faster_than_resmlp_b24"),
    "throughput_lower_than_vip": _lower_than_vip,
    "dynamixer_m_about_5_percent_larger_than_vip_m7": _about_five_percent_larger,
}


def table4_claims(frame: pd.DataFrame) -> list[Check]:
    """Every claim a measured Table 4 can check, for the pairs it measured."""
    if frame.empty:
        return []
    return [check for checker in TABLE4_CLAIMS.values() for check in checker(frame)]


def device_of(frame: pd.DataFrame) -> str:
    """Where a Table 4 frame was measured: device, threads, precision and batch."""
    first = frame.iloc[0]
    parts = [str(first["device_name"]), str(first["device"])]
    if str(first["device"]) == "cpu" and "threads" in frame:
        parts.append(f"{int(first['threads'])} threads")
    parts += [str(first["precision"]), f"batch {int(first['batch_size'])}"]
    return ", ".join(parts)


def ordering_check(frame: pd.DataFrame, device: str, source: str) -> Check:
    """Table 4's throughput column as an ordering: which pairs keep the paper's order here."""
    rows = frame.sort_values("paper_images_per_s", ascending=False).to_dict("records")
    pairs = [(a, b) for i, a in enumerate(rows) for b in rows[i + 1 :]]
    flipped = [(a, b) for a, b in pairs if not a["images_per_s"] > b["images_per_s"]]
    paper_order = " > ".join(r["label"] for r in rows)
    measured_order = " > ".join(
        f"{r['label']} {r['images_per_s']:.1f}"
        for r in sorted(rows, key=lambda r: -r["images_per_s"])
    )
    how = f"{len(pairs) - len(flipped)} of {len(pairs)} pairs in the paper's order"
    if flipped:
        how += "; reversed: " + ", ".join(
            f"{a['label']} {a['images_per_s']:.1f} ≤ {b['label']} {b['images_per_s']:.1f} img/s"
            for a, b in flipped
        )
    return Check(
        source,
        "Table 4 throughput ordering",
        "speed",
        paper_order,
        measured_order,
        MISMATCH if flipped else MATCH,
        how,
        device,
    )


def unchecked_speed_claims(why: str) -> list[Check]:
    """One 'not checked' record per speed claim and for the ordering, saying why."""
    order = " > ".join(
        row.label
        for row in sorted(TABLES[4].rows, key=lambda r: -float(r.cells["Throughput image/s"]))
    )
    checks = [Check("Table 4", "throughput ordering", "speed", order, "—", NOT_CHECKED, why)]
    for claim_id in SPEED_CLAIMS:
        claim = CLAIMS[claim_id]
        source = f"Prose: {claim.section}"
        checks.append(Check(source, claim_id, "speed", claim.quote, "—", NOT_CHECKED, why))
    return checks


def speed_checks(frames: Sequence[tuple[str, pd.DataFrame]]) -> list[Check]:
    """The speed claims against every measured Table 4, given as (file name, frame) pairs."""
    if not frames:
        return unchecked_speed_claims("not checked: run nox -s reproduce_table4")
    checks = []
    for name, frame in frames:
        if frame.empty:
            continue
        device = device_of(frame)
        checks.append(ordering_check(frame, device, f"Table 4 ({name})"))
        for check in table4_claims(frame):
            if check.claim_id not in SPEED_CLAIMS:
                continue  # the size claim is checked from the counts
            checks.append(
                Check(
                    f"{check.source} ({name})",
                    check.subject,
                    "speed",
                    check.paper,
                    check.measured,
                    check.outcome,
                    check.how,
                    device,
                    check.claim_id,
                    check.paper_figure,
                    check.measured_figure,
                )
            )
        measured = set(frame["model"])
        claim = CLAIMS["throughput_lower_than_vip"]
        for ours, theirs in claim.pairs:
            if not {ours, theirs} <= measured:
                checks.append(
                    Check(
                        f"Prose: {claim.section} ({name})",
                        f"{row_label(ours)} vs {row_label(theirs)}",
                        "speed",
                        claim.quote,
                        "—",
                        NOT_CHECKED,
                        "not both rows of the measured Table 4",
                        device,
                    )
                )
    return checks
