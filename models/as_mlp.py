"""AS-MLP (Lian, Yu, Sun and Gao, ICLR 2022): token mixing by axial shifts of channel groups.

"AS-MLP: An Axial Shifted MLP Architecture for Vision" (arXiv 2107.08391). Each block splits the
channels into ``shift_size`` groups and shifts the groups by different offsets along the height
and, separately, along the width, so that 1x1 convolutions (channel MLPs) then mix the features
of neighbouring tokens; a Swin-like four-stage pyramid with patch merging between stages.

Authors' repository: github.com/svip-lab/AS-MLP (MIT licence). Module and parameter names follow
it, so its released checkpoints load with ``strict=True``. Differences from that code:

- The axial shift is pure PyTorch (:class:`GroupShift`), not their cupy CUDA kernel. It has the
  kernel's semantics: channel groups of ``ceil(C / shift_size)`` channels (the last group may be
  smaller, and there are fewer than ``shift_size`` groups when the channels are few), group ``g``
  moved by ``shift_size // 2 - g`` positions towards the start of the axis, zero-filled.
- ``forward_features`` returns the normalised NCHW feature map; the pooling moved to
  ``forward_head`` (timm's convention). Their ``forward_features`` returned pooled features.
- A wrong input size raises ValueError rather than failing an assert.
- ``drop_path_rate`` defaults to 0 (their configs train with 0.2, 0.3 and 0.5 for T, S and B).
"""

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.fx
import torch.nn.functional as F
from timm.layers import DropPath, Mlp, to_2tuple, trunc_normal_
from timm.models import generate_default_cfgs, register_model
from timm.models._features import feature_take_indices
from timm.models._manipulate import checkpoint_seq
from torch import nn

from models.building import build_zoo_model, place_head
from models.hierarchical import check_input_size

__all__ = ["ASMLP", "AxialShift", "AxialShiftedBlock", "GroupShift"]

# Keep the size check one opaque call in torch.fx graphs of this module's code as well.
torch.fx.wrap("check_input_size")


def group_norm(dim: int) -> nn.GroupNorm:
    """AS-MLP's normalisation layer: one group, i.e. LayerNorm over (C, H, W) per image."""
    return nn.GroupNorm(1, dim)


