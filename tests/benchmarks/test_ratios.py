"""benchmarks.ratios: a speed ratio and its interval from the same interleaved rounds."""

from __future__ import annotations

import math

import pytest

from benchmarks.ratios import RatioInterval, ratio_interval


def test_the_ratio_is_per_round_and_its_interval_is_the_min_and_max() -> None:
    # Round 2 was slow for both (a busy moment): its ratio is as good as the others.
    fast = [1.0, 2.0, 1.0]
    slow = [1.5, 2.4, 1.6]
    ratio = ratio_interval(fast, slow)
    assert ratio == RatioInterval(median=1.5, low=1.2, high=1.6, rounds=3)
    # The ratio of medians (1.6 / 1.0) is not what is reported: load hit round 2 alike.
    assert ratio.median != pytest.approx(1.6)
    assert ratio.contains(1.5) and ratio.contains(1.2) and not ratio.contains(1.0)
    inverse = ratio_interval(slow, fast)
    assert inverse.median == pytest.approx(1 / 1.5)
    assert (inverse.low, inverse.high) == pytest.approx((1 / 1.6, 1 / 1.2))


def test_one_round_gives_a_point() -> None:
    ratio = ratio_interval([2.0], [3.0])
    assert (ratio.median, ratio.low, ratio.high, ratio.rounds) == (1.5, 1.5, 1.5, 1)


@pytest.mark.parametrize(
    ("seconds_a", "seconds_b", "message"),
    [
        ([1.0, 2.0], [1.0], r"same rounds; got 2 and 1 timings"),
        ([], [], r"no rounds"),
        ([1.0, 0.0], [1.0, 1.0], r"positive number of seconds; got 0.0"),
        ([1.0], [math.nan], r"positive number of seconds; got nan"),
    ],
)
def test_bad_timings_are_refused(
    seconds_a: list[float], seconds_b: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ratio_interval(seconds_a, seconds_b)
