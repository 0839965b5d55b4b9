"""Hire-MLP (Guo et al., 2021, arXiv:2108.13341): vision MLP via hierarchical rearrangement.

Read top to bottom: the Hire module (inner-region rearrangement along the height and the width,
with a cross-region shift, plus a channel branch, reweighted per channel), the block, the
four-stage network, the configurations, and their timm registrations.

Inner-region rearrangement folds each run of ``region_size`` consecutive tokens of a column (or
row) into the channels, mixes them with a two-layer bottleneck (1x1 conv, BatchNorm, ReLU, 1x1
conv) and unfolds them back. A grid that is not a multiple of the region size is padded
circularly first (and cropped after), so no input size is fixed: any image of at least
``min_input_size`` pixels a side works (circular padding cannot wrap a grid more than once;
19x19 for the published configurations). Cross-region rearrangement rolls the grid by a few
tokens before the folding and rolls it back after, so that regions straddle the previous
block's region borders; both rearrangements are pure data movement (no MACs).

Authors' repository: github.com/ggjy/Hire-Wave-MLP.pytorch (mlp_based/hire_mlp.py). Its
README shows an MIT badge but the repository has no LICENSE file. Module and parameter names
follow that code, so its released checkpoints load with ``strict=True``, and BatchNorm and
circular padding are kept as there. Differences, none of which changes the computation of the
published configurations: ``in_chans`` is honoured (the authors' stem always takes 3 channels);
``drop_rate`` is dropout before the head, as in timm (the authors accept it and ignore it);
``pretrained_cfg`` uses crop_pct 0.875, the authors' evaluation transform (resize to 256,
centre-crop 224), where their unused ``_cfg`` says 0.9; images too small for the circular padding
raise a ValueError naming the smallest size instead of a RuntimeError from ``F.pad``.

``forward_features`` returns NCHW feature maps (after the final BatchNorm).
"""

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

__all__ = ["REGION_PADDINGS", "SHIFT_PADDINGS", "HireBlock", "HireMLP", "HireModule"]

# How the cross-region shift fills the tokens it moves in: "circular" rolls the grid (the
# paper), "zero" shifts zeros in and, as in the authors' code, is not undone after the mixing.
SHIFT_PADDINGS = ("circular", "zero")
# How a grid is padded up to a multiple of the region size ("circular" in the paper).
REGION_PADDINGS = ("circular", "zero", "replicate")


def check_paddings(shift_padding: str, region_padding: str) -> None:
    """Raise a ValueError for a padding mode this module does not know."""
    if shift_padding not in SHIFT_PADDINGS:
        raise ValueError(f"shift_padding must be one of {SHIFT_PADDINGS}; got {shift_padding!r}")
    if region_padding not in REGION_PADDINGS:
        raise ValueError(f"region_padding must be one of {REGION_PADDINGS}; got {region_padding!r}")


def check_min_input_size(x: torch.Tensor, min_size: int) -> torch.Tensor:
    """Raise a ValueError naming both sizes when an image is smaller than the model accepts."""
    if x.shape[-2] < min_size or x.shape[-1] < min_size:
        raise ValueError(
            f"this Hire-MLP needs images of at least {min_size}x{min_size} (each stage pads its "
            + f"token grid to whole regions); got {x.shape[-2]}x{x.shape[-1]}"
        )
    return x


# Keep the size check a single opaque call in torch.fx graphs (shapes are proxies there).
torch.fx.wrap("check_min_input_size")


def smallest_input_size(region_sizes: Sequence[int], region_padding: str) -> int:
    """The smallest image side for which every stage can pad its grid to whole regions.

    Circular padding of ``p`` tokens needs a grid of at least ``p`` tokens, so a grid of ``g``
    tokens and region size ``r`` needs ``g >= ceil(r / 2)``. The stem maps a side ``s`` to
    ``(s - 3) // 4 + 1`` tokens and each downsampler ``g`` to ``ceil(g / 2)``.
    """
    needed = 1
    for region_size in reversed(region_sizes):
        least = (region_size + 1) // 2 if region_padding == "circular" else 1
        needed = max(least, 2 * needed - 1)  # ceil(g / 2) >= needed  <=>  g >= 2 * needed - 1
    return 4 * (needed - 1) + 3


