"""RaftMLP (Tatsunami and Taki, 2021): MLP-Mixer with vertical and horizontal raft token mixing.

Paper: "RaftMLP: Do MLP-based Models Dream of Winning Over Computer Vision?" (arXiv 2108.04384,
first version). Code: github.com/okojoalg/raft-mlp, Apache-2.0. This file builds the 2021
release (commit 2b1276e, "Implemented Raft-MLP"), the RaftMLP-12 and RaftMLP-36 that DynaMixer's
Table 2 compares; the authors' "version 2" of November 2021 (RaftMLP-S/M/L, multi-level, with
cross-scale embeddings) is a different architecture and is not built here.

One layer mixes tokens in three residual, pre-norm MLPs. The ``embed_dim`` channels are split
into ``raft_size`` groups of ``embed_dim // raft_size``; the vertical mixer's MLP reads, for one
column and one channel offset, the ``raft_size x height`` values of that offset in every group
along the whole column (a "raft"), the horizontal mixer does the same along a row, and a channel
MLP follows. The network is a 16x16 patch embedding, the layers on a fixed 14x14 token grid, a
LayerNorm, global average pooling and a linear classifier.

Module and parameter names follow the authors' code (``levels.0.fn.<i>``, ``heads.0.1``,
``classifier``), so their checkpoints load with ``strict=True``; the parameter-free layout
changes they write with einops are :class:`Regroup` modules at the same positions. Differences
from their code: only what the released configurations use is built (one level, the serial
raft token mixer, average pooling); an image whose side is not ``img_size`` is a ValueError where
theirs resizes it; ``drop_rate`` adds a head dropout (default off) and ``proj_drop_rate`` is
their ``dropout``. Parameters keep PyTorch's default initialisation, as theirs do.

``forward_features`` returns the normalised (B, C, 14, 14) map (NCHW); intermediates are the
outputs of single layers, as for timm's MLP-Mixer.
"""

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.fx
from timm.layers import DropPath
from timm.models import generate_default_cfgs, register_model
from timm.models._features import feature_take_indices
from timm.models._manipulate import checkpoint_seq
from torch import nn

from models.building import build_zoo_model, place_head
from models.hierarchical import check_input_size, square_size

__all__ = ["RaftLayer", "RaftMLP", "Regroup", "ResidualMlp"]

# Keep the size check a single opaque call in torch.fx graphs traced from this module too.
torch.fx.wrap("check_input_size")

# Modules before the layers in a level's ``fn``: the patch split and the patch embedding.
_LAYERS_START = 2


class Regroup(nn.Module):
    """A parameter-free change of layout: factor the axes, permute the factors, merge them.

    ``factors`` names the factors of the input's non-batch axes with their sizes, in memory
    order; ``axes`` gives each non-batch output axis as the factors it merges, outermost first.
    ``Regroup(dict(h=14, w=14, c=768), [["c"], ["h"], ["w"]])`` turns (B, 196, 768) tokens into a
    (B, 768, 14, 14) map.
    """

    def __init__(self, factors: dict[str, int], axes: Sequence[Sequence[str]]) -> None:
        super().__init__()
        names = list(factors)
        order = [name for axis in axes for name in axis]
        if sorted(order) != sorted(names):
            raise ValueError(f"axes {axes} must use each factor of {names} exactly once")
        self.pattern = f"{names} -> {[list(axis) for axis in axes]}"
        self.factor_sizes = [factors[name] for name in names]
        self.permutation = [0] + [names.index(name) + 1 for name in order]
        self.output_sizes = [math.prod(factors[name] for name in axis) for axis in axes]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # List concatenation, not unpacking: TorchScript cannot size a starred list.
        x = x.reshape([x.shape[0]] + self.factor_sizes).permute(self.permutation)  # noqa: RUF005
        return x.reshape([x.shape[0]] + self.output_sizes)  # noqa: RUF005

    def extra_repr(self) -> str:
        return self.pattern


