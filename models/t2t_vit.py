"""T2T-ViT (Yuan et al., 2021): a ViT whose patch embedding is a Tokens-to-Token module, and the
ViT-S/16 that the same repository defines.

Paper: L. Yuan, Y. Chen, T. Wang, W. Yu, Y. Shi, Z. Jiang, F. E. H. Tay, J. Feng and S. Yan,
"Tokens-to-Token ViT: Training Vision Transformers from Scratch on ImageNet", arXiv:2101.11986
(ICCV 2021). Authors' code: github: yitu-opensource/T2T-ViT at commit
0f63dc9558f4d192de926504dbddfa1b3f5db6ca (``models/t2t_vit.py``, ``models/token_performer.py``,
``models/transformer_block.py``, ``models/vit.py``), Clear BSD licence.

T2T-ViT-14 and T2T-ViT-24 are the Performer variants the paper's tables cite
(``tokens_type='performer'``). The T2T module re-tokenises the image three times: an unfold
(7x7 windows, stride 4) and a one-head Performer layer, an unfold (3x3, stride 2) and a second
Performer layer, a last unfold (3x3, stride 2) and a linear projection to the backbone width,
giving a 14x14 token grid at 224. A class token and a fixed sinusoidal position table are added
and a standard pre-norm transformer (timm's ``Block``) follows; the class token's output is
classified.

Two tensors that never train are ``nn.Parameter``s with ``requires_grad=False`` in the authors'
code, and stay so here, because their checkpoints hold them and their parameter counts (21.5M,
64.1M) include them: the sinusoid table ``pos_embed`` and each Performer's random feature matrix
``w`` (orthogonal rows scaled by sqrt(m), drawn at random at construction: a model computes the
authors' function only with the ``w`` of their checkpoint). The Performer's feature maps and
products run on ``float()`` tensors, as in the authors' code; under autocast the products still
follow autocast's policy, as theirs do. In a model cast to bfloat16 ``w`` is taken as float too
and the attention's result is cast back to the tokens' dtype before ``proj`` (the authors' code
fails there); in float32 both casts are no-ops.

``vit_s16_t2t`` is the repository's ``vit_small_patch16_224`` (Ross Wightman's early "small"
ViT: width 768, depth 8, 8 heads, MLP ratio 3, no qkv bias, LayerNorm eps 1e-5; 48.75M
parameters), which the paper calls ViT-S/16. It is not timm's 22M DeiT-style model of that name,
so it is built from timm's ``VisionTransformer`` under a name of its own.

Differences from the authors' files: the timm API (``forward_features`` returns the normalised
tokens, ``forward_head`` pools the class token; ``forward_intermediates``, ``features_only``,
gradient checkpointing) is added; the models build on the meta device; a wrong input size or
channel count raises a ValueError; the token grid is computed from the unfolds (the authors'
``img_size // 16`` agrees wherever their code runs). ``qk_scale`` is not offered: the authors
set it (to width**-0.5) only in their ``pretrained=True`` branch, which loads nothing; their
evaluation and transfer scripts build with the default head_dim**-0.5, as here. ``drop_rate``
keeps the authors' meaning (dropout after the position embedding and in every block).
"""

import math
from typing import Any

import numpy as np
import torch
import torch.fx
from timm.layers import PatchEmbed, calculate_drop_path_rates, trunc_normal_
from timm.models import generate_default_cfgs, register_model
from timm.models._features import feature_take_indices
from timm.models._manipulate import checkpoint, checkpoint_seq
from timm.models.vision_transformer import Block, VisionTransformer
from torch import nn

from models.building import build_zoo_model, place_head
from models.hierarchical import square_size

__all__ = ["FixedSizePatchEmbed", "T2TViT", "TokenPerformer", "TokensToToken"]

#: Dropout inside both Performer layers of the T2T module: fixed in the authors' code (``dp1``,
#: ``dp2``), whatever the network's ``drop_rate``.
PERFORMER_DROP = 0.1


def check_image(x: torch.Tensor, in_chans: int, height: int, width: int) -> torch.Tensor:
    """Raise a ValueError naming the accepted size when an image does not fit the fixed grid."""
    if x.shape[-2] != height or x.shape[-1] != width:
        raise ValueError(
            "this model has a fixed token grid and accepts only "
            + f"{height}x{width} images; got {x.shape[-2]}x{x.shape[-1]}"
        )
    if x.shape[-3] != in_chans:
        raise ValueError(f"this model accepts {in_chans}-channel images; got {x.shape[-3]}")
    return x


