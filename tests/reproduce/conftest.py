"""Shared records for the reproduce tests: the made-up machine fixed results were taken on, a
Table 4 result built from fixed records (no model is built), and the tiny digits training runs."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from benchmarks.records import FlopCount, ParamCount, Throughput
from benchmarks.rows import finish_row, model_row
from benchmarks.settings import ThroughputSettings
from benchmarks.sweep import STATUS_OK
from common.environment import Environment
from reproduce.paper import TABLES
from reproduce.render.table4 import render_table4, table4_stem
from reproduce.tables.counts import Measurement
from reproduce.tables.frames import table_frame
from reproduce.tables.specs import TABLE_SPECS, MeasureKey, measure_keys
from reproduce.tables.table4 import row_spec
from reproduce.tables.table4_measurement import Table4Result, table4_frame

# A machine unlike any real one, so a rendered caption or file name shows where it came from.
ENVIRONMENT = Environment(
    device="cpu",
    device_name="Test CPU 9000",
    threads=2,
    cpu_count=2,
    torch_version="2.14.1",
    timm_version="1.0.31",
    ptflops_version="0.7.5",
    python_version="3.11.7",
    date="2026-01-02T03:04:05+00:00",
)
# The same machine as the counting functions report it: counts are taken on the meta device.
META = dataclasses.replace(ENVIRONMENT, device="meta", device_name="meta (shapes only)")


TABLE = TABLES[4]
ORDER = ["resmlp_s24", "resmlp_b24", "vip_m7", "dynamixer_s", "vip_l7", "dynamixer_m"]

PARAMS = dict(
    zip(ORDER, [30020680, 115736776, 55272488, 26265960, 87784936, 57128264], strict=True)
)
MACS = dict(
    zip(
        ORDER,
        [5964981736, 23028090856, 16305051944, 7315402216, 24369603560, 17003395368],
        strict=True,
    )
)
# Made-up measured medians, unlike any paper figure, chosen so the claims come out known:
# DynaMixer-S 1.25x ViP-M/7 and 2.00x ResMLP-B24; DynaMixer-M 25% slower than ViP-M/7.
RATES = dict(zip(ORDER, [40.0, 10.0, 16.0, 20.0, 9.0, 12.0], strict=True))
GEMM_PEAK = 1000.0  # GFLOP/s, made up: MFU = 2 x MACs x images/s / 1e12


def fixed_result(
    rates: dict[str, float] = RATES,
    models: list[str] = ORDER,
    settings: ThroughputSettings | None = None,
    environment: Environment = ENVIRONMENT,
    quick: bool = False,
    fused: bool = False,
    gemm_peak_gflops: float | None = GEMM_PEAK,
) -> Table4Result:
    """A Table 4 result built from fixed records by the sweep's own row builders (no model is
    built): one group, ResMLP-S24 the reference where it is among ``models``."""
    settings = settings or ThroughputSettings(batch_size=32, warmup=1, iters=3)
    specs = {row.zoo_name: row_spec(row, fused) for row in TABLE.rows if row.zoo_name in models}
    reference = specs.get("resmlp_s24", next(iter(specs.values()))).label
    peak = gemm_peak_gflops if gemm_peak_gflops is not None else math.nan
    seconds = {name: _seconds(rates[name], settings.batch_size) for name in models}
    anchor = seconds[next(n for n, spec in specs.items() if spec.label == reference)]
    rows = []
    for name, spec in specs.items():
        throughput = Throughput(
            model=name,
            overrides=dict(spec.overrides),
            batch_size=settings.batch_size,
            input_size=(3, 224, 224),
            precision=settings.precision,
            channels_last=settings.channels_last,
            compiled=settings.compile,
            compile_mode=settings.compile_mode if settings.compile else None,
            warmup=settings.warmup,
            iters=3,
            batch_seconds=seconds[name],
            median_images_per_s=rates[name],
            min_images_per_s=min(settings.batch_size / s for s in seconds[name]),
            max_images_per_s=max(settings.batch_size / s for s in seconds[name]),
            load_average_before=1.5,
            load_average_after=2.0,
            environment=environment,
        )
        params = ParamCount(model=name, overrides={}, params=PARAMS[name], environment=META)
        flops = FlopCount(
            model=name,
            overrides={},
            input_size=(3, 224, 224),
            macs=MACS[name],
            counter="ptflops 0.7.5, aten backend",
            environment=META,
        )
        row = model_row(
            spec, params, flops, STATUS_OK, {"inference": throughput}, peak, {"inference": anchor}
        )
        row |= {"group": 0 if spec.label == reference else 1, "batch_note": ""}
        finish_row(
            row, settings, environment, peak, 123.4, (params, flops, STATUS_OK), reference,
            "2026-01-02T03:02:00",
        )  # fmt: skip
        rows.append(row)
    return Table4Result(tuple(rows), settings, wall_seconds=123.4, timed=len(rows), quick=quick,
                        fused=fused)  # fmt: skip


def _seconds(rate: float, batch: int) -> tuple[float, float, float]:
    """Three rounds whose median rate is ``rate`` (the rounds at 0.9x, 1x and 1.1x of it)."""
    return tuple(batch / r for r in (rate * 0.9, rate, rate * 1.1))  # type: ignore[return-value]


def failed_row(name: str, status: str, fused: bool = False) -> dict[str, object]:
    """The row the sweep writes for a model that could not be counted (no timing at all)."""
    spec = row_spec(next(row for row in TABLE.rows if row.zoo_name == name), fused)
    row = model_row(spec, None, None, status, {}, 0, None)
    finish_row(row, ThroughputSettings(), ENVIRONMENT, GEMM_PEAK, 1.0, None, "resmlp_s24")
    return row


def markdown_table(text: str) -> pd.DataFrame:
    """The pipe table in a rendered file, read back as strings."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    del lines[1]  # the |:---| alignment row
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return pd.DataFrame(cells[1:], columns=cells[0])


