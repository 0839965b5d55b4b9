"""PVT (Wang et al., 2021): the Pyramid Vision Transformer, version 1.

Paper: W. Wang, E. Xie, X. Li, D.-P. Fan, K. Song, D. Liang, T. Lu, P. Luo and L. Shao,
"Pyramid Vision Transformer: A Versatile Backbone for Dense Prediction without Convolutions",
arXiv:2102.12122 (ICCV 2021). Authors' code: github: whai362/PVT, branch ``v1`` at commit
0e117e5f3b43e928615c90291ae4d758eb9296ca, file ``pvt.py`` (Apache-2.0). timm's ``pvt_v2_*``
are the later PVTv2 (overlapping patch embeddings, no position embeddings), a different model.

Four stages of pre-norm transformer blocks on token grids of stride 4, 8, 16 and 32. Each stage
starts with a non-overlapping patch embedding (a strided conv, then LayerNorm) and adds a
learnt position embedding of its grid; the last stage prepends a class token, whose final
LayerNorm-ed state feeds the linear head. Attention is "spatial-reduction attention": keys and
values come from the grid shrunk by a strided conv (``sr``, ``sr_ratio`` 8, 4, 2, 1) and a
LayerNorm, so attention over the 56x56 grid costs 1/64 of full attention.

The module tree and parameter names are the authors' (flat ``patch_embed1``..``4``,
``pos_embed1``..``4``, ``pos_drop1``..``4``, ``block1``..``4``, ``cls_token``; registered in
their order, so the state dict's key order is theirs too): their checkpoints load with
``strict=True``, and a seeded build initialises every tensor as theirs does. Note the two
LayerNorm epsilons: the blocks' ``norm1``/``norm2`` and the final ``norm`` use 1e-6 (the
configurations' ``norm_layer``), the patch embeddings' and the reduction's norms PyTorch's 1e-5.

Differences from the authors' file: the position embeddings are sized to one grid and the
classification code does not interpolate them (only their detection code does, and it drops the
class token), so the input size is fixed and any other size raises a ValueError; the token
grids are known at construction; the stochastic-depth schedule is computed in Python (theirs
calls ``.item()``, which cannot run on the meta device); the timm API (``forward_features``
returning the normalised tokens, ``forward_head`` with class-token or average pooling, the
feature API, gradient checkpointing, ``group_matcher``) is added and invalid configurations
fail at construction. The configurations keep their ``drop_path_rate`` 0.0 (their training
script passes 0.1). ``drop_rate`` is theirs: dropout after the position embeddings, the
attention projection and the MLP's linears (there is no dropout before the head). Their
``norm_layer=partial(nn.LayerNorm, eps=1e-6)`` is ``norm_eps=1e-6`` here; their ``qk_scale``
(None, i.e. head_dim ** -0.5, in every configuration) is not offered.
"""

from collections.abc import Sequence
from typing import Any

import torch
import torch.fx
from timm.layers import DropPath, Mlp, trunc_normal_
from timm.models import generate_default_cfgs, register_model
from timm.models._features import feature_take_indices
from timm.models._manipulate import checkpoint
from torch import nn

from models.building import build_zoo_model, place_head
from models.hierarchical import check_input_size, square_size

__all__ = ["Attention", "Block", "Blocks", "PatchEmbed", "PyramidVisionTransformer"]

NUM_STAGES = 4  # the authors' layout: four flat sets of stage modules, numbered from 1
POOLING = ("token", "avg", "")


def check_image(x: torch.Tensor, in_chans: int, size: int) -> torch.Tensor:
    """Raise a ValueError when an image has the wrong channel count or size for the grids."""
    if x.shape[1] != in_chans:
        raise ValueError(
            f"this model takes images with {in_chans} channels; got {x.shape[1]} channels"
        )
    return check_input_size(x, size, size)


# Keep the input check one opaque call in torch.fx graphs (shapes are proxies there).
torch.fx.wrap("check_image")


def tokens_to_map(x: torch.Tensor, side: int) -> torch.Tensor:
    """Tokens (B, side*side, C) -> an NCHW map (B, C, side, side)."""
    return x.reshape(x.shape[0], side, side, -1).permute(0, 3, 1, 2).contiguous()