# Keep the check one opaque call in torch.fx graphs (shapes are proxies there).
torch.fx.wrap("check_image")


def sinusoid_table(positions: int, dim: int) -> torch.Tensor:
    """The authors' fixed position table (1, positions, dim): sin on even, cos on odd channels.

    Computed in float64 with numpy as theirs is (one ``np.power`` per channel, as their list
    comprehension calls it), then rounded to float32, so the values are theirs bit for bit.
    """
    wavelengths = np.array([np.power(10000, 2 * (j // 2) / dim) for j in range(dim)])
    table = np.arange(positions, dtype=np.float64)[:, None] / wavelengths[None, :]
    table[:, 0::2] = np.sin(table[:, 0::2])
    table[:, 1::2] = np.cos(table[:, 1::2])
    return torch.from_numpy(table).float().unsqueeze(0)


class TokenPerformer(nn.Module):
    """One T2T layer: LayerNorm, single-head Performer attention with ``v`` as the residual
    (the width changes from ``dim`` to ``in_dim``), then a residual Linear-GELU-Linear MLP.

    Softmax attention is approximated with ``m = in_dim * kernel_ratio`` positive random
    features exp(w^T x - |x|^2 / 2) / sqrt(m) (the authors' ``prm_exp``). Parameter names are
    the authors' (``Token_performer``): ``w``, ``kqv`` (keys, queries, values in that order),
    ``proj``, ``norm1``, ``norm2``, ``mlp.0``, ``mlp.2``.
    """

    def __init__(self, dim: int, in_dim: int, kernel_ratio: float = 0.5) -> None:
        super().__init__()
        self.emb = in_dim
        self.kqv = nn.Linear(dim, 3 * in_dim)
        self.dp = nn.Dropout(PERFORMER_DROP)
        self.proj = nn.Linear(in_dim, in_dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(in_dim)
        self.epsilon = 1e-8  # keeps the normalising division finite
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, in_dim),
            nn.GELU(),
            nn.Linear(in_dim, in_dim),
            nn.Dropout(PERFORMER_DROP),
        )
        self.m = int(in_dim * kernel_ratio)
        self.feature_norm = math.sqrt(self.m)
        # The authors' draw, in their order (a normal draw, then an orthogonal one over it).
        w = torch.randn(self.m, in_dim)
        if not w.is_meta:  # QR has nothing to orthogonalise on the meta device
            w = nn.init.orthogonal_(w) * math.sqrt(self.m)
        self.w = nn.Parameter(w, requires_grad=False)

    def prm_exp(self, x: torch.Tensor) -> torch.Tensor:
        """Positive random features of ``x`` (B, T, emb) -> (B, T, m), in float32."""
        half_square_norm = (x * x).sum(dim=-1, keepdim=True) / 2
        wtx = torch.einsum("bti,mi->btm", x.float(), self.w.float())
        return torch.exp(wtx - half_square_norm) / self.feature_norm

    def single_attn(self, x: torch.Tensor) -> torch.Tensor:
        k, q, v = torch.split(self.kqv(x), self.emb, dim=-1)
        kp, qp = self.prm_exp(k), self.prm_exp(q)  # (B, T, m)
        normaliser = torch.einsum("bti,bi->bt", qp, kp.sum(dim=1)).unsqueeze(dim=2)  # (B, T, 1)
        kptv = torch.einsum("bin,bim->bnm", v.float(), kp)  # (B, emb, m)
        y = torch.einsum("bti,bni->btn", qp, kptv) / (normaliser + self.epsilon)  # (B, T, emb)
        return v + self.dp(self.proj(y.to(v.dtype)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.single_attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def unfold_side(side: int, kernel: int, stride: int, padding: int) -> int:
    """The output side of ``nn.Unfold`` (a conv's output size formula)."""
    return (side + 2 * padding - kernel) // stride + 1


class TokensToToken(nn.Module):
    """The T2T module (Performer variant): image (B, C, H, W) -> tokens (B, N, embed_dim).

    Three soft splits (unfolds of overlapping windows: 7x7/4, 3x3/2, 3x3/2), with a Performer
    layer after each of the first two (tokens folded back to a square grid before the next
    split) and a linear projection after the last. Names are the authors' (``T2T_module``).
    """

    def __init__(self, img_size: int, in_chans: int, embed_dim: int, token_dim: int) -> None:
        super().__init__()
        self.soft_split0 = nn.Unfold(kernel_size=(7, 7), stride=(4, 4), padding=(2, 2))
        self.soft_split1 = nn.Unfold(kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))
        self.soft_split2 = nn.Unfold(kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))
        self.attention1 = TokenPerformer(dim=in_chans * 7 * 7, in_dim=token_dim, kernel_ratio=0.5)
        self.attention2 = TokenPerformer(dim=token_dim * 3 * 3, in_dim=token_dim, kernel_ratio=0.5)
        self.project = nn.Linear(token_dim * 3 * 3, embed_dim)
        self.side1 = unfold_side(img_size, 7, 4, 2)
        self.side2 = unfold_side(self.side1, 3, 2, 1)
        self.grid_size = unfold_side(self.side2, 3, 2, 1)
        self.num_patches = self.grid_size**2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attention1(self.soft_split0(x).transpose(1, 2))
        x = x.transpose(1, 2).reshape(x.shape[0], x.shape[2], self.side1, self.side1)
        x = self.attention2(self.soft_split1(x).transpose(1, 2))
        x = x.transpose(1, 2).reshape(x.shape[0], x.shape[2], self.side2, self.side2)
        return self.project(self.soft_split2(x).transpose(1, 2))


def _check_config(
    img_size: int | tuple[int, int],
    embed_dim: int,
    depth: int,
    num_heads: int,
    token_dim: int,
    drop_path_rate: float,
    global_pool: str,
) -> int:
    """Raise a ValueError for an invalid configuration; return the (square) image side."""
    for name, value in (("embed_dim", embed_dim), ("depth", depth), ("token_dim", token_dim)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1; got {value!r}")
    if not isinstance(num_heads, int) or num_heads < 1 or embed_dim % num_heads:
        raise ValueError(
            f"num_heads must be an int >= 1 dividing embed_dim {embed_dim}; got {num_heads!r}"
        )
    if not 0.0 <= drop_path_rate < 1.0:
        raise ValueError(f"drop_path_rate must be in [0, 1); got {drop_path_rate!r}")
    if global_pool not in ("token", "avg", ""):
        raise ValueError(f"global_pool must be 'token', 'avg' or ''; got {global_pool!r}")
    img_size = square_size(img_size)
    if img_size < 16:
        raise ValueError(f"img_size must be >= 16 (three strided soft splits); got {img_size}")
    return img_size


class T2TViT(nn.Module):
    """T2T-ViT: the T2T module, a class token, a fixed sinusoidal position table, pre-norm
    transformer blocks, a final LayerNorm and a linear head on the class token.

    ``forward_features`` returns the normalised tokens (B, 1 + grid**2, embed_dim), class token
    first, as timm's ViTs do; ``forward_head`` pools the class token (``global_pool='token'``,
    the authors'), the mean of the image tokens (``'avg'``) or nothing (``''``).
    """

    def __init__(
        self,
        img_size: int | tuple[int, int] = 224,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 384,
        depth: int = 14,
        num_heads: int = 6,
        mlp_ratio: float = 3.0,
        qkv_bias: bool = False,
        token_dim: int = 64,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        global_pool: str = "token",
    ) -> None:
        super().__init__()
        img_size = _check_config(
            img_size, embed_dim, depth, num_heads, token_dim, drop_path_rate, global_pool
        )
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.img_size = img_size
        self.in_chans = in_chans
        self.num_features = self.head_hidden_size = self.embed_dim = embed_dim
        self.num_prefix_tokens = 1
        self.grad_checkpointing = False
        # Creation order is the authors' (it fixes the state dict's order and the RNG's draws).
        self.tokens_to_token = TokensToToken(img_size, in_chans, embed_dim, token_dim)
        self.grid_size = self.tokens_to_token.grid_size
        num_patches = self.tokens_to_token.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(
            torch.zeros(1, num_patches + 1, embed_dim), requires_grad=False
        )
        self.pos_drop = nn.Dropout(p=drop_rate)
        rates = calculate_drop_path_rates(drop_path_rate, depth)  # the authors' linspace
        self.blocks = nn.Sequential(
            *[
                Block(
                    dim=embed_dim,
                    num_heads=num_heads,
                    mlp_ratio=mlp_ratio,
                    qkv_bias=qkv_bias,
                    proj_drop=drop_rate,
                    attn_drop=attn_drop_rate,
                    drop_path=rate,
                    norm_layer=nn.LayerNorm,
                )
                for rate in rates
            ]
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.head = self._classifier(num_classes)
        self.feature_info = [
            dict(module=f"blocks.{i}", num_chs=embed_dim, reduction=img_size // self.grid_size)
            for i in range(depth)
        ]
        self.init_weights()

    def init_weights(self) -> None:
        """The authors' initialisation: the sinusoid table, then truncated normals (std 0.02)
        for the class token and every linear weight, zero biases, unit LayerNorms."""
        if not self.pos_embed.is_meta:
            with torch.no_grad():
                self.pos_embed.copy_(sinusoid_table(self.pos_embed.shape[1], self.embed_dim))
        trunc_normal_(self.cls_token, std=0.02)
        self.apply(_init_weights)

    def _classifier(self, num_classes: int) -> nn.Module:
        return nn.Linear(self.embed_dim, num_classes) if num_classes > 0 else nn.Identity()

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        return {"cls_token"}

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        """Stem (T2T module, tokens, position table), one group per block, then the final norm."""
        return dict(
            stem=r"^cls_token|^pos_embed|^tokens_to_token",
            blocks=[(r"^blocks\.(\d+)", None), (r"^norm", (99999,))],
        )

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        self.num_classes = num_classes
        if global_pool is not None:
            if global_pool not in ("token", "avg", ""):
                raise ValueError(f"global_pool must be 'token', 'avg' or ''; got {global_pool!r}")
            self.global_pool = global_pool
        self.head = place_head(self, self._classifier(num_classes))

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        """Image -> tokens with the class token first and the position table added."""
        x = check_image(x, self.in_chans, self.img_size, self.img_size)
        x = self.tokens_to_token(x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        return self.pos_drop(x + self.pos_embed)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Image (B, C, H, W) -> normalised tokens (B, 1 + grid**2, embed_dim)."""
        x = self._embed(x)
        if self.grad_checkpointing and not torch.jit.is_scripting():
            x = checkpoint_seq(self.blocks, x)
        else:
            x = self.blocks(x)
        return self.norm(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.global_pool == "token":
            x = x[:, 0]
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
        """timm's feature API: the image tokens after the blocks in ``indices``, as NCHW maps
        (B, C, grid, grid) or NLC tokens; ``norm`` applies the final norm to each."""
        if output_fmt not in ("NCHW", "NLC"):
            raise ValueError(f"output_fmt must be 'NCHW' or 'NLC'; got {output_fmt!r}")
        take_indices, max_index = feature_take_indices(len(self.blocks), indices)
        last = max_index if stop_early else len(self.blocks) - 1
        x = self._embed(x)
        intermediates: list[torch.Tensor] = []
        for index, block in enumerate(self.blocks):
            if index <= last:
                if self.grad_checkpointing and not torch.jit.is_scripting():
                    x = checkpoint(block, x)
                else:
                    x = block(x)
                if index in take_indices:
                    tokens = (self.norm(x) if norm else x)[:, self.num_prefix_tokens :]
                    if output_fmt == "NCHW":
                        side = self.grid_size
                        tokens = tokens.reshape(x.shape[0], side, side, -1).permute(0, 3, 1, 2)
                    intermediates.append(tokens)
        if intermediates_only:
            return intermediates
        return self.norm(x), intermediates

    def prune_intermediate_layers(
        self,
        indices: int | list[int] = 1,
        prune_norm: bool = False,
        prune_head: bool = True,
    ) -> list[int]:
        """Drop the blocks after the last requested one (timm's feature API)."""
        take_indices, max_index = feature_take_indices(len(self.blocks), indices)
        self.blocks = self.blocks[: max_index + 1]
        if prune_norm:
            self.norm = nn.Identity()
        if prune_head:
            self.reset_classifier(0, "")
        return take_indices


def _init_weights(module: nn.Module) -> None:
    """The authors' ``_init_weights``, applied to every module."""
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.constant_(module.bias, 0)
    elif isinstance(module, nn.LayerNorm):
        nn.init.constant_(module.bias, 0)
        nn.init.constant_(module.weight, 1.0)


class FixedSizePatchEmbed(PatchEmbed):
    """timm's ``PatchEmbed`` (flattened NLC output), raising a ValueError for a wrong input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = self.img_size
        x = check_image(x, self.proj.in_channels, height, width)
        x = self.proj(x).flatten(2).transpose(1, 2)
        return self.norm(x)


# The authors' registrations: width, depth, heads and MLP ratio (T2T-ViT: the Performer T2T
# module; ViT-S/16: models/vit.py's vit_small_patch16_224, no qkv bias, LayerNorm eps 1e-5).
CONFIGS: dict[str, dict[str, Any]] = {
    "t2t_vit_14": dict(embed_dim=384, depth=14, num_heads=6, mlp_ratio=3.0),
    "t2t_vit_24": dict(embed_dim=512, depth=24, num_heads=8, mlp_ratio=3.0),
    "vit_s16_t2t": dict(
        patch_size=16, embed_dim=768, depth=8, num_heads=8, mlp_ratio=3.0, qkv_bias=False
    ),
}


def _create_t2t_vit(name: str, pretrained: bool = False, **kwargs: Any) -> T2TViT:
    # features_only: the last three blocks by default, as timm's ViTs.
    features = dict(out_indices=kwargs.pop("out_indices", 3), feature_cls="getter")
    config = {**CONFIGS[name], **kwargs}
    return build_zoo_model(T2TViT, name, pretrained, feature_cfg=features, **config)


def _create_vit(name: str, pretrained: bool = False, **kwargs: Any) -> VisionTransformer:
    """timm's ViT with the authors' settings; ``drop_rate`` keeps their (and old timm's)
    meaning: dropout after the position embedding and in every block, none before the head."""
    for key in ("dynamic_img_size", "dynamic_img_pad"):
        if kwargs.get(key):
            raise ValueError(f"{name} has a fixed input size; {key}=True is not accepted")
    drop_rate = kwargs.pop("drop_rate", 0.0)
    kwargs.setdefault("pos_drop_rate", drop_rate)
    kwargs.setdefault("proj_drop_rate", drop_rate)
    features = dict(out_indices=kwargs.pop("out_indices", 3), feature_cls="getter")
    config = {**CONFIGS[name], **kwargs}
    return build_zoo_model(
        VisionTransformer,
        name,
        pretrained,
        embed_layer=FixedSizePatchEmbed,
        norm_layer=nn.LayerNorm,
        feature_cfg=features,
        **config,
    )


def _cfg(**kwargs: Any) -> dict[str, Any]:
    """Pretrained-cfg data: the authors evaluate at 224 after a bicubic resize to 224 / 0.9."""
    return {
        "num_classes": 1000,
        "input_size": (3, 224, 224),
        "fixed_input_size": True,
        "pool_size": None,
        "crop_pct": 0.9,
        "interpolation": "bicubic",
        "mean": (0.485, 0.456, 0.406),
        "std": (0.229, 0.224, 0.225),
        "first_conv": "tokens_to_token.attention1.kqv",
        "classifier": "head",
        "license": "bsd-3-clause-clear",
        "origin_url": "https://github.com/yitu-opensource/T2T-ViT",
        "paper_ids": "arXiv:2101.11986",
        "notes": (
            "computation: the same operations as the authors' t2t_vit.py and vit.py (the "
            "Performer's fp32 casts as theirs); no alternative",
        ),
        **kwargs,
    }


default_cfgs = generate_default_cfgs(
    {
        "t2t_vit_14": _cfg(),
        "t2t_vit_24": _cfg(),
        "vit_s16_t2t": _cfg(
            first_conv="patch_embed.proj",
            license="apache-2.0",
            paper_ids="arXiv:2010.11929",
            notes=(
                "computation: the same operations as the authors' vit.py; no alternative",
                "models/vit.py's vit_small_patch16_224 of the T2T-ViT repository (Ross "
                "Wightman's early small ViT), not timm's 22M DeiT-style model of that name",
                "48,754,408 parameters; the 48.6M quoted for it omits the position embedding "
                "(151,296) and the class token (768)",
            ),
        ),
    }
)


@register_model
def t2t_vit_14(pretrained: bool = False, **kwargs: Any) -> T2TViT:
    """T2T-ViT-14 (Performer T2T): width 384, 14 blocks; 21.5M params, 4.8 GMACs at 224."""
    return _create_t2t_vit("t2t_vit_14", pretrained, **kwargs)


@register_model
def t2t_vit_24(pretrained: bool = False, **kwargs: Any) -> T2TViT:
    """T2T-ViT-24 (Performer T2T): width 512, 24 blocks; 64.1M params, 13.7 GMACs at 224."""
    return _create_t2t_vit("t2t_vit_24", pretrained, **kwargs)


@register_model
def vit_s16_t2t(pretrained: bool = False, **kwargs: Any) -> VisionTransformer:
    """ViT-S/16 as the T2T-ViT repository defines it: width 768, 8 blocks; 48.8M params,
    9.9 GMACs at 224."""
    return _create_vit("vit_s16_t2t", pretrained, **kwargs)
