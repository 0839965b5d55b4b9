"""benchmarks.counting's FFT rule: GFNet's global filters count as its paper says (Table 1,
``HWD * ceil(log2(HW)) + HWD`` per layer), and models without FFTs count exactly as before."""

from __future__ import annotations

import io
from contextlib import redirect_stdout

import pytest
import torch
from ptflops import get_model_complexity_info

from benchmarks.counting import (
    count_flops,
    count_module_flops,
    global_filter_macs,
    skip_meta_init,
)
from models import create_model


def _plain_ptflops(net: torch.nn.Module) -> int:
    """ptflops' aten backend alone, as the suite counted before the FFT rule."""
    with torch.no_grad(), redirect_stdout(io.StringIO()):
        macs, _ = get_model_complexity_info(
            net, (3, 224, 224), as_strings=False, print_per_layer_stat=False, backend="aten"
        )
    return int(macs)


def _meta(name: str) -> torch.nn.Module:
    with skip_meta_init(), torch.device("meta"):
        return create_model(name).eval()


@pytest.mark.parametrize(
    ("shape", "dims", "expected"),
    [
        ((1, 56, 56, 64), [1, 2], 56 * 56 * 64 * (12 + 1)),  # log2(3136) = 11.6
        ((2, 7, 7, 512), [1, 2], 2 * 7 * 7 * 512 * (6 + 1)),  # log2(49) = 5.6
        ((1, 4, 4, 3), [1, 2], 4 * 4 * 3 * (4 + 1)),  # log2(16) = 4 exactly
        ((3, 8, 5), [1], 3 * 8 * 5 * (3 + 1)),  # a 1D transform over 8 points
    ],
)
def test_global_filter_macs_is_the_papers_formula(shape, dims, expected):
    x = torch.empty(shape, device="meta")
    assert global_filter_macs((x, dims, 1, True)) == expected


def test_gfnet_counts_its_global_filters_by_exactly_the_formula():
    name = "gfnet_h_ti"
    net = _meta(name)
    formula = 0
    for stage, blocks in enumerate(net.blocks):
        side, width = net.grid_sizes[stage], blocks[0].norm1.normalized_shape[0]
        points = side * side
        formula += len(blocks) * (points * width * (points - 1).bit_length() + points * width)
    assert formula == 16_181_760  # 0.016 GMACs on top of 2.047 GMACs of products and convs
    record = count_flops(name)
    assert record.macs == _plain_ptflops(_meta(name)) + formula
    assert record.counter.endswith("aten backend + GFNet's FFT rule")


@pytest.mark.parametrize("name", ["cyclemlp_b1", "resmlp_s12"])
def test_models_without_ffts_count_exactly_as_plain_ptflops(name):
    record = count_flops(name)
    assert record.macs == _plain_ptflops(_meta(name))
    assert record.counter.endswith("aten backend")


def test_timm_models_without_ffts_count_exactly_as_plain_ptflops():
    import timm

    with skip_meta_init(), torch.device("meta"):
        net = timm.create_model("resnet18").eval()
    record = count_module_flops(net, (3, 224, 224), model="resnet18", overrides={}, label="r18")
    assert record.macs == _plain_ptflops(net)