class Attention(nn.Module):
    """Multi-head attention whose keys and values come from a ``sr_ratio``-times smaller grid.

    The queries are all ``H * W`` tokens; for ``sr_ratio > 1`` the keys and values are computed
    from the grid reduced by a ``sr_ratio`` x ``sr_ratio`` strided conv and a LayerNorm.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        qkv_bias: bool = False,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        sr_ratio: int = 1,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, dim * 2, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.sr_ratio = sr_ratio
        if sr_ratio > 1:
            self.sr = nn.Conv2d(dim, dim, kernel_size=sr_ratio, stride=sr_ratio)
            self.norm = nn.LayerNorm(dim)
        else:
            self.sr = nn.Identity()  # no parameters: the state dict is the authors'
            self.norm = nn.Identity()

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        B, N, C = x.shape
        head_dim = C // self.num_heads
        q = self.q(x).reshape(B, N, self.num_heads, head_dim).permute(0, 2, 1, 3)
        if self.sr_ratio > 1:
            reduced = self.sr(x.permute(0, 2, 1).reshape(B, C, H, W))
            x = self.norm(reduced.reshape(B, C, -1).permute(0, 2, 1))
        kv = self.kv(x).reshape(B, -1, 2, self.num_heads, head_dim).permute(2, 0, 3, 1, 4)
        k, v = kv.unbind(0)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        x = (self.attn_drop(attn) @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj_drop(self.proj(x))


class Block(nn.Module):
    """Pre-norm transformer block: spatial-reduction attention, then an MLP (GELU)."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = False,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        norm_eps: float = 1e-6,
        sr_ratio: int = 1,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias, attn_drop, drop, sr_ratio)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(in_features=dim, hidden_features=int(dim * mlp_ratio), drop=drop)

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), H, W))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class Blocks(nn.ModuleList):
    """One stage's blocks, run in order on an ``H`` x ``W`` grid (keys ``block1.0.*`` etc.)."""

    def __init__(self, blocks: Sequence[nn.Module] = ()) -> None:
        super().__init__(blocks)
        self.grad_checkpointing = False

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        for block in self:
            if self.grad_checkpointing and not torch.jit.is_scripting():
                x = checkpoint(block, x, H, W)
            else:
                x = block(x, H, W)
        return x


class PatchEmbed(nn.Module):
    """Non-overlapping patch embedding: NCHW map -> LayerNorm-ed tokens (B, H*W, C)."""

    def __init__(self, img_size: int, patch_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.H = self.W = img_size // patch_size
        self.num_patches = self.H * self.W
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).flatten(2).transpose(1, 2))


def _check_config(
    img_size: int | Sequence[int],
    patch_size: int,
    embed_dims: Sequence[int],
    num_heads: Sequence[int],
    mlp_ratios: Sequence[float],
    depths: Sequence[int],
    sr_ratios: Sequence[int],
    drop_path_rate: float,
    global_pool: str,
) -> int:
    """Raise a ValueError for an invalid configuration; return the (square) image side."""
    per_stage = dict(
        embed_dims=embed_dims,
        num_heads=num_heads,
        mlp_ratios=mlp_ratios,
        depths=depths,
        sr_ratios=sr_ratios,
    )
    for name, values in per_stage.items():
        if len(values) != NUM_STAGES:
            raise ValueError(f"{name} must have {NUM_STAGES} entries (one per stage); got {values}")
    for name in ("embed_dims", "num_heads", "depths", "sr_ratios"):
        if not all(isinstance(v, int) and v >= 1 for v in per_stage[name]):
            raise ValueError(f"{name} must be ints >= 1; got {per_stage[name]}")
    for dim, heads in zip(embed_dims, num_heads, strict=True):
        if dim % heads:
            raise ValueError(f"embed_dims must divide by num_heads; got {embed_dims}, {num_heads}")
    if not all(ratio > 0 for ratio in mlp_ratios):
        raise ValueError(f"mlp_ratios must be > 0; got {mlp_ratios}")
    if sr_ratios[-1] != 1:
        raise ValueError(f"the last stage has a class token and needs sr_ratio 1; got {sr_ratios}")
    if not 0.0 <= drop_path_rate < 1.0:
        raise ValueError(f"drop_path_rate must be in [0, 1); got {drop_path_rate!r}")
    if global_pool not in POOLING:
        raise ValueError(f"global_pool must be one of {POOLING}; got {global_pool!r}")
    img_size = square_size(img_size)
    stride = patch_size * 2 ** (NUM_STAGES - 1)
    if not isinstance(patch_size, int) or patch_size < 1 or img_size % stride:
        raise ValueError(
            f"img_size must be a multiple of patch_size * {stride // patch_size} = {stride}; "
            + f"got img_size {img_size}, patch_size {patch_size!r}"
        )
    return img_size


