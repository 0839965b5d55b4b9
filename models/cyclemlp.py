"""CycleMLP (Chen et al., 2021; ICLR 2022): MLP token mixing over a cyclic per-channel shift.

From "CycleMLP: A MLP-like Architecture for Dense Prediction" (arXiv 2107.10224). The token
mixer sums three branches, reweighted per channel as in ViP: a channel linear and two Cycle
FCs. A Cycle FC moves every channel a few tokens along one axis (channel c by
``(c + 1) % 3 - 1`` tokens, zeros filling in), then mixes channels with a 1x1 linear, so a
token sees its neighbours' channels at linear cost and any input size. The network is a
four-stage pyramid (reduction 4, 8, 16, 32) with overlapping convolutional downsamplers.

Module and parameter names follow the authors' implementation (github: ShoufaChen/CycleMLP,
MIT licence), so their released checkpoints load with ``strict=True``. Only CycleMLP-B1 to -B5
are built: the paper's CycleMLP-T, -S and -B have no released code.

``cycle_fc`` (default "shift") picks how a Cycle FC is computed, not what. "shift" computes it
as what it is, a zero-filled shift then a 1x1 linear, in pure PyTorch. "deform_conv" computes it
as the authors do, with torchvision's ``deform_conv2d`` at constant integer offsets, and pools
the reweighting as they do (CycleMLP-B1 on two CPU cores, batch 16: half the throughput); the
numbers agree to float rounding. Both read the same parameters and the authors' ``offset``
buffer, in ``deform_conv2d``'s layout, so state dicts are interchangeable.

Where this file differs from the authors' otherwise:

- ``forward_features`` returns normalised NHWC tokens (``output_fmt`` "NHWC").
- Their dense-prediction mode (``fork_feat``: a LayerNorm per stage output) is not built;
  ``forward_intermediates`` and ``features_only`` give the raw stage outputs instead.
- ``drop_rate`` drops the pooled features before the head (theirs accepts and ignores it).
- ``pretrained_cfg`` has the crop their evaluation uses (resize to 256, crop 224: 0.875); the
  crop_pct in their file's model cfgs (0.9 for B1-B3) is never read by their scripts.
"""

from typing import Any

import torch
import torch.nn.functional as F
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import Mlp, trunc_normal_
from timm.models import checkpoint_seq, generate_default_cfgs, register_model
from timm.models._features import feature_take_indices
from torch import nn
from torchvision.ops import deform_conv2d

from models.building import build_zoo_model, place_head
from models.hierarchical import MixerLayer

__all__ = [
    "CYCLE_FC_METHODS",
    "CycleFC",
    "CycleMLP",
    "CycleNet",
    "cycle_offsets",
    "deform_conv_cycle_fc",
]

#: How a Cycle FC is computed: "shift" (a shift and a linear, the default) or "deform_conv"
#: (the authors' torchvision ``deform_conv2d`` with fixed offsets). Same parameters and numbers.
CYCLE_FC_METHODS = ("shift", "deform_conv")


def check_cycle_fc(method: str) -> str:
    """Return ``method`` if it is one of :data:`CYCLE_FC_METHODS`, else raise a ValueError."""
    if method not in CYCLE_FC_METHODS:
        raise ValueError(f"cycle_fc must be one of {CYCLE_FC_METHODS}; got {method!r}")
    return method


