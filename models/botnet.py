"""BoTNet-S1 (Srinivas et al., 2021, arXiv:2101.11605): a ResNet whose last stage attends globally.

Paper: A. Srinivas, T.-Y. Lin, N. Parmar, J. Shlens, P. Abbeel and A. Vaswani, "Bottleneck
Transformers for Visual Recognition", CVPR 2021. A BoT block is a ResNet bottleneck block whose
3x3 conv is replaced by global multi-head self-attention (MHSA) with 2D relative position logits;
BoTNet puts BoT blocks in the last stage (c5). The "S1" models of the paper's ImageNet section
keep c5 at stride 1, so at 224x224 it attends over a 14x14 grid instead of 7x7.

A RECONSTRUCTION. The authors released no PyTorch code and no weights; their reference is a
TensorFlow gist (gist.github.com/aravindsrinivas/56359b79f0ce4449bcb04ab4b56a57a2, ``botnet.py``)
that could not be read here. This file follows that gist as two ports transcribe it (github:
NZ99/bottleneck-transformer-flax at 511d699abfe96dec9278c66256769aaadd9b1aa9, and the PyTorch
transcription credited to gist ShoufaChen/ec7b70038a6fdb488da4b34355380569) and timm's
``BottleneckAttn`` (written from the gist); the ResNet around it follows the authors' TF ResNet
(github: tensorflow/tpu, models/official/resnet/resnet_model.py ``bottleneck_block`` and
``resnet_generator``, resnet_layers.py ``squeeze_excitation``). Parameter names are timm's
ByobNet's (ours, under this project's MIT licence): no checkpoint exists to match. Choices:

* stem: 7x7/2 conv, BatchNorm, activation, 3x3/2 max pool (``resnet_generator`` without the
  ResNet-D stem; the ResNet-D stem would add 0.24 GMACs, moving S1-59 away from its 7.3G);
* ResNet blocks: 1x1, 3x3 (stride here), 1x1 with zero-initialised last BatchNorm; projection
  shortcut conv + BatchNorm without activation (``bottleneck_block``);
* SE (S1-59 only): TF's ``squeeze_excitation`` with se_ratio 0.0625 of the block's output width
  (2048 -> 128 -> 2048, ReLU inside), after the last BatchNorm, before the residual sum;
* BoT block (the gist's ``BoT_Block``): 1x1 conv-BN-act, MHSA, BN-act, 1x1 conv-BN (zero-init);
  its projection shortcut is conv + BN + activation (the gist applies the activation there);
* MHSA: 4 heads of width 128 (bottleneck 512), bias-free q, k, v projections, logits
  ``(q k + q r) / sqrt(128)`` with relative embeddings ``r`` of shape (2H-1, 128) and (2W-1, 128)
  shared by the heads (the gist's ``relpos_self_attention``: q is scaled before both terms, so
  timm's ``scale_pos_embed=True``);
* where the MHSA blocks are: every c5 block, c5 at stride 1 (the paper's "S1");
* BoT-S1-50: ResNet-50's depths (3, 4, 6, 3), ReLU, no SE: 20.86M parameters, the paper's 20.8M
  (SE would make it 21.8M or more);
* BoT-S1-59: depths (3, 4, 6, 6) ("T3" of the paper's Table 13), SiLU (the S1 scaling models'
  activation, as NZ99's port configures them), SE in every block. The paper's section 4.8.4 (as
  NZ99's README quotes it) puts SE only in the ResNet blocks (30.50M, ``attention_se=False``);
  its printed 33.5M counts SE in the BoT blocks too, as (NZ99 reports) the authors' own
  parameter-count script does (gist aravindsrinivas/e8a9e33425e10ed0c69c1bf726b81495). The
  default follows the printed figure: 33.66M.

Multiply-accumulates at 224 (ptflops, aten): S1-59 7.25G, the paper's 7.3G; S1-50 5.42G against
the paper's 4.27G, which no stride-1 c5 reaches (its 3 BoT blocks on 14x14 cost 2.1G; at stride 2
the same network counts 4.02G).

The relative position embeddings tie the model to one input size (224 by default, ``img_size``
picks another multiple of 16); a wrong size or channel count raises a ValueError.
"""

from functools import partial
from typing import Any

import torch
import torch.fx
from timm.layers import DropPath
from timm.layers.bottleneck_attn import BottleneckAttn
from timm.models import generate_default_cfgs, register_model
from timm.models._manipulate import checkpoint_seq
from timm.models.byobnet import ByoBlockCfg, ByobNet, ByoModelCfg, LayerFn
from torch import nn

from models.building import build_zoo_model
from models.hierarchical import square_size

__all__ = ["BoTBlock", "BoTNet"]

#: Output widths of the four stages (ResNet's 256, 512, 1024, 2048) and their strides; the last
#: stage keeps stride 1 ("S1"), so the network's reduction is 16.
STAGE_WIDTHS = (256, 512, 1024, 2048)
STAGE_STRIDES = (1, 2, 2, 1)
REDUCTION = 16


