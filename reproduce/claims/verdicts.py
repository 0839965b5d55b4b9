"""What a checked claim is: the :class:`Check` record, its verdicts, and the rounding rules.

Every figure of the paper the suite can check becomes one Check: where the paper prints it, what
it is about, the paper's figure as printed, the measured one, the verdict, and why (a match's
rounding convention, a mismatch's arithmetic, or why it could not be checked). The paper rounds
inconsistently, so a printed count matches when rounding half up or truncating the measured
value to the printed precision gives it ("97M" is 97.82M truncated, "26M" for 25.70M is rounded),
and each match says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_HALF_UP, Decimal

__all__ = [
    "ABOUT",
    "MATCH",
    "MISMATCH",
    "NOT_CHECKED",
    "TOP1_TOLERANCE",
    "Check",
    "agreement",
    "check_count",
]

MATCH, MISMATCH, NOT_CHECKED = "match", "does not match", "not checked"
#: A measured top-1 agrees with the paper's when within this many points (our reading: seeds
#: alone move an ImageNet top-1 by a few tenths).
TOP1_TOLERANCE = 0.5
#: "About X%" is read as X% ± X/2 points.
ABOUT = 0.5
_UNITS = {"M": 10**6, "G": 10**9}


@dataclass(frozen=True)
class Check:
    """One figure of the paper against the suite's measurement, with the verdict and why."""

    source: str  # "Table 2", "Sec. 4.3 (Limitations)", ...
    subject: str  # the row or model the figure is about
    kind: str  # "params", "FLOPs", "configuration", "ratio", "speed", "top-1"
    paper: str  # as printed (for a speed claim: the claim's sentence)
    measured: str
    outcome: str  # MATCH, MISMATCH or NOT_CHECKED
    how: str  # a match's convention, a mismatch's arithmetic, or why it was not checked
    device: str = ""  # speed checks: where the throughput was measured
    claim_id: str = ""  # prose claims: the claim's id in reproduce.paper.CLAIMS
    # Speed and size claims checked from a measured Table 4: the paper's figure and ours.
    paper_figure: str = ""
    measured_figure: str = ""


def agreement(value: Decimal, printed: str) -> str | None:
    """Which of rounding and truncation to ``printed``'s precision give ``printed``; None: neither.

    ``printed`` is the number as printed ("97", "7.3"); ``value`` the measured one in its unit.
    """
    target = Decimal(printed)
    step = Decimal(1).scaleb(target.as_tuple().exponent)
    rounded = value.quantize(step, rounding=ROUND_HALF_UP) == target
    truncated = value.quantize(step, rounding=ROUND_DOWN) == target
    if rounded and truncated:
        return "rounding and truncation"
    if rounded:
        return "rounding only"
    if truncated:
        return "truncation only"
    return None


def check_count(source: str, subject: str, kind: str, printed: str, count: int) -> Check:
    """A printed "26M" / "7.3G" against an exact count (parameters or MACs)."""
    number, unit = printed[:-1], printed[-1]
    value = Decimal(count) / _UNITS[unit]
    step = Decimal(1).scaleb(Decimal(number).as_tuple().exponent)
    rounded = value.quantize(step, rounding=ROUND_HALF_UP)
    truncated = value.quantize(step, rounding=ROUND_DOWN)
    exact = f"{value:.3f}{unit}"
    measured = f"{count:,} ({exact})"
    convention = agreement(value, number)
    if convention is not None:
        other = {
            "rounding only": f"; truncation gives {truncated}{unit}",
            "truncation only": f"; rounding gives {rounded}{unit}",
        }.get(convention, "")
        return Check(source, subject, kind, printed, measured, MATCH, f"{convention}{other}")
    difference = value - Decimal(number)
    ceiling = value.quantize(step, rounding=ROUND_CEILING)
    up = (
        f" (rounding up, a third convention, would give {printed})"
        if str(ceiling) == number
        else ""
    )
    how = (
        f"{exact} rounds to {rounded}{unit} and truncates to {truncated}{unit}, not "
        + f"{printed}{up}: measured − paper = {difference:+.3f}{unit} "
        + f"({100 * difference / Decimal(number):+.1f}%)"
    )
    return Check(source, subject, kind, printed, measured, MISMATCH, how)
