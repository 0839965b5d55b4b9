"""The paper's throughput claims, checked against measured throughput (never re-timed here).

Each claim is checked here once and returned as :class:`~reproduce.claims.verdicts.Check`
records, which Table 4's footnote and REPORT.md both render. Every ratio comes with an interval
for the median of its per-round ratios (the models were timed interleaved, one batch each per
round; :mod:`benchmarks.ratios`), so a claim whose interval straddles it is inconclusive at this
noise. The paper timed a V100: a measurement
on a CPU is indicative only, whatever it shows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from benchmarks.fastpath.report import FastPathReport
from benchmarks.fastpath.targets import find_result
from benchmarks.ratios import ratio_interval
from reproduce.claims.prose import five_percent_larger
from reproduce.claims.verdicts import (
    INCONCLUSIVE,
    INDICATIVE,
    NOT_CHECKABLE,
    NOT_REPRODUCED,
    REPRODUCED,
    Check,
)
from reproduce.paper import CLAIMS, row_label

__all__ = [
    "SPEED_CLAIMS",
    "TABLE4_CLAIMS",
    "Timing",
    "device_of",
    "fastpath_timings",
    "ordering_check",
    "pair_checks",
    "shared_rounds",
    "speed_checks",
    "table4_claims",
    "zoo_timings",
]

#: The prose claims about speed that measured throughput can check.
SPEED_CLAIMS = (
    "dynamixer_s_faster_than_vip_m7",
    "dynamixer_s_faster_than_resmlp_b24",
    "throughput_lower_than_vip",
)


@dataclass(frozen=True)
class Timing:
    """One model's per-round seconds from an interleaved run, with where it was measured."""

    model: str
    label: str
    seconds: tuple[float, ...]
    device: str  # "cpu", "cuda:0"
    description: str  # device, threads, precision, batch: what REPORT.md shows
    # Which rounds: the run (its start) and the sweep group (0: the reference, in every group).
    # Two timings are compared round by round only where they shared their rounds.
    run: str = ""
    group: int = 0


def shared_rounds(a: Timing, b: Timing) -> bool:
    """Whether two timings come from the same rounds (one run; one group, or one of them the
    reference timed in every group) and so may be compared round by round."""
    same_group = a.group == b.group or 0 in (a.group, b.group)
    return a.run == b.run and same_group and len(a.seconds) == len(b.seconds)


def _verdict(holds_here: bool | None, device: str) -> str:
    """The paper measured a GPU: on a CPU a check is indicative, whatever it shows."""
    if not device.startswith("cuda"):
        return INDICATIVE
    if holds_here is None:
        return INCONCLUSIVE
    return REPRODUCED if holds_here else NOT_REPRODUCED


def _within(low: float, high: float, lower: float, upper: float) -> bool | None:
    """Whether the interval [low, high] lies inside [lower, upper] (True), outside it (False),
    or straddles a bound (None)."""
    if lower <= low and high <= upper:
        return True
    if high < lower or low > upper:
        return False
    return None


def faster_check(claim_id: str, ours: Timing, theirs: Timing, source: str) -> Check:
    """'X is faster than Y': the paper's ratio from the claim's figures, ours per round."""
    claim = CLAIMS[claim_id]
    paper = (
        claim.numbers[f"{ours.model}_images_per_s"] / claim.numbers[f"{theirs.model}_images_per_s"]
    )
    ratio = ratio_interval(ours.seconds, theirs.seconds)
    holds = _within(ratio.low, ratio.high, 1.0, float("inf"))
    measured = f"{ratio.median:.2f}x [{ratio.low:.2f}–{ratio.high:.2f}]"
    why = (
        f"speed ratio per round over {ratio.rounds} interleaved rounds: median {ratio.median:.3f},"
        + f" interval {ratio.low:.3f}–{ratio.high:.3f} ({ratio.method()})"
    )
    return Check(
        source,
        f"{ours.label} faster than {theirs.label}",
        "speed",
        claim.quote,
        measured,
        _verdict(holds, ours.device),
        why,
        ours.description,
        claim_id,
        4,
        f"{paper:.2f}x",
        measured,
        holds,
        (ours.model, theirs.model),
    )


