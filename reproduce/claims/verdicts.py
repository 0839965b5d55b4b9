"""What a checked claim is: the :class:`Check` record, the verdict vocabulary and its tolerances.

Every figure of the paper the suite looks at becomes one Check: where the paper prints it, what
it is about, the paper's figure as printed, the measured one, one verdict of :data:`VERDICTS`,
and why (a match's rounding convention, a miss's arithmetic, or why it cannot be checked). The
tolerances are stated once, in :data:`TOLERANCES`, and REPORT.md prints them at its top.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Final

__all__ = [
    "ABOUT",
    "CLOSE",
    "COUNT_CLOSE",
    "INCONCLUSIVE",
    "INDICATIVE",
    "NOT_CHECKABLE",
    "NOT_REPRODUCED",
    "REPRODUCED",
    "TOLERANCES",
    "TOP1_CLOSE",
    "VERDICTS",
    "Check",
    "agreement",
    "check_count",
    "top1_verdict",
]

REPRODUCED = "reproduced"
CLOSE = "close"
NOT_REPRODUCED = "not reproduced"
INDICATIVE = "indicative"
INCONCLUSIVE = "inconclusive"
NOT_CHECKABLE = "not checkable here"
#: The fixed vocabulary, in the order REPORT.md counts it.
VERDICTS: Final = (REPRODUCED, CLOSE, NOT_REPRODUCED, INDICATIVE, INCONCLUSIVE, NOT_CHECKABLE)

#: A count (parameters, MACs) within this fraction of the printed figure, but not what any
#: rounding of it prints, is close.
COUNT_CLOSE: Final = 0.05
#: A top-1 within this many points of the printed one (seeds alone move an ImageNet top-1 by a
#: few tenths), but not what rounding it to one decimal prints, is close.
TOP1_CLOSE: Final = 0.5
#: "About X%" is read as X% ± X/2 points.
ABOUT: Final = 0.5

TOLERANCES: Final[Mapping[str, str]] = MappingProxyType(
    {
        REPRODUCED: (
            "the measured figure, rounded half up or truncated to the printed precision, gives "
            + "the printed one (each says which); a configuration cell equal as printed; a claim "
            + "that holds, on the paper's own figures where it is about them"
        ),
        CLOSE: (
            f"a count within {COUNT_CLOSE:.0%} of the printed figure, a top-1 within "
            + f"{TOP1_CLOSE} points, but not what any rounding prints"
        ),
        NOT_REPRODUCED: "anything further off, a claim that does not hold, a source that differs",
        INDICATIVE: (
            "measured on another class of device than the claim's (every CPU check of the "
            + "paper's V100 speed claims): says whether the claim holds here, not whether the "
            + "paper's measurement was right"
        ),
        INCONCLUSIVE: (
            "the measurement's own spread (the interval of the interleaved rounds' ratios: "
            + "min–max up to 8 rounds, 95% order statistics from 9) straddles the claim"
        ),
        NOT_CHECKABLE: (
            "cannot be judged here, and the check says why (needs ImageNet training, no code "
            + "released, a source not reachable, ...)"
        ),
    }
)


@dataclass(frozen=True)
class Check:
    """One figure or claim of the paper against the suite's measurement or a source."""

    source: str  # "Table 2", "Prose: 4.4 Ablation Study", "Table 4 vs ViP's README", ...
    subject: str  # the row, model or pair the figure is about
    kind: str  # "params", "FLOPs", "configuration", "claim", "speed", "top-1", "source"
    paper: str  # as printed (for a prose claim: its sentence)
    measured: str  # the measured figure (or the source's), as text
    verdict: str  # one of VERDICTS
    why: str  # a match's convention, a miss's arithmetic, or why it cannot be checked
    device: str = ""  # speed checks: where the throughput was measured
    claim_id: str = ""  # prose claims: the claim's id in reproduce.paper.CLAIMS
    table: int | None = None  # the paper's table the figure is in or is about
    # Claims checked from a measurement: the paper's figure and ours, and whether the claim
    # holds on the measuring device (None: the measurement's spread straddles it).
    paper_figure: str = ""
    measured_figure: str = ""
    holds_here: bool | None = None
    models: tuple[str, ...] = ()  # the zoo models a comparison is about (ours first)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r}; accepted: {VERDICTS}")


# ---------------------------------------------------------------------------------------------
# Rounding conventions

_UNITS = {"M": 10**6, "G": 10**9}


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


def check_count(
    source: str, subject: str, kind: str, printed: str, count: int, table: int | None = None
) -> Check:
    """A printed "26M" / "7.3G" against an exact count (parameters or MACs)."""
    number, unit = printed[:-1], printed[-1]
    value = Decimal(count) / _UNITS[unit]
    step = Decimal(1).scaleb(Decimal(number).as_tuple().exponent)
    rounded = value.quantize(step, rounding=ROUND_HALF_UP)
    truncated = value.quantize(step, rounding=ROUND_DOWN)
    measured = f"{count:,} ({value:.3f}{unit})"
    convention = agreement(value, number)
    if convention is not None:
        other = {
            "rounding only": f"; truncation gives {truncated}{unit}",
            "truncation only": f"; rounding gives {rounded}{unit}",
        }.get(convention, "")
        why = f"{convention}{other}"
        return Check(source, subject, kind, printed, measured, REPRODUCED, why, table=table)
    difference = value - Decimal(number)
    relative = difference / Decimal(number)
    ceiling = value.quantize(step, rounding=ROUND_CEILING)
    up = (
        f" (rounding up, a third convention, would give {printed})"
        if str(ceiling) == number
        else ""
    )
    why = (
        f"{value:.3f}{unit} rounds to {rounded}{unit} and truncates to {truncated}{unit}, not "
        + f"{printed}{up}: measured − paper = {difference:+.3f}{unit} ({100 * relative:+.1f}%)"
    )
    verdict = CLOSE if abs(relative) <= Decimal(str(COUNT_CLOSE)) else NOT_REPRODUCED
    return Check(source, subject, kind, printed, measured, verdict, why, table=table)


def top1_verdict(measured: float, printed: str) -> str:
    """A measured top-1 against the printed one: reproduced, close or not reproduced."""
    if f"{measured:.1f}" == printed:
        return REPRODUCED
    return CLOSE if abs(measured - float(printed)) <= TOP1_CLOSE else NOT_REPRODUCED