def check_image(x: torch.Tensor, side: int, in_chans: int) -> torch.Tensor:
    """Raise a ValueError naming the bad size or channel count; return ``x`` unchanged."""
    if x.shape[1] != in_chans:
        raise ValueError(f"this model takes {in_chans}-channel images; got {x.shape[1]} channels")
    if x.shape[-2] != side or x.shape[-1] != side:
        raise ValueError(
            "this model's relative position embeddings fix its input size: it accepts only "
            + f"{side}x{side} images; got {x.shape[-2]}x{x.shape[-1]}"
        )
    return x


# Keep the check one opaque call in torch.fx graphs (shapes are proxies there).
torch.fx.wrap("check_image")


class BoTBlock(nn.Module):
    """Bottleneck Transformer block: a ResNet bottleneck with global MHSA in place of its 3x3 conv.

    ``feat_size`` is the input's (H, W) grid, which fixes the relative embeddings' shapes. Takes
    the keyword arguments timm's ByobNet gives every block; only the S1 form (stride 1, no
    dilation, no groups) is built, so ``stride``, ``dilation`` and ``group_size`` keep their
    defaults.
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        feat_size: tuple[int, int],
        stride: int = 1,
        dilation: tuple[int, int] = (1, 1),
        bottle_ratio: float = 0.25,
        group_size: int | None = None,
        downsample: str = "conv1x1",
        num_heads: int = 4,
        layers: LayerFn | None = None,
        drop_block: Any = None,
        drop_path_rate: float = 0.0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if stride != 1 or tuple(dilation) != (1, 1) or group_size:
            raise ValueError(
                "BoT-S1 blocks take no stride, dilation or groups; got stride "
                + f"{stride}, dilation {dilation}, group_size {group_size}"
            )
        dd = {"device": device, "dtype": dtype}
        layers = layers or LayerFn()
        mid_chs = int(out_chs * bottle_ratio)
        if in_chs != out_chs:
            self.shortcut = layers.conv_norm_act(in_chs, out_chs, 1, **dd)
        else:
            self.shortcut = nn.Identity()
        self.conv1_1x1 = layers.conv_norm_act(in_chs, mid_chs, 1, **dd)
        self.self_attn = BottleneckAttn(
            mid_chs,
            feat_size=feat_size,
            num_heads=num_heads,
            scale_pos_embed=True,
            **dd,
        )
        self.post_attn = layers.norm_act(mid_chs, **dd)
        self.conv3_1x1 = layers.conv_norm_act(mid_chs, out_chs, 1, apply_act=False, **dd)
        self.attn_last = nn.Identity() if layers.attn is None else layers.attn(out_chs, **dd)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0.0 else nn.Identity()
        self.act = layers.act(inplace=True)

    def init_weights(self, zero_init_last: bool = False) -> None:
        """Called by ByobNet's initialisation: the gist zero-initialises the last BatchNorm."""
        if zero_init_last:
            nn.init.zeros_(self.conv3_1x1.bn.weight)
        self.self_attn.reset_parameters()
        if hasattr(self.attn_last, "reset_parameters"):
            self.attn_last.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.shortcut(x)
        x = self.conv1_1x1(x)
        x = self.self_attn(x)
        x = self.post_attn(x)
        x = self.conv3_1x1(x)
        x = self.attn_last(x)
        return self.act(self.drop_path(x) + shortcut)


def _model_cfg(
    depths: tuple[int, ...],
    act_layer: str,
    se_ratio: float,
    attention_se: bool,
    num_heads: int,
    feat_side: int,
) -> ByoModelCfg:
    """ByobNet's configuration: ResNet bottleneck stages, then one stage of BoT blocks."""
    bot = partial(BoTBlock, feat_size=(feat_side, feat_side), num_heads=num_heads)
    blocks = [
        # SE after the block's last BatchNorm, as TF's bottleneck_block (timm's attn_last).
        ByoBlockCfg(
            type="bottle", d=depth, c=width, s=stride, br=0.25, block_kwargs=dict(attn_last=True)
        )
        for depth, width, stride in zip(depths[:-1], STAGE_WIDTHS, STAGE_STRIDES, strict=False)
    ]
    se_in_attention = "se" if se_ratio and attention_se else ""
    blocks.append(
        ByoBlockCfg(
            type=bot, d=depths[-1], c=STAGE_WIDTHS[-1], s=1, br=0.25, attn_layer=se_in_attention
        )
    )
    return ByoModelCfg(
        blocks=tuple(blocks),
        downsample="conv1x1",
        stem_type="7x7",
        stem_pool="maxpool",
        stem_chs=64,
        act_layer=act_layer,
        attn_layer="se" if se_ratio else None,
        # TF's squeeze_excitation: se_ratio of the output width, ReLU inside, biases.
        attn_kwargs=dict(rd_ratio=se_ratio, rd_divisor=1) if se_ratio else {},
        fixed_input_size=True,
    )


