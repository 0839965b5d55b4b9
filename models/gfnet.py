"""GFNet-H (Rao et al., 2021): hierarchical Global Filter Networks, token mixing by FFT.

Paper: Y. Rao, W. Zhao, Z. Zhu, J. Lu and J. Zhou, "Global Filter Networks for Image
Classification", NeurIPS 2021, arXiv:2107.00645. Authors' code: github.com/raoyongming/GFNet
(``gfnet.py``, class ``GFNetPyramid``; the H-Ti/H-S/H-B settings in ``main_gfnet.py``), MIT
licence, followed at commit 2de48b626ea805de82a7f389fed930af1ae0340d (June 2023).

A four-stage network on NHWC tokens: a 4x4 patch embedding plus a learned position embedding,
then stride-2 2x2 convs that halve the token grid between stages. Every block is pre-norm with
a single residual branch, ``x + drop_path(gamma * mlp(norm2(filter(norm1(x)))))``: the global
filter (a 2D real FFT over the token grid, an element-wise product with a learned complex
filter, the inverse FFT) feeds the channel MLP directly, and a LayerScale ``gamma`` scales the
branch. The filter holds one complex weight per frequency of its stage's grid (``h x (h//2 +
1)``, the real FFT's half spectrum), so the grid, and the input size, is fixed when the model is
built; ``img_size`` builds the model for another size, as the authors' ``--input-size`` does
(their fine-tuning script interpolates a checkpoint's filters to it; nothing here does).

The global filter runs in float32 as in the authors' code (its input is cast to float32, its
output stays float32), also under autocast: cuFFT in half precision only takes power-of-two
sizes, and these grids (56, 28, 14, 7) are not. A model cast with ``.to(torch.bfloat16)`` (or
another dtype) still filters in float32 and gets the filter's output back in its own dtype.

Parameter names, shapes and order are the authors', so their checkpoints load with
``strict=True``: ``pos_embed``, ``patch_embed.{0-3}.proj``, ``blocks.{stage}.{block}`` with
``gamma``, ``norm1``, ``filter.complex_weight``, ``norm2``, ``mlp.fc1``/``fc2``, then ``norm``
and ``head``. Differences from the authors' file: tokens travel as an NHWC grid instead of
(B, N, C) sequences (same arithmetic); the timm API (``forward_features`` returning the
normalised NHWC grid, ``forward_head``, the feature API, head dropout ``drop_rate`` in place of
their ``dropcls``, ``global_pool``, ``in_chans``) is added; their in-block dropout (``drop_rate``,
0 in every configuration) and ``no_layerscale`` option are not offered; a wrong input size
raises a ValueError and invalid configurations fail at construction. Keyword names are the
authors': ``embed_dim``, ``depth`` and ``mlp_ratio`` (one entry per stage), ``init_values``.
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

__all__ = ["GFNetPyramid", "GlobalFilter", "GlobalFilterBlock"]

# Keep the size check one opaque call in torch.fx graphs of this module's code, too.
torch.fx.wrap("check_input_size")

#: The authors' LayerNorm epsilon (``partial(nn.LayerNorm, eps=1e-6)`` in main_gfnet.py).
LAYER_NORM_EPS = 1e-6


class GlobalFilter(nn.Module):
    """Global filter on an NHWC grid: rfft2 over (H, W), times a learned filter, irfft2.

    ``complex_weight`` holds the filter's real and imaginary parts, (h, w, dim, 2) with
    ``w = h // 2 + 1``: one complex weight per channel and frequency of an h x h grid's real
    FFT. Both transforms use the orthonormal scaling, as the authors' code does.
    """

    def __init__(self, dim: int, h: int, w: int) -> None:
        super().__init__()
        self.complex_weight = nn.Parameter(torch.randn(h, w, dim, 2) * 0.02)
        self.h = h
        self.w = w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[1], x.shape[2]
        # float32 whatever the input or autocast: the authors' ``x.to(torch.float32)``. A filter
        # cast to bfloat16 (no complex bfloat16 exists) is used in float32 too, and the result
        # comes back in the filter's dtype: float32 as the authors' (also under autocast), the
        # dtype of a model cast with ``.to(dtype)`` otherwise.
        x = x.to(torch.float32)
        x = torch.fft.rfft2(x, dim=(1, 2), norm="ortho")
        x = x * torch.view_as_complex(self.complex_weight.float())
        x = torch.fft.irfft2(x, s=(height, width), dim=(1, 2), norm="ortho")
        return x.to(self.complex_weight.dtype)


class GlobalFilterBlock(nn.Module):
    """The authors' ``BlockLayerScale``: one residual branch, norm-filter-norm-MLP, scaled.

    ``gamma`` (LayerScale, initialised to ``init_values``) is the block's own parameter, so it
    comes first in the state dict, as in the authors' layout.
    """

    def __init__(
        self,
        dim: int,
        grid_size: int,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
        init_values: float = 1e-3,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.filter = GlobalFilter(dim, h=grid_size, w=grid_size // 2 + 1)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.mlp = Mlp(in_features=dim, hidden_features=int(dim * mlp_ratio))
        self.gamma = nn.Parameter(init_values * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop_path(self.gamma * self.mlp(self.norm2(self.filter(self.norm1(x)))))


class PatchEmbed(nn.Module):
    """Stem: a ``patch_size`` conv with equal stride, NCHW image -> NHWC tokens."""

    def __init__(self, patch_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)


class Downsample(nn.Module):
    """The authors' ``DownLayer``: a 2x2 stride-2 conv between stages, NHWC in and out."""

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(dim_in, dim_out, kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


def _check_config(
    embed_dim: tuple[int, ...],
    depth: tuple[int, ...],
    mlp_ratio: tuple[float, ...],
    patch_size: int,
    img_size: int | tuple[int, int],
    drop_rate: float,
    drop_path_rate: float,
    global_pool: str,
) -> int:
    """Raise a ValueError for an invalid configuration; return the (square) image side."""
    if not depth or not all(isinstance(d, int) and d >= 1 for d in depth):
        raise ValueError(
            f"depth must be a non-empty sequence of ints >= 1 (per stage); got {depth}"
        )
    if len(embed_dim) != len(depth) or len(mlp_ratio) != len(depth):
        raise ValueError(
            "embed_dim, depth and mlp_ratio must have one entry per stage; "
            + f"got {len(embed_dim)}, {len(depth)}, {len(mlp_ratio)}"
        )
    if not all(isinstance(d, int) and d >= 1 for d in embed_dim):
        raise ValueError(f"embed_dim must hold ints >= 1; got {embed_dim}")
    if not all(r > 0 for r in mlp_ratio):
        raise ValueError(f"mlp_ratio must hold values > 0; got {mlp_ratio}")
    if not isinstance(patch_size, int) or patch_size < 1:
        raise ValueError(f"patch_size must be an int >= 1; got {patch_size!r}")
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
    if side < 2 ** (len(depth) - 1):
        raise ValueError(
            f"a {side}x{side} token grid (img_size {img_size} / patch_size {patch_size}) "
            + f"cannot be halved {len(depth) - 1} times for {len(depth)} stages"
        )
    return img_size


class GFNetPyramid(nn.Module):
    """GFNet-H: stages of global-filter blocks on NHWC tokens, a LayerNorm, a pooled linear head.

    Stage i has width ``embed_dim[i]`` and a ``img_size // patch_size // 2**i`` token grid
    (56, 28, 14, 7 at 224). ``forward_features`` returns the normalised final grid, NHWC
    (B, 7, 7, C) at 224 (see ``output_fmt``).
    """

    def __init__(
        self,
        embed_dim: Sequence[int] = (64, 128, 256, 512),
        depth: Sequence[int] = (3, 3, 10, 3),
        mlp_ratio: Sequence[float] = (4, 4, 4, 4),
        init_values: float = 1e-3,
        patch_size: int = 4,
        img_size: int | tuple[int, int] = 224,
        in_chans: int = 3,
        num_classes: int = 1000,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        global_pool: str = "avg",
    ) -> None:
        super().__init__()
        embed_dim, depth, mlp_ratio = tuple(embed_dim), tuple(depth), tuple(mlp_ratio)
        img_size = _check_config(
            embed_dim,
            depth,
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
        self.num_features = self.head_hidden_size = self.embed_dim = embed_dim[-1]
        self.grad_checkpointing = False
        # forward_features returns NHWC tokens (timm reads this to find the channel axis).
        self.output_fmt = "NHWC"
        self.feature_dim = -1
        side = img_size // patch_size
        self.grid_sizes = [side // 2**stage for stage in range(len(depth))]

        self.patch_embed = nn.ModuleList([PatchEmbed(patch_size, in_chans, embed_dim[0])])
        self.pos_embed = nn.Parameter(torch.zeros(1, side * side, embed_dim[0]))
        for stage in range(1, len(depth)):
            self.patch_embed.append(Downsample(embed_dim[stage - 1], embed_dim[stage]))
        self.blocks = nn.ModuleList()
        total_blocks, index = sum(depth), 0
        for stage, blocks in enumerate(depth):
            stage_blocks = []
            for _ in range(blocks):
                # The authors' torch.linspace(0, drop_path_rate, total) in plain Python.
                rate = drop_path_rate * index / max(total_blocks - 1, 1)
                stage_blocks.append(
                    GlobalFilterBlock(
                        embed_dim[stage],
                        self.grid_sizes[stage],
                        mlp_ratio[stage],
                        drop_path=rate,
                        init_values=init_values,
                    )
                )
                index += 1
            self.blocks.append(nn.Sequential(*stage_blocks))
        self.feature_info = [
            dict(num_chs=width, reduction=patch_size * 2**stage, module=f"blocks.{stage}")
            for stage, width in enumerate(embed_dim)
        ]
        self.norm = nn.LayerNorm(embed_dim[-1], eps=LAYER_NORM_EPS)
        self.head_drop = nn.Dropout(drop_rate)
        self.head = self._classifier(num_classes)
        trunc_normal_(self.pos_embed, std=0.02)
        self.apply(_init_weights)

    def _classifier(self, num_classes: int) -> nn.Module:
        return nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        return {"pos_embed"}

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        """Layer groups: a downsampling conv joins its stage's first block (fine) or stage."""
        if coarse:
            blocks = [(r"^(?:blocks|patch_embed)\.(\d+)", None)]
        else:
            blocks = [(r"^patch_embed\.(\d+)", (0,)), (r"^blocks\.(\d+)\.(\d+)", None)]
        blocks.append((r"^norm", (99999,)))
        return dict(stem=r"^pos_embed|^patch_embed\.0\.", blocks=blocks)

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
        self.head = place_head(self, self._classifier(num_classes))

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        """Image -> stage-0 NHWC tokens with the position embedding added."""
        x = check_input_size(x, self.img_size, self.img_size)
        x = self.patch_embed[0](x)
        return x + self.pos_embed.view(1, x.shape[1], x.shape[2], x.shape[3])

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Image (B, C, H, W) -> normalised tokens (B, H/32, W/32, D): NHWC, see ``output_fmt``."""
        x = self._stem(x)
        for index, (embed, stage) in enumerate(zip(self.patch_embed, self.blocks, strict=True)):
            if index > 0:
                x = embed(x)
            if self.grad_checkpointing and not torch.jit.is_scripting():
                x = checkpoint_seq(stage, x)
            else:
                x = stage(x)
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
        """timm's feature API: outputs of the stages in ``indices`` (NCHW or NHWC).

        ``norm`` applies the final LayerNorm to the last stage's output only.
        """
        if output_fmt not in ("NCHW", "NHWC"):
            raise ValueError(f"output_fmt must be 'NCHW' or 'NHWC'; got {output_fmt!r}")
        take_indices, max_index = feature_take_indices(len(self.blocks), indices)
        last_stage = max_index if stop_early else len(self.blocks) - 1
        intermediates: list[torch.Tensor] = []
        x = self._stem(x)
        for index, (embed, stage) in enumerate(zip(self.patch_embed, self.blocks, strict=True)):
            if index > last_stage:
                break
            if index > 0:
                x = embed(x)
            if self.grad_checkpointing and not torch.jit.is_scripting():
                x = checkpoint_seq(stage, x)
            else:
                x = stage(x)
            if index in take_indices:
                y = self.norm(x) if norm and index == len(self.blocks) - 1 else x
                intermediates.append(y.permute(0, 3, 1, 2) if output_fmt == "NCHW" else y)
        if intermediates_only:
            return intermediates
        if last_stage == len(self.blocks) - 1:
            x = self.norm(x)
        return x, intermediates

    def prune_intermediate_layers(
        self,
        indices: int | list[int] = 1,
        prune_norm: bool = False,
        prune_head: bool = True,
    ) -> list[int]:
        """Drop the stages after the last requested one (timm's feature API)."""
        take_indices, max_index = feature_take_indices(len(self.blocks), indices)
        self.patch_embed = self.patch_embed[: max_index + 1]
        self.blocks = self.blocks[: max_index + 1]
        if prune_norm:
            self.norm = nn.Identity()
        if prune_head:
            self.reset_classifier(0, "")
        return take_indices


def _init_weights(module: nn.Module) -> None:
    """The authors' initialisation: truncated-normal linears, zero biases, unit LayerNorms."""
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


# main_gfnet.py's gfnet-h-ti/-s/-b: widths, blocks per stage, MLP ratios, LayerScale init and
# their training stochastic-depth rate (active only in training mode).
CONFIGS: dict[str, dict[str, Any]] = {
    "gfnet_h_ti": dict(
        embed_dim=(64, 128, 256, 512), depth=(3, 3, 10, 3), init_values=1e-3, drop_path_rate=0.1
    ),
    "gfnet_h_s": dict(
        embed_dim=(96, 192, 384, 768), depth=(3, 3, 10, 3), init_values=1e-5, drop_path_rate=0.2
    ),
    "gfnet_h_b": dict(
        embed_dim=(96, 192, 384, 768), depth=(3, 3, 27, 3), init_values=1e-6, drop_path_rate=0.4
    ),
}


def _create_gfnet(name: str, pretrained: bool = False, **kwargs: Any) -> GFNetPyramid:
    config = {**CONFIGS[name], **kwargs}
    return build_zoo_model(
        GFNetPyramid,
        name,
        pretrained,
        feature_cfg=dict(out_indices=tuple(range(len(config["depth"]))), feature_cls="getter"),
        **config,
    )


def _cfg(**kwargs: Any) -> dict[str, Any]:
    """Pretrained-cfg data as the authors evaluate: bicubic resize to 256, centre crop 224.

    (Their ``_cfg`` says crop_pct 0.9, but their evaluation transform, datasets.py, resizes to
    256/224 of the input size.) No weights are published under our names.
    """
    return {
        "num_classes": 1000,
        "input_size": (3, 224, 224),
        "fixed_input_size": True,
        "pool_size": (7, 7),
        "crop_pct": 0.875,
        "interpolation": "bicubic",
        "mean": (0.485, 0.456, 0.406),
        "std": (0.229, 0.224, 0.225),
        "first_conv": "patch_embed.0.proj",
        "classifier": "head",
        "license": "mit",
        "origin_url": "https://github.com/raoyongming/GFNet",
        "paper_ids": "arXiv:2107.00645",
        "notes": (
            "computation: the same operations as the authors' gfnet.py (the global filter's "
            "FFTs in fp32 under autocast, as theirs); no alternative",
        ),
        **kwargs,
    }


default_cfgs = generate_default_cfgs({name: _cfg() for name in CONFIGS})


@register_model
def gfnet_h_ti(pretrained: bool = False, **kwargs: Any) -> GFNetPyramid:
    """GFNet-H-Ti: widths 64-128-256-512, blocks 3-3-10-3; 15.1M params, 2.05 GMACs at 224."""
    return _create_gfnet("gfnet_h_ti", pretrained, **kwargs)


@register_model
def gfnet_h_s(pretrained: bool = False, **kwargs: Any) -> GFNetPyramid:
    """GFNet-H-S: widths 96-192-384-768, blocks 3-3-10-3; 32.2M params, 4.59 GMACs at 224."""
    return _create_gfnet("gfnet_h_s", pretrained, **kwargs)


@register_model
def gfnet_h_b(pretrained: bool = False, **kwargs: Any) -> GFNetPyramid:
    """GFNet-H-B: widths 96-192-384-768, blocks 3-3-27-3; 53.7M params, 8.53 GMACs at 224."""
    return _create_gfnet("gfnet_h_b", pretrained, **kwargs)
