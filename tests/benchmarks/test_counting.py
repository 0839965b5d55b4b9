"""benchmarks.counting: parameters and FLOPs of zoo and timm models, on the meta device."""

from __future__ import annotations

import pytest
import torch
from ptflops import get_model_complexity_info

from benchmarks.counting import check_timm_name, count_flops, count_params, count_timm_params
from benchmarks.records import ModelSpec
from benchmarks.settings import ThroughputSettings, validate
from benchmarks.timing import measure_throughput
from models import create_model

# Reference multiply-accumulates at 224x224, batch 1, in GMACs. These are not paper figures:
# they were measured with ptflops 0.7.5 (aten backend) on the authors' official
# implementations, and our models must match them within 1%.
EXPECTED_GMACS = [
    ("dynamixer_s", 7.32),
    ("dynamixer_m", 17.00),
    ("dynamixer_l", 27.38),
    ("vip_s7", 6.91),
    ("vip_m7", 16.31),
    ("vip_l7", 24.37),
    ("resmlp_s12", 3.01),
    ("resmlp_s24", 5.96),
    ("resmlp_b24", 23.03),
]


@pytest.mark.parametrize(("name", "expected"), EXPECTED_GMACS, ids=[n for n, _ in EXPECTED_GMACS])
def test_flops_within_one_percent_of_the_official_implementations(
    name: str, expected: float
) -> None:
    got = count_flops(name).macs / 1e9
    assert abs(got - expected) <= 0.01 * expected, (
        f"{name}: expected {expected:.2f} GMACs (+-1%), got {got:.4f} GMACs "
        + f"({100 * (got / expected - 1):+.2f}%)"
    )


def test_counting_on_the_meta_device_equals_counting_a_real_model() -> None:
    torch.manual_seed(0)
    real = create_model("resmlp_s12").eval()
    with torch.no_grad():
        macs, params = get_model_complexity_info(
            real, (3, 224, 224), as_strings=False, print_per_layer_stat=False, backend="aten"
        )
    assert count_flops("resmlp_s12").macs == macs
    assert count_params("resmlp_s12").params == params == sum(p.numel() for p in real.parameters())


def test_unknown_model_fails_before_anything_is_built(no_model_is_built: None) -> None:
    with pytest.raises(ValueError, match=r"unknown model 'dynamixer_xl'.*Known models:"):
        validate(ThroughputSettings(), ["dynamixer_xl"])
    for function in (count_params, count_flops, measure_throughput):
        with pytest.raises(ValueError, match=r"unknown model 'vip_m14'"):
            function("vip_m14")


def test_timm_models_are_counted_without_downloading_and_bad_names_fail_clearly() -> None:
    record = count_timm_params("resnet18")
    assert record.params == 11_689_512 and record.environment.device == "meta"
    with pytest.raises(ValueError, match=r"has no model 'resnet_18'.*resnet18"):
        check_timm_name("resnet_18")


def test_both_cycle_fc_routes_count_the_same_macs():
    """ptflops cannot see deform_conv2d (the authors' route counted 1.81G of CycleMLP-B1's
    2.13G); the counting rule charges it as the convolution it is."""
    shift = count_flops(ModelSpec("cyclemlp_b1", {"cycle_fc": "shift"}))
    deform = count_flops(ModelSpec("cyclemlp_b1", {"cycle_fc": "deform_conv"}))
    assert deform.macs == pytest.approx(shift.macs, rel=2e-3)  # biases counted differently
    assert deform.counter.endswith("+ the deform_conv2d rule") and "rule" not in shift.counter