def cycle_offsets(channels: int, kernel_size: tuple[int, int]) -> torch.Tensor:
    """The authors' ``deform_conv2d`` offsets for a Cycle FC, shape (1, 2 * channels, 1, 1).

    One (dy, dx) pair per input channel: along the kernel's long side of length k, channel c
    reads the token ``(c + k // 2) % k - k // 2`` steps away; the other component is 0.
    """
    height, width = kernel_size
    start = height * width // 2
    pairs = [
        [(channel + start) % height - height // 2, (channel + start) % width - width // 2]
        for channel in range(channels)
    ]
    return torch.tensor(pairs, dtype=torch.float32).reshape(1, 2 * channels, 1, 1)


def deform_conv_cycle_fc(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, offset: torch.Tensor
) -> torch.Tensor:
    """A Cycle FC as the authors compute it: ``deform_conv2d`` on NCHW, the offsets at every token.

    NHWC in and out; ``offset`` is :func:`cycle_offsets`. Tokens in another dtype than the
    weights (bf16 or fp16 under autocast) are computed in the weights' dtype and the result cast
    back: torchvision's CUDA autocast rule for ``deform_conv2d``, applied on every device (it has
    no CPU autocast rule and no bf16 CPU kernel, so the authors' code fails under CPU autocast).
    """
    batch, height, width, _ = x.shape
    tokens = x.permute(0, 3, 1, 2).to(weight.dtype)
    out = deform_conv2d(tokens, offset.expand(batch, -1, height, width), weight, bias)
    return out.permute(0, 2, 3, 1).to(x.dtype)


# torch.fx records it as one call: deform_conv2d branches on shapes, which are proxies there.
torch.fx.wrap("deform_conv_cycle_fc")


class CycleFC(nn.Module):
    """Cycle fully-connected layer on NHWC tokens: a per-channel shift, then a 1x1 linear.

    ``kernel_size`` is (1, k) to shift along the width or (k, 1) along the height (the authors'
    "spatial area of the staircase"). The weight keeps the authors' (out, in, 1, 1) conv shape.
    ``cycle_fc`` is one of :data:`CYCLE_FC_METHODS`: computed by :meth:`shift` and a linear, or
    by :func:`deform_conv_cycle_fc` as the authors do.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: tuple[int, int],
        bias: bool = True,
        cycle_fc: str = "shift",
    ) -> None:
        super().__init__()
        self.cycle_fc = check_cycle_fc(cycle_fc)
        height, width = kernel_size
        if min(height, width) != 1:
            raise ValueError(
                f"CycleFC kernel_size must be (1, k) or (k, 1) with k >= 1; got {kernel_size}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = (height, width)
        # NHWC axis the channels move along: 1 (height) for (k, 1), 2 (width) for (1, k).
        self.axis = 1 if height > 1 else 2
        reach = max(height, width) // 2
        self.padding = [0, 0, reach, reach] if self.axis == 2 else [0, 0, 0, 0, reach, reach]
        self.reach = reach
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 1, 1))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels))
        else:
            self.register_parameter("bias", None)
        self.register_buffer("offset", cycle_offsets(in_channels, self.kernel_size))
        # The authors' network re-initialises Cycle FCs this way, like its linears.
        trunc_normal_(self.weight, std=0.02)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def shift(self, x: torch.Tensor) -> torch.Tensor:
        """``out[..., p, c] = x[..., p + offset_c, c]`` along ``axis``, zero outside the image."""
        size = x.shape[self.axis]
        # offset holds (dy, dx) per channel: column 0 moves along the height, 1 along the width.
        steps = self.offset.view(-1, 2)[:, self.axis - 1].to(torch.long)
        index = torch.arange(size, device=x.device).unsqueeze(1) + steps + self.reach
        index = index.view(1, size, 1, -1) if self.axis == 1 else index.view(1, 1, size, -1)
        return F.pad(x, self.padding).gather(self.axis, index.expand(x.shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W, in_channels) -> (B, H, W, out_channels)."""
        if self.cycle_fc == "deform_conv":
            return self.forward_deform_conv(x)
        return F.linear(self.shift(x), self.weight.flatten(1), self.bias)

    def forward_deform_conv(self, x: torch.Tensor) -> torch.Tensor:
        """The authors' computation (:func:`deform_conv_cycle_fc`); NHWC in and out."""
        return deform_conv_cycle_fc(x, self.weight, self.bias, self.offset)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            + f"cycle_fc={self.cycle_fc}"
        )


