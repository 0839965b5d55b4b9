"""The count regression check: every measured count against the committed table CSVs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from benchmarks.counting import count_flops, count_params, skip_meta_init
from common.files import RESULTS_DIR
from reproduce.paper import TABLES
from reproduce.tables.counts import (
    Measurement,
    count_differences,
    count_models,
    read_committed,
)
from reproduce.tables.frames import table_frame
from reproduce.tables.model_zoo import route_ratios
from reproduce.tables.specs import (
    COUNTED_TABLES,
    TABLE_SPECS,
    MeasureKey,
    measure_keys,
    row_key,
)
from tests.reproduce.conftest import (
    fixed_frame,
)

RESULTS = Path(__file__).resolve().parents[3] / "results"


def _committed(number: int) -> pd.DataFrame:
    path = RESULTS / f"table{number}.csv"
    if not path.exists():
        pytest.fail(f"{path} is missing: run `python -m reproduce tables` and commit results/")
    return read_committed(path)


def _compare(measurements: dict[MeasureKey, Measurement], numbers: list[int]) -> None:
    problems = []
    for number in numbers:
        frame = table_frame(TABLE_SPECS[number], measurements)
        problems += count_differences(_committed(number), frame)
    assert not problems, "counts moved (regenerate with `python -m reproduce tables`):\n" + (
        "\n".join(problems)
    )


@pytest.fixture(scope="module")
def param_counts() -> dict[MeasureKey, Measurement]:
    return count_models(measure_keys(), flops=False, progress=False)


def test_parameter_counts_match_the_committed_tables(
    param_counts: dict[MeasureKey, Measurement],
) -> None:
    _compare(param_counts, list(COUNTED_TABLES))


def test_flops_of_timm_models_match_the_committed_tables(
    param_counts: dict[MeasureKey, Measurement],
) -> None:
    timm_keys = [key for key in measure_keys([2, 3]) if key.source == "timm"]
    measurements = dict(param_counts) | count_models(timm_keys, progress=False)
    _compare(measurements, [2, 3])


@pytest.mark.slow
def test_flops_of_every_row_match_the_committed_tables() -> None:
    measurements = count_models(measure_keys(), progress=False)
    _compare(measurements, list(COUNTED_TABLES))


def test_skipping_init_on_meta_changes_no_count() -> None:
    """The generator counts with init skipped; a plain meta build must give the same numbers."""
    for name, size in (("dynamixer_digits", (3, 32, 32)), ("resmlp_s12", (3, 224, 224))):
        plain = count_params(name).params, count_flops(name, size).macs
        with skip_meta_init():
            skipped = count_params(name).params, count_flops(name, size).macs
        assert skipped == plain, name


def test_a_moved_count_is_reported_with_table_row_old_and_new() -> None:
    committed = fixed_frame(8)
    moved = committed.copy()
    moved.loc[3, "measured_params"] = 23_495_017
    problems = count_differences(committed, moved)
    assert problems == [
        "Table 8, row 4 '- channel fusion': measured_params was 23,495,016, now 23,495,017"
    ]
    assert count_differences(committed, committed) == []
    reordered = committed.copy()
    reordered.loc[0, "model"] = "something else"
    assert (
        "the committed CSV has 'DynaMixer-S' at that row"
        in count_differences(committed, reordered)[0]
    )


def test_each_distinct_model_is_counted_once() -> None:
    """A model several tables list (DynaMixer-S without overrides) is one key, counted once."""
    keys = measure_keys()
    assert len(keys) == len(set(keys))
    dynamixer_s = MeasureKey("zoo", "dynamixer_s")
    rows = [row for n in COUNTED_TABLES for row in TABLES[n].rows if row_key(row) == dynamixer_s]
    assert len(rows) == 3  # Tables 2 and 3, and Table 8's first row (the others pin overrides)
    assert keys.count(dynamixer_s) == 1


def test_the_zoos_faster_routes_are_measured_against_the_authors_computation() -> None:
    """From the committed MLP timing table: each fused DynaMixer and each shift-route CycleMLP
    against its authors' computation, from the rounds the two shared where they were timed in
    one group, else through their ratios to the reference (the table's own numbers)."""
    timing = pd.read_csv(RESULTS_DIR / "mlp_zoo_cpu.csv")
    ratios = route_ratios(timing, "mlp_zoo_cpu.csv").set_index("model")
    routes = {f"dynamixer_{s}": ("(fused=True)", "(fused=False)") for s in "sml"}
    routes |= {
        f"cyclemlp_b{i}": ("(cycle_fc='shift')", "(cycle_fc='deform_conv')") for i in range(1, 6)
    }
    assert set(routes) <= set(ratios.index)
    rows = timing.set_index("model")
    for name, (fast, slow) in routes.items():
        medians = (
            rows.loc[name + fast, "infer_samples_per_sec"]
            / rows.loc[name + slow, "infer_samples_per_sec"]
        )
        row = ratios.loc[name]
        if rows.loc[name + fast, "group"] == rows.loc[name + slow, "group"]:
            assert row["ratio_low"] <= row["ratio"] <= row["ratio_high"]
        else:  # two groups: the ratio of their ratios to the reference, no interval
            expected = rows.loc[name + fast, "relative"] / rows.loc[name + slow, "relative"]
            assert row["ratio"] == pytest.approx(expected) and pd.isna(row["ratio_low"])
        assert row["ratio"] == pytest.approx(medians, rel=0.1)  # median of ratios vs ratio
