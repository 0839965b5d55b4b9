"""DynaMixer (Wang et al., ICML 2022): token mixing with content-generated mixing matrices.

Read top to bottom: the DynaMixer operation (Eqs. 5-7), the block that weights row, column and
channel mixing (Eq. 9 + reweighting), the configurations, and their timm registrations.
Parameter names follow the authors' implementation (github: ziyuwwang/DynaMixer), so official
checkpoints load with ``strict=True``.

Ablations of the paper's Tables 5-8 are keyword overrides of a named configuration:
``segment_dim``, ``reduced_dim``, ``mixing``, ``row_mixing``, ``column_mixing``,
``channel_mixing``, ``reweight`` and ``share_row_column``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Any

import torch
from timm.layers import Mlp, trunc_normal_
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from torch import nn

from models.hierarchical import HierarchicalMixer, hierarchical_cfg, square_size

MIXING_METHODS = ("dynamic", "random", "dense")

__all__ = ["MIXING_METHODS", "DynaMixerBlock", "DynaMixerConfig", "DynaMixerOp"]


class DynaMixerOp(nn.Module):
    """Mix a sequence of ``seq_len`` tokens with matrices generated per segment (Eqs. 5-7).

    ``mixing="dynamic"`` (the paper): every token's full feature vector is reduced to
    ``reduced_dim`` numbers per segment (``compress``, Eq. 5, one W_d per segment, all channels
    seen); the flattened reduced tokens generate an N x N matrix per segment (``generate``, Eq. 6,
    shared by all segments); softmax over the input tokens; each segment's channels are mixed by
    its matrix and the concatenation is projected by ``out`` (Eq. 7).
    ``"random"`` (Synthesizer Random): the per-segment matrices are trainable parameters.
    ``"dense"`` (Synthesizer Dense): each output token generates its own row of weights from its
    own features only, with a two-layer MLP (ReLU), one row per segment.

    Layout: mixing matrices are stored (input token, output token), as the official code does,
    so softmax runs over dim -2 and ``out[:, j] = sum_i x[:, i] * w[i, j]``.
    """

    def __init__(
        self,
        dim: int,
        seq_len: int,
        num_segments: int,
        reduced_dim: int = 2,
        mixing: str = "dynamic",
    ) -> None:
        super().__init__()
        self.dim = dim
        self.seq_len = seq_len
        self.num_segments = num_segments
        self.reduced_dim = reduced_dim
        self.mixing = mixing
        self.out = nn.Linear(dim, dim)
        self.compress: nn.Module | None = None
        self.generate: nn.Module | None = None
        self.dense: nn.Module | None = None
        self.register_parameter("mixing_logits", None)
        if mixing == "dynamic":
            self.compress = nn.Linear(dim, num_segments * reduced_dim)
            self.generate = nn.Linear(seq_len * reduced_dim, seq_len * seq_len)
        elif mixing == "random":
            self.mixing_logits = nn.Parameter(torch.empty(num_segments, seq_len, seq_len))
            trunc_normal_(self.mixing_logits, std=0.02)
        elif mixing == "dense":
            self.dense = Mlp(dim, dim, num_segments * seq_len, act_layer=nn.ReLU)
        else:
            raise ValueError(f"mixing must be one of {MIXING_METHODS}; got {mixing!r}")

    def mixing_weights(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens (B, N, C) -> softmax-normalised mixing weights (B, S, N_in, N_out)."""
        B, N, _ = x.shape
        S = self.num_segments
        if self.mixing_logits is not None:
            logits = self.mixing_logits.unsqueeze(0).expand(B, S, N, N)
        elif self.dense is not None:
            # The weights for output token i come from token i alone: (B, N_out, S, N_in).
            logits = self.dense(x).reshape(B, N, S, N).permute(0, 2, 3, 1)
        elif self.compress is not None:
            assert self.generate is not None
            reduced = self.compress(x).reshape(B, N, S, self.reduced_dim)
            flat = reduced.permute(0, 2, 1, 3).reshape(B, S, N * self.reduced_dim)
            logits = self.generate(flat).reshape(B, S, N, N)
        else:
            raise RuntimeError("DynaMixerOp has no mixing-weight generator")
        return logits.softmax(dim=-2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        S = self.num_segments
        weights = self.mixing_weights(x)
        segments = x.reshape(B, N, S, C // S).permute(0, 2, 3, 1)  # (B, S, C/S, N)
        mixed = torch.matmul(segments, weights)
        return self.out(mixed.permute(0, 3, 1, 2).reshape(B, N, C))


class DynaMixerBlock(nn.Module):
    """Row, column and channel mixing, summed with learned per-channel weights, then projected.

    ``mix_h`` mixes the tokens of each column (along the height axis) and ``mix_w`` those of
    each row (along the width), as in the official code; the paper's "row mixing" (tokens of
    one row) is ``mix_w`` and its "column mixing" is ``mix_h``. Removing a branch also shrinks
    the reweighting MLP to the branches that remain; with ``reweight=False`` the branches are
    summed (Eq. 9). ``share_row_column`` uses ``mix_h`` for both directions.
    """

    def __init__(
        self,
        dim: int,
        resolution: int,
        num_segments: int,
        reduced_dim: int = 2,
        mixing: str = "dynamic",
        row_mixing: bool = True,
        column_mixing: bool = True,
        channel_mixing: bool = True,
        reweight: bool = True,
        share_row_column: bool = False,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.resolution = resolution
        self.row_mixing = row_mixing
        self.column_mixing = column_mixing
        self.share_row_column = share_row_column
        make_op = partial(DynaMixerOp, dim, resolution, num_segments, reduced_dim, mixing)
        self.mix_h: nn.Module | None = make_op() if column_mixing else None
        self.mix_w: nn.Module | None = make_op() if row_mixing and not share_row_column else None
        self.mlp_c = nn.Linear(dim, dim, bias=False) if channel_mixing else None
        self.num_branches = int(row_mixing) + int(column_mixing) + int(channel_mixing)
        self.reweight = Mlp(dim, dim // 4, dim * self.num_branches) if reweight else None
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def branches(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The enabled mixing results, each (B, H, W, C): column, row, channel."""
        B, H, W, C = x.shape
        outputs: list[torch.Tensor] = []
        if self.column_mixing and self.mix_h is not None:
            columns = x.permute(0, 2, 1, 3).reshape(B * W, H, C)
            outputs.append(self.mix_h(columns).reshape(B, W, H, C).permute(0, 2, 1, 3))
        if self.mix_w is not None:
            outputs.append(self.mix_w(x.reshape(B * H, W, C)).reshape(B, H, W, C))
        elif self.row_mixing and self.share_row_column and self.mix_h is not None:
            outputs.append(self.mix_h(x.reshape(B * H, W, C)).reshape(B, H, W, C))
        if self.mlp_c is not None:
            outputs.append(self.mlp_c(x))
        return outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C = x.shape[0], x.shape[-1]
        outputs = self.branches(x)
        total = outputs[0]
        for y in outputs[1:]:
            total = total + y
        if self.reweight is not None:
            # Pool exactly as the official code does (a contiguous copy first), so outputs are
            # bit-identical to it; a strided mean reduces in another order (~1e-7 apart).
            pooled = total.permute(0, 3, 1, 2).flatten(2).mean(2)
            weights = self.reweight(pooled).reshape(B, C, len(outputs)).permute(2, 0, 1)
            weights = weights.softmax(dim=0).unsqueeze(2).unsqueeze(2)
            total = outputs[0] * weights[0]
            for k in range(1, len(outputs)):
                total = total + outputs[k] * weights[k]
        return self.proj_drop(self.proj(total))


@dataclass(frozen=True)
class DynaMixerConfig:
    """One DynaMixer variant as data: the named architecture plus the ablation switches.

    ``num_segments`` is S per stage, as the official configs give it; the ``segment_dim``
    override (D/S, the paper's Table 5) sets it for every stage, see :func:`resolve`.
    """

    layers: tuple[int, ...]
    embed_dims: tuple[int, ...]
    transitions: tuple[bool, ...]
    num_segments: tuple[int, ...]
    reduced_dim: int
    img_size: int = 224
    patch_size: int = 7
    mlp_ratio: float = 3.0
    mixing: str = "dynamic"
    row_mixing: bool = True
    column_mixing: bool = True
    channel_mixing: bool = True
    reweight: bool = True
    share_row_column: bool = False

    def resolutions(self) -> tuple[int, ...]:
        """Token-grid side of each stage."""
        side, sides = self.img_size // self.patch_size, []
        for i in range(len(self.layers)):
            sides.append(side)
            if i < len(self.layers) - 1 and self.transitions[i]:
                side //= 2
        return tuple(sides)


ABLATION_KEYS = (
    "segment_dim",
    "reduced_dim",
    "mixing",
    "row_mixing",
    "column_mixing",
    "channel_mixing",
    "reweight",
    "share_row_column",
)
_UNSET = object()
# Table 5 labels the single-segment row "D" (D/S with S = 1). timm.create_model drops None-valued
# kwargs, so this string is how that row travels through timm; models.create_model maps None to it.
ONE_SEGMENT = "D"


def resolve(
    config: DynaMixerConfig, segment_dim: Any = _UNSET, **ablations: Any
) -> DynaMixerConfig:
    """Apply ablation overrides to a named configuration, validating each one.

    ``segment_dim`` is channels per segment (D/S); ``None`` or ``"D"`` means a single segment
    (Table 5's "D" row). Raises ValueError naming the bad value and what is accepted.
    """
    if segment_dim is not _UNSET:
        if segment_dim is None or segment_dim == ONE_SEGMENT:
            ablations["num_segments"] = (1,) * len(config.embed_dims)
        else:
            if not isinstance(segment_dim, int) or isinstance(segment_dim, bool) or segment_dim < 1:
                raise ValueError(
                    "segment_dim must be a positive int, or None / "
                    + f"{ONE_SEGMENT!r} for one segment; got {segment_dim!r}"
                )
            bad = [d for d in config.embed_dims if d % segment_dim]
            if bad:
                accepted = sorted(
                    {
                        s
                        for s in range(1, min(config.embed_dims) + 1)
                        if not any(d % s for d in config.embed_dims)
                    }
                )
                raise ValueError(
                    f"segment_dim={segment_dim} does not divide the stage widths "
                    + f"{list(config.embed_dims)}; accepted: None or {ONE_SEGMENT!r} "
                    + f"(one segment) or one of {accepted}"
                )
            ablations["num_segments"] = tuple(d // segment_dim for d in config.embed_dims)
    config = replace(config, **ablations)
    if not isinstance(config.reduced_dim, int) or config.reduced_dim < 1:
        raise ValueError(f"reduced_dim must be an int >= 1; got {config.reduced_dim!r}")
    if config.mixing not in MIXING_METHODS:
        raise ValueError(f"mixing must be one of {MIXING_METHODS}; got {config.mixing!r}")
    for key in ("row_mixing", "column_mixing", "channel_mixing", "reweight", "share_row_column"):
        if not isinstance(getattr(config, key), bool):
            raise ValueError(f"{key} must be True or False; got {getattr(config, key)!r}")
    if not (config.row_mixing or config.column_mixing or config.channel_mixing):
        raise ValueError(
            "row_mixing, column_mixing and channel_mixing are all False; at least one must be True"
        )
    if config.share_row_column and not (config.row_mixing and config.column_mixing):
        raise ValueError(
            "share_row_column=True needs both row_mixing and column_mixing on; "
            + f"got row_mixing={config.row_mixing}, column_mixing={config.column_mixing}"
        )
    return config


class DynaMixer(HierarchicalMixer):
    """The DynaMixer network: :class:`HierarchicalMixer` with :class:`DynaMixerBlock` mixers."""

    def __init__(
        self, config: DynaMixerConfig, img_size: int | tuple[int, int] | None = None, **kwargs: Any
    ) -> None:
        if img_size is not None:  # the token grid (and so the generate layers) follow the image
            config = replace(config, img_size=square_size(img_size))
        sides = config.resolutions()

        def token_mixer(stage: int, dim: int, side: int) -> nn.Module:
            return DynaMixerBlock(
                dim,
                sides[stage],
                config.num_segments[stage],
                config.reduced_dim,
                config.mixing,
                row_mixing=config.row_mixing,
                column_mixing=config.column_mixing,
                channel_mixing=config.channel_mixing,
                reweight=config.reweight,
                share_row_column=config.share_row_column,
            )

        super().__init__(
            layers=config.layers,
            embed_dims=config.embed_dims,
            transitions=config.transitions,
            token_mixer=token_mixer,
            img_size=config.img_size,
            patch_size=config.patch_size,
            mlp_ratios=(config.mlp_ratio,) * len(config.layers),
            **kwargs,
        )
        self.config = config


CONFIGS = {
    # Table 1. Official configs count their stages as four groups; the paper's "two stages"
    # are groups 0 (32x32 tokens) and 1-3 (16x16), or 0-1 and 2-3 for DynaMixer-M.
    "dynamixer_s": DynaMixerConfig(
        layers=(4, 3, 8, 3),
        embed_dims=(192, 384, 384, 384),
        transitions=(True, False, False, False),
        num_segments=(8, 16, 16, 16),
        reduced_dim=2,
    ),
    "dynamixer_m": DynaMixerConfig(
        layers=(4, 3, 14, 3),
        embed_dims=(256, 256, 512, 512),
        transitions=(False, True, False, False),
        num_segments=(8, 8, 16, 16),
        reduced_dim=2,
    ),
    "dynamixer_l": DynaMixerConfig(
        layers=(8, 8, 16, 4),
        embed_dims=(256, 512, 512, 512),
        transitions=(True, False, False, False),
        num_segments=(8, 16, 16, 16),
        reduced_dim=8,
    ),
    # A small configuration for offline runs on 32x32 upscaled digits (8x8 then 4x4 tokens).
    "dynamixer_digits": DynaMixerConfig(
        layers=(1, 1),
        embed_dims=(32, 64),
        transitions=(True, False),
        num_segments=(4, 8),
        reduced_dim=2,
        img_size=32,
        patch_size=4,
    ),
}


def _create_dynamixer(name: str, pretrained: bool = False, **kwargs: Any) -> DynaMixer:
    ablations = {key: kwargs.pop(key) for key in ABLATION_KEYS if key in kwargs}
    config = resolve(CONFIGS[name], **ablations)
    return build_model_with_cfg(
        DynaMixer,
        name,
        pretrained,
        config=config,
        feature_cfg=dict(out_indices=tuple(range(len(config.layers))), feature_cls="getter"),
        **kwargs,
    )


default_cfgs = generate_default_cfgs(
    {
        "dynamixer_s": hierarchical_cfg(crop_pct=0.9),
        "dynamixer_m": hierarchical_cfg(crop_pct=0.9),
        "dynamixer_l": hierarchical_cfg(crop_pct=0.875),
        "dynamixer_digits": hierarchical_cfg(
            num_classes=10, input_size=(3, 32, 32), crop_pct=1.0, mean=(0.5,) * 3, std=(0.5,) * 3
        ),
    }
)


@register_model
def dynamixer_s(pretrained: bool = False, **kwargs: Any) -> DynaMixer:
    """DynaMixer-S: 26.3M params, 7.3 GMACs at 224 (Table 1)."""
    return _create_dynamixer("dynamixer_s", pretrained, **kwargs)


@register_model
def dynamixer_m(pretrained: bool = False, **kwargs: Any) -> DynaMixer:
    """DynaMixer-M: 57.1M params, 17.0 GMACs at 224 (Table 1)."""
    return _create_dynamixer("dynamixer_m", pretrained, **kwargs)


@register_model
def dynamixer_l(pretrained: bool = False, **kwargs: Any) -> DynaMixer:
    """DynaMixer-L: 97.8M params, 27.4 GMACs at 224 (Table 1)."""
    return _create_dynamixer("dynamixer_l", pretrained, **kwargs)


@register_model
def dynamixer_digits(pretrained: bool = False, **kwargs: Any) -> DynaMixer:
    """A small DynaMixer for 32x32 inputs and 10 classes, for offline training checks."""
    kwargs.setdefault("num_classes", 10)
    return _create_dynamixer("dynamixer_digits", pretrained, **kwargs)


def config_dict(name: str, **ablations: Any) -> dict[str, Any]:
    """The resolved configuration of a named model with ablations, as plain data."""
    return asdict(resolve(CONFIGS[name], **ablations))