class CycleMLP(nn.Module):
    """CycleMLP's token mixer: two Cycle FCs and a channel linear, reweighted per channel.

    The authors name the (1, 3) Cycle FC ``sfc_h`` (it moves channels along the width) and the
    (3, 1) one ``sfc_w``. NHWC in and out. ``cycle_fc="deform_conv"`` computes the mixer as the
    authors' code does, operation for operation (see :class:`CycleFC`).
    """

    def __init__(self, dim: int, proj_drop: float = 0.0, cycle_fc: str = "shift") -> None:
        super().__init__()
        self.authors_pooling = check_cycle_fc(cycle_fc) == "deform_conv"
        self.mlp_c = nn.Linear(dim, dim, bias=False)
        self.sfc_h = CycleFC(dim, dim, (1, 3), cycle_fc=cycle_fc)
        self.sfc_w = CycleFC(dim, dim, (3, 1), cycle_fc=cycle_fc)
        self.reweight = Mlp(dim, dim // 4, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, _, channels = x.shape
        h = self.sfc_h(x)
        w = self.sfc_w(x)
        c = self.mlp_c(x)
        if self.authors_pooling:
            # Theirs copies to NCHW first; a strided mean reduces in another order (~1e-7 apart).
            a = (h + w + c).permute(0, 3, 1, 2).flatten(2).mean(2)
        else:
            a = (h + w + c).mean(dim=(1, 2))
        a = self.reweight(a).reshape(batch, channels, 3).permute(2, 0, 1).softmax(dim=0)
        a = a.unsqueeze(2).unsqueeze(2)
        x = h * a[0] + w * a[1] + c * a[2]
        return self.proj_drop(self.proj(x))


class OverlappingPatchEmbed(nn.Module):
    """Stem: a 7x7 conv with stride 4 (overlapping patches), NCHW image -> NCHW tokens."""

    def __init__(self, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=7, stride=4, padding=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class Downsample(nn.Module):
    """Between stages: a 3x3 conv with stride 2, NHWC in and out."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_dim, out_dim, kernel_size=3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class CycleNet(nn.Module):
    """CycleMLP network: stem, stages of blocks with downsamplers, norm, pooled linear head.

    A block is :class:`models.hierarchical.MixerLayer` around a :class:`CycleMLP` mixer, the
    layout of the authors' CycleBlock. ``network`` interleaves stages and downsamplers as
    theirs does (stage 0, downsampler, stage 1, ...). Takes any input size;
    ``forward_features`` returns NHWC tokens. ``cycle_fc`` chooses how the Cycle FCs are
    computed (one of :data:`CYCLE_FC_METHODS`); it changes no parameter.
    """

    def __init__(
        self,
        layers: tuple[int, ...],
        embed_dims: tuple[int, ...],
        mlp_ratios: tuple[float, ...],
        in_chans: int = 3,
        num_classes: int = 1000,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        skip_lam: float = 1.0,
        global_pool: str = "avg",
        cycle_fc: str = "shift",
    ) -> None:
        super().__init__()
        if len({len(layers), len(embed_dims), len(mlp_ratios)}) != 1:
            raise ValueError(
                "layers, embed_dims and mlp_ratios must have one entry per stage; "
                + f"got {len(layers)}, {len(embed_dims)}, {len(mlp_ratios)}"
            )
        if not layers or min(layers) < 1:
            raise ValueError(f"every stage needs at least one block; got layers {layers}")
        if global_pool not in ("avg", ""):
            raise ValueError(f"global_pool must be 'avg' or ''; got {global_pool!r}")
        self.cycle_fc = check_cycle_fc(cycle_fc)
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.num_features = self.head_hidden_size = embed_dims[-1]
        self.output_fmt = "NHWC"
        self.feature_dim = -1  # the channel axis of forward_features, as timm's sequencer
        self.grad_checkpointing = False

        self.patch_embed = OverlappingPatchEmbed(in_chans, embed_dims[0])
        total_blocks = sum(layers)
        network, feature_info, stage_indices = [], [], []
        for i, depth in enumerate(layers):
            if i > 0:
                network.append(Downsample(embed_dims[i - 1], embed_dims[i]))
            blocks = []
            for j in range(depth):
                # Stochastic depth rises linearly over all blocks, as in the authors' code.
                rate = drop_path_rate * (sum(layers[:i]) + j) / max(total_blocks - 1, 1)
                mixer = CycleMLP(embed_dims[i], cycle_fc=cycle_fc)
                blocks.append(MixerLayer(embed_dims[i], mixer, mlp_ratios[i], rate, skip_lam))
            stage_indices.append(len(network))
            feature_info.append(
                dict(num_chs=embed_dims[i], reduction=4 * 2**i, module=f"network.{len(network)}")
            )
            network.append(nn.Sequential(*blocks))
        self.network = nn.ModuleList(network)
        self.stage_indices = stage_indices
        self.feature_info = feature_info
        self.norm = nn.LayerNorm(embed_dims[-1])
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.apply(_init_weights)

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
        """Image (B, C, H, W) -> normalised tokens (B, H', W', D); H' is 7 at 224, about H / 32."""
        x = self.patch_embed(x).permute(0, 2, 3, 1)
        for module in self.network:
            if self.grad_checkpointing and not torch.jit.is_scripting():
                x = checkpoint_seq(module, x) if isinstance(module, nn.Sequential) else module(x)
            else:
                x = module(x)
        return self.norm(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.global_pool == "avg":
            x = x.mean(dim=(1, 2))
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
        """timm's feature API: outputs of the stages in ``indices`` (NCHW or NHWC)."""
        if output_fmt not in ("NCHW", "NHWC"):
            raise ValueError(f"output_fmt must be 'NCHW' or 'NHWC'; got {output_fmt!r}")
        take_indices, max_index = feature_take_indices(len(self.stage_indices), indices)
        last_module = self.stage_indices[max_index] if stop_early else len(self.network) - 1
        intermediates = []
        x = self.patch_embed(x).permute(0, 2, 3, 1)
        for module_index, module in enumerate(self.network):
            if module_index > last_module:
                break
            if self.grad_checkpointing and isinstance(module, nn.Sequential):
                x = checkpoint_seq(module, x)
            else:
                x = module(x)
            if module_index in self.stage_indices:
                stage = self.stage_indices.index(module_index)
                if stage in take_indices:
                    is_last = stage == len(self.stage_indices) - 1
                    y = self.norm(x) if norm and is_last else x
                    intermediates.append(y.permute(0, 3, 1, 2) if output_fmt == "NCHW" else y)
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
    """The authors' initialisation: truncated-normal linears, zero biases.

    Cycle FCs initialise themselves alike; LayerNorms keep PyTorch's ones and zeros and
    convolutions PyTorch's default, as theirs do.
    """
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


# Stage widths: B1-B4 share one set, B5 is wider.
WIDTHS = (64, 128, 320, 512)
WIDTHS_B5 = (96, 192, 384, 768)

CONFIGS: dict[str, dict[str, Any]] = {
    "cyclemlp_b1": dict(layers=(2, 2, 4, 2), embed_dims=WIDTHS, mlp_ratios=(4, 4, 4, 4)),
    "cyclemlp_b2": dict(layers=(2, 3, 10, 3), embed_dims=WIDTHS, mlp_ratios=(4, 4, 4, 4)),
    "cyclemlp_b3": dict(layers=(3, 4, 18, 3), embed_dims=WIDTHS, mlp_ratios=(8, 8, 4, 4)),
    "cyclemlp_b4": dict(layers=(3, 8, 27, 3), embed_dims=WIDTHS, mlp_ratios=(8, 8, 4, 4)),
    "cyclemlp_b5": dict(layers=(3, 4, 24, 3), embed_dims=WIDTHS_B5, mlp_ratios=(4, 4, 4, 4)),
}


def _create_cyclemlp(name: str, pretrained: bool = False, **kwargs: Any) -> CycleNet:
    config = {**CONFIGS[name], **kwargs}
    return build_zoo_model(
        CycleNet,
        name,
        pretrained,
        feature_cfg=dict(out_indices=tuple(range(len(config["layers"]))), feature_cls="getter"),
        **config,
    )


def _cfg() -> dict[str, Any]:
    """Pretrained-cfg data; the crop, interpolation and normalisation of the authors' eval."""
    return {
        "num_classes": 1000,
        "input_size": (3, 224, 224),
        "fixed_input_size": False,
        "pool_size": (7, 7),
        "crop_pct": 0.875,
        "interpolation": "bicubic",
        "mean": IMAGENET_DEFAULT_MEAN,
        "std": IMAGENET_DEFAULT_STD,
        "first_conv": "patch_embed.proj",
        "classifier": "head",
        "license": "mit",
        "origin_url": "https://github.com/ShoufaChen/CycleMLP",
        "paper_ids": "arXiv:2107.10224",
        "notes": (
            "computation: Cycle FC as a zero-filled shift and a 1x1 linear (same numbers, faster) "
            "where the authors run torchvision's deform_conv2d; cycle_fc='deform_conv' computes "
            "the authors' operations",
        ),
    }


default_cfgs = generate_default_cfgs({name: _cfg() for name in CONFIGS})


@register_model
def cyclemlp_b1(pretrained: bool = False, **kwargs: Any) -> CycleNet:
    """CycleMLP-B1: 2-2-4-2 blocks of widths 64-128-320-512."""
    return _create_cyclemlp("cyclemlp_b1", pretrained, **kwargs)


@register_model
def cyclemlp_b2(pretrained: bool = False, **kwargs: Any) -> CycleNet:
    """CycleMLP-B2: 2-3-10-3 blocks of widths 64-128-320-512."""
    return _create_cyclemlp("cyclemlp_b2", pretrained, **kwargs)


@register_model
def cyclemlp_b3(pretrained: bool = False, **kwargs: Any) -> CycleNet:
    """CycleMLP-B3: 3-4-18-3 blocks of widths 64-128-320-512, MLP ratio 8 in stages 1-2."""
    return _create_cyclemlp("cyclemlp_b3", pretrained, **kwargs)


@register_model
def cyclemlp_b4(pretrained: bool = False, **kwargs: Any) -> CycleNet:
    """CycleMLP-B4: 3-8-27-3 blocks of widths 64-128-320-512, MLP ratio 8 in stages 1-2."""
    return _create_cyclemlp("cyclemlp_b4", pretrained, **kwargs)


@register_model
def cyclemlp_b5(pretrained: bool = False, **kwargs: Any) -> CycleNet:
    """CycleMLP-B5: 3-4-24-3 blocks of widths 96-192-384-768."""
    return _create_cyclemlp("cyclemlp_b5", pretrained, **kwargs)
