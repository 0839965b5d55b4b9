"""ResMLP (Touvron et al., 2021) as configurations of timm's own MlpMixer with ResBlock.

The paper's Tables 2 and 4 use ResMLP-S12, -S24 and -B24 with 16x16 patches. timm's
``resmlp_big_24_224`` uses 8x8 patches (129M params); our ``resmlp_b24`` is the 16x16 one.
"""

from functools import partial
from typing import Any

import torch
from timm.layers import PatchEmbed
from timm.models import generate_default_cfgs, register_model
from timm.models.mlp_mixer import Affine, MlpMixer, ResBlock, checkpoint_filter_fn

from models.building import build_zoo_model
from models.hierarchical import check_input_size

__all__ = ["ResMLP"]

# fx traces the size check as one call (a module-level wrap applies to this module's name).
torch.fx.wrap("check_input_size")


class SizeCheckedPatchEmbed(PatchEmbed):
    """timm's PatchEmbed (same parameters), refusing a wrong image size with a ValueError that
    names both sizes instead of an assertion."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = check_input_size(x, self.img_size[0], self.img_size[1])
        x = self.proj(x).flatten(2).transpose(1, 2)  # NCHW -> NLC, as MlpMixer's stem does
        return self.norm(x)


class ResMLP(MlpMixer):
    """timm's MlpMixer with ResBlocks and Affine norms, its stem checking the image size."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        stem = self.stem
        checked = SizeCheckedPatchEmbed(
            img_size=stem.img_size,
            patch_size=stem.patch_size,
            in_chans=kwargs.get("in_chans", 3),
            embed_dim=self.embed_dim,
        )
        checked.load_state_dict(stem.state_dict())  # keep timm's initialisation
        self.stem = checked


def _create_resmlp(name: str, pretrained: bool = False, **kwargs: Any) -> ResMLP:
    return build_zoo_model(
        ResMLP,
        name,
        pretrained,
        pretrained_filter_fn=checkpoint_filter_fn,
        feature_cfg=dict(out_indices=3, feature_cls="getter"),
        **kwargs,
    )


def _resmlp_args(num_blocks: int, embed_dim: int, init_values: float) -> dict[str, Any]:
    return dict(
        patch_size=16,
        num_blocks=num_blocks,
        embed_dim=embed_dim,
        mlp_ratio=4,
        block_layer=partial(ResBlock, init_values=init_values),
        norm_layer=Affine,
    )


def _cfg(**kwargs: Any) -> dict[str, Any]:
    return {
        "num_classes": 1000,
        "input_size": (3, 224, 224),
        "pool_size": None,
        "crop_pct": 0.875,
        "interpolation": "bicubic",
        "fixed_input_size": True,
        "mean": (0.485, 0.456, 0.406),
        "std": (0.229, 0.224, 0.225),
        "first_conv": "stem.proj",
        "classifier": "head",
        "license": "apache-2.0",
        "origin_url": "https://github.com/facebookresearch/deit",
        "paper_ids": "arXiv:2105.03404",
        "notes": (
            "computation: timm's MlpMixer with ResBlocks, the operations of the authors' "
            "resmlp_models.py (DeiT) except Affine as one addcmul where theirs multiplies then "
            "adds; no alternative",
        ),
        **kwargs,
    }


default_cfgs = generate_default_cfgs(
    {"resmlp_s12": _cfg(), "resmlp_s24": _cfg(), "resmlp_b24": _cfg()}
)


@register_model
def resmlp_s12(pretrained: bool = False, **kwargs: Any) -> ResMLP:
    """ResMLP-S12: 12 blocks of width 384, 16x16 patches."""
    return _create_resmlp("resmlp_s12", pretrained, **{**_resmlp_args(12, 384, 1e-4), **kwargs})


@register_model
def resmlp_s24(pretrained: bool = False, **kwargs: Any) -> ResMLP:
    """ResMLP-S24: 24 blocks of width 384, 16x16 patches."""
    return _create_resmlp("resmlp_s24", pretrained, **{**_resmlp_args(24, 384, 1e-5), **kwargs})


@register_model
def resmlp_b24(pretrained: bool = False, **kwargs: Any) -> ResMLP:
    """ResMLP-B24: 24 blocks of width 768, 16x16 patches (as in the paper's Tables 2 and 4)."""
    return _create_resmlp("resmlp_b24", pretrained, **{**_resmlp_args(24, 768, 1e-6), **kwargs})
