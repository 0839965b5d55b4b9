"""CrossFormer (Wang et al., 2021): a vision transformer with cross-scale embeddings.

Paper: W. Wang, L. Yao, L. Chen, B. Lin, D. Cai, X. He and W. Liu, "CrossFormer: A Versatile
Vision Transformer Hinging on Cross-scale Attention", arXiv:2108.00154 (ICLR 2022).
Authors' code: github: cheerss/CrossFormer, branch ``crossformer`` at commit
4fbf7501d6923f2564e8cb6d08a2d0138fc24a16 (before CrossFormer++), ``models/crossformer.py`` and
``configs/{tiny,small,base,large}_patch4_group7_224.yaml``, MIT licence.

A four-stage pyramid. Each cross-scale embedding layer (the patch embedding, and the patch
merging that ends stages 1-3) runs several convolutions of one stride but different kernel
sizes (4, 8, 16, 32 pixels; 2 and 4 tokens) over the same input and concatenates their outputs
on the channels, the larger kernels getting fewer channels. Each block is pre-norm attention
then an MLP; attention runs within groups of G x G tokens (G = 7), alternating between short-
distance groups (adjacent tokens, SDA) and long-distance ones (tokens H/G apart, LDA). The
attention logits get a dynamic position bias: a small MLP (``pos``) maps each of the
(2G - 1)^2 relative offsets to one bias per head. A stage whose grid is no larger than G
attends over its whole grid (only SDA).

The module tree and names are the authors', so their checkpoints load with ``strict=True``,
including the two persistent buffers per block, ``attn.biases`` (the relative offsets) and
``attn.relative_position_index``. Differences from the authors' file: tokens travel as NHWC
grids rather than (B, H*W, C) sequences (same values); the timm API is added, with
``forward_features`` returning the normalised NHWC map and the pooling in ``forward_head``; the
buffers are computed in Python (the model also builds on the meta device) and the stochastic-
depth rates without tensors; a wrong input raises a ValueError; the absolute position embedding
(``ape``), ``qk_scale`` and the residual variant of the position-bias MLP, unused by every
configuration, are left out. Configurations keep the authors' stochastic-depth rates (0.1, 0.2,
0.3, 0.5: their training settings, active only in training mode).

Grouping must tile every stage's grid: a grid larger than G must be a multiple of G, so with
G = 7 and patch size 4 the image side must be a multiple of 224 (224, 448, 672, ...).
"""

from collections.abc import Sequence
from typing import Any

import torch
import torch.fx
from timm.layers import DropPath, Mlp, trunc_normal_
from timm.models import generate_default_cfgs, register_model
from timm.models._features import feature_take_indices
from timm.models._manipulate import checkpoint_seq
from torch import nn

from models.building import build_zoo_model, place_head
from models.hierarchical import check_input_size, square_size

__all__ = ["Attention", "CrossFormer", "CrossFormerBlock", "DynamicPosBias", "accepted_sizes"]


def check_image(x: torch.Tensor, channels: int, size: int) -> torch.Tensor:
    """Raise a ValueError when an image has the wrong channel count or size."""
    if x.shape[1] != channels:
        raise ValueError(
            f"this model takes {channels}-channel images; got {x.shape[1]}-channel ones"
        )
    return check_input_size(x, size, size)


# Keep the input check one opaque call in torch.fx graphs (shapes are proxies there).
torch.fx.wrap("check_image")


def relative_offsets(group_size: int) -> torch.Tensor:
    """The (2G-1)^2 relative offsets (dy, dx) within a G x G group, dy major: the DPB's input."""
    span = range(1 - group_size, group_size)
    return torch.tensor([[dy, dx] for dy in span for dx in span], dtype=torch.float32)


def relative_position_index(group_size: int) -> torch.Tensor:
    """(G*G, G*G) index into :func:`relative_offsets` of each query-key pair's offset."""
    coords = [(y, x) for y in range(group_size) for x in range(group_size)]
    side = 2 * group_size - 1
    rows = [
        [(yq - yk + group_size - 1) * side + (xq - xk + group_size - 1) for yk, xk in coords]
        for yq, xq in coords
    ]
    return torch.tensor(rows, dtype=torch.long)


