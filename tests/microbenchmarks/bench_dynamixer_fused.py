"""Micro-benchmarks of the DynaMixer block's fused path beside its plain path.

Same shapes and habits as ``bench_mixing.py`` (DynaMixer-S's two stages, batch 32, fp32,
CPU, eval and inference mode, few rounds); the pair shares a group per stage so
pytest-benchmark prints them side by side. Ratios that the fast path's targets are judged on come
from the interleaved report, ``python -m benchmarks.fastpath``, not from these tables.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from models.dynamixer import DynaMixerBlock

BATCH = 32
ROUNDS, WARMUP_ROUNDS = 5, 1
# (token-grid side, width, segments S) of DynaMixer-S's two stages: the first folds the
# projection into per-image matrices (1024 tokens > 3 x 192), the second sums in place.
STAGES = {"32x32x192": (32, 192, 8), "16x16x384": (16, 384, 16)}


@pytest.mark.parametrize("stage", list(STAGES))
@pytest.mark.parametrize("path", ["plain", "fused"])
def test_block_path(benchmark: Callable[..., object], path: str, stage: str) -> None:
    side, dim, segments = STAGES[stage]
    torch.manual_seed(0)
    block = DynaMixerBlock(dim, side, segments, reduced_dim=2, fused=path == "fused").eval()
    tokens = torch.randn(BATCH, side, side, dim, generator=torch.Generator().manual_seed(0))
    benchmark.group = f"dynamixer_block {stage}"  # type: ignore[attr-defined]
    benchmark.extra_info.update(  # type: ignore[attr-defined]
        {"batch": BATCH, "dtype": "fp32", "threads": torch.get_num_threads(), "path": path}
    )

    def forward() -> torch.Tensor:
        with torch.inference_mode():
            return block(tokens)

    out = benchmark.pedantic(  # type: ignore[attr-defined]
        forward, rounds=ROUNDS, iterations=1, warmup_rounds=WARMUP_ROUNDS
    )
    assert out.shape == tokens.shape
