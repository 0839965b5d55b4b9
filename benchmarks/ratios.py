"""How much faster one model is than another, with an interval from the interleaved rounds.

Two models timed by :func:`benchmarks.timing.time_interleaved` ran round ``i`` under the same
machine load, so the ratio of their round-``i`` times cancels most of that load: the spread of
those per-round ratios is how far the comparison moves from round to round. A verdict drawn
from the median ratio alone can flip between runs (two quiet 2-core runs an hour apart put
DynaMixer-M 8.1% and 14.2% slower than ViP-M/7); one whose interval straddles the claim cannot
be decided at this noise.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["INTERVAL_METHOD", "RatioInterval", "ratio_interval"]

#: How the interval is formed, for captions and records.
INTERVAL_METHOD = "min–max of the per-round ratios"


@dataclass(frozen=True)
class RatioInterval:
    """A speed ratio (> 1: the first model is faster): its median and its min–max interval."""

    median: float
    low: float
    high: float
    rounds: int

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the interval (a claim there cannot be decided)."""
        return self.low <= value <= self.high


def ratio_interval(seconds_a: Sequence[float], seconds_b: Sequence[float]) -> RatioInterval:
    """How many times faster model a is than model b, round by round.

    ``seconds_a[i]`` and ``seconds_b[i]`` are the two models' times in round ``i`` of the same
    interleaved run, at the same batch size; the ratio of round ``i`` is
    ``seconds_b[i] / seconds_a[i]`` (images per second of a over those of b). Returns the median
    of the per-round ratios and their minimum and maximum (:data:`INTERVAL_METHOD`): with one
    round the interval is a single point.
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
    ratios = [b / a for a, b in zip(seconds_a, seconds_b, strict=True)]
    return RatioInterval(statistics.median(ratios), min(ratios), max(ratios), len(ratios))