class GroupShift(nn.Module):
    """Shift channel groups of an NCHW tensor along one axis by fixed offsets, zero-filled.

    ``out[:, c, i] = x[:, c, i + s]`` along ``dim`` (2: height, 3: width), zero where ``i + s``
    falls outside, with ``s = shift_size // 2 - c // ceil(channels / shift_size)``: the first
    group moves ``shift_size // 2`` positions towards index 0, the middle group stays, the last
    moves as far the other way. Only copies; no arithmetic.
    """

    def __init__(self, channels: int, shift_size: int, dim: int) -> None:
        super().__init__()
        if dim not in (2, 3):
            raise ValueError(f"dim must be 2 (height) or 3 (width); got {dim}")
        group = math.ceil(channels / shift_size)
        self.dim = dim
        self.pad = shift_size // 2
        # (first channel, channels, offset) per group.
        self.groups = [
            (start, min(group, channels - start), self.pad - g)
            for g, start in enumerate(range(0, channels, group))
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad == 0:
            return x
        length = x.shape[self.dim]
        # Zero margins of ``pad`` on both sides; group g reads the window starting at pad + s.
        margins = [self.pad, self.pad, 0, 0] if self.dim == 3 else [0, 0, self.pad, self.pad]
        padded = F.pad(x, margins)
        shifted = [
            padded.narrow(1, start, size).narrow(self.dim, self.pad + offset, length)
            for start, size, offset in self.groups
        ]
        return torch.cat(shifted, dim=1)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, groups (first channel, channels, offset)={self.groups}"


class AxialShift(nn.Module):
    """The axial shifted MLP: 1x1 conv, shifts along width and height, two 1x1 convs, 1x1 conv.

    conv1 -> norm -> GELU; then a width-shifted branch (``conv2_1``) and a height-shifted branch
    (``conv2_2``), each 1x1 conv -> GELU, summed; norm -> ``conv3``. NCHW in and out.
    """

    def __init__(self, dim: int, shift_size: int, as_bias: bool = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, 1, bias=as_bias)
        self.conv2_1 = nn.Conv2d(dim, dim, 1, bias=as_bias)
        self.conv2_2 = nn.Conv2d(dim, dim, 1, bias=as_bias)
        self.conv3 = nn.Conv2d(dim, dim, 1, bias=as_bias)
        self.act = nn.GELU()
        self.norm1 = group_norm(dim)
        self.norm2 = group_norm(dim)
        self.shift_width = GroupShift(dim, shift_size, dim=3)
        self.shift_height = GroupShift(dim, shift_size, dim=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.norm1(self.conv1(x)))
        x_width = self.act(self.conv2_1(self.shift_width(x)))
        x_height = self.act(self.conv2_2(self.shift_height(x)))
        return self.conv3(self.norm2(x_width + x_height))


class AxialShiftedBlock(nn.Module):
    """Pre-norm residual block: axial shift token mixing, then a 1x1-conv channel MLP."""

    def __init__(
        self,
        dim: int,
        shift_size: int,
        mlp_ratio: float = 4.0,
        as_bias: bool = True,
        drop: float = 0.0,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.norm1 = group_norm(dim)
        self.axial_shift = AxialShift(dim, shift_size, as_bias)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = group_norm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU, drop=drop, use_conv=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.axial_shift(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """Halve the grid, double the width: each 2x2 neighbourhood stacked on channels, norm, 1x1.

    The stacking order is (row 0, col 0), (row 1, col 0), (row 0, col 1), (row 1, col 1), each
    a block of C channels, as the authors' checkpoints expect.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.reduction = nn.Conv2d(4 * dim, 2 * dim, 1, bias=False)
        self.norm = group_norm(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        x = x.reshape(B, C, H // 2, 2, W // 2, 2).permute(0, 5, 3, 1, 2, 4)
        return self.reduction(self.norm(x.reshape(B, 4 * C, H // 2, W // 2)))


class ASMLPStage(nn.Module):
    """One resolution of the pyramid: ``blocks``, then the patch merging into the next one."""

    def __init__(
        self,
        dim: int,
        depth: int,
        shift_size: int,
        mlp_ratio: float,
        as_bias: bool,
        drop: float,
        drop_path: Sequence[float],
        downsample: bool,
    ) -> None:
        super().__init__()
        self.grad_checkpointing = False
        self.blocks = nn.Sequential(
            *[
                AxialShiftedBlock(dim, shift_size, mlp_ratio, as_bias, drop, drop_path[i])
                for i in range(depth)
            ]
        )
        self.downsample = PatchMerging(dim) if downsample else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.grad_checkpointing and not torch.jit.is_scripting():
            x = checkpoint_seq(self.blocks, x)
        else:
            x = self.blocks(x)
        return self.downsample(x)


class PatchEmbed(nn.Module):
    """Non-overlapping patch embedding, optionally normalised: NCHW image -> NCHW tokens."""

    def __init__(self, patch_size: int, in_chans: int, embed_dim: int, norm: bool) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = group_norm(embed_dim) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x))


def _check_config(
    img_size: int | tuple[int, int],
    patch_size: int,
    embed_dim: int,
    depths: Sequence[int],
    shift_size: int,
    global_pool: str,
) -> tuple[int, int]:
    """Raise a ValueError for an invalid configuration; return ``img_size`` as (height, width)."""
    if not depths or any(depth < 1 for depth in depths):
        raise ValueError(f"depths must be one or more positive block counts; got {depths}")
    if shift_size < 1 or shift_size % 2 == 0:
        raise ValueError(f"shift_size must be a positive odd number; got {shift_size}")
    if embed_dim < 1 or patch_size < 1:
        raise ValueError(
            f"embed_dim and patch_size must be positive; got {embed_dim} and {patch_size}"
        )
    if global_pool not in ("avg", ""):
        raise ValueError(f"global_pool must be 'avg' or ''; got {global_pool!r}")
    img_size = to_2tuple(img_size)
    num_stages = len(depths)
    stride = patch_size * 2 ** (num_stages - 1)
    if img_size[0] % stride or img_size[1] % stride:
        raise ValueError(
            f"img_size {img_size[0]}x{img_size[1]} must be a multiple of patch_size * "
            + f"2**(stages - 1) = {stride} for {num_stages} stages with patch merging"
        )
    return img_size


class ASMLP(nn.Module):
    """AS-MLP: patch embedding, stages of axial shifted blocks with patch merging, norm, head.

    Stage i has width ``embed_dim * 2**i`` on a grid of ``img_size / (patch_size * 2**i)``
    tokens; the grid is fixed by ``img_size`` (the authors' patch embedding accepts only that
    size). Features stay NCHW throughout.
    """

    def __init__(
        self,
        img_size: int | tuple[int, int] = 224,
        patch_size: int = 4,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 96,
        depths: Sequence[int] = (2, 2, 6, 2),
        shift_size: int = 5,
        mlp_ratio: float = 4.0,
        as_bias: bool = True,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        patch_norm: bool = True,
        global_pool: str = "avg",
    ) -> None:
        super().__init__()
        img_size = _check_config(img_size, patch_size, embed_dim, depths, shift_size, global_pool)
        num_stages = len(depths)
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.img_size = (int(img_size[0]), int(img_size[1]))
        self.num_features = self.head_hidden_size = embed_dim * 2 ** (num_stages - 1)

        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim, patch_norm)
        self.pos_drop = nn.Dropout(drop_rate)
        self._build_stages(
            patch_size, embed_dim, depths, shift_size, mlp_ratio, as_bias, drop_rate, drop_path_rate
        )
        self.norm = group_norm(self.num_features)
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.apply(_init_weights)

    def _build_stages(
        self,
        patch_size: int,
        embed_dim: int,
        depths: Sequence[int],
        shift_size: int,
        mlp_ratio: float,
        as_bias: bool,
        drop_rate: float,
        drop_path_rate: float,
    ) -> None:
        """Register the stages (``layers``) and their feature info.

        Called from ``__init__`` only, between the patch embedding and the final norm, so the
        module order (state-dict keys, RNG draws of the default initialisation) is unchanged.
        """
        num_stages = len(depths)
        total = sum(depths)
        # Stochastic depth rising linearly from 0 to drop_path_rate over all blocks (no tensor
        # here, so the model also builds on the meta device).
        rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        self.layers = nn.ModuleList()
        feature_info = []
        for i, depth in enumerate(depths):
            dim = embed_dim * 2**i
            first = sum(depths[:i])
            stage = ASMLPStage(
                dim,
                depth,
                shift_size,
                mlp_ratio,
                as_bias,
                drop_rate,
                rates[first : first + depth],
                downsample=i < num_stages - 1,
            )
            self.layers.append(stage)
            feature_info.append(
                dict(num_chs=dim, reduction=patch_size * 2**i, module=f"layers.{i}.blocks")
            )
        self.feature_info = feature_info

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        if coarse:
            return dict(
                stem=r"^patch_embed", blocks=[(r"^layers\.(\d+)", None), (r"^norm", (99999,))]
            )
        return dict(
            stem=r"^patch_embed",
            blocks=[
                (r"^layers\.(\d+)\.blocks\.(\d+)", None),
                (r"^layers\.(\d+)\.downsample", (99999,)),
                (r"^norm", (99999,)),
            ],
        )

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        for stage in self.layers:
            stage.grad_checkpointing = enable

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        self.num_classes = num_classes
        if global_pool is not None:
            if global_pool not in ("avg", ""):
                raise ValueError(f"global_pool must be 'avg' or ''; got {global_pool!r}")
            self.global_pool = global_pool
        self.head = place_head(
            self, nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Image (B, C, H, W) -> normalised feature map (B, num_features, H/32, W/32)."""
        x = check_input_size(x, self.img_size[0], self.img_size[1])
        x = self.pos_drop(self.patch_embed(x))
        for stage in self.layers:
            x = stage(x)
        return self.norm(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.global_pool == "avg":
            x = x.mean(dim=(2, 3))
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | list[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """timm's feature API: each requested stage's blocks output, before its patch merging."""
        if output_fmt not in ("NCHW", "NHWC"):
            raise ValueError(f"output_fmt must be 'NCHW' or 'NHWC'; got {output_fmt!r}")
        take_indices, max_index = feature_take_indices(len(self.layers), indices)
        last = max_index if stop_early else len(self.layers) - 1
        intermediates = []
        x = check_input_size(x, self.img_size[0], self.img_size[1])
        x = self.pos_drop(self.patch_embed(x))
        for i, stage in enumerate(self.layers[: last + 1]):
            x = stage.blocks(x)
            if i in take_indices:
                y = self.norm(x) if norm and i == len(self.layers) - 1 else x
                intermediates.append(y.permute(0, 2, 3, 1) if output_fmt == "NHWC" else y)
            x = stage.downsample(x)
        if intermediates_only:
            return intermediates
        return self.norm(x), intermediates

    def prune_intermediate_layers(
        self,
        indices: int | list[int] = 1,
        prune_norm: bool = False,
        prune_head: bool = True,
    ) -> list[int]:
        """Drop the stages after the last requested one and its patch merging (timm's API)."""
        take_indices, max_index = feature_take_indices(len(self.layers), indices)
        self.layers = self.layers[: max_index + 1]
        self.layers[-1].downsample = nn.Identity()
        if prune_norm:
            self.norm = nn.Identity()
        if prune_head:
            self.reset_classifier(0, "")
        return take_indices


def _init_weights(module: nn.Module) -> None:
    """The authors' initialisation: truncated-normal linears (the head), zero biases.

    Convolutions and GroupNorms keep PyTorch's defaults, as in the authors' code.
    """
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


# The authors' configs/as_{tiny,small,base}_patch4_shift5_224.yaml (patch 4, MLP ratio 4).
CONFIGS: dict[str, dict[str, Any]] = {
    "as_mlp_t": dict(embed_dim=96, depths=(2, 2, 6, 2), shift_size=5),
    "as_mlp_s": dict(embed_dim=96, depths=(2, 2, 18, 2), shift_size=5),
    "as_mlp_b": dict(embed_dim=128, depths=(2, 2, 18, 2), shift_size=5),
}


def _create_as_mlp(name: str, pretrained: bool = False, **kwargs: Any) -> ASMLP:
    config = {**CONFIGS[name], **kwargs}
    return build_zoo_model(
        ASMLP,
        name,
        pretrained,
        feature_cfg=dict(out_indices=tuple(range(len(config["depths"]))), feature_cls="getter"),
        **config,
    )


def _cfg(**kwargs: Any) -> dict[str, Any]:
    """Pretrained-cfg data: the authors evaluate at 224 after a bicubic resize to 256."""
    return {
        "num_classes": 1000,
        "input_size": (3, 224, 224),
        "pool_size": (7, 7),
        "fixed_input_size": True,
        "crop_pct": 0.875,
        "interpolation": "bicubic",
        "mean": (0.485, 0.456, 0.406),
        "std": (0.229, 0.224, 0.225),
        "first_conv": "patch_embed.proj",
        "classifier": "head",
        "license": "mit",
        "origin_url": "https://github.com/svip-lab/AS-MLP",
        "paper_ids": "arXiv:2107.08391",
        "notes": (
            "computation: the axial shift as PyTorch copies (pad, narrow, cat) where the authors' "
            "model runs a cupy CUDA kernel (GPU only: NotImplementedError on a CPU), and patch "
            "merging as one reshape-permute where theirs slices four times and concatenates; "
            "no alternative",
        ),
        **kwargs,
    }


default_cfgs = generate_default_cfgs({"as_mlp_t": _cfg(), "as_mlp_s": _cfg(), "as_mlp_b": _cfg()})


@register_model
def as_mlp_t(pretrained: bool = False, **kwargs: Any) -> ASMLP:
    """AS-MLP-T: width 96, depths 2-2-6-2, shift size 5."""
    return _create_as_mlp("as_mlp_t", pretrained, **kwargs)


@register_model
def as_mlp_s(pretrained: bool = False, **kwargs: Any) -> ASMLP:
    """AS-MLP-S: width 96, depths 2-2-18-2, shift size 5."""
    return _create_as_mlp("as_mlp_s", pretrained, **kwargs)


@register_model
def as_mlp_b(pretrained: bool = False, **kwargs: Any) -> ASMLP:
    """AS-MLP-B: width 128, depths 2-2-18-2, shift size 5."""
    return _create_as_mlp("as_mlp_b", pretrained, **kwargs)
