"""S²-MLPv2 (Yu, Li, Cai, Sun and Li, 2021, arXiv:2108.01072): spatial shifts and split attention.

A RECONSTRUCTION. The authors released no code (so no repository or licence of theirs to
follow) and no weights: this file is built from the paper alone, under this project's licence
(MIT). The skeleton is ViP-S/7's and ViP-M/7's (:mod:`models.hierarchical`, configured exactly
as :mod:`models.vip` configures them); only the token mixer differs. Each mixer expands the C
channels to 3C with one bias-free linear, moves the four channel groups of the first two
C-channel parts one token in four directions (the two parts in two different orders, as the
paper's ``spatial_shift1`` and ``spatial_shift2``), leaves the third part as it is, fuses the
three with split attention (hidden width C/4) and projects back with a linear. This gives the
paper's 25M and 55M parameters exactly; the widely copied unofficial version, whose
split-attention hidden width is C, has 31.7M and 70.0M.

Choices the paper leaves open or that differ from its pseudocode (no checkpoint depends on them):

* parameter names are ours (``expand``, ``split_attention.mlp``, ``proj``);
* a token shifted in from outside the grid is zero; the paper's in-place pseudocode instead
  leaves the border row or column holding its own unshifted value;
* split attention pools by summing over tokens, as the paper's formula does (ViP averages), and
  reads the MLP's 3C outputs part-major, as ``(3, C)``.

``forward_features`` returns NHWC tokens (``output_fmt = "NHWC"``), as the skeleton does.
"""

from typing import Any

import torch
import torch.nn.functional as F
from timm.layers import Mlp
from timm.models import generate_default_cfgs, register_model
from torch import nn

from models.building import build_zoo_model
from models.hierarchical import HierarchicalMixer, hierarchical_cfg

__all__ = ["S2MLPv2", "SpatialShiftMixer", "SplitAttention", "spatial_shift"]

# The paper's two shifts (its spatial_shift1 and spatial_shift2) as the (rows, columns) by which
# each of the four channel groups moves; +1 is towards the higher index (down, right). The
# paper's pseudocode indexes the same tensor axes (it names them w and h) on the same layout.
FIRST_SHIFT = ((1, 0), (-1, 0), (0, 1), (0, -1))  # down, up, right, left
SECOND_SHIFT = ((0, 1), (0, -1), (1, 0), (-1, 0))  # right, left, down, up


def spatial_shift(x: torch.Tensor, offsets: list[tuple[int, int]]) -> torch.Tensor:
    """Move channel group i of NHWC ``x`` by ``offsets[i]`` = (rows, columns) tokens.

    The channels split into ``len(offsets)`` equal contiguous groups. Token (r, c) of group i
    takes the value of token (r - rows, c - columns); positions with no source are zero.
    """
    groups = x.chunk(len(offsets), dim=-1)
    shifted: list[torch.Tensor] = []
    for index, offset in enumerate(offsets):
        rows, columns = offset
        # Constant padding with a negative amount crops: pad one side, cut the other.
        shifted.append(F.pad(groups[index], [0, 0, columns, -columns, rows, -rows]))
    return torch.cat(shifted, dim=-1)