def slower_than_vip_check(ours: Timing, theirs: Timing, source: str, paper: str) -> Check:
    """'throughputs are about 16%~18% lower' than the ViP of similar size, per round."""
    claim = CLAIMS["throughput_lower_than_vip"]
    low = claim.numbers["throughput_lower_min_percent"]
    high = claim.numbers["throughput_lower_max_percent"]
    ratio = ratio_interval(ours.seconds, theirs.seconds)
    lower = [100 * (1 - r) for r in (ratio.median, ratio.high, ratio.low)]
    # The paper prints whole percents: 15.5 rounds to 16, 18.5 to 19.
    holds = _within(lower[1], lower[2], low - 0.5, high + 0.5)
    direction = "slower" if lower[0] > 0 else "not slower"
    measured = f"{lower[0]:.1f}% ({direction}) [{lower[1]:.1f}–{lower[2]:.1f}]"
    why = (
        f"throughput lower by {lower[0]:.1f}% (median of {ratio.rounds} interleaved rounds; "
        + f"interval {lower[1]:.1f}–{lower[2]:.1f}%: {ratio.method()}), against "
        + f"{low:g}–{high:g}% read as {low - 0.5:g}–{high + 0.5:g}% before rounding"
    )
    return Check(
        source,
        f"{ours.label} about {low:g}%–{high:g}% slower than {theirs.label}",
        "speed",
        claim.quote,
        measured,
        _verdict(holds, ours.device),
        why,
        ours.description,
        claim.id,
        4,
        paper,
        measured,
        holds,
        (ours.model, theirs.model),
    )


def _row_timing(row: dict[str, Any], label: str) -> Timing:
    """A sweep row (Table 4's or the zoo table's) as a timing: per-round seconds, where, which
    rounds."""
    batch = row.get("requested_batch_size", row.get("infer_batch_size"))  # older CSVs: no request
    description = _description(
        row["device_name"], row["device"], row["threads"], row["precision"], batch
    )
    seconds = tuple(float(s) for s in str(row["infer_batch_seconds"]).split())
    group = row.get("group")
    return Timing(
        str(row["name"]), label, seconds, str(row["device"]), description,
        str(row.get("run_started", "")), int(group) if not pd.isna(group) else 0,
    )  # fmt: skip


