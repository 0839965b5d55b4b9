"""sMLPNet (Tang et al., 2021): sparse MLP token mixing along rows and columns.

Paper: C. Tang, Y. Zhao, G. Wang, C. Luo, W. Xie and W. Zeng, "Sparse MLP for Image
Recognition: Is Self-Attention Really Necessary?", arXiv:2109.05422 (AAAI 2022).
Authors' code: github: microsoft/SPACH (``models/smlp.py``), MIT licence.

A four-stage network: a 4x4 patch embedding, then stride-2 2x2 convs that halve the token grid
and double the width. Every block adds two residual branches to NCHW tokens: token mixing (a
pre-activation depthwise 3x3 conv, then the sparse MLP: BatchNorm and GELU, one linear map
along each row and one along each column, shared by all channels, and a 1x1 conv fusing the
input with both) and a channel MLP (LayerNorm, Linear-GELU-Linear). A BatchNorm, global
average pooling and a linear head close the network. The row and column maps are square
matrices the size of the token grid's side, so the grid (and the input size) is fixed.

The module tree and parameter names are the authors', so their checkpoints load with
``strict=True``: flat ``to_patch_embedding`` (one per stage), ``token_mix``, ``channel_mix``
and ``drop_path`` lists (one entry per block), the capitalised ``BN``/``Activation``/``Conv``
and the spelling ``proh_w``; the only module added, ``stage_outputs``, has no parameters.
Despite the names, ``proj_h`` mixes along the width (the tokens of a row) and ``proh_w`` along
the height (the tokens of a column); the fusion reads the input, the row-mixed and the
column-mixed tokens in that order, as the authors' code does.

Differences from the authors' file: no einops (rearrangements are permutes); the stages are
run with loops that TorchScript and torch.fx accept; the timm API (``forward_features`` on NCHW
tokens, ``forward_head``, the feature API, head dropout ``drop_rate``, ``global_pool``) is added;
a wrong input size raises a ValueError and invalid configurations fail at construction.
Configurations keep the authors' stochastic-depth rates (0.0, 0.2, 0.3: their training
settings, active only in training mode). Their keyword names map to ours as ``dim`` ->
``embed_dim``, ``alpha`` -> ``mlp_ratio``, ``dp_rate`` -> ``drop_path_rate``, ``image_size`` ->
``img_size``.
"""

from collections.abc import Sequence
from typing import Any

import torch
import torch.fx
from timm.layers import DropPath
from timm.models import generate_default_cfgs, register_model
from timm.models._features import feature_take_indices
from timm.models._manipulate import checkpoint
from torch import nn

from models.building import build_zoo_model, place_head
from models.hierarchical import check_input_size, square_size

__all__ = ["DepthwiseConvBlock", "FeedForward", "SparseMLPBlock", "SparseMLPNet"]

# Keep the size check one opaque call in torch.fx graphs of this module's code, too (fx wraps
# a function by name in the namespace of the module that asks for it).
torch.fx.wrap("check_input_size")