def frame_of(result: Table4Result) -> pd.DataFrame:
    """Table 4's frame for a result, as the command builds it."""
    return table4_frame(result.rows, result.quick, result.fused)


def render(result: Table4Result) -> str:
    """Table 4's markdown for a result, as the command writes it."""
    return render_table4(frame_of(result))


def stem(result: Table4Result) -> str:
    """Table 4's file name stem for a result."""
    return table4_stem(frame_of(result))


# ---------------------------------------------------------------------------------------------
# Fixed counts for the tables (nothing built)

FIXED_PARAMS = {
    (): 26_265_960,
    (("column_mixing", False),): 22_919_528,
    (("row_mixing", False),): 22_919_528,
    (("channel_mixing", False),): 23_495_016,
    (("reweight", False),): 24_034_152,
    (("share_row_column", True),): 23_478_632,
}


def fake_measurement(
    key: MeasureKey, params: int | None = None, macs: int | None = None
) -> Measurement:
    params = params if params is not None else 10_000_000 + 7919 * len(key.label)
    macs = macs if macs is not None else 1_000 * params
    overrides = dict(key.overrides)
    return Measurement(
        key,
        ParamCount(key.name, overrides, params, META),
        FlopCount(key.name, overrides, key.input_size, macs, "ptflops 0.7.5, aten backend", META),
    )


def fixed_measurements(keys: list[MeasureKey] | None = None) -> dict[MeasureKey, Measurement]:
    """Made-up counts for ``keys`` (default: every paper row's model), Table 8's exact ones."""
    measurements = {key: fake_measurement(key) for key in (keys or measure_keys())}
    for overrides, params in FIXED_PARAMS.items():
        key = MeasureKey("zoo", "dynamixer_s", overrides)
        measurements[key] = fake_measurement(key, params)
    return measurements


def fixed_frame(number: int, results: list[dict[str, Any]] | None = None) -> pd.DataFrame:
    return table_frame(TABLE_SPECS[number], fixed_measurements(), results or [])


def run_record(**fields: Any) -> dict[str, Any]:
    record = {
        "status": "completed",
        "config_key": "imagenet_dynamixer_s",
        "model": "dynamixer_s",
        "overrides": {},
        "dataset": "imagenet",
        "changed": {},
        "top1": 82.31,
        "finished": "2026-01-01T00:00:00+00:00",
        "kind": "training",
        "global_batch": 2048,  # the recipe's: a run of another global batch does not count
        "recipe_global_batch": 2048,
    }
    return record | fields


# Few samples, small batches: a few optimizer steps per epoch on one thread.
TINY = ["train_subset=192", "val_subset=96", "batch_size=32", "log_every=1000", "threads=1"]


@pytest.fixture
def tiny() -> list[str]:
    """key=value overrides that shrink the digits config to seconds."""
    return list(TINY)


@pytest.fixture
def store_args(tmp_path: Path) -> list[str]:
    """--runs-dir/--output/--logs under tmp_path, so tests never touch the repository's store."""
    return [
        "--runs-dir",
        str(tmp_path / "results"),
        "--output",
        str(tmp_path / "runs"),
        "--logs",
        str(tmp_path / "logs" / "%j"),
    ]