def _timed(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of a sweep frame that were timed (status ok)."""
    return [row for row in frame.to_dict("records") if row.get("status", "ok") == "ok"]


def _timings(frame: pd.DataFrame) -> dict[str, Timing]:
    """A measured Table 4 frame's timed rows as timings, by zoo name."""
    return {str(row["name"]): _row_timing(row, str(row["label"])) for row in _timed(frame)}


def _faster_claim(claim_id: str) -> Callable[[pd.DataFrame, str], list[Check]]:
    def check(frame: pd.DataFrame, source: str) -> list[Check]:
        ours, theirs = CLAIMS[claim_id].pairs[0]
        timings = _timings(frame)
        if ours not in timings or theirs not in timings:
            return []
        if not shared_rounds(timings[ours], timings[theirs]):
            return []
        return [faster_check(claim_id, timings[ours], timings[theirs], source)]

    return check


def _lower_than_vip(frame: pd.DataFrame, source: str) -> list[Check]:
    timings, rows = _timings(frame), frame.set_index("name")
    checks = []
    for ours, theirs in CLAIMS["throughput_lower_than_vip"].pairs:
        if ours in timings and theirs in timings and shared_rounds(timings[ours], timings[theirs]):
            a, b = rows.loc[ours], rows.loc[theirs]
            lower = 100 * (1 - a["paper_images_per_s"] / b["paper_images_per_s"])
            paper = f"{lower:.1f}% (Table 4)"
            checks.append(slower_than_vip_check(timings[ours], timings[theirs], source, paper))
    return checks


def _about_five_percent_larger(frame: pd.DataFrame, source: str) -> list[Check]:
    """'DynaMixer-M is about 5% larger than ViP-M/7': parameters and FLOPs, measured here."""
    claim = CLAIMS["dynamixer_m_about_5_percent_larger_than_vip_m7"]
    ours, theirs = claim.pairs[0]
    rows = frame.set_index("name")
    if ours not in rows.index or theirs not in rows.index:
        return []
    if pd.isna(rows.loc[ours, "params"]) or pd.isna(rows.loc[theirs, "params"]):
        return []  # a model that could not be counted
    a, b = rows.loc[ours], rows.loc[theirs]
    size = five_percent_larger(a["params"], b["params"], a["macs"], b["macs"])
    paper_params = 100 * (a["paper_params_m"] / b["paper_params_m"] - 1)
    paper_macs = 100 * (a["paper_gflops"] / b["paper_gflops"] - 1)
    paper = f"+{paper_params:.1f}% params, +{paper_macs:.1f}% FLOPs"
    measured = f"+{size.params:.1f}% params, +{size.macs:.1f}% FLOPs"
    return [
        Check(
            source,
            f"{a['label']} about {size.target:g}% larger than {b['label']}",
            "claim",
            claim.quote,
            measured,
            size.verdict,
            f"'about {size.target:g}%' read as {size.low:g}–{size.high:g}%",
            claim_id=claim.id,
            table=4,
            paper_figure=paper,
            measured_figure=measured,
            holds_here=size.holds,
        )
    ]


#: The claims a measured Table 4 can check, in the order its footnote lists them.
TABLE4_CLAIMS: dict[str, Callable[[pd.DataFrame, str], list[Check]]] = {
    "dynamixer_s_faster_than_vip_m7": _faster_claim("dynamixer_s_faster_than_vip_m7"),
    "dynamixer_s_faster_than_resmlp_b24": _faster_claim("dynamixer_s_faster_than_resmlp_b24"),
    "throughput_lower_than_vip": _lower_than_vip,
    "dynamixer_m_about_5_percent_larger_than_vip_m7": _about_five_percent_larger,
}


def table4_claims(frame: pd.DataFrame, name: str = "table4.csv") -> list[Check]:
    """Every claim a measured Table 4 can check, for the pairs it measured."""
    if frame.empty:
        return []
    source = f"Table 4 ({name})"
    return [check for checker in TABLE4_CLAIMS.values() for check in checker(frame, source)]


def _description(device_name: Any, device: Any, threads: Any, precision: Any, batch: Any) -> str:
    """Where a run was measured, as REPORT.md shows it: name, device, N threads (on a CPU, when
    recorded), precision, batch B."""
    parts = [str(device_name), str(device)]
    if str(device) == "cpu" and threads is not None:
        parts.append(f"{int(threads)} threads")
    parts += [str(precision), f"batch {int(batch)}"]
    return ", ".join(parts)


def device_of(frame: pd.DataFrame) -> str:
    """Where a Table 4 frame was measured: device, threads, precision and batch."""
    timed = _timed(frame)
    first = timed[0] if timed else frame.iloc[0]
    return _description(
        first["device_name"], first["device"], first["threads"], first["precision"],
        first["requested_batch_size"],
    )  # fmt: skip


def ordering_check(frame: pd.DataFrame, device: str, source: str) -> Check:
    """Table 4's throughput column as an ordering: which pairs keep the paper's order here."""
    timed = pd.DataFrame.from_records(_timed(frame)).rename(
        columns={"infer_samples_per_sec": "images_per_s"}
    )
    rows = timed.sort_values("paper_images_per_s", ascending=False).to_dict("records")
    pairs = [(a, b) for i, a in enumerate(rows) for b in rows[i + 1 :]]
    flipped = [(a, b) for a, b in pairs if not a["images_per_s"] > b["images_per_s"]]
    paper_order = " > ".join(r["label"] for r in rows)
    measured_order = " > ".join(
        f"{r['label']} {r['images_per_s']:.1f}"
        for r in sorted(rows, key=lambda r: -r["images_per_s"])
    )
    why = f"{len(pairs) - len(flipped)} of {len(pairs)} pairs in the paper's order (medians)"
    if flipped:
        why += "; reversed: " + ", ".join(
            f"{a['label']} {a['images_per_s']:.1f} ≤ {b['label']} {b['images_per_s']:.1f} img/s"
            for a, b in flipped
        )
    verdict = _verdict(not flipped, str(rows[0]["device"]))
    return Check(
        source,
        "Table 4 throughput ordering",
        "speed",
        paper_order,
        measured_order,
        verdict,
        why,
        device,
        table=4,
        holds_here=not flipped,
    )


def pair_checks(timings: dict[str, Timing], source: str) -> list[Check]:
    """The speed claims whose models ``timings`` (from any interleaved run) measured both of:
    the faster-than claims and the 16-18% claim's pairs."""
    checks = []
    for claim_id in ("dynamixer_s_faster_than_vip_m7", "dynamixer_s_faster_than_resmlp_b24"):
        ours, theirs = CLAIMS[claim_id].pairs[0]
        if ours in timings and theirs in timings and shared_rounds(timings[ours], timings[theirs]):
            checks.append(faster_check(claim_id, timings[ours], timings[theirs], source))
    for ours, theirs in CLAIMS["throughput_lower_than_vip"].pairs:
        if ours in timings and theirs in timings and shared_rounds(timings[ours], timings[theirs]):
            checks.append(slower_than_vip_check(timings[ours], timings[theirs], source, "—"))
    return checks


def zoo_timings(frame: pd.DataFrame) -> dict[str, Timing]:
    """The zoo table's models as their authors compute them (DynaMixer ``fused=False``), from
    its CSV: per-round seconds, with the group whose rounds they shared."""
    timings = {}
    for row in _timed(frame):
        overrides = row.get("overrides")
        # A CSV read back gives NaN for a row built without overrides.
        if not pd.isna(overrides) and str(overrides) not in ("{}", "{'fused': False}"):
            continue
        name = str(row["name"])
        timings[name] = _row_timing(row, row_label(name))
    return timings


def speed_checks(
    frames: Sequence[tuple[str, pd.DataFrame]], other_timings: Sequence[tuple[str, dict]] = ()
) -> list[Check]:
    """The speed claims against every measured Table 4 (file name, frame) and other interleaved
    runs (source name, timings by model); claims no run measured are not checkable here."""
    checks: list[Check] = []
    for name, frame in frames:
        if frame.empty:
            continue
        checks.append(ordering_check(frame, device_of(frame), f"Table 4 ({name})"))
        checks += [c for c in table4_claims(frame, name) if c.claim_id in SPEED_CLAIMS]
    for name, timings in other_timings:
        checks += pair_checks(timings, name)
    return checks + _unmeasured(checks)


def _unmeasured(checks: Sequence[Check]) -> list[Check]:
    """A 'not checkable here' record for each speed claim (or pair) no run measured."""
    why = (
        "no measured run times both models in shared rounds: run nox -s reproduce_table4 (or "
        + "the zoo table)"
    )
    measured = {(c.claim_id, c.models) for c in checks}
    missing = []
    for claim_id in SPEED_CLAIMS:
        claim = CLAIMS[claim_id]
        for ours, theirs in claim.pairs:
            if (claim_id, (ours, theirs)) in measured:
                continue
            subject = f"{row_label(ours)} vs {row_label(theirs)}"
            source = f"Prose: {claim.section}"
            missing.append(
                Check(
                    source,
                    subject,
                    "speed",
                    claim.quote,
                    "—",
                    NOT_CHECKABLE,
                    why,
                    claim_id=claim_id,
                    table=4,
                )
            )
    return missing


def fastpath_timings(report: FastPathReport) -> dict[str, Timing]:
    """The authors' computations of DynaMixer-S and ViP-S/7 (fp32 eager) from a fast-path
    report, whose cases were timed interleaved like Table 4's rows."""
    env = report.environment
    keys = {"dynamixer_s": "dynamixer_s plain eager fp32", "vip_s7": "vip_s7 eager fp32"}
    timings = {}
    for model, key in keys.items():
        result = find_result(report, key)
        if result is None:
            continue
        description = _description(
            env.device_name, env.device, env.threads, "fp32", result.case.batch_size
        )
        seconds = tuple(result.batch_seconds)
        timings[model] = Timing(model, row_label(model), seconds, env.device, description)
    return timings