class HireModule(nn.Module):
    """The Hire module: height, width and channel branches, reweighted per channel (a split
    attention as in ViP), then a 1x1 projection. NCHW in and out.

    The height branch folds each region of ``region_size`` consecutive rows into the channels
    (channel ``c * region_size + i`` holds row ``i`` of the region, the authors' layout) and mixes
    it with ``mlp_h1`` (to ``dim // 2``), ``mlp_h1_norm``, ReLU and ``mlp_h2``; the width branch
    does the same along the columns. ``shift`` moves the grid that many tokens down (right)
    before the folding and back after (cross-region rearrangement).
    """

    def __init__(
        self,
        dim: int,
        region_size: int = 2,
        shift: int = 1,
        shift_padding: str = "circular",
        region_padding: str = "circular",
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        check_paddings(shift_padding, region_padding)
        if region_size < 1 or shift < 0:
            raise ValueError(
                f"region_size must be >= 1 and shift >= 0; got {region_size} and {shift}"
            )
        self.region_size = region_size
        self.shift = shift
        self.shift_padding = shift_padding
        self.region_padding = region_padding
        folded, hidden = dim * region_size, dim // 2
        self.mlp_h1 = nn.Conv2d(folded, hidden, 1, bias=False)
        self.mlp_h1_norm = nn.BatchNorm2d(hidden)
        self.mlp_h2 = nn.Conv2d(hidden, folded, 1)
        self.mlp_w1 = nn.Conv2d(folded, hidden, 1, bias=False)
        self.mlp_w1_norm = nn.BatchNorm2d(hidden)
        self.mlp_w2 = nn.Conv2d(hidden, folded, 1)
        self.mlp_c = nn.Conv2d(dim, dim, 1)
        self.act = nn.ReLU()
        self.reweight = Mlp(dim, dim // 4, dim * 3, use_conv=True)
        self.proj = nn.Conv2d(dim, dim, 1)
        self.proj_drop = nn.Dropout(proj_drop)

    def shift_in(self, x: torch.Tensor, dim: int, size: int) -> torch.Tensor:
        """Move the grid ``shift`` tokens towards the end of ``dim`` (2: height, 3: width)."""
        if self.shift_padding == "circular":
            return torch.roll(x, self.shift, dim)
        pad = [0, 0, self.shift, 0] if dim == 2 else [self.shift, 0, 0, 0]
        return torch.narrow(F.pad(x, pad), dim, 0, size)

    def pad_to_regions(self, x: torch.Tensor, dim: int, size: int) -> torch.Tensor:
        """Pad ``dim`` (2: height, 3: width) at its end up to a multiple of the region size."""
        extra = (self.region_size - size % self.region_size) % self.region_size
        pad = [0, 0, 0, extra] if dim == 2 else [0, extra, 0, 0]
        if self.region_padding == "zero":
            return F.pad(x, pad)
        return F.pad(x, pad, mode=self.region_padding)

    def mix_height(self, x: torch.Tensor) -> torch.Tensor:
        """Shift, fold regions of rows into channels, mix, unfold, crop and shift back."""
        batch, channels, height, width = x.shape
        r = self.region_size
        if self.shift > 0:
            x = self.shift_in(x, 2, height)
        x = self.pad_to_regions(x, 2, height)
        regions = x.shape[2] // r
        x = x.reshape(batch, channels, regions, r, width).permute(0, 1, 3, 2, 4)
        x = x.reshape(batch, channels * r, regions, width)
        x = self.mlp_h2(self.act(self.mlp_h1_norm(self.mlp_h1(x))))
        x = x.reshape(batch, channels, r, regions, width).permute(0, 1, 3, 2, 4)
        x = torch.narrow(x.reshape(batch, channels, regions * r, width), 2, 0, height)
        if self.shift > 0 and self.shift_padding == "circular":
            x = torch.roll(x, -self.shift, 2)
        return x

    def mix_width(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`mix_height` along the width (regions of columns)."""
        batch, channels, height, width = x.shape
        r = self.region_size
        if self.shift > 0:
            x = self.shift_in(x, 3, width)
        x = self.pad_to_regions(x, 3, width)
        regions = x.shape[3] // r
        x = x.reshape(batch, channels, height, regions, r).permute(0, 1, 4, 2, 3)
        x = x.reshape(batch, channels * r, height, regions)
        x = self.mlp_w2(self.act(self.mlp_w1_norm(self.mlp_w1(x))))
        x = x.reshape(batch, channels, r, height, regions).permute(0, 1, 3, 4, 2)
        x = torch.narrow(x.reshape(batch, channels, height, regions * r), 3, 0, width)
        if self.shift > 0 and self.shift_padding == "circular":
            x = torch.roll(x, -self.shift, 3)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels = x.shape[0], x.shape[1]
        h = self.mix_height(x)
        w = self.mix_width(x)
        c = self.mlp_c(x)
        a = self.reweight((h + w + c).mean(dim=(2, 3), keepdim=True))
        a = a.reshape(batch, channels, 3).permute(2, 0, 1).softmax(dim=0)
        a = a.unsqueeze(3).unsqueeze(3)
        x = h * a[0] + w * a[1] + c * a[2]
        return self.proj_drop(self.proj(x))


class HireBlock(nn.Module):
    """Pre-norm residual block: BatchNorm and :class:`HireModule` (``attn``), BatchNorm and MLP."""

    def __init__(
        self,
        dim: int,
        mlp_ratio: float = 4.0,
        region_size: int = 2,
        shift: int = 1,
        shift_padding: str = "circular",
        region_padding: str = "circular",
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(dim)
        self.attn = HireModule(dim, region_size, shift, shift_padding, region_padding)
        self.norm2 = nn.BatchNorm2d(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), use_conv=True)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class ConvNormReLU(nn.Module):
    """Conv, BatchNorm, ReLU: the stem (7x7, stride 4) and the downsamplers (3x3, stride 2)."""

    def __init__(self, in_dim: int, out_dim: int, kernel_size: int, stride: int, padding: int):
        super().__init__()
        self.proj = nn.Conv2d(in_dim, out_dim, kernel_size, stride=stride, padding=padding)
        self.norm = nn.BatchNorm2d(out_dim)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.proj(x)))


def _check_config(
    layers: Sequence[int],
    embed_dims: Sequence[int],
    mlp_ratios: Sequence[float],
    region_sizes: Sequence[int],
    shift_periods: Sequence[int],
    shift_steps: Sequence[int],
    shift_padding: str,
    region_padding: str,
    img_size: int | tuple[int, int],
    global_pool: str,
) -> int:
    """Raise a ValueError for an invalid configuration; return its smallest image side."""
    per_stage = (layers, embed_dims, mlp_ratios, region_sizes, shift_periods, shift_steps)
    if len({len(values) for values in per_stage}) != 1 or not layers:
        raise ValueError(
            "layers, embed_dims, mlp_ratios, region_sizes, shift_periods and shift_steps "
            + "must have one entry per stage (at least one stage); got lengths "
            + ", ".join(str(len(values)) for values in per_stage)
        )
    if min(shift_periods) < 1 or min(shift_steps) < 0 or min(region_sizes) < 1:
        raise ValueError(
            "shift_periods and region_sizes must be >= 1 and shift_steps >= 0; got "
            + f"{tuple(shift_periods)}, {tuple(region_sizes)} and {tuple(shift_steps)}"
        )
    if global_pool not in ("avg", ""):
        raise ValueError(f"global_pool must be 'avg' or ''; got {global_pool!r}")
    check_paddings(shift_padding, region_padding)
    min_input_size = smallest_input_size(region_sizes, region_padding)
    if min(to_2tuple(img_size)) < min_input_size:
        raise ValueError(
            f"img_size {img_size} is too small: this configuration needs at least "
            + f"{min_input_size}x{min_input_size}"
        )
    return min_input_size


class HireMLP(nn.Module):
    """Stem, four stages of :class:`HireBlock` with stride-2 downsamplers, BatchNorm, pooled head.

    ``network`` alternates stages (``nn.Sequential``) and downsamplers, as in the authors' code.
    Block ``j`` of stage ``i`` uses regions of ``region_sizes[i]`` tokens and shifts by
    ``(j % shift_periods[i]) * shift_steps[i]`` tokens (the authors' ``pixel``, ``step_stride``
    and ``step_dilation``). ``img_size`` is only checked: the model takes any image of at least
    ``min_input_size`` pixels a side.
    """

    def __init__(
        self,
        layers: Sequence[int],
        embed_dims: Sequence[int],
        mlp_ratios: Sequence[float] = (4.0, 4.0, 4.0, 4.0),
        region_sizes: Sequence[int] = (4, 3, 3, 2),
        shift_periods: Sequence[int] = (2, 2, 3, 2),
        shift_steps: Sequence[int] = (2, 2, 1, 1),
        shift_padding: str = "circular",
        region_padding: str = "circular",
        img_size: int | tuple[int, int] = 224,
        in_chans: int = 3,
        num_classes: int = 1000,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        global_pool: str = "avg",
    ) -> None:
        super().__init__()
        self.min_input_size = _check_config(
            layers,
            embed_dims,
            mlp_ratios,
            region_sizes,
            shift_periods,
            shift_steps,
            shift_padding,
            region_padding,
            img_size,
            global_pool,
        )
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.num_features = self.head_hidden_size = embed_dims[-1]
        self.grad_checkpointing = False

        self.patch_embed = ConvNormReLU(in_chans, embed_dims[0], 7, stride=4, padding=2)
        self._build_network(
            layers,
            embed_dims,
            mlp_ratios,
            region_sizes,
            shift_periods,
            shift_steps,
            shift_padding,
            region_padding,
            drop_path_rate,
        )
        self.norm = nn.BatchNorm2d(self.num_features)
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.apply(_init_weights)

    def _build_network(
        self,
        layers: Sequence[int],
        embed_dims: Sequence[int],
        mlp_ratios: Sequence[float],
        region_sizes: Sequence[int],
        shift_periods: Sequence[int],
        shift_steps: Sequence[int],
        shift_padding: str,
        region_padding: str,
        drop_path_rate: float,
    ) -> None:
        """Register ``network`` (stages and downsamplers, alternating) and its feature info.

        Called from ``__init__`` only, right after the stem, so that module creation (and the
        RNG draws of PyTorch's default initialisation) keeps the authors' order.
        """
        total_blocks = sum(layers)
        network: list[nn.Module] = []
        stage_indices: list[int] = []
        feature_info: list[dict[str, Any]] = []
        for i, depth in enumerate(layers):
            blocks = []
            for j in range(depth):
                # Linearly increasing stochastic depth over all blocks, as in the authors' code.
                rate = drop_path_rate * (j + sum(layers[:i])) / max(total_blocks - 1, 1)
                shift = (j % shift_periods[i]) * shift_steps[i]
                blocks.append(
                    HireBlock(
                        embed_dims[i],
                        mlp_ratios[i],
                        region_sizes[i],
                        shift,
                        shift_padding,
                        region_padding,
                        drop_path=rate,
                    )
                )
            stage_indices.append(len(network))
            feature_info.append(
                dict(num_chs=embed_dims[i], reduction=4 * 2**i, module=f"network.{len(network)}")
            )
            network.append(nn.Sequential(*blocks))
            if i < len(layers) - 1:
                network.append(ConvNormReLU(embed_dims[i], embed_dims[i + 1], 3, 2, 1))
        self.network = nn.ModuleList(network)
        self.stage_indices = stage_indices
        self.feature_info = feature_info

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        return dict(stem=r"^patch_embed", blocks=[(r"^network\.(\d+)", None), (r"^norm", (99999,))])

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable

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
        """Image (B, C, H, W) -> normalised feature map (B, D, H/32, W/32)."""
        x = check_min_input_size(x, self.min_input_size)
        x = self.patch_embed(x)
        for stage in self.network:
            if self.grad_checkpointing and not torch.jit.is_scripting():
                x = checkpoint_seq(stage, x) if isinstance(stage, nn.Sequential) else stage(x)
            else:
                x = stage(x)
        return self.norm(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.global_pool == "avg":
            x = x.mean(dim=(2, 3))
        x = self.head_drop(x)
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
        """timm's feature API: NCHW outputs of the stages in ``indices``."""
        if output_fmt != "NCHW":
            raise ValueError(f"output_fmt must be 'NCHW'; got {output_fmt!r}")
        take_indices, max_index = feature_take_indices(len(self.stage_indices), indices)
        last_module = self.stage_indices[max_index] if stop_early else len(self.network) - 1
        intermediates = []
        x = check_min_input_size(x, self.min_input_size)
        x = self.patch_embed(x)
        stage_index = 0
        for module_index, module in enumerate(self.network):
            if module_index > last_module:
                break
            x = module(x)
            if module_index in self.stage_indices:
                if stage_index in take_indices:
                    is_last = stage_index == len(self.stage_indices) - 1
                    intermediates.append(self.norm(x) if norm and is_last else x)
                stage_index += 1
        if intermediates_only:
            return intermediates
        return self.norm(x), intermediates

    def prune_intermediate_layers(
        self,
        indices: int | list[int] = 1,
        prune_norm: bool = False,
        prune_head: bool = True,
    ) -> list[int]:
        """Drop the modules after the last requested stage (timm's feature API)."""
        take_indices, max_index = feature_take_indices(len(self.stage_indices), indices)
        keep = self.stage_indices[max_index] + 1
        self.network = self.network[:keep]
        self.stage_indices = [i for i in self.stage_indices if i < keep]
        if prune_norm:
            self.norm = nn.Identity()
        if prune_head:
            self.reset_classifier(0, "")
        return take_indices


def _init_weights(module: nn.Module) -> None:
    """The authors' initialisation: truncated-normal convs and linears, zero biases, unit norms."""
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


# The four published configurations; every other argument takes HireMLP's defaults.
CONFIGS: dict[str, dict[str, Any]] = {
    "hire_mlp_ti": dict(layers=(2, 2, 4, 2), embed_dims=(64, 128, 320, 512)),
    "hire_mlp_s": dict(layers=(3, 4, 10, 3), embed_dims=(64, 128, 320, 512)),
    "hire_mlp_b": dict(layers=(4, 6, 24, 3), embed_dims=(64, 128, 320, 512)),
    "hire_mlp_l": dict(layers=(4, 6, 24, 3), embed_dims=(96, 192, 384, 768)),
}


def _create_hire_mlp(name: str, pretrained: bool = False, **kwargs: Any) -> HireMLP:
    config = {**CONFIGS[name], **kwargs}
    return build_zoo_model(
        HireMLP,
        name,
        pretrained,
        feature_cfg=dict(out_indices=tuple(range(len(config["layers"]))), feature_cls="getter"),
        **config,
    )


def _cfg(**kwargs: Any) -> dict[str, Any]:
    """Pretrained-cfg data as the authors evaluate (no weights are published under our names)."""
    return {
        "num_classes": 1000,
        "input_size": (3, 224, 224),
        "min_input_size": (3, 19, 19),
        "pool_size": (7, 7),
        "crop_pct": 0.875,
        "interpolation": "bicubic",
        "mean": (0.485, 0.456, 0.406),
        "std": (0.229, 0.224, 0.225),
        "first_conv": "patch_embed.proj",
        "classifier": "head",
        "license": "mit (README badge; no LICENSE file)",
        "origin_url": "https://github.com/ggjy/Hire-Wave-MLP.pytorch",
        "paper_ids": "arXiv:2108.13341",
        "notes": (
            "computation: the same operations as the authors' code, less the two copies of the "
            "input (x.clone()) their Hire module makes for its height and width branches; "
            "no alternative",
        ),
        **kwargs,
    }


default_cfgs = generate_default_cfgs({name: _cfg() for name in CONFIGS})


@register_model
def hire_mlp_ti(pretrained: bool = False, **kwargs: Any) -> HireMLP:
    """Hire-MLP-Tiny: 2-2-4-2 blocks of widths 64-128-320-512 (18.0M params)."""
    return _create_hire_mlp("hire_mlp_ti", pretrained, **kwargs)


@register_model
def hire_mlp_s(pretrained: bool = False, **kwargs: Any) -> HireMLP:
    """Hire-MLP-Small: 3-4-10-3 blocks of widths 64-128-320-512 (33.1M params)."""
    return _create_hire_mlp("hire_mlp_s", pretrained, **kwargs)


@register_model
def hire_mlp_b(pretrained: bool = False, **kwargs: Any) -> HireMLP:
    """Hire-MLP-Base: 4-6-24-3 blocks of widths 64-128-320-512 (58.2M params)."""
    return _create_hire_mlp("hire_mlp_b", pretrained, **kwargs)


@register_model
def hire_mlp_l(pretrained: bool = False, **kwargs: Any) -> HireMLP:
    """Hire-MLP-Large: 4-6-24-3 blocks of widths 96-192-384-768 (95.7M params)."""
    return _create_hire_mlp("hire_mlp_l", pretrained, **kwargs)
