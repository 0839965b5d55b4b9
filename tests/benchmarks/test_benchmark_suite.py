"""benchmarks.suite and the rows' schema: names and globs, input sizes, the duration estimate,
timm's CSV columns."""

from __future__ import annotations

import pytest

from benchmarks.records import FlopCount
from benchmarks.rows import sweep_frame
from benchmarks.settings import ThroughputSettings
from benchmarks.suite import (
    ASSUMED_MFU,
    expected_seconds,
    input_size_of,
    select_models,
    upfront_seconds,
)
from models import list_models
from tests.benchmarks.conftest import ENVIRONMENT, fixed_rows

#: The columns timm's benchmark.py writes for what the suite measures too, by step.
TIMM_INFER = ["infer_img_size", "infer_batch_size", "infer_samples_per_sec", "infer_step_time"]
TIMM_TRAIN = ["train_img_size", "train_batch_size", "train_samples_per_sec", "train_step_time"]


def test_globs_give_zoo_names_first_then_timm_names_each_once() -> None:
    assert select_models(["dynamixer_*"]) == list_models("dynamixer")
    names = select_models(["gmlp_s16_224", "*mlp*", "resnet18"])
    assert names[0] == "gmlp_s16_224" and names[-1] == "resnet18"
    assert len(names) == len(set(names))  # gmlp_s16_224 is not repeated by the glob
    zoo = [n for n in names[1:-1] if n in list_models()]
    assert zoo == [n for n in list_models() if "mlp" in n]  # the zoo's order
    others = [n for n in names[1:-1] if n not in list_models()]
    assert "resmlp_12_224" in others and others == sorted(others)


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        (["dynamixr_s"], r"unknown model 'dynamixr_s': neither the zoo nor timm .*'dynamixer_s'"),
        (["resnet_18"], r"unknown model 'resnet_18'.*'resnet18'"),
        (["nothing_like_it_*"], r"'nothing_like_it_\*' matches no zoo or timm model"),
        ([], r"no model given"),
    ],
)
def test_unknown_names_and_empty_globs_are_refused(patterns: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        select_models(patterns)


def test_input_size_is_the_models_own_unless_asked_and_fixed_sizes_refuse_others() -> None:
    assert input_size_of("dynamixer_digits") == (3, 32, 32)
    assert input_size_of("convmlp_s") == (3, 224, 224)
    assert input_size_of("convmlp_s", 64) == (3, 64, 64)
    with pytest.raises(ValueError, match=r"resmlp_s12 takes only 224x224 input .*--img-size 32"):
        input_size_of("resmlp_s12", 32)


def test_expected_duration_scales_the_last_warm_up_batch_to_the_timed_batch() -> None:
    settings = ThroughputSettings(batch_size=32, iters=2, warmup_batch_size=2)
    # The last warm-up call counts (the first carries one-off costs): (0.5 + 0.25) x 16 x 2.
    assert expected_seconds({"a": [9.0, 0.5], "b": [0.25]}, settings) == pytest.approx(24.0)
    assert expected_seconds({"a": []}, settings) is None  # no warm-up: no estimate


def test_upfront_duration_is_the_flops_of_every_round_at_half_the_gemm_peak() -> None:
    settings = ThroughputSettings(batch_size=32, warmup=1, iters=2, warmup_batch_size=2)
    flops = [
        FlopCount(name, {}, (3, 224, 224), macs, "ptflops 0.7.5, aten backend", ENVIRONMENT)
        for name, macs in (("a", 5_000_000_000), ("b", 3_000_000_000))
    ]
    # 2 x 8 GMAC per image, (2 + 64) images, over 50% of 100 GFLOP/s.
    assert upfront_seconds(flops, settings, 100.0, "inference") == pytest.approx(21.12)
    assert upfront_seconds(flops, settings, 100.0, "train") == pytest.approx(3 * 21.12)
    assert ASSUMED_MFU == 0.5


def test_frame_has_timms_columns_first_then_the_provenance() -> None:
    rows = fixed_rows(
        {"resmlp_s12": [1.0, 2.0, 4.0], "dynamixer_s(fused=False)": [2.0, 2.0, 2.0]},
        steps=("inference", "train"),
    )
    frame = sweep_frame(rows)
    columns = list(frame.columns)
    assert columns[:11] == ["model", *TIMM_INFER, "param_count", "infer_gmacs", *TIMM_TRAIN]
    for column in (
        "infer_samples_per_sec_min",
        "infer_samples_per_sec_max",
        "infer_batch_seconds",
        "infer_mfu",
        "train_mfu",
        "gemm_peak_gflops",
        "device_name",
        "cpu_bf16",
        "native_bf16",
        "threads",
        "precision",
        "torch",
        "timm",
        "date",
    ):
        assert column in columns
    row = frame.set_index("model").loc["resmlp_s12"]
    assert row["infer_samples_per_sec"] == pytest.approx(16.0)  # median of 32, 16 and 8 img/s
    assert row["infer_step_time"] == pytest.approx(2000.0)  # ms per batch at that rate
    assert (row["infer_samples_per_sec_min"], row["infer_samples_per_sec_max"]) == (8.0, 32.0)
    assert row["infer_batch_seconds"] == "1.0000 2.0000 4.0000"
    assert (row["param_count"], row["infer_gmacs"]) == (10.0, 2.0)  # timm's units: M, G
    # MFU: 2 FLOPs per MAC x 2 GMAC x 16 img/s over a 100 GFLOP/s peak; a training step x 3.
    assert row["infer_mfu"] == pytest.approx(0.64) and row["train_mfu"] == pytest.approx(1.92)
    assert (row["cpu_bf16"], row["native_bf16"], row["device_name"]) == (
        "none",
        False,
        "Test CPU 9000",
    )
    plain = frame.set_index("model").loc["dynamixer_s(fused=False)"]
    assert (plain["name"], plain["overrides"], plain["source"]) == (
        "dynamixer_s",
        "{'fused': False}",
        "zoo",
    )