class ResidualMlp(nn.Module):
    """Pre-norm residual MLP over the last axis: ``x + drop_path(fn(norm(x)))``.

    ``fn`` is Linear-GELU-Dropout-Linear-Dropout as an indexed Sequential, as the authors name it.
    """

    def __init__(
        self,
        dim: int,
        hidden_dim: int,
        norm: nn.Module,
        proj_drop: float = 0.0,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.norm = norm
        self.drop = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.fn = nn.Sequential(
            nn.Linear(dim, hidden_dim),
            nn.GELU(),
            nn.Dropout(proj_drop),
            nn.Linear(hidden_dim, dim),
            nn.Dropout(proj_drop),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop(self.fn(self.norm(x)))


def raft_norm(dim: int, raft_size: int, across: int, along: int) -> nn.Sequential:
    """LayerNorm over the channels of each token, for a tensor in a mixer's raft layout.

    The input is (B, c * across, r * along) with c = dim // raft_size channel offsets, r the
    group and ``along`` the mixed axis. The authors normalise with the channels ordered
    (offset, group), so the LayerNorm's weight index is ``offset * raft_size + group``, not the
    tokens' channel index ``group * (dim // raft_size) + offset``.
    """
    sizes = dict(c=dim // raft_size, across=across, r=raft_size, along=along)
    return nn.Sequential(
        Regroup(sizes, [["across", "along"], ["c", "r"]]),
        nn.LayerNorm(dim),
        Regroup(
            dict(across=across, along=along, c=sizes["c"], r=raft_size),
            [["c", "across"], ["r", "along"]],
        ),
    )


class RaftLayer(nn.Sequential):
    """One RaftMLP layer on (B, H * W, C) tokens: vertical, horizontal then channel mixing.

    Channel ``g * (C // r) + c`` of a token is offset c of group g, r = ``raft_size``. Positions
    0, 2 and 4 are layout changes (tokens -> columns -> rows -> tokens), 1, 3 and 5 the mixers.
    """

    def __init__(
        self,
        dim: int,
        height: int,
        width: int,
        raft_size: int,
        token_mlp_ratio: int = 2,
        channel_mlp_ratio: int = 4,
        proj_drop: float = 0.0,
        drop_path: float = 0.0,
    ) -> None:
        offsets = dim // raft_size
        grid = dict(h=height, w=width)

        def raft_mixer(across: int, along: int) -> ResidualMlp:
            norm = raft_norm(dim, raft_size, across, along)
            hidden = along * raft_size * token_mlp_ratio
            return ResidualMlp(along * raft_size, hidden, norm, proj_drop, drop_path)

        super().__init__(
            # Columns: one MLP input per (offset, column), the groups' values down the column.
            Regroup(dict(**grid, r=raft_size, c=offsets), [["c", "w"], ["r", "h"]]),
            raft_mixer(across=width, along=height),
            Regroup(dict(c=offsets, w=width, r=raft_size, h=height), [["c", "h"], ["r", "w"]]),
            raft_mixer(across=height, along=width),
            Regroup(dict(c=offsets, h=height, r=raft_size, w=width), [["h", "w"], ["r", "c"]]),
            ResidualMlp(dim, dim * channel_mlp_ratio, nn.LayerNorm(dim), proj_drop, drop_path),
        )


class RaftLevel(nn.Module):
    """Patch embedding and layers at one token-grid size: NCHW image -> NCHW feature map.

    ``fn`` holds, in the authors' order, the patch split, the patch embedding (a Linear over
    patches flattened as (row, column, channel)), the layers and the tokens-to-map layout change.
    """

    def __init__(
        self,
        in_chans: int,
        dim: int,
        depth: int,
        grid_size: int,
        patch_size: int,
        raft_size: int,
        token_mlp_ratio: int,
        channel_mlp_ratio: int,
        proj_drop: float,
        drop_path: float,
    ) -> None:
        super().__init__()
        self.grad_checkpointing = False
        side = grid_size
        patches = dict(c=in_chans, h=side, p1=patch_size, w=side, p2=patch_size)
        layers = [
            RaftLayer(
                dim, side, side, raft_size, token_mlp_ratio, channel_mlp_ratio, proj_drop, drop_path
            )
            for _ in range(depth)
        ]
        self.fn = nn.Sequential(
            Regroup(patches, [["h", "w"], ["p1", "p2", "c"]]),
            nn.Linear(patch_size * patch_size * in_chans, dim),
            *layers,
            Regroup(dict(h=side, w=side, c=dim), [["c"], ["h"], ["w"]]),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.grad_checkpointing and not torch.jit.is_scripting():
            return checkpoint_seq(self.fn, x)
        return self.fn(x)


class RaftMLP(nn.Module):
    """RaftMLP: one :class:`RaftLevel`, a LayerNorm (``heads.0``) and a pooled linear classifier.

    ``raft_size`` must divide ``embed_dim``, and ``patch_size`` the (square) ``img_size``; the
    token grid is fixed at construction. ``drop_path_rate`` is the same for every mixer, as in
    the authors' code.
    """

    def __init__(
        self,
        img_size: int | tuple[int, int] = 224,
        patch_size: int = 16,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 768,
        depth: int = 12,
        raft_size: int = 4,
        token_mlp_ratio: int = 2,
        channel_mlp_ratio: int = 4,
        drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        global_pool: str = "avg",
    ) -> None:
        super().__init__()
        img_size = _check_config(
            img_size,
            patch_size,
            embed_dim,
            depth,
            raft_size,
            token_mlp_ratio,
            channel_mlp_ratio,
            global_pool,
        )
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.img_size = img_size
        self.grid_size = img_size // patch_size
        self.num_features = self.head_hidden_size = self.embed_dim = embed_dim
        self.feature_info = [
            dict(num_chs=embed_dim, reduction=patch_size, module=f"levels.0.fn.{_LAYERS_START + i}")
            for i in range(depth)
        ]

        level = RaftLevel(
            in_chans,
            embed_dim,
            depth,
            self.grid_size,
            patch_size,
            raft_size,
            token_mlp_ratio,
            channel_mlp_ratio,
            proj_drop_rate,
            drop_path_rate,
        )
        self.levels = nn.ModuleList([level])
        self.heads = nn.ModuleList([_final_norm(embed_dim, self.grid_size)])
        self.head_drop = nn.Dropout(drop_rate)
        self.classifier = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        return dict(
            stem=r"^levels\.0\.fn\.[01]\.",
            blocks=[(r"^levels\.0\.fn\.(\d+)\.", None), (r"^heads", (99999,))],
        )

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        for level in self.levels:
            level.grad_checkpointing = enable

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.classifier

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        self.num_classes = num_classes
        if global_pool is not None:
            _check_global_pool(global_pool)
            self.global_pool = global_pool
        self.classifier = place_head(
            self, nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Image (B, C, H, W) -> normalised feature map (B, D, H / patch, W / patch)."""
        x = check_input_size(x, self.img_size, self.img_size)
        for level in self.levels:
            x = level(x)
        for head in self.heads:
            x = head(x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.global_pool == "avg":
            x = x.mean(dim=(2, 3))
        x = self.head_drop(x)
        return x if pre_logits else self.classifier(x)

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
        """timm's feature API: outputs of the layers in ``indices``, as NCHW maps or NLC tokens.

        ``norm`` applies the final LayerNorm to them too.
        """
        if output_fmt not in ("NCHW", "NLC"):
            raise ValueError(f"output_fmt must be 'NCHW' or 'NLC'; got {output_fmt!r}")
        modules = list(self.levels[0].fn)
        split, embed, layers, to_map = modules[0], modules[1], modules[2:-1], modules[-1]
        take_indices, max_index = feature_take_indices(len(layers), indices)
        head = self.heads[0]
        x = check_input_size(x, self.img_size, self.img_size)
        x = embed(split(x))
        intermediates = []
        for index, layer in enumerate(layers[: max_index + 1] if stop_early else layers):
            x = layer(x)
            if index in take_indices:
                y = head(to_map(x)) if norm else to_map(x)
                if output_fmt == "NLC":
                    y = y.flatten(2).transpose(1, 2)
                intermediates.append(y)
        if intermediates_only:
            return intermediates
        return head(to_map(x)), intermediates

    def prune_intermediate_layers(
        self,
        indices: int | list[int] = 1,
        prune_norm: bool = False,
        prune_head: bool = True,
    ) -> list[int]:
        """Drop the layers after the last requested one (timm's feature API)."""
        level = self.levels[0]
        modules = list(level.fn)
        take_indices, max_index = feature_take_indices(len(modules) - _LAYERS_START - 1, indices)
        level.fn = nn.Sequential(*modules[: _LAYERS_START + max_index + 1], modules[-1])
        if prune_norm:
            self.heads = nn.ModuleList([nn.Identity()])
        if prune_head:
            self.reset_classifier(0, "")
        return take_indices


def _check_config(
    img_size: int | tuple[int, int],
    patch_size: int,
    embed_dim: int,
    depth: int,
    raft_size: int,
    token_mlp_ratio: int,
    channel_mlp_ratio: int,
    global_pool: str,
) -> int:
    """Raise a ValueError for an invalid configuration; return the (square) image side."""
    img_size = square_size(img_size)
    for name, value in (
        ("embed_dim", embed_dim),
        ("depth", depth),
        ("patch_size", patch_size),
        ("raft_size", raft_size),
        ("token_mlp_ratio", token_mlp_ratio),
        ("channel_mlp_ratio", channel_mlp_ratio),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int; got {value!r}")
    if embed_dim % raft_size:
        raise ValueError(
            f"raft_size {raft_size} must divide embed_dim {embed_dim}; accepted: "
            + f"{[d for d in range(1, embed_dim + 1) if embed_dim % d == 0]}"
        )
    if img_size % patch_size:
        raise ValueError(f"img_size {img_size} is not a multiple of patch_size {patch_size}")
    _check_global_pool(global_pool)
    return img_size


def _final_norm(dim: int, side: int) -> nn.Sequential:
    """The final LayerNorm over the channels of a (B, dim, side, side) map (``heads.0``)."""
    return nn.Sequential(
        Regroup(dict(c=dim, h=side, w=side), [["h"], ["w"], ["c"]]),
        nn.LayerNorm(dim),
        Regroup(dict(h=side, w=side, c=dim), [["c"], ["h"], ["w"]]),
    )


def _check_global_pool(global_pool: str) -> None:
    if global_pool not in ("avg", ""):
        raise ValueError(f"global_pool must be 'avg' or ''; got {global_pool!r}")


# The authors' configs/settings/imagenet-raft-mlp.yaml and imagenet-raft-mlp-deep.yaml.
CONFIGS: dict[str, dict[str, Any]] = {
    "raftmlp_12": dict(depth=12, embed_dim=768, raft_size=4, patch_size=16),
    "raftmlp_36": dict(depth=36, embed_dim=384, raft_size=2, patch_size=16),
}


def _create_raftmlp(name: str, pretrained: bool = False, **kwargs: Any) -> RaftMLP:
    return build_zoo_model(
        RaftMLP,
        name,
        pretrained,
        feature_cfg=dict(out_indices=3, feature_cls="getter"),
        **{**CONFIGS[name], **kwargs},
    )


def _cfg(**kwargs: Any) -> dict[str, Any]:
    """Evaluation as in the authors' ImageNet loader: resize 256 (bilinear), centre crop 224."""
    return {
        "num_classes": 1000,
        "input_size": (3, 224, 224),
        "pool_size": (14, 14),
        "crop_pct": 0.875,
        "interpolation": "bilinear",
        "fixed_input_size": True,
        "mean": (0.485, 0.456, 0.406),
        "std": (0.229, 0.224, 0.225),
        # The patch embedding is a Linear over flattened patches; the model has no Conv2d.
        "first_conv": "levels.0.fn.1",
        "classifier": "classifier",
        "license": "apache-2.0",
        "origin_url": "https://github.com/okojoalg/raft-mlp",
        "paper_ids": "arXiv:2108.04384",
        "notes": (
            "computation: the same operations as the authors' code (their einops rearranges as "
            "the reshape, permute, reshape that einops runs); no alternative",
        ),
        **kwargs,
    }


default_cfgs = generate_default_cfgs({"raftmlp_12": _cfg(), "raftmlp_36": _cfg()})


@register_model
def raftmlp_12(pretrained: bool = False, **kwargs: Any) -> RaftMLP:
    """RaftMLP-12: 12 layers of width 768, rafts of 4 groups, 16x16 patches (58.4M params)."""
    return _create_raftmlp("raftmlp_12", pretrained, **kwargs)


@register_model
def raftmlp_36(pretrained: bool = False, **kwargs: Any) -> RaftMLP:
    """RaftMLP-36: 36 layers of width 384, rafts of 2 groups, 16x16 patches (43.5M params)."""
    return _create_raftmlp("raftmlp_36", pretrained, **kwargs)
