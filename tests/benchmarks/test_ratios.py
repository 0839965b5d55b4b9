"""benchmarks.ratios: a speed ratio and its interval from the same interleaved rounds."""

from __future__ import annotations

import math

import pytest

from benchmarks.ratios import RatioInterval, median_ranks, ratio_interval


def test_the_ratio_is_per_round_and_its_interval_up_to_8_rounds_is_the_min_and_max() -> None:
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


@pytest.mark.parametrize(
    ("rounds", "k", "confidence"),
    [(2, 1, 0.5), (3, 1, 0.75), (8, 1, 1 - 2 / 256), (9, 2, 1 - 20 / 512), (20, 6, 0.9586)],
)
def test_median_ranks_are_the_binomial_order_statistics(
    rounds: int, k: int, confidence: float
) -> None:
    assert median_ranks(rounds) == (k, pytest.approx(confidence, abs=1e-4))


def test_from_nine_rounds_the_interval_trims_the_extremes_and_narrows() -> None:
    # One round with a spike each way: the min–max would straddle far more than the rest.
    ratios = [1.10, 1.16, 1.15, 1.17, 1.16, 1.30, 1.15, 1.16, 1.17]
    ratio = ratio_interval([1.0] * len(ratios), ratios)
    assert (ratio.low, ratio.high) == pytest.approx((1.15, 1.17))
    assert ratio.confidence == pytest.approx(1 - 20 / 512)
    assert (
        ratio.method() == "2nd smallest to 2nd largest of 9 rounds, 96% confidence for the median"
    )
    three = ratio_interval([1.0] * 3, ratios[:3])
    assert (three.low, three.high) == pytest.approx((1.10, 1.16))
    assert three.method() == "min–max of 3 rounds, 75% confidence for the median"


def test_median_ranks_refuse_no_rounds() -> None:
    with pytest.raises(ValueError, match="rounds must be >= 1; got 0"):
        median_ranks(0)