class Permute(nn.Module):
    """Reorder a tensor's dimensions (NCHW <-> NHWC around the channel MLP)."""

    def __init__(self, *dims: int) -> None:
        super().__init__()
        self.dims = list(dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(self.dims)


class FeedForward(nn.Module):
    """The channel MLP on NHWC tokens: Linear, GELU, Linear, with dropout after each linear.

    timm's ``Mlp`` computes the same but names its linears ``fc1``/``fc2``; this keeps the
    authors' ``net.0``/``net.3`` keys.
    """

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden_dim),
            nn.GELU(),
            nn.Dropout(drop),
            nn.Linear(hidden_dim, dim),
            nn.Dropout(drop),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PreActivationConv(nn.Module):
    """BatchNorm, activation, then a bias-free conv with "same" padding (stride 1, odd kernel)."""

    def __init__(self, channels: int, kernel_size: int, groups: int = 1) -> None:
        super().__init__()
        self.BN = nn.BatchNorm2d(channels)
        self.Activation = nn.GELU()
        self.Conv = nn.Conv2d(
            channels, channels, kernel_size, padding=kernel_size // 2, groups=groups, bias=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.Conv(self.Activation(self.BN(x)))


class DepthwiseConvBlock(nn.Module):
    """The local half of token mixing: a pre-activation depthwise 3x3 conv (``conv_merge``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_merge = PreActivationConv(channels, kernel_size=3, groups=channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_merge(x)


class SparseMLPBlock(nn.Module):
    """The sparse MLP on a fixed ``grid_size`` x ``grid_size`` grid of NCHW tokens.

    After BatchNorm and GELU, every token is mixed with the tokens of its row (``proj_h``, a
    1x1 conv whose channels are the width positions) and, separately, of its column
    (``proh_w``, over the height positions); each map is shared by all channels and has a bias.
    A bias-free 1x1 conv (``fuse``) maps the concatenation [input, row-mixed, column-mixed]
    back to ``channels``.
    """

    def __init__(self, channels: int, grid_size: int) -> None:
        super().__init__()
        self.activation = nn.GELU()
        self.BN = nn.BatchNorm2d(channels)
        self.proj_h = nn.Conv2d(grid_size, grid_size, kernel_size=1)
        self.proh_w = nn.Conv2d(grid_size, grid_size, kernel_size=1)
        self.fuse = nn.Conv2d(3 * channels, channels, kernel_size=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.activation(self.BN(x))
        # (B, C, H, W) -> (B, W, C, H): the width positions become the conv's channels.
        along_rows = self.proj_h(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        # (B, C, H, W) -> (B, H, C, W): the height positions become the conv's channels.
        along_columns = self.proh_w(x.transpose(1, 2)).transpose(1, 2)
        return self.fuse(torch.cat([x, along_rows, along_columns], dim=1))


def _check_config(
    depths: tuple[int, ...],
    embed_dim: int,
    mlp_ratio: float,
    patch_size: int,
    img_size: int | tuple[int, int],
    drop_rate: float,
    drop_path_rate: float,
    global_pool: str,
) -> int:
    """Raise a ValueError for an invalid configuration; return the (square) image side."""
    if not depths or not all(isinstance(d, int) and d >= 1 for d in depths):
        raise ValueError(
            f"depths must be a non-empty sequence of ints >= 1 (blocks per stage); got {depths}"
        )
    for name, value in (("embed_dim", embed_dim), ("patch_size", patch_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1; got {value!r}")
    if not mlp_ratio > 0:
        raise ValueError(f"mlp_ratio must be > 0; got {mlp_ratio!r}")
    if not 0.0 <= drop_path_rate < 1.0:
        raise ValueError(f"drop_path_rate must be in [0, 1); got {drop_path_rate!r}")
    if not 0.0 <= drop_rate <= 1.0:
        raise ValueError(f"drop_rate must be in [0, 1]; got {drop_rate!r}")
    if global_pool not in ("avg", ""):
        raise ValueError(f"global_pool must be 'avg' or ''; got {global_pool!r}")
    img_size = square_size(img_size)
    if img_size % patch_size:
        raise ValueError(f"img_size {img_size} is not a multiple of patch_size {patch_size}")
    side = img_size // patch_size
    if side < 2 ** (len(depths) - 1):
        raise ValueError(
            f"a {side}x{side} token grid (img_size {img_size} / patch_size {patch_size}) "
            + f"cannot be halved {len(depths) - 1} times for {len(depths)} stages"
        )
    return img_size


class SparseMLPNet(nn.Module):
    """sMLPNet: stages of (depthwise conv + sparse MLP, channel MLP) blocks on NCHW tokens.

    Stage i has width ``embed_dim * 2**i`` and a ``img_size // patch_size // 2**i`` token grid.
    ``forward_features`` returns the BatchNorm-ed final map, NCHW (B, C, 7, 7) at 224.
    """

    # Block indices at which each stage starts and ends (one past its last block).
    stage_starts: list[int]
    stage_ends: list[int]

    def __init__(
        self,
        depths: Sequence[int] = (2, 8, 14, 2),
        embed_dim: int = 80,
        mlp_ratio: float = 3.0,
        patch_size: int = 4,
        img_size: int | tuple[int, int] = 224,
        in_chans: int = 3,
        num_classes: int = 1000,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        global_pool: str = "avg",
    ) -> None:
        super().__init__()
        depths = tuple(depths)
        img_size = _check_config(
            depths,
            embed_dim,
            mlp_ratio,
            patch_size,
            img_size,
            drop_rate,
            drop_path_rate,
            global_pool,
        )
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.img_size = img_size
        self.grad_checkpointing = False
        widths = [embed_dim * 2**stage for stage in range(len(depths))]
        self.num_features = self.head_hidden_size = widths[-1]
        self._build_stages(
            depths, widths, in_chans, patch_size, img_size // patch_size, mlp_ratio, drop_path_rate
        )
        self.feature_info = [
            dict(num_chs=width, reduction=patch_size * 2**stage, module=f"stage_outputs.{stage}")
            for stage, width in enumerate(widths)
        ]
        self.batch_norm = nn.BatchNorm2d(widths[-1])
        self.head_drop = nn.Dropout(drop_rate)
        self.mlp_head = nn.Sequential(self._classifier(num_classes))

    def _build_stages(
        self,
        depths: tuple[int, ...],
        widths: list[int],
        in_chans: int,
        patch_size: int,
        side: int,
        mlp_ratio: float,
        drop_path_rate: float,
    ) -> None:
        """Register the patch embeddings and the flat per-block lists, in the authors' layout.

        Called from ``__init__`` only. Registration order fixes the state dict's key order (the
        authors'), and creation order the initialisation's draws from the RNG.
        """
        self.to_patch_embedding = nn.ModuleList()
        self.token_mix = nn.ModuleList()
        self.channel_mix = nn.ModuleList()
        self.drop_path = nn.ModuleList()
        self.stage_starts = []
        self.stage_ends = []
        # Parameter-free markers applied to each stage's output, so that feature extraction by
        # module name (timm's fx features) finds the residual sum, not the last branch.
        self.stage_outputs = nn.ModuleList(nn.Identity() for _ in depths)
        total_blocks = sum(depths)
        for stage, (depth, width) in enumerate(zip(depths, widths, strict=True)):
            in_dim, stride = (in_chans, patch_size) if stage == 0 else (widths[stage - 1], 2)
            embed = nn.Conv2d(in_dim, width, kernel_size=stride, stride=stride, bias=False)
            self.to_patch_embedding.append(nn.Sequential(embed))
            grid_size = side // 2**stage
            self.stage_starts.append(len(self.token_mix))
            for _ in range(depth):
                # Stochastic depth rises linearly over all blocks, as in the authors' code.
                rate = drop_path_rate * len(self.token_mix) / max(total_blocks - 1, 1)
                self.drop_path.append(DropPath(rate) if rate > 0.0 else nn.Identity())
                self.channel_mix.append(
                    nn.Sequential(
                        Permute(0, 2, 3, 1),
                        nn.LayerNorm(width),
                        FeedForward(width, int(width * mlp_ratio)),
                        Permute(0, 3, 1, 2),
                    )
                )
                self.token_mix.append(
                    nn.Sequential(DepthwiseConvBlock(width), SparseMLPBlock(width, grid_size))
                )
            self.stage_ends.append(len(self.token_mix))

    def _classifier(self, num_classes: int) -> nn.Module:
        return nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        """Layer groups: a downsampling conv joins its stage's first block (fine) or stage."""
        blocks: list[tuple[str, tuple[int, ...] | None]] = []
        for stage, (start, end) in enumerate(zip(self.stage_starts, self.stage_ends, strict=True)):
            if stage > 0:
                blocks.append((rf"^to_patch_embedding\.{stage}\.", (stage if coarse else start,)))
            if coarse:
                members = "|".join(str(index) for index in range(start, end))
                blocks.append((rf"^(?:token_mix|channel_mix)\.(?:{members})\.", (stage,)))
        if not coarse:
            blocks.append((r"^(?:token_mix|channel_mix)\.(\d+)\.", None))
        blocks.append((r"^batch_norm\.", (99999,)))
        return dict(stem=r"^to_patch_embedding\.0\.", blocks=blocks)

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.mlp_head[0]

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        self.num_classes = num_classes
        if global_pool is not None:
            if global_pool not in ("avg", ""):
                raise ValueError(f"global_pool must be 'avg' or ''; got {global_pool!r}")
            self.global_pool = global_pool
        self.mlp_head = place_head(self, nn.Sequential(self._classifier(num_classes)))

    def _forward_blocks(
        self, x: torch.Tensor, take_indices: list[int], num_blocks: int
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Run the first ``num_blocks`` blocks, each stage's patch embedding before its first.

        Returns the last output and the outputs of the stages in ``take_indices``, in stage
        order. The blocks live in flat lists (the authors' layout), which TorchScript can only
        iterate, so each block looks up whether a stage starts or ends at it.
        """
        intermediates: list[torch.Tensor] = []
        blocks = zip(self.token_mix, self.channel_mix, self.drop_path, strict=True)
        for index, (token_mix, channel_mix, drop_path) in enumerate(blocks):
            if index < num_blocks:
                for stage, embed in enumerate(self.to_patch_embedding):
                    if index == self.stage_starts[stage]:
                        x = embed(x)
                if self.grad_checkpointing and not torch.jit.is_scripting():
                    x = x + drop_path(checkpoint(token_mix, x))
                    x = x + drop_path(checkpoint(channel_mix, x))
                else:
                    x = x + drop_path(token_mix(x))
                    x = x + drop_path(channel_mix(x))
                for stage, stage_output in enumerate(self.stage_outputs):
                    if index + 1 == self.stage_ends[stage]:
                        x = stage_output(x)
                        if stage in take_indices:
                            intermediates.append(x)
        return x, intermediates

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Image (B, C, H, W) -> normalised final map (B, num_features, H/32, W/32)."""
        x = check_input_size(x, self.img_size, self.img_size)
        x, _ = self._forward_blocks(x, [], len(self.token_mix))
        return self.batch_norm(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.global_pool == "avg":
            x = x.mean(dim=(2, 3))
        x = self.head_drop(x)
        return x if pre_logits else self.mlp_head(x)

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
        """timm's feature API: outputs of the stages in ``indices`` (NCHW or NHWC).

        ``norm`` applies the final BatchNorm to the last stage's output only.
        """
        if output_fmt not in ("NCHW", "NHWC"):
            raise ValueError(f"output_fmt must be 'NCHW' or 'NHWC'; got {output_fmt!r}")
        take_indices, max_index = feature_take_indices(len(self.stage_ends), indices)
        num_blocks = self.stage_ends[max_index] if stop_early else len(self.token_mix)
        x = check_input_size(x, self.img_size, self.img_size)
        x, outputs = self._forward_blocks(x, take_indices, num_blocks)
        last_stage = len(self.stage_ends) - 1
        intermediates = []
        for stage, output in zip(sorted(set(take_indices)), outputs, strict=True):
            if norm and stage == last_stage:
                output = self.batch_norm(output)
            intermediates.append(output.permute(0, 2, 3, 1) if output_fmt == "NHWC" else output)
        if intermediates_only:
            return intermediates
        if num_blocks == len(self.token_mix):
            x = self.batch_norm(x)
        return x, intermediates

    def prune_intermediate_layers(
        self,
        indices: int | list[int] = 1,
        prune_norm: bool = False,
        prune_head: bool = True,
    ) -> list[int]:
        """Drop the stages after the last requested one (timm's feature API)."""
        take_indices, max_index = feature_take_indices(len(self.stage_ends), indices)
        keep_blocks = self.stage_ends[max_index]
        self.to_patch_embedding = self.to_patch_embedding[: max_index + 1]
        self.token_mix = self.token_mix[:keep_blocks]
        self.channel_mix = self.channel_mix[:keep_blocks]
        self.drop_path = self.drop_path[:keep_blocks]
        self.stage_starts = self.stage_starts[: max_index + 1]
        self.stage_ends = self.stage_ends[: max_index + 1]
        self.stage_outputs = self.stage_outputs[: max_index + 1]
        if prune_norm:
            self.batch_norm = nn.Identity()
        if prune_head:
            self.reset_classifier(0, "")
        return take_indices


# The authors' models/registry.py: width, blocks per stage, MLP ratio ("alpha"), patch size and
# their training stochastic-depth rate ("dp_rate").
CONFIGS: dict[str, dict[str, Any]] = {
    "smlpnet_t": dict(
        embed_dim=80, depths=(2, 8, 14, 2), mlp_ratio=3, patch_size=4, drop_path_rate=0.0
    ),
    "smlpnet_s": dict(
        embed_dim=96, depths=(2, 10, 24, 2), mlp_ratio=3, patch_size=4, drop_path_rate=0.2
    ),
    "smlpnet_b": dict(
        embed_dim=112, depths=(2, 10, 24, 2), mlp_ratio=3, patch_size=4, drop_path_rate=0.3
    ),
}


def _create_smlpnet(name: str, pretrained: bool = False, **kwargs: Any) -> SparseMLPNet:
    config = {**CONFIGS[name], **kwargs}
    return build_zoo_model(
        SparseMLPNet,
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
        "fixed_input_size": True,
        "pool_size": (7, 7),
        "crop_pct": 0.875,
        "interpolation": "bicubic",
        "mean": (0.485, 0.456, 0.406),
        "std": (0.229, 0.224, 0.225),
        "first_conv": "to_patch_embedding.0.0",
        "classifier": "mlp_head.0",
        "license": "mit",
        "origin_url": "https://github.com/microsoft/SPACH",
        "paper_ids": "arXiv:2109.05422",
        "notes": (
            "computation: the same operations as the authors' code (their einops rearranges as "
            "the same permutes); no alternative",
        ),
        **kwargs,
    }


default_cfgs = generate_default_cfgs(
    {"smlpnet_t": _cfg(), "smlpnet_s": _cfg(), "smlpnet_b": _cfg()}
)


@register_model
def smlpnet_t(pretrained: bool = False, **kwargs: Any) -> SparseMLPNet:
    """sMLPNet-T: width 80, blocks (2, 8, 14, 2); 24.1M params, 5.0 GMACs at 224."""
    return _create_smlpnet("smlpnet_t", pretrained, **kwargs)


@register_model
def smlpnet_s(pretrained: bool = False, **kwargs: Any) -> SparseMLPNet:
    """sMLPNet-S: width 96, blocks (2, 10, 24, 2); 48.6M params, 10.3 GMACs at 224."""
    return _create_smlpnet("smlpnet_s", pretrained, **kwargs)


@register_model
def smlpnet_b(pretrained: bool = False, **kwargs: Any) -> SparseMLPNet:
    """sMLPNet-B: width 112, blocks (2, 10, 24, 2); 65.9M params, 14.0 GMACs at 224."""
    return _create_smlpnet("smlpnet_b", pretrained, **kwargs)
