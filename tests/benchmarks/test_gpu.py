"""GPU paths (CUDA): the fused DynaMixer under fp32 and bf16 autocast, and the timed modes.

Skipped cleanly where no GPU is visible (CI has none); run on a GPU machine with
``pytest -m gpu tests/benchmarks/test_gpu.py``.
"""

from __future__ import annotations

import pytest
import torch

from benchmarks.gemm import measure_gemm_peak
from benchmarks.settings import ThroughputSettings
from benchmarks.timing import measure_throughput
from models import create_model

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible"),
]


@pytest.fixture(autouse=True)
def exact_fp32_matmuls():
    """TF32 would put fp32 products ~1e-3 apart; compare the paths in true fp32."""
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def _pair(name: str = "dynamixer_s") -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    plain = create_model(name, fused=False).cuda().eval()
    fused = create_model(name, fused=True).cuda().eval()
    fused.load_state_dict(plain.state_dict())
    return plain, fused


def test_fused_equals_plain_on_the_gpu_in_fp32() -> None:
    plain, fused = _pair()
    images = torch.randn(2, 3, 224, 224, device="cuda")
    with torch.inference_mode():
        assert (fused(images) - plain(images)).abs().max().item() <= 1e-4


def test_fused_tracks_plain_under_bf16_autocast() -> None:
    plain, fused = _pair()
    images = torch.randn(2, 3, 224, 224, device="cuda")
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        reference, fast = plain(images).float(), fused(images).float()
    scale = reference.abs().max().item()
    assert (fast - reference).abs().max().item() <= 0.05 * scale


@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])
def test_compiled_amp_throughput_is_measured(mode: str) -> None:
    settings = ThroughputSettings(
        device="cuda", batch_size=2, amp="bf16", compile=True, compile_mode=mode, iters=2
    )
    record = measure_throughput("dynamixer_s", settings)
    assert record.compile_mode == mode and record.median_images_per_s > 0
    assert record.environment.device.startswith("cuda:")
    assert measure_gemm_peak("cuda", torch.bfloat16) > 0
