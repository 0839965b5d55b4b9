"""Micro-benchmarks: the DynaMixer op and block against ViP's block, at DynaMixer-S's two stages.

Run with ``nox -s benchmark`` (pytest-benchmark; results saved as JSON under
``results/benchmarks`` so a later run can ``--benchmark-compare``). Shapes are DynaMixer-S's
(Table 1): 32x32 tokens of width 192 with S = 8 segments, then 16x16 tokens of width 384 with
S = 16; batch 32, fp32, CPU, eval and inference mode. The op mixes one axis, so it sees
(batch x rows) sequences of one row's tokens, as inside the block. Rounds are few: one call
takes about a second on a 2-core CPU.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from models.dynamixer import DynaMixerBlock, DynaMixerOp
from models.vip import WeightedPermuteMLP

BATCH = 32
ROUNDS, WARMUP_ROUNDS = 5, 1
# (token-grid side, width, DynaMixer segments S) of DynaMixer-S's two stages; ViP's segment_dim
# is its own name for the number of segments and must equal the grid side.
STAGES = {"32x32x192": (32, 192, 8), "16x16x384": (16, 384, 16)}


def _module(kind: str, side: int, dim: int, segments: int) -> tuple[nn.Module, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    if kind == "dynamixer_op":
        module: nn.Module = DynaMixerOp(dim, side, segments, reduced_dim=2)
        shape: tuple[int, ...] = (BATCH * side, side, dim)
    elif kind == "dynamixer_block":
        # The authors' computation, as Table 4 times it; bench_dynamixer_fused.py times the
        # fused path beside it.
        module = DynaMixerBlock(dim, side, segments, reduced_dim=2, fused=False)
        shape = (BATCH, side, side, dim)
    else:
        module = WeightedPermuteMLP(dim, segment_dim=side)
        shape = (BATCH, side, side, dim)
    return module.eval(), torch.randn(*shape, generator=generator)


@pytest.mark.parametrize("stage", list(STAGES))
@pytest.mark.parametrize("kind", ["dynamixer_op", "dynamixer_block", "vip_block"])
def test_mixing(benchmark: Callable[..., object], kind: str, stage: str) -> None:
    side, dim, segments = STAGES[stage]
    module, tokens = _module(kind, side, dim, segments)
    benchmark.group = stage  # type: ignore[attr-defined]
    benchmark.extra_info.update(  # type: ignore[attr-defined]
        {"batch": BATCH, "dtype": "fp32", "threads": torch.get_num_threads(), "shape": stage}
    )

    def forward() -> torch.Tensor:
        with torch.inference_mode():
            return module(tokens)

    out = benchmark.pedantic(  # type: ignore[attr-defined]
        forward, rounds=ROUNDS, iterations=1, warmup_rounds=WARMUP_ROUNDS
    )
    assert out.shape == tokens.shape