def group_tokens(
    x: torch.Tensor, height: int, width: int, group_size: int, long_distance: bool
) -> torch.Tensor:
    """NHWC tokens -> (B * groups, G*G, C) groups, ordered (B, H/G, W/G) in both modes.

    Short distance (SDA): each group is a G x G block of adjacent tokens. Long distance (LDA):
    a group takes the tokens H/G rows and W/G columns apart, i.e. one from each block.
    """
    channels = x.shape[-1]
    g = group_size
    if long_distance:
        x = x.reshape(-1, g, height // g, g, width // g, channels).permute(0, 2, 4, 1, 3, 5)
    else:
        x = x.reshape(-1, height // g, g, width // g, g, channels).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, g * g, channels)


def ungroup_tokens(
    x: torch.Tensor, height: int, width: int, group_size: int, long_distance: bool
) -> torch.Tensor:
    """The inverse of :func:`group_tokens`: (B * groups, G*G, C) -> NHWC tokens."""
    channels = x.shape[-1]
    g = group_size
    x = x.reshape(-1, height // g, width // g, g, g, channels)
    order = [0, 3, 1, 4, 2, 5] if long_distance else [0, 1, 3, 2, 4, 5]
    return x.permute(order).reshape(-1, height, width, channels)


class DynamicPosBias(nn.Module):
    """Dynamic position bias: offsets (N, 2) -> biases (N, heads) through a 4-layer MLP.

    ``dim`` is the attention width over 4; the hidden width is ``dim // 4``. Each hidden layer
    is LayerNorm, ReLU, Linear (the authors' non-residual form, the one every model uses).
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.pos_dim = dim // 4
        self.pos_proj = nn.Linear(2, self.pos_dim)
        self.pos1 = self._layer(self.pos_dim)
        self.pos2 = self._layer(self.pos_dim)
        self.pos3 = self._layer(num_heads)

    def _layer(self, out_dim: int) -> nn.Sequential:
        return nn.Sequential(
            nn.LayerNorm(self.pos_dim), nn.ReLU(inplace=True), nn.Linear(self.pos_dim, out_dim)
        )

    def forward(self, offsets: torch.Tensor) -> torch.Tensor:
        return self.pos3(self.pos2(self.pos1(self.pos_proj(offsets))))


class Attention(nn.Module):
    """Multi-head self-attention within groups of G x G tokens, with a dynamic position bias."""

    def __init__(
        self,
        dim: int,
        group_size: int,
        num_heads: int,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.group_size = group_size
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.pos = DynamicPosBias(dim // 4, num_heads)
        # Persistent, as in the authors' code: their checkpoints carry both.
        self.register_buffer("biases", relative_offsets(group_size))
        self.register_buffer("relative_position_index", relative_position_index(group_size))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(groups, G*G, C) -> (groups, G*G, C)."""
        tokens = self.group_size * self.group_size
        qkv = self.qkv(x).reshape(-1, tokens, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.pos(self.biases)[self.relative_position_index.view(-1)]
        attn = attn + bias.view(tokens, tokens, -1).permute(2, 0, 1).unsqueeze(0)
        attn = self.attn_drop(attn.softmax(dim=-1))
        x = (attn @ v).transpose(1, 2).reshape(-1, tokens, self.dim)
        return self.proj_drop(self.proj(x))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, group_size={self.group_size}, num_heads={self.num_heads}"


class CrossFormerBlock(nn.Module):
    """Pre-norm block on an NHWC grid: grouped attention (SDA or LDA), then an MLP.

    A grid no larger than ``group_size`` is one group (SDA over the whole grid), as in the
    authors' code; the position-bias buffers then have that grid's size.
    """

    def __init__(
        self,
        dim: int,
        grid_size: int,
        num_heads: int,
        group_size: int = 7,
        long_distance: bool = False,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        if grid_size <= group_size:
            group_size, long_distance = grid_size, False
        self.grid_size = grid_size
        self.group_size = group_size
        self.long_distance = long_distance
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, group_size, num_heads, qkv_bias, attn_drop, drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU, drop=drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        side, g, lda = self.grid_size, self.group_size, self.long_distance
        y = self.attn(group_tokens(self.norm1(x), side, side, g, lda))
        x = x + self.drop_path(ungroup_tokens(y, side, side, g, lda))
        return x + self.drop_path(self.mlp(self.norm2(x)))

    def extra_repr(self) -> str:
        return f"grid_size={self.grid_size}, long_distance={self.long_distance}"


def split_channels(total: int, branches: int) -> list[int]:
    """Channels of each kernel size in a cross-scale layer: halving, the last two equal."""
    return [total // 2 ** (i + 1) for i in range(branches - 1)] + [total // 2 ** (branches - 1)]


class PatchEmbed(nn.Module):
    """The first cross-scale embedding: stride-``patch_size[0]`` convs, NCHW image -> NHWC."""

    def __init__(
        self, patch_size: Sequence[int], in_chans: int, embed_dim: int, norm: bool
    ) -> None:
        super().__init__()
        stride = patch_size[0]
        dims = split_channels(embed_dim, len(patch_size))
        self.projs = nn.ModuleList(
            nn.Conv2d(in_chans, dim, kernel_size=ps, stride=stride, padding=(ps - stride) // 2)
            for ps, dim in zip(patch_size, dims, strict=True)
        )
        self.norm = nn.LayerNorm(embed_dim) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([proj(x) for proj in self.projs], dim=1)
        return self.norm(x.permute(0, 2, 3, 1))


class PatchMerging(nn.Module):
    """A cross-scale embedding between stages: norm, stride-2 convs, NHWC -> NHWC at 2x width."""

    def __init__(self, dim: int, merge_size: Sequence[int]) -> None:
        super().__init__()
        dims = split_channels(2 * dim, len(merge_size))
        # Registered before the norm, as the authors' state dict orders them.
        self.reductions = nn.ModuleList(
            nn.Conv2d(dim, out_dim, kernel_size=ps, stride=2, padding=(ps - 2) // 2)
            for ps, out_dim in zip(merge_size, dims, strict=True)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x).permute(0, 3, 1, 2)
        x = torch.cat([reduction(x) for reduction in self.reductions], dim=1)
        return x.permute(0, 2, 3, 1)


class Stage(nn.Module):
    """One resolution: blocks alternating SDA (even) and LDA (odd), then the patch merging."""

    def __init__(
        self,
        dim: int,
        grid_size: int,
        depth: int,
        num_heads: int,
        group_size: int,
        mlp_ratio: float,
        qkv_bias: bool,
        drop: float,
        attn_drop: float,
        drop_path: Sequence[float],
        merge_size: Sequence[int] | None,
    ) -> None:
        super().__init__()
        self.grad_checkpointing = False
        self.blocks = nn.Sequential(
            *[
                CrossFormerBlock(
                    dim,
                    grid_size,
                    num_heads,
                    group_size,
                    i % 2 == 1,
                    mlp_ratio,
                    qkv_bias,
                    drop,
                    attn_drop,
                    drop_path[i],
                )
                for i in range(depth)
            ]
        )
        self.downsample = PatchMerging(dim, merge_size) if merge_size else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.grad_checkpointing and not torch.jit.is_scripting():
            x = checkpoint_seq(self.blocks, x)
        else:
            x = self.blocks(x)
        return self.downsample(x)


def _grid_problem(side: int, patch_size: Sequence[int], group_size: Sequence[int]) -> str | None:
    """Why an image side does not fit the stages' grids (None if it fits)."""
    grid, stride = divmod(side, patch_size[0])
    if stride:
        return f"it is not a multiple of the patch stride {patch_size[0]}"
    for stage, group in enumerate(group_size):
        if stage and grid % 2:
            return f"stage {stage}'s {grid}x{grid} grid cannot be halved"
        grid = grid // 2 if stage else grid
        if grid > group and grid % group:
            return f"stage {stage + 1}'s {grid}x{grid} grid is not a multiple of group size {group}"
    return None


def accepted_sizes(
    patch_size: Sequence[int] = (4, 8, 16, 32),
    group_size: Sequence[int] = (7, 7, 7, 7),
    largest: int = 1024,
) -> list[int]:
    """The square image sides up to ``largest`` whose stage grids the groups tile."""
    return [s for s in range(1, largest + 1) if _grid_problem(s, patch_size, group_size) is None]


def _check_config(
    img_size: int | tuple[int, int],
    patch_size: Sequence[int],
    embed_dim: int,
    depths: Sequence[int],
    num_heads: Sequence[int],
    group_size: Sequence[int],
    merge_size: Sequence[Sequence[int]],
    global_pool: str,
) -> int:
    """Raise a ValueError for an invalid configuration; return the (square) image side."""
    stages = len(depths)
    if not depths or any(d < 1 for d in depths):
        raise ValueError(f"depths must be one or more positive block counts; got {depths}")
    if (len(num_heads), len(group_size), len(merge_size)) != (stages, stages, stages - 1):
        raise ValueError(
            f"num_heads and group_size need one entry per stage ({stages}), merge_size one per "
            + f"merge ({stages - 1}); got {len(num_heads)}, {len(group_size)}, {len(merge_size)}"
        )
    for stage, heads in enumerate(num_heads):
        dim = embed_dim * 2**stage
        if dim // 16 < 1 or dim % heads:
            raise ValueError(
                f"stage {stage + 1}'s width {dim} must be at least 16 and a multiple of its "
                + f"{heads} heads (embed_dim {embed_dim})"
            )
    if sum(split_channels(embed_dim, len(patch_size))) != embed_dim:
        raise ValueError(
            f"embed_dim {embed_dim} does not split over {len(patch_size)} kernel sizes "
            + f"as {split_channels(embed_dim, len(patch_size))}"
        )
    kernels = [*patch_size[1:], *(k for sizes in merge_size for k in sizes)]
    strides = [patch_size[0]] * (len(patch_size) - 1) + [2] * (len(kernels) - len(patch_size) + 1)
    if any(k < s or (k - s) % 2 for k, s in zip(kernels, strides, strict=True)):
        raise ValueError(
            "every kernel size must be at least its stride and differ from it by an even number "
            + f"(same grid for every kernel); got patch_size {patch_size}, merge_size {merge_size}"
        )
    if global_pool not in ("avg", ""):
        raise ValueError(f"global_pool must be 'avg' or ''; got {global_pool!r}")
    side = square_size(img_size)
    problem = _grid_problem(side, patch_size, group_size)
    if problem:
        sizes = accepted_sizes(patch_size, group_size)
        accepted = ", ".join(map(str, sizes[:4])) + ", ..." if sizes else "none up to 1024"
        raise ValueError(
            f"img_size {side} does not fit the grouping: {problem}; accepted sizes: {accepted}"
        )
    return side


class CrossFormer(nn.Module):
    """CrossFormer: cross-scale patch embedding, four stages of grouped attention, norm, head.

    Stage i has width ``embed_dim * 2**i`` on a ``img_size / (patch_size[0] * 2**i)`` grid,
    fixed by ``img_size`` (the position-bias buffers and the grouping depend on it).
    ``forward_features`` returns the normalised NHWC map, (B, 7, 7, C) at 224.
    """

    def __init__(
        self,
        img_size: int | tuple[int, int] = 224,
        patch_size: Sequence[int] = (4, 8, 16, 32),
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 96,
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (3, 6, 12, 24),
        group_size: Sequence[int] = (7, 7, 7, 7),
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        patch_norm: bool = True,
        merge_size: Sequence[Sequence[int]] = ((2, 4), (2, 4), (2, 4)),
        global_pool: str = "avg",
    ) -> None:
        super().__init__()
        depths, num_heads, group_size = tuple(depths), tuple(num_heads), tuple(group_size)
        patch_size, merge_size = tuple(patch_size), tuple(tuple(m) for m in merge_size)
        self.img_size = _check_config(
            img_size, patch_size, embed_dim, depths, num_heads, group_size, merge_size, global_pool
        )
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.num_features = self.head_hidden_size = embed_dim * 2 ** (len(depths) - 1)
        self.output_fmt = "NHWC"  # of forward_features (timm reads it to find the channels)
        self.feature_dim = -1

        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim, patch_norm)
        self.pos_drop = nn.Dropout(drop_rate)
        total = sum(depths)
        # Stochastic depth rising linearly from 0 over all blocks, in Python (meta-safe).
        rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        self.layers = nn.ModuleList()
        feature_info = []
        grid = self.img_size // patch_size[0]
        for i, depth in enumerate(depths):
            first = sum(depths[:i])
            self.layers.append(
                Stage(
                    embed_dim * 2**i,
                    grid // 2**i,
                    depth,
                    num_heads[i],
                    group_size[i],
                    mlp_ratio,
                    qkv_bias,
                    drop_rate,
                    attn_drop_rate,
                    rates[first : first + depth],
                    merge_size[i] if i < len(depths) - 1 else None,
                )
            )
            feature_info.append(
                dict(
                    num_chs=embed_dim * 2**i,
                    reduction=patch_size[0] * 2**i,
                    module=f"layers.{i}.blocks",
                )
            )
        self.feature_info = feature_info
        self.norm = nn.LayerNorm(self.num_features)
        self.head = self._classifier(num_classes)
        self.apply(_init_weights)

    def _classifier(self, num_classes: int) -> nn.Module:
        return nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        """Layer groups: blocks (fine) or stages (coarse); a patch merging joins its stage's end."""
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
        self.head = place_head(self, self._classifier(num_classes))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Image (B, C, H, W) -> normalised tokens (B, H/32, W/32, D): NHWC."""
        x = check_image(x, self.in_chans, self.img_size)
        x = self.pos_drop(self.patch_embed(x))
        for stage in self.layers:
            x = stage(x)
        return self.norm(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.global_pool == "avg":
            x = x.mean(dim=(1, 2))
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
        """timm's feature API: each requested stage's blocks output, before its patch merging.

        ``norm`` applies the final LayerNorm to the last stage's output only.
        """
        if output_fmt not in ("NCHW", "NHWC"):
            raise ValueError(f"output_fmt must be 'NCHW' or 'NHWC'; got {output_fmt!r}")
        take_indices, max_index = feature_take_indices(len(self.layers), indices)
        last = max_index if stop_early else len(self.layers) - 1
        intermediates = []
        x = check_image(x, self.in_chans, self.img_size)
        x = self.pos_drop(self.patch_embed(x))
        for i, stage in enumerate(self.layers[: last + 1]):
            x = stage.blocks(x)
            if i in take_indices:
                y = self.norm(x) if norm and i == len(self.layers) - 1 else x
                intermediates.append(y.permute(0, 3, 1, 2) if output_fmt == "NCHW" else y)
            x = stage.downsample(x)
        if intermediates_only:
            return intermediates
        # Stopped early, x is the next stage's input: the final norm does not fit it.
        return (self.norm(x) if last == len(self.layers) - 1 else x), intermediates

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
    """The authors' initialisation: truncated-normal linears, zero biases; convs keep PyTorch's."""
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


# The authors' configs/{tiny,small,base,large}_patch4_group7_224.yaml; every one has patch
# sizes (4, 8, 16, 32), merge sizes (2, 4), group size 7 and MLP ratio 4 (the defaults above).
CONFIGS: dict[str, dict[str, Any]] = {
    "crossformer_t": dict(
        embed_dim=64, depths=(1, 1, 8, 6), num_heads=(2, 4, 8, 16), drop_path_rate=0.1
    ),
    "crossformer_s": dict(
        embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), drop_path_rate=0.2
    ),
    "crossformer_b": dict(
        embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24), drop_path_rate=0.3
    ),
    "crossformer_l": dict(
        embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32), drop_path_rate=0.5
    ),
}


def _create_crossformer(name: str, pretrained: bool = False, **kwargs: Any) -> CrossFormer:
    config = {**CONFIGS[name], **kwargs}
    return build_zoo_model(
        CrossFormer,
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
        "first_conv": "patch_embed.projs.0",
        "classifier": "head",
        "license": "mit",
        "origin_url": "https://github.com/cheerss/CrossFormer",
        "paper_ids": "arXiv:2108.00154",
        "notes": (
            "image sides must be multiples of 224 (group size 7 tiles every stage's grid)",
            "the authors' released checkpoints (Google Drive, Baidu) load with strict=True",
            "computation: the same operations as the authors' crossformer.py, with tokens as "
            "NHWC grids (outputs bit for bit equal); no alternative",
        ),
        **kwargs,
    }


default_cfgs = generate_default_cfgs({name: _cfg() for name in CONFIGS})


@register_model
def crossformer_t(pretrained: bool = False, **kwargs: Any) -> CrossFormer:
    """CrossFormer-T: width 64, depths 1-1-8-6, heads 2-4-8-16; 27.8M params, 2.9 GMACs."""
    return _create_crossformer("crossformer_t", pretrained, **kwargs)


@register_model
def crossformer_s(pretrained: bool = False, **kwargs: Any) -> CrossFormer:
    """CrossFormer-S: width 96, depths 2-2-6-2, heads 3-6-12-24; 30.7M params, 4.9 GMACs."""
    return _create_crossformer("crossformer_s", pretrained, **kwargs)


@register_model
def crossformer_b(pretrained: bool = False, **kwargs: Any) -> CrossFormer:
    """CrossFormer-B: width 96, depths 2-2-18-2, heads 3-6-12-24; 52.0M params, 9.2 GMACs."""
    return _create_crossformer("crossformer_b", pretrained, **kwargs)


@register_model
def crossformer_l(pretrained: bool = False, **kwargs: Any) -> CrossFormer:
    """CrossFormer-L: width 128, depths 2-2-18-2, heads 4-8-16-32; 92.0M params, 16.1 GMACs."""
    return _create_crossformer("crossformer_l", pretrained, **kwargs)