class PyramidVisionTransformer(nn.Module):
    """PVT v1: four stages of spatial-reduction transformer blocks, a class token and a head.

    ``forward_features`` returns the final LayerNorm-ed tokens (B, 1 + (H/32)*(W/32), C), the
    class token first; ``forward_head`` pools the class token ("token", the authors') or the
    mean of the others ("avg").
    """

    def __init__(
        self,
        img_size: int | tuple[int, int] = 224,
        patch_size: int = 4,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dims: Sequence[int] = (64, 128, 320, 512),
        num_heads: Sequence[int] = (1, 2, 5, 8),
        mlp_ratios: Sequence[float] = (8, 8, 4, 4),
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        norm_eps: float = 1e-6,
        depths: Sequence[int] = (3, 4, 6, 3),
        sr_ratios: Sequence[int] = (8, 4, 2, 1),
        global_pool: str = "token",
    ) -> None:
        super().__init__()
        embed_dims, depths = tuple(embed_dims), tuple(depths)
        img_size = _check_config(
            img_size,
            patch_size,
            embed_dims,
            num_heads,
            mlp_ratios,
            depths,
            sr_ratios,
            drop_path_rate,
            global_pool,
        )
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.img_size = img_size
        self.in_chans = in_chans
        self.depths = depths
        self.num_features = self.head_hidden_size = self.embed_dim = embed_dims[-1]
        self.num_prefix_tokens = 1
        self.num_stages = NUM_STAGES  # fewer after prune_intermediate_layers
        self.grad_checkpointing = False
        # The token grid's side in each stage (stride patch_size, then 2 per stage).
        self.stage_sides = [img_size // patch_size // 2**stage for stage in range(NUM_STAGES)]
        self.feature_info = [
            dict(num_chs=dim, reduction=patch_size * 2**stage, module=f"block{stage + 1}")
            for stage, dim in enumerate(embed_dims)
        ]
        # Created in the authors' order (the RNG draws of a seeded build follow it).
        in_dims = (in_chans, *embed_dims[:-1])
        for stage in range(NUM_STAGES):
            side, stride = (
                (img_size, patch_size) if stage == 0 else (self.stage_sides[stage - 1], 2)
            )
            embed = PatchEmbed(side, stride, in_dims[stage], embed_dims[stage])
            setattr(self, f"patch_embed{stage + 1}", embed)
        for stage in range(NUM_STAGES):
            tokens = self.stage_sides[stage] ** 2 + (1 if stage == NUM_STAGES - 1 else 0)
            position = nn.Parameter(torch.zeros(1, tokens, embed_dims[stage]))
            setattr(self, f"pos_embed{stage + 1}", position)
            setattr(self, f"pos_drop{stage + 1}", nn.Dropout(p=drop_rate))
        total_blocks = sum(depths)
        for stage in range(NUM_STAGES):
            first = sum(depths[:stage])
            blocks = Blocks(
                [
                    Block(
                        embed_dims[stage],
                        num_heads[stage],
                        mlp_ratios[stage],
                        qkv_bias,
                        drop_rate,
                        attn_drop_rate,
                        # Linear in the block index over all blocks (torch.linspace in theirs).
                        drop_path_rate * (first + index) / max(total_blocks - 1, 1),
                        norm_eps,
                        sr_ratios[stage],
                    )
                    for index in range(depths[stage])
                ]
            )
            setattr(self, f"block{stage + 1}", blocks)
        self.norm = nn.LayerNorm(embed_dims[-1], eps=norm_eps)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dims[-1]))
        self.head = self._classifier(num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """The authors' initialisation, in their order (convs keep PyTorch's default)."""
        for stage in range(NUM_STAGES):
            trunc_normal_(getattr(self, f"pos_embed{stage + 1}"), std=0.02)
        trunc_normal_(self.cls_token, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.zeros_(module.bias)
                nn.init.ones_(module.weight)

    def _classifier(self, num_classes: int) -> nn.Module:
        return nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        return {"cls_token"}  # the authors' choice (position embeddings do decay)

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        """Stem: stage 1's embedding; a later stage's embeddings join its first block (fine)."""
        later = "|".join(str(stage + 1) for stage in range(1, NUM_STAGES))
        return dict(
            stem=r"^(?:patch_embed1\.|pos_embed1$)",
            blocks=[
                (rf"^(?:patch_embed|pos_embed)({later})\b", None if coarse else (0,)),
                (r"^cls_token$", (NUM_STAGES,) if coarse else (NUM_STAGES, 0)),
                (r"^block(\d+)\.", None) if coarse else (r"^block(\d+)\.(\d+)\.", None),
                (r"^norm\.", (99999,)),
            ],
        )

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable
        for module in self.modules():
            if isinstance(module, Blocks):
                module.grad_checkpointing = enable

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        self.num_classes = num_classes
        if global_pool is not None:
            if global_pool not in POOLING:
                raise ValueError(f"global_pool must be one of {POOLING}; got {global_pool!r}")
            self.global_pool = global_pool
        self.head = place_head(self, self._classifier(num_classes))

    def _forward_stages(
        self, x: torch.Tensor, take_indices: list[int], last_stage: int
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Run stages 0 to ``last_stage`` on a checked image.

        Returns the last output (an NCHW map before stage 3; stage 3's tokens, class token
        first, not normalised) and the NCHW maps of the stages in ``take_indices`` before 3.
        The authors' four flat sets of stage modules are unrolled (TorchScript cannot index
        attributes by number).
        """
        maps: list[torch.Tensor] = []
        side = self.stage_sides[0]
        x = self.block1(self.pos_drop1(self.patch_embed1(x) + self.pos_embed1), side, side)
        x = tokens_to_map(x, side)
        if 0 in take_indices:
            maps.append(x)
        if last_stage == 0:
            return x, maps
        side = self.stage_sides[1]
        x = self.block2(self.pos_drop2(self.patch_embed2(x) + self.pos_embed2), side, side)
        x = tokens_to_map(x, side)
        if 1 in take_indices:
            maps.append(x)
        if last_stage == 1:
            return x, maps
        side = self.stage_sides[2]
        x = self.block3(self.pos_drop3(self.patch_embed3(x) + self.pos_embed3), side, side)
        x = tokens_to_map(x, side)
        if 2 in take_indices:
            maps.append(x)
        if last_stage == 2:
            return x, maps
        side = self.stage_sides[3]
        x = self.patch_embed4(x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = self.block4(self.pos_drop4(x + self.pos_embed4), side, side)
        return x, maps

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Image (B, C, H, W) -> normalised tokens (B, 1 + (H/32)*(W/32), num_features)."""
        x = check_image(x, self.in_chans, self.img_size)
        x, _ = self._forward_stages(x, [], len(self.stage_sides) - 1)
        return self.norm(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.global_pool == "token":
            # A copy (B x C, negligible), not a view: tokens made under inference_mode (features
            # cached for a linear probe) can then feed a head that is being trained.
            x = x[:, 0].clone()
        elif self.global_pool == "avg":
            x = x[:, self.num_prefix_tokens :].mean(dim=1)
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
        """timm's feature API: the stages' outputs as maps (NCHW or NHWC).

        The last stage's map is its tokens without the class token (``norm``: after the final
        LayerNorm), as the authors' detection backbone reads it.
        """
        if output_fmt not in ("NCHW", "NHWC"):
            raise ValueError(f"output_fmt must be 'NCHW' or 'NHWC'; got {output_fmt!r}")
        take_indices, max_index = feature_take_indices(self.num_stages, indices)
        last_stage = max_index if stop_early else self.num_stages - 1
        x = check_image(x, self.in_chans, self.img_size)
        x, intermediates = self._forward_stages(x, take_indices, last_stage)
        if last_stage == NUM_STAGES - 1:
            normed = self.norm(x)
            if NUM_STAGES - 1 in take_indices:
                last = normed if norm else x
                intermediates.append(tokens_to_map(last[:, 1:], self.stage_sides[-1]))
            x = normed
        if output_fmt == "NHWC":
            intermediates = [y.permute(0, 2, 3, 1) for y in intermediates]
        if intermediates_only:
            return intermediates
        return x, intermediates

    def prune_intermediate_layers(
        self,
        indices: int | list[int] = 1,
        prune_norm: bool = False,
        prune_head: bool = True,
    ) -> list[int]:
        """Drop the stages after the last requested one (timm's feature API)."""
        take_indices, max_index = feature_take_indices(self.num_stages, indices)
        for stage in range(max_index + 1, self.num_stages):
            setattr(self, f"patch_embed{stage + 1}", nn.Identity())
            setattr(self, f"pos_embed{stage + 1}", None)
            setattr(self, f"block{stage + 1}", Blocks())
        if max_index < NUM_STAGES - 1:
            self.cls_token = None
            prune_norm = True
        self.num_stages = max_index + 1
        if prune_norm:
            self.norm = nn.Identity()
        if prune_head:
            self.reset_classifier(0, "")
        return take_indices


# The authors' pvt.py: all four share patch size 4, widths (64, 128, 320, 512), heads
# (1, 2, 5, 8), MLP ratios (8, 8, 4, 4), reductions (8, 4, 2, 1), qkv biases and LayerNorm eps
# 1e-6; only the blocks per stage differ.
CONFIGS: dict[str, dict[str, Any]] = {
    "pvt_tiny": dict(depths=(2, 2, 2, 2)),
    "pvt_small": dict(depths=(3, 4, 6, 3)),
    "pvt_medium": dict(depths=(3, 4, 18, 3)),
    "pvt_large": dict(depths=(3, 8, 27, 3)),
}
_SHARED = dict(
    patch_size=4,
    embed_dims=(64, 128, 320, 512),
    num_heads=(1, 2, 5, 8),
    mlp_ratios=(8, 8, 4, 4),
    qkv_bias=True,
    norm_eps=1e-6,
    sr_ratios=(8, 4, 2, 1),
)


def _create_pvt(name: str, pretrained: bool = False, **kwargs: Any) -> PyramidVisionTransformer:
    return build_zoo_model(
        PyramidVisionTransformer,
        name,
        pretrained,
        feature_cfg=dict(out_indices=tuple(range(NUM_STAGES)), feature_cls="getter"),
        **{**_SHARED, **CONFIGS[name], **kwargs},
    )


def _cfg(**kwargs: Any) -> dict[str, Any]:
    """Pretrained-cfg data: the authors evaluate at 224 after a bicubic resize to 256 (DeiT's)."""
    return {
        "num_classes": 1000,
        "input_size": (3, 224, 224),
        "fixed_input_size": True,
        "pool_size": (7, 7),
        "crop_pct": 0.875,
        "interpolation": "bicubic",
        "mean": (0.485, 0.456, 0.406),
        "std": (0.229, 0.224, 0.225),
        "first_conv": "patch_embed1.proj",
        "classifier": "head",
        "license": "apache-2.0",
        "origin_url": "https://github.com/whai362/PVT/tree/v1",
        "paper_ids": "arXiv:2102.12122",
        "notes": ("computation: the same operations as the authors' pvt.py; no alternative",),
        **kwargs,
    }


default_cfgs = generate_default_cfgs({name: _cfg() for name in CONFIGS})


@register_model
def pvt_tiny(pretrained: bool = False, **kwargs: Any) -> PyramidVisionTransformer:
    """PVT-Tiny: blocks (2, 2, 2, 2); 13.2M params, 1.9 GMACs at 224."""
    return _create_pvt("pvt_tiny", pretrained, **kwargs)


@register_model
def pvt_small(pretrained: bool = False, **kwargs: Any) -> PyramidVisionTransformer:
    """PVT-Small: blocks (3, 4, 6, 3); 24.5M params, 3.8 GMACs at 224."""
    return _create_pvt("pvt_small", pretrained, **kwargs)


@register_model
def pvt_medium(pretrained: bool = False, **kwargs: Any) -> PyramidVisionTransformer:
    """PVT-Medium: blocks (3, 4, 18, 3); 44.2M params, 6.7 GMACs at 224."""
    return _create_pvt("pvt_medium", pretrained, **kwargs)


@register_model
def pvt_large(pretrained: bool = False, **kwargs: Any) -> PyramidVisionTransformer:
    """PVT-Large: blocks (3, 8, 27, 3); 61.4M params, 9.8 GMACs at 224."""
    return _create_pvt("pvt_large", pretrained, **kwargs)