def _check_config(depths: tuple[int, ...], se_ratio: float, num_heads: int, side: int) -> None:
    if len(depths) != 4 or not all(isinstance(d, int) and d >= 1 for d in depths):
        raise ValueError(f"depths must be four ints >= 1 (blocks per stage); got {depths}")
    if not 0.0 <= se_ratio < 1.0:
        raise ValueError(f"se_ratio must be in [0, 1); got {se_ratio!r}")
    if num_heads < 1 or STAGE_WIDTHS[-1] // 4 % num_heads:
        raise ValueError(f"num_heads must divide the attention width 512; got {num_heads}")
    if side < REDUCTION or side % REDUCTION:
        raise ValueError(f"img_size must be a positive multiple of {REDUCTION}; got {side}")


class BoTNet(ByobNet):
    """BoTNet-S1: ResNet stages c2-c4, then a stride-1 stage of BoT blocks (c5).

    ``forward_features`` returns the NCHW c5 map, (B, 2048, 14, 14) at 224.
    """

    def __init__(
        self,
        depths: tuple[int, ...] = (3, 4, 6, 3),
        act_layer: str = "relu",
        se_ratio: float = 0.0,
        attention_se: bool = False,
        num_heads: int = 4,
        img_size: int | tuple[int, int] = 224,
        in_chans: int = 3,
        num_classes: int = 1000,
        global_pool: str = "avg",
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        zero_init_last: bool = True,
    ) -> None:
        depths = tuple(depths)
        side = square_size(img_size)
        _check_config(depths, se_ratio, num_heads, side)
        cfg = _model_cfg(depths, act_layer, se_ratio, attention_se, num_heads, side // REDUCTION)
        super().__init__(
            cfg,
            num_classes=num_classes,
            in_chans=in_chans,
            global_pool=global_pool,
            img_size=side,
            drop_rate=drop_rate,
            drop_path_rate=drop_path_rate,
            zero_init_last=zero_init_last,
        )
        self.img_size = side

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Image (B, C, H, W) -> c5 map (B, 2048, H/16, W/16)."""
        x = check_image(x, self.img_size, self.in_chans)
        x = self.stem(x)
        if self.grad_checkpointing and not torch.jit.is_scripting():
            x = checkpoint_seq(self.stages, x)
        else:
            x = self.stages(x)
        return self.final_conv(x)

    def forward_intermediates(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        """timm's feature API (ByobNet's), after the input check."""
        x = check_image(x, self.img_size, self.in_chans)
        return super().forward_intermediates(x, *args, **kwargs)


# Blocks per stage, activation and SE: see the module docstring for each choice's source.
CONFIGS: dict[str, dict[str, Any]] = {
    "botnet_s1_50": dict(depths=(3, 4, 6, 3), act_layer="relu", se_ratio=0.0),
    "botnet_s1_59": dict(depths=(3, 4, 6, 6), act_layer="silu", se_ratio=0.0625, attention_se=True),
}


def _create_botnet(name: str, pretrained: bool = False, **kwargs: Any) -> BoTNet:
    return build_zoo_model(
        BoTNet,
        name,
        pretrained,
        # Features at reductions 2 (stem conv), 4, 8 and 16 (c5: c4 shares its reduction).
        feature_cfg=dict(flatten_sequential=True, out_indices=(0, 1, 2, 3)),
        **{**CONFIGS[name], **kwargs},
    )


def _cfg(**kwargs: Any) -> dict[str, Any]:
    """Pretrained-cfg data: the authors' TF ResNet evaluates a bicubic 224/256 center crop."""
    return {
        "num_classes": 1000,
        "input_size": (3, 224, 224),
        "fixed_input_size": True,
        "pool_size": (14, 14),
        "crop_pct": 0.875,
        "interpolation": "bicubic",
        "mean": (0.485, 0.456, 0.406),
        "std": (0.229, 0.224, 0.225),
        "first_conv": "stem.conv1.conv",
        "classifier": "head.fc",
        "license": "mit",
        "origin_url": "https://arxiv.org/abs/2101.11605",
        "paper_ids": "arXiv:2101.11605",
        **kwargs,
    }


_COMPUTATION = (
    "computation: no authors' PyTorch code to compare with (a reconstruction); relative-position "
    "self-attention written out as the authors' TensorFlow gist computes it"
)
default_cfgs = generate_default_cfgs(
    {
        "botnet_s1_50": _cfg(
            notes=(
                "reconstruction: no official PyTorch code; ResNet-50 with BoT blocks in a "
                "stride-1 c5, ReLU, no SE (the paper's 20.8M)",
                _COMPUTATION,
            )
        ),
        "botnet_s1_59": _cfg(
            notes=(
                "reconstruction: no official PyTorch code; depths (3, 4, 6, 6), SiLU, SE in "
                "every block as the paper's printed 33.5M counts (attention_se=False: 30.5M)",
                _COMPUTATION,
            )
        ),
    }
)


@register_model
def botnet_s1_50(pretrained: bool = False, **kwargs: Any) -> BoTNet:
    """BoT-S1-50, a reconstruction (no official code): 20.9M parameters."""
    return _create_botnet("botnet_s1_50", pretrained, **kwargs)


@register_model
def botnet_s1_59(pretrained: bool = False, **kwargs: Any) -> BoTNet:
    """BoT-S1-59, a reconstruction (no official code): 33.6M parameters."""
    return _create_botnet("botnet_s1_59", pretrained, **kwargs)
