"""The two-stage, fixed-grid network shared by DynaMixer and ViP.

Both official implementations use the same skeleton (a patch-embedding conv, a ``network``
ModuleList of block stages with conv downsamplers between them, a final LayerNorm and a linear
head over mean-pooled tokens); only the token mixer inside each block differs. The module and
parameter names here match those implementations, so their checkpoints load unchanged.
Tokens travel in NHWC layout, as in the originals.
"""

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.fx
from timm.layers import DropPath, Mlp, trunc_normal_
from timm.models._features import feature_take_indices
from timm.models._manipulate import checkpoint_seq
from torch import nn

from models.building import place_head

# A token mixer factory: (stage index, width, token-grid side) -> module mapping NHWC to NHWC.
TokenMixerFactory = Callable[[int, int, int], nn.Module]


def check_input_size(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Raise a ValueError naming both sizes when an image does not fit the fixed token grid."""
    if x.shape[-2] != height or x.shape[-1] != width:
        raise ValueError(
            "this model has a fixed token grid and accepts only "
            + f"{height}x{width} images; got {x.shape[-2]}x{x.shape[-1]}"
        )
    return x


def check_input_multiple(x: torch.Tensor, stride: int) -> torch.Tensor:
    """Raise a ValueError naming the size when an image's sides are not multiples of the
    patch and stage strides (for a model whose mixers take any grid)."""
    if x.shape[-2] % stride or x.shape[-1] % stride:
        raise ValueError(
            f"this model takes images whose sides are multiples of {stride}; "
            + f"got {x.shape[-2]}x{x.shape[-1]}"
        )
    return x


# Keep the size checks single opaque calls in torch.fx graphs (shapes are proxies there).
torch.fx.wrap("check_input_size")
torch.fx.wrap("check_input_multiple")


def square_size(img_size: int | Sequence[int]) -> int:
    """The side of a square image size given as an int or an (H, W) pair."""
    if isinstance(img_size, int):
        return img_size
    height, width = tuple(img_size)[-2:]
    if height != width:
        raise ValueError(f"img_size must be square for a fixed token grid; got {height}x{width}")
    return int(height)


class PatchEmbed(nn.Module):
    """Non-overlapping patch embedding: NCHW image -> NCHW tokens."""

    def __init__(self, patch_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class Downsample(nn.Module):
    """Strided conv between stages, NHWC in and out (the paper's second patch embedding)."""

    def __init__(self, in_dim: int, out_dim: int, patch_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_dim, out_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class MixerLayer(nn.Module):
    """Pre-norm residual layer: token mixer (named ``attn`` upstream) then channel MLP."""

    def __init__(
        self,
        dim: int,
        token_mixer: nn.Module,
        mlp_ratio: float,
        drop_path: float = 0.0,
        skip_lam: float = 1.0,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = token_mixer
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(in_features=dim, hidden_features=int(dim * mlp_ratio))
        self.skip_lam = skip_lam

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x))) / self.skip_lam
        x = x + self.drop_path(self.mlp(self.norm2(x))) / self.skip_lam
        return x


class HierarchicalMixer(nn.Module):
    """Patch embedding, stages of :class:`MixerLayer` with downsamplers, norm, pooled linear head.

    ``layers``, ``embed_dims`` and ``transitions`` follow the official configs: a downsampler
    (stride 2) follows stage i when ``transitions[i]``, a 1x1 projection when only the width
    changes. The token grid is fixed by ``img_size // patch_size``.
    """

    #: Whether the token mixers' weights are sized to one token grid (ViP, DynaMixer); a
    #: subclass whose mixers take any grid (S²-MLPv2's shifts) sets False and runs the same
    #: weights at any input side that its patch and stage strides divide.
    FIXED_GRID: bool = True

    def __init__(
        self,
        layers: Sequence[int],
        embed_dims: Sequence[int],
        transitions: Sequence[bool],
        token_mixer: TokenMixerFactory,
        img_size: int | tuple[int, int] = 224,
        patch_size: int = 7,
        in_chans: int = 3,
        num_classes: int = 1000,
        mlp_ratios: Sequence[float] = (3.0, 3.0, 3.0, 3.0),
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        skip_lam: float = 1.0,
        global_pool: str = "avg",
    ) -> None:
        super().__init__()
        if len({len(layers), len(embed_dims), len(transitions), len(mlp_ratios)}) != 1:
            raise ValueError(
                "layers, embed_dims, transitions and mlp_ratios must have one entry per stage; "
                + f"got {len(layers)}, {len(embed_dims)}, {len(transitions)}, {len(mlp_ratios)}"
            )
        img_size = square_size(img_size)
        if img_size % patch_size:
            raise ValueError(f"img_size {img_size} is not a multiple of patch_size {patch_size}")
        if global_pool not in ("avg", ""):
            raise ValueError(f"global_pool must be 'avg' or ''; got {global_pool!r}")
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.img_size = img_size
        self.num_features = self.head_hidden_size = self.embed_dim = embed_dims[-1]
        self.grad_checkpointing = False
        # forward_features returns NHWC tokens (timm reads this to find the channel axis).
        self.output_fmt = "NHWC"
        self.feature_dim = -1  # the channel axis of forward_features, as timm's sequencer
        # The official code keeps the convs' NCHW memory under an NHWC view. A token mixer that
        # reads whole grids (DynaMixer's fused path) sets this to get contiguous NHWC tokens.
        self.contiguous_tokens = False

        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dims[0])
        self.feature_info = []
        self.fixed_grid = self.FIXED_GRID  # instance attributes: TorchScript reads these
        self.grid_stride = patch_size * 2 ** sum(bool(t) for t in transitions[: len(layers) - 1])
        self.stage_indices = []
        self.network = self._build_network(
            layers,
            embed_dims,
            transitions,
            token_mixer,
            img_size // patch_size,
            patch_size,
            mlp_ratios,
            drop_path_rate,
            skip_lam,
        )
        self.norm = nn.LayerNorm(embed_dims[-1])
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.apply(_init_weights)

    def _build_network(
        self,
        layers: Sequence[int],
        embed_dims: Sequence[int],
        transitions: Sequence[bool],
        token_mixer: TokenMixerFactory,
        side: int,
        reduction: int,
        mlp_ratios: Sequence[float],
        drop_path_rate: float,
        skip_lam: float,
    ) -> nn.ModuleList:
        """Stages of MixerLayers with downsamplers between them; records the feature info."""
        total_layers = sum(layers)
        network: list[nn.Module] = []
        for i, depth in enumerate(layers):
            blocks = []
            for j in range(depth):
                # Linearly increasing stochastic depth, as in the official basic_blocks().
                rate = drop_path_rate * (j + sum(layers[:i])) / max(total_layers - 1, 1)
                mixer = token_mixer(i, embed_dims[i], side)
                blocks.append(MixerLayer(embed_dims[i], mixer, mlp_ratios[i], rate, skip_lam))
            self.stage_indices.append(len(network))
            self.feature_info.append(
                dict(num_chs=embed_dims[i], reduction=reduction, module=f"network.{len(network)}")
            )
            network.append(nn.Sequential(*blocks))
            if i == len(layers) - 1:
                break
            if transitions[i] or embed_dims[i] != embed_dims[i + 1]:
                stride = 2 if transitions[i] else 1
                network.append(Downsample(embed_dims[i], embed_dims[i + 1], stride))
                side, reduction = side // stride, reduction * stride
        return nn.ModuleList(network)

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

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """NHWC tokens in the layout the token mixers want (see ``contiguous_tokens``).

        TorchScript runs DynaMixer's plain path, so it keeps the official layout too.
        """
        if self.contiguous_tokens and not torch.jit.is_scripting():
            return x.contiguous()
        return x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Image (B, C, H, W) -> normalised tokens (B, H', W', D): NHWC, see ``output_fmt``."""
        if self.fixed_grid:
            x = check_input_size(x, self.img_size, self.img_size)
        else:
            x = check_input_multiple(x, self.grid_stride)
        x = self.tokens(self.patch_embed(x).permute(0, 2, 3, 1))
        for stage in self.network:
            if self.grad_checkpointing and not torch.jit.is_scripting():
                x = checkpoint_seq(stage, x) if isinstance(stage, nn.Sequential) else stage(x)
            else:
                x = stage(x)
            x = self.tokens(x)
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
        if self.fixed_grid:
            x = check_input_size(x, self.img_size, self.img_size)
        else:
            x = check_input_multiple(x, self.grid_stride)
        x = self.tokens(self.patch_embed(x).permute(0, 2, 3, 1))
        stage_index = 0
        for module_index, module in enumerate(self.network):
            if module_index > last_module:
                break
            x = self.tokens(module(x))
            if module_index in self.stage_indices:
                if stage_index in take_indices:
                    is_last = stage_index == len(self.stage_indices) - 1
                    y = self.norm(x) if norm and is_last else x
                    intermediates.append(y.permute(0, 3, 1, 2) if output_fmt == "NCHW" else y)
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
    """Official initialisation: truncated-normal linears, zero biases, unit LayerNorms."""
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def hierarchical_cfg(**kwargs: Any) -> dict[str, Any]:
    """Pretrained-cfg data for a fixed-grid model (no weights are published under our names).

    ``pool_size`` is the last stage's token grid: 16x16 for every 224x224 configuration here.
    """
    return {
        "num_classes": 1000,
        "input_size": (3, 224, 224),
        "fixed_input_size": True,
        "pool_size": (16, 16),
        "crop_pct": 0.9,
        "interpolation": "bicubic",
        "mean": (0.485, 0.456, 0.406),
        "std": (0.229, 0.224, 0.225),
        "first_conv": "patch_embed.proj",
        "classifier": "head",
        "license": "mit",
        **kwargs,
    }
