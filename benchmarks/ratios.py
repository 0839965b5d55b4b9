"""How much faster one model is than another, with an interval from the interleaved rounds.

Two models timed by :func:`benchmarks.timing.time_interleaved` ran round ``i`` under the same
machine load, so the ratio of their round-``i`` times cancels most of that load: the spread of
those per-round ratios is how far the comparison moves from round to round. A verdict drawn
from the median ratio alone can flip between runs (two quiet 2-core runs an hour apart put
DynaMixer-M 8.1% and 14.2% slower than ViP-M/7); one whose interval straddles the claim cannot
be decided at this noise.

The interval is the distribution-free confidence interval for the median of the per-round
ratios: the k-th smallest to the k-th largest ratio, with k as large as keeps the chance that
the true median lies outside at most 5% (a binomial count of rounds above and below it). Up to 8
rounds that is the min–max, whose confidence is only 1 - 2/2^n (75% at 3 rounds, 50% at 2);
from 9 rounds the extremes are trimmed, so the interval narrows as rounds are added instead of
widening, and enough rounds decide a narrow claim.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "CONFIDENCE",
    "INTERVAL_METHOD",
    "RatioInterval",
    "interval_method",
    "median_ranks",
    "ratio_interval",
]

#: The confidence the interval aims at, where the rounds allow it.
CONFIDENCE = 0.95
#: How the interval is formed, for captions and records.
INTERVAL_METHOD = (
    f"a {CONFIDENCE:.0%} distribution-free interval for the median of the per-round ratios "
    + "where the rounds allow it (order statistics; up to 8 rounds the min–max, of lower "
    + "confidence: 75% at 3 rounds)"
)


def median_ranks(rounds: int) -> tuple[int, float]:
    """``(k, confidence)``: the k-th smallest to the k-th largest of ``rounds`` values hold their
    median with that confidence; k is the largest (k >= 1) whose confidence is >= 95%, or 1
    (the min–max, of lower confidence) where no k reaches it."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1; got {rounds}")

    def outside(k: int) -> float:  # P(the median lies below the k-th smallest, or above)
        return 2 * sum(math.comb(rounds, i) for i in range(k)) / 2**rounds

    k = 1
    while k + 1 <= (rounds + 1) // 2 and outside(k + 1) <= 1 - CONFIDENCE:
        k += 1
    return k, max(0.0, 1 - outside(k))


@dataclass(frozen=True)
class RatioInterval:
    """A speed ratio (> 1: the first model is faster): its median and its interval
    (:data:`INTERVAL_METHOD`)."""

    median: float
    low: float
    high: float
    rounds: int

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the interval (a claim there cannot be decided)."""
        return self.low <= value <= self.high

    @property
    def confidence(self) -> float:
        """How likely the interval holds the median ratio a long run would show."""
        return median_ranks(self.rounds)[1]

    def method(self) -> str:
        """Which per-round ratios bound the interval, and its confidence, in words."""
        return interval_method(self.rounds)


def interval_method(rounds: int) -> str:
    """Which of ``rounds`` per-round ratios bound the interval, and its confidence, in words."""
    k, confidence = median_ranks(rounds)
    if rounds == 1:
        return "one round: a point, no interval"
    bounds = "min–max" if k == 1 else f"{_ordinal(k)} smallest to {_ordinal(k)} largest"
    return f"{bounds} of {rounds} rounds, {confidence:.0%} confidence for the median"


def _ordinal(k: int) -> str:
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def ratio_interval(seconds_a: Sequence[float], seconds_b: Sequence[float]) -> RatioInterval:
    """How many times faster model a is than model b, round by round.

    ``seconds_a[i]`` and ``seconds_b[i]`` are the two models' times in round ``i`` of the same
    interleaved run, at the same batch size; the ratio of round ``i`` is
    ``seconds_b[i] / seconds_a[i]`` (images per second of a over those of b). Returns the median
    of the per-round ratios and its interval (:data:`INTERVAL_METHOD`; :func:`median_ranks`):
    with one round the interval is a single point.
    """
    if len(seconds_a) != len(seconds_b):
        raise ValueError(
            "the two models must come from the same rounds; got "
            + f"{len(seconds_a)} and {len(seconds_b)} timings"
        )
    if not seconds_a:
        raise ValueError("no rounds: a ratio needs at least one timed round of each model")
    for seconds in (*seconds_a, *seconds_b):
        if not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(
                f"a round's time must be a positive number of seconds; got {seconds!r}"
            )
    ratios = sorted(b / a for a, b in zip(seconds_a, seconds_b, strict=True))
    k, _ = median_ranks(len(ratios))
    return RatioInterval(statistics.median(ratios), ratios[k - 1], ratios[-k], len(ratios))
