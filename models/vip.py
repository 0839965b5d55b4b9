"""Vision Permutator (Hou et al., 2021): fixed, learned token mixing along rows and columns.

The reference the paper compares DynaMixer against. Module and parameter names follow the
authors' implementation (github: houqb/VisionPermutator), so official checkpoints load with
``strict=True``. The network skeleton is shared with DynaMixer (:mod:`models.hierarchical`).
"""

from typing import Any

import torch
from timm.layers import Mlp
from timm.models import generate_default_cfgs, register_model
from torch import nn

from models.building import build_zoo_model
from models.hierarchical import HierarchicalMixer, hierarchical_cfg

__all__ = ["VisionPermutator", "WeightedPermuteMLP"]


class WeightedPermuteMLP(nn.Module):
    """ViP's token mixer: height-, width- and channel-wise linears, reweighted per channel.

    ``num_segments`` (ViP's code calls it ``segment_dim``; here ``segment_dim`` always means
    channels per segment, as in DynaMixer) must equal the token grid side, so that one linear
    (``mlp_h``/``mlp_w``) mixes a whole segment-permuted row.
    """

    def __init__(self, dim: int, num_segments: int, proj_drop: float = 0.0) -> None:
        super().__init__()
        self.num_segments = num_segments
        self.mlp_c = nn.Linear(dim, dim, bias=False)
        self.mlp_h = nn.Linear(dim, dim, bias=False)
        self.mlp_w = nn.Linear(dim, dim, bias=False)
        self.reweight = Mlp(dim, dim // 4, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        segments, per_segment = self.num_segments, C // self.num_segments
        h = x.reshape(B, H, W, segments, per_segment).permute(0, 3, 2, 1, 4)
        h = self.mlp_h(h.reshape(B, segments, W, H * per_segment))
        h = h.reshape(B, segments, W, H, per_segment).permute(0, 3, 2, 1, 4).reshape(B, H, W, C)
        w = x.reshape(B, H, W, segments, per_segment).permute(0, 1, 3, 2, 4)
        w = self.mlp_w(w.reshape(B, H, segments, W * per_segment))
        w = w.reshape(B, H, segments, W, per_segment).permute(0, 1, 3, 2, 4).reshape(B, H, W, C)
        c = self.mlp_c(x)
        a = (h + w + c).mean(dim=(1, 2))
        a = self.reweight(a).reshape(B, C, 3).permute(2, 0, 1).softmax(dim=0)
        a = a.unsqueeze(2).unsqueeze(2)
        x = h * a[0] + w * a[1] + c * a[2]
        return self.proj_drop(self.proj(x))


class VisionPermutator(HierarchicalMixer):
    """ViP: :class:`HierarchicalMixer` with :class:`WeightedPermuteMLP` mixers."""

    def __init__(self, num_segments: tuple[int, ...], **kwargs: Any) -> None:
        def token_mixer(stage: int, dim: int, side: int) -> nn.Module:
            if dim % num_segments[stage] or dim // num_segments[stage] * side != dim:
                raise ValueError(
                    f"ViP stage {stage}: num_segments {num_segments[stage]} must equal the token "
                    + f"grid side {side} and divide the width {dim}"
                )
            return WeightedPermuteMLP(dim, num_segments[stage])

        super().__init__(token_mixer=token_mixer, **kwargs)


CONFIGS: dict[str, dict[str, Any]] = {
    "vip_s14": dict(
        layers=(4, 3, 8, 3),
        embed_dims=(384, 384, 384, 384),
        transitions=(False, False, False, False),
        num_segments=(16, 16, 16, 16),
        patch_size=14,
    ),
    "vip_s7": dict(
        layers=(4, 3, 8, 3),
        embed_dims=(192, 384, 384, 384),
        transitions=(True, False, False, False),
        num_segments=(32, 16, 16, 16),
        patch_size=7,
    ),
    "vip_m7": dict(
        layers=(4, 3, 14, 3),
        embed_dims=(256, 256, 512, 512),
        transitions=(False, True, False, False),
        num_segments=(32, 32, 16, 16),
        patch_size=7,
    ),
    "vip_l7": dict(
        layers=(8, 8, 16, 4),
        embed_dims=(256, 512, 512, 512),
        transitions=(True, False, False, False),
        num_segments=(32, 16, 16, 16),
        patch_size=7,
    ),
}


def _create_vip(name: str, pretrained: bool = False, **kwargs: Any) -> VisionPermutator:
    config = {**CONFIGS[name], **kwargs}
    config.setdefault("mlp_ratios", (3.0,) * len(config["layers"]))
    return build_zoo_model(
        VisionPermutator,
        name,
        pretrained,
        feature_cfg=dict(out_indices=tuple(range(len(config["layers"]))), feature_cls="getter"),
        **config,
    )


def _cfg(**kwargs: Any) -> dict[str, Any]:
    return hierarchical_cfg(
        origin_url="https://github.com/houqb/VisionPermutator",
        paper_ids="arXiv:2106.12368",
        notes=(
            "computation: the authors' operations, except that the reweighting averages the "
            "NHWC tokens in place, not after their permute-and-flatten copy (about 1e-7 apart); "
            "no alternative",
        ),
        **kwargs,
    )


default_cfgs = generate_default_cfgs(
    {
        "vip_s14": _cfg(crop_pct=0.9),
        "vip_s7": _cfg(crop_pct=0.9),
        "vip_m7": _cfg(crop_pct=0.9),
        "vip_l7": _cfg(crop_pct=0.875),
    }
)


@register_model
def vip_s14(pretrained: bool = False, **kwargs: Any) -> VisionPermutator:
    """ViP-Small/14: 14x14 patches, one 16x16-token stage."""
    return _create_vip("vip_s14", pretrained, **kwargs)


@register_model
def vip_s7(pretrained: bool = False, **kwargs: Any) -> VisionPermutator:
    """ViP-Small/7: 7x7 patches, 32x32 then 16x16 tokens."""
    return _create_vip("vip_s7", pretrained, **kwargs)


@register_model
def vip_m7(pretrained: bool = False, **kwargs: Any) -> VisionPermutator:
    """ViP-Medium/7."""
    return _create_vip("vip_m7", pretrained, **kwargs)


@register_model
def vip_l7(pretrained: bool = False, **kwargs: Any) -> VisionPermutator:
    """ViP-Large/7."""
    return _create_vip("vip_l7", pretrained, **kwargs)