class SplitAttention(nn.Module):
    """Fuse K same-shape parts with per-channel softmax weights (the paper's split attention).

    The parts' sum, summed over tokens, goes through an MLP (C -> C/4 -> K*C); a softmax
    across the K parts per channel gives the weights of a weighted sum of the parts.
    """

    def __init__(self, dim: int, num_parts: int = 3) -> None:
        super().__init__()
        self.num_parts = num_parts
        self.mlp = Mlp(dim, dim // 4, dim * num_parts)

    def forward(self, parts: torch.Tensor) -> torch.Tensor:
        """(B, K, H, W, C) parts -> (B, H, W, C)."""
        B, C = parts.shape[0], parts.shape[-1]
        pooled = parts.sum(dim=(1, 2, 3))
        weights = self.mlp(pooled).reshape(B, self.num_parts, 1, 1, C).softmax(dim=1)
        return (parts * weights).sum(dim=1)


class SpatialShiftMixer(nn.Module):
    """S²-MLPv2's token mixer, NHWC in and out: expand to three parts, shift two, fuse, project.

    ``dim`` must be a multiple of 4 (four shifted channel groups per part).
    """

    def __init__(self, dim: int, proj_drop: float = 0.0) -> None:
        super().__init__()
        if dim % 4:
            raise ValueError(
                f"S²-MLPv2 width {dim} must be a multiple of 4 (four shifted channel groups)"
            )
        self.first_shift = list(FIRST_SHIFT)
        self.second_shift = list(SECOND_SHIFT)
        self.expand = nn.Linear(dim, dim * 3, bias=False)
        self.split_attention = SplitAttention(dim, num_parts=3)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = self.expand(x).chunk(3, dim=-1)
        first = spatial_shift(parts[0], self.first_shift)
        second = spatial_shift(parts[1], self.second_shift)
        fused = self.split_attention(torch.stack([first, second, parts[2]], dim=1))
        return self.proj_drop(self.proj(fused))


class S2MLPv2(HierarchicalMixer):
    """S²-MLPv2 (reconstruction): :class:`HierarchicalMixer` with :class:`SpatialShiftMixer`s.

    Its mixer is shifts and channel operations, so the same weights run at any input side the
    patch (7) and the one downsampling (2) divide: the grid is not fixed (``FIXED_GRID``).

    ``forward_features`` returns NHWC tokens (``output_fmt = "NHWC"``).
    """

    FIXED_GRID = False

    def __init__(self, **kwargs: Any) -> None:
        def token_mixer(stage: int, dim: int, side: int) -> nn.Module:
            return SpatialShiftMixer(dim)

        super().__init__(token_mixer=token_mixer, **kwargs)
        self.output_fmt = "NHWC"
        self.feature_dim = -1  # the channel axis of forward_features, as timm's sequencer


# ViP-S/7's and ViP-M/7's skeletons (models.vip), which the paper's S/7 and M/7 use.
CONFIGS: dict[str, dict[str, Any]] = {
    "s2mlpv2_s7": dict(
        layers=(4, 3, 8, 3),
        embed_dims=(192, 384, 384, 384),
        transitions=(True, False, False, False),
        patch_size=7,
    ),
    "s2mlpv2_m7": dict(
        layers=(4, 3, 14, 3),
        embed_dims=(256, 256, 512, 512),
        transitions=(False, True, False, False),
        patch_size=7,
    ),
}


def _create_s2mlpv2(name: str, pretrained: bool = False, **kwargs: Any) -> S2MLPv2:
    config = {**CONFIGS[name], **kwargs}
    config.setdefault("mlp_ratios", (3.0,) * len(config["layers"]))
    return build_zoo_model(
        S2MLPv2,
        name,
        pretrained,
        feature_cfg=dict(out_indices=tuple(range(len(config["layers"]))), feature_cls="getter"),
        **config,
    )


def _cfg(**kwargs: Any) -> dict[str, Any]:
    return hierarchical_cfg(
        crop_pct=0.9,
        pool_size=(16, 16),  # 224 / 7 = 32 tokens a side, halved once
        origin_url="https://arxiv.org/abs/2108.01072",
        paper_ids="arXiv:2108.01072",
        notes=(
            "reconstruction: no official PyTorch code; built from the paper on the ViP-S/7 "
            "and ViP-M/7 skeletons",
            "computation: no authors' code to compare with (a reconstruction); spatial shifts as "
            "zero-padded, cropped copies of each channel group; no alternative",
            "input size: the mixer is shifts and channel operations, so the same weights run at "
            "any side that is a multiple of 14 (the paper's ImageNet runs use 224)",
        ),
        fixed_input_size=False,
        min_input_size=(3, 14, 14),  # one patch of 7 a side, halved once
        **kwargs,
    )


default_cfgs = generate_default_cfgs({"s2mlpv2_s7": _cfg(), "s2mlpv2_m7": _cfg()})


@register_model
def s2mlpv2_s7(pretrained: bool = False, **kwargs: Any) -> S2MLPv2:
    """S²-MLPv2-Small/7, a reconstruction (no official code): ViP-S/7's skeleton, 25.1M."""
    return _create_s2mlpv2("s2mlpv2_s7", pretrained, **kwargs)


@register_model
def s2mlpv2_m7(pretrained: bool = False, **kwargs: Any) -> S2MLPv2:
    """S²-MLPv2-Medium/7, a reconstruction (no official code): ViP-M/7's skeleton, 55.3M."""
    return _create_s2mlpv2("s2mlpv2_m7", pretrained, **kwargs)
