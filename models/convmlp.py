"""ConvMLP (Li, Hassani, Walton and Shi, 2021): a hierarchical convolutional MLP.

"ConvMLP: Hierarchical Convolutional MLPs for Vision" (arXiv:2109.04454). The network is a
convolutional tokenizer (three 3x3 convs and a max pool, stride 4), a stage of residual
bottleneck convs ending in a strided conv, then stages of Conv-MLP blocks (channel MLP, 3x3
depthwise conv, channel MLP) with strided-conv downsamplers between them, a LayerNorm and a
linear head over mean-pooled tokens. There is no token-mixing MLP, so any input size works.

The authors' implementation is github: SHI-Labs/Convolutional-MLPs (Apache-2.0). Module and
parameter names follow it, so its released checkpoints load with ``strict=True``; the code is
our own. Differences from theirs, none of which changes the layout or the eval-mode numbers:

* ``drop_path_rate`` is a keyword (theirs is fixed at 0.1 and ignores the keyword); the
  schedule is theirs: within each Conv-MLP stage the rate rises linearly from 0 to it.
* timm's ``Mlp`` and ``DropPath``; the drop-path rates are computed in Python, not with
  ``torch.linspace(...).item()``, so the model builds on the meta device.
* ``num_classes=0`` keeps the final LayerNorm (their ``classifier_head=False`` drops it and
  returns unnormalised tokens); ``in_chans`` and head dropout (``drop_rate``) are accepted.

``forward_features`` returns normalised tokens in NHWC layout (``output_fmt = "NHWC"``), as the
Conv-MLP stages compute them; ``forward_intermediates`` gives NCHW (or NHWC) feature maps at
strides 4, 8, 16 and 32, the levels the authors' detection backbone uses.
"""

from typing import Any

import torch
from timm.layers import DropPath, Mlp, trunc_normal_
from timm.models import generate_default_cfgs, register_model
from timm.models._features import feature_take_indices
from timm.models._manipulate import checkpoint_seq
from torch import nn

from models.building import build_zoo_model, place_head

__all__ = ["ConvMLP", "ConvMLPBlock", "ConvMLPStage", "ConvStage", "ConvTokenizer"]

GLOBAL_POOLS = ("avg", "")


def _conv_bn_relu(in_dim: int, out_dim: int, kernel_size: int, stride: int = 1) -> list[nn.Module]:
    """A bias-free conv (same padding), BatchNorm and ReLU, as three Sequential entries."""
    padding = kernel_size // 2
    conv = nn.Conv2d(in_dim, out_dim, kernel_size, stride=stride, padding=padding, bias=False)
    return [conv, nn.BatchNorm2d(out_dim), nn.ReLU(inplace=True)]


class ConvTokenizer(nn.Module):
    """Image to stride-4 feature map: three 3x3 conv-BN-ReLUs (the first strided), a max pool."""

    def __init__(self, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        half = embed_dim // 2
        self.block = nn.Sequential(
            *_conv_bn_relu(in_chans, half, 3, stride=2),
            *_conv_bn_relu(half, half, 3),
            *_conv_bn_relu(half, embed_dim, 3),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class ConvStage(nn.Module):
    """Residual 1x1-3x3-1x1 conv bottlenecks at constant width, then a stride-2 3x3 conv.

    NCHW in and out. Each bottleneck ends in a ReLU before the residual sum (the authors' code).
    """

    def __init__(self, num_blocks: int, in_dim: int, hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        self.conv_blocks = nn.ModuleList(
            nn.Sequential(
                *_conv_bn_relu(in_dim, hidden_dim, 1),
                *_conv_bn_relu(hidden_dim, hidden_dim, 3),
                *_conv_bn_relu(hidden_dim, in_dim, 1),
            )
            for _ in range(num_blocks)
        )
        self.downsample = nn.Conv2d(in_dim, out_dim, kernel_size=3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.conv_blocks:
            x = x + block(x)
        return self.downsample(x)


class ConvMLPBlock(nn.Module):
    """Channel MLP, 3x3 depthwise conv, channel MLP; NHWC tokens in and out.

    The two MLPs are pre-norm residual branches. The depthwise conv (``connect``, after its own
    LayerNorm) replaces the tokens rather than adding to them: the authors' code has no skip
    connection around it. (The authors call this module ``ConvMLPStage``.)
    """

    def __init__(self, dim: int, mlp_ratio: float, drop_path: float = 0.0) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.channel_mlp1 = Mlp(dim, hidden)
        self.norm2 = nn.LayerNorm(dim)
        self.connect = nn.Conv2d(dim, dim, kernel_size=3, padding=1, groups=dim, bias=False)
        self.connect_norm = nn.LayerNorm(dim)
        self.channel_mlp2 = Mlp(dim, hidden)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.channel_mlp1(self.norm1(x)))
        x = self.connect(self.connect_norm(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return x + self.drop_path(self.channel_mlp2(self.norm2(x)))


class ConvDownsample(nn.Module):
    """Stride-2 3x3 conv between Conv-MLP stages, NHWC in and out."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.downsample = nn.Conv2d(in_dim, out_dim, kernel_size=3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class ConvMLPStage(nn.Module):
    """Conv-MLP blocks at one width, then (all but the last stage) a :class:`ConvDownsample`.

    Stochastic depth rises linearly over the stage's blocks, from 0 to ``drop_path_rate``.
    (The authors call this module ``BasicStage``.)
    """

    def __init__(
        self,
        depth: int,
        dim: int,
        out_dim: int | None,
        mlp_ratio: float,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        self.grad_checkpointing = False
        rates = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]
        self.blocks = nn.ModuleList(ConvMLPBlock(dim, mlp_ratio, rate) for rate in rates)
        self.downsample_mlp = nn.Identity() if out_dim is None else ConvDownsample(dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.grad_checkpointing and not torch.jit.is_scripting():
            x = checkpoint_seq(self.blocks, x)
        else:
            for block in self.blocks:
                x = block(x)
        return self.downsample_mlp(x)


class ConvMLP(nn.Module):
    """ConvMLP: tokenizer, conv stage, Conv-MLP stages, LayerNorm, mean-pooled linear head.

    ``depths``, ``embed_dims`` and ``mlp_ratios`` have one entry per Conv-MLP stage (the
    authors' ``blocks``, ``dims``, ``mlp_ratios``); ``tokenizer_dim`` is the tokenizer's width
    (their ``channels``) and ``num_conv_blocks`` the conv stage's depth (``n_conv_blocks``).
    """

    def __init__(
        self,
        depths: tuple[int, ...],
        embed_dims: tuple[int, ...],
        mlp_ratios: tuple[float, ...],
        tokenizer_dim: int = 64,
        num_conv_blocks: int = 3,
        in_chans: int = 3,
        num_classes: int = 1000,
        global_pool: str = "avg",
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
    ) -> None:
        super().__init__()
        _check_config(depths, embed_dims, mlp_ratios, tokenizer_dim, num_conv_blocks, global_pool)
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.num_features = self.head_hidden_size = embed_dims[-1]
        self.output_fmt = "NHWC"
        self.feature_dim = -1  # the channel axis of forward_features, as timm's sequencer

        self.tokenizer = ConvTokenizer(in_chans, tokenizer_dim)
        self.conv_stages = ConvStage(num_conv_blocks, tokenizer_dim, embed_dims[0], embed_dims[0])
        # Every Conv-MLP stage but the last ends in a downsampler to the next stage's width.
        out_dims: list[int | None] = [*embed_dims[1:], None]
        self.stages = nn.ModuleList(
            ConvMLPStage(depth, dim, out_dim, ratio, drop_path_rate)
            for depth, dim, out_dim, ratio in zip(
                depths, embed_dims, out_dims, mlp_ratios, strict=True
            )
        )
        self.norm = nn.LayerNorm(embed_dims[-1])
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

        # Feature levels: the last module at each stride. Downsamplers end the stages, so the
        # last stage (which has none) keeps the stride of the one before and replaces it.
        widths = [tokenizer_dim, embed_dims[0], *embed_dims[1:], embed_dims[-1]]
        reductions = [4, 8, *(8 * 2 ** min(i + 1, len(depths) - 1) for i in range(len(depths)))]
        names = ["tokenizer", "conv_stages", *(f"stages.{i}" for i in range(len(depths)))]
        # Step s of the forward pass: 0 tokenizer, 1 conv stage, 2 + i Conv-MLP stage i.
        self.feature_steps = [
            step
            for step in range(len(names))
            if step == len(names) - 1 or reductions[step] != reductions[step + 1]
        ]
        self.feature_info = [
            dict(num_chs=widths[step], reduction=reductions[step], module=names[step])
            for step in self.feature_steps
        ]
        self.apply(_init_weights)

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        if coarse:
            blocks: Any = r"^stages\.(\d+)"
        else:
            blocks = [
                (r"^stages\.(\d+)\.blocks\.(\d+)", None),
                (r"^stages\.(\d+)\.downsample_mlp", (99999,)),
            ]
        return dict(stem=r"^tokenizer|^conv_stages", blocks=blocks)

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        for stage in self.stages:
            stage.grad_checkpointing = enable

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        self.num_classes = num_classes
        if global_pool is not None:
            _check_global_pool(global_pool)
            self.global_pool = global_pool
        self.head = place_head(
            self, nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Image (B, C, H, W) -> normalised tokens (B, H/32, W/32, D), NHWC."""
        x = self.conv_stages(self.tokenizer(x)).permute(0, 2, 3, 1)
        for stage in self.stages:
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
        """timm's feature API: the feature maps of ``feature_info`` in ``indices``.

        ``norm`` applies the final LayerNorm to the last stage's output. Returns the
        intermediates, or (normalised NHWC tokens as ``forward_features``, intermediates).
        """
        if output_fmt not in ("NCHW", "NHWC"):
            raise ValueError(f"output_fmt must be 'NCHW' or 'NHWC'; got {output_fmt!r}")
        take_indices, max_index = feature_take_indices(len(self.feature_steps), indices)
        last_step = self.feature_steps[max_index] if stop_early else len(self.stages) + 1
        intermediates: list[torch.Tensor] = []
        # The tokenizer (step 0, always a feature level) and the conv stage give NCHW maps.
        x = self.tokenizer(x)
        if 0 in take_indices:
            intermediates.append(x if output_fmt == "NCHW" else x.permute(0, 2, 3, 1))
        feature_index = 1
        if last_step >= 1:
            x = self.conv_stages(x)
            if 1 in self.feature_steps:
                if feature_index in take_indices:
                    intermediates.append(x if output_fmt == "NCHW" else x.permute(0, 2, 3, 1))
                feature_index += 1
        # The Conv-MLP stages (step 2 + i) give NHWC tokens.
        x = x.permute(0, 2, 3, 1)
        for i, stage in enumerate(self.stages):
            if i + 2 > last_step:
                break
            x = stage(x)
            if i + 2 in self.feature_steps:
                if feature_index in take_indices:
                    is_last = i + 2 == self.feature_steps[-1]
                    y = self.norm(x) if norm and is_last else x
                    intermediates.append(y.permute(0, 3, 1, 2) if output_fmt == "NCHW" else y)
                feature_index += 1
        if intermediates_only:
            return intermediates
        return self.norm(x), intermediates

    def prune_intermediate_layers(
        self,
        indices: int | list[int] = 1,
        prune_norm: bool = False,
        prune_head: bool = True,
    ) -> list[int]:
        """Drop the modules after the last requested feature level (timm's feature API)."""
        take_indices, max_index = feature_take_indices(len(self.feature_steps), indices)
        last_step = self.feature_steps[max_index]
        if last_step < 1:
            self.conv_stages = nn.Identity()
        self.stages = self.stages[: max(last_step - 1, 0)]
        if prune_norm:
            self.norm = nn.Identity()
        if prune_head:
            self.reset_classifier(0, "")
        return take_indices


def _check_global_pool(global_pool: str) -> None:
    if global_pool not in GLOBAL_POOLS:
        raise ValueError(f"global_pool must be one of {GLOBAL_POOLS}; got {global_pool!r}")


def _check_config(
    depths: tuple[int, ...],
    embed_dims: tuple[int, ...],
    mlp_ratios: tuple[float, ...],
    tokenizer_dim: int,
    num_conv_blocks: int,
    global_pool: str,
) -> None:
    """Raise a ValueError naming the first invalid constructor argument."""
    if not depths or len({len(depths), len(embed_dims), len(mlp_ratios)}) != 1:
        raise ValueError(
            "depths, embed_dims and mlp_ratios must have one entry per stage (at least one); "
            + f"got {len(depths)}, {len(embed_dims)}, {len(mlp_ratios)}"
        )
    if any(depth < 1 for depth in depths):
        raise ValueError(f"every stage needs at least one block; got depths {tuple(depths)}")
    if any(dim < 1 for dim in embed_dims) or any(ratio <= 0 for ratio in mlp_ratios):
        raise ValueError(
            "embed_dims and mlp_ratios must be positive; "
            + f"got {tuple(embed_dims)} and {tuple(mlp_ratios)}"
        )
    if tokenizer_dim < 2 or tokenizer_dim % 2:
        raise ValueError(f"tokenizer_dim must be a positive even number; got {tokenizer_dim}")
    if num_conv_blocks < 0:
        raise ValueError(f"num_conv_blocks must be 0 or more; got {num_conv_blocks}")
    _check_global_pool(global_pool)


def _init_weights(module: nn.Module) -> None:
    """The authors' initialisation: truncated-normal linears, He-normal (fan-out) convs.

    Conv biases keep PyTorch's default initialisation, as in the authors' code.
    """
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Conv2d):
        nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    elif isinstance(module, nn.LayerNorm | nn.BatchNorm2d):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


CONFIGS: dict[str, dict[str, Any]] = {
    "convmlp_s": dict(
        depths=(2, 4, 2),
        embed_dims=(128, 256, 512),
        mlp_ratios=(2.0, 2.0, 2.0),
        tokenizer_dim=64,
        num_conv_blocks=2,
    ),
    "convmlp_m": dict(
        depths=(3, 6, 3),
        embed_dims=(128, 256, 512),
        mlp_ratios=(3.0, 3.0, 3.0),
        tokenizer_dim=64,
        num_conv_blocks=3,
    ),
    "convmlp_l": dict(
        depths=(4, 8, 3),
        embed_dims=(192, 384, 768),
        mlp_ratios=(3.0, 3.0, 3.0),
        tokenizer_dim=96,
        num_conv_blocks=3,
    ),
}


def _create_convmlp(name: str, pretrained: bool = False, **kwargs: Any) -> ConvMLP:
    config = {**CONFIGS[name], **kwargs}
    return build_zoo_model(
        ConvMLP,
        name,
        pretrained,
        # One feature level per stride: the tokenizer's and one per Conv-MLP stage.
        feature_cfg=dict(out_indices=tuple(range(len(config["depths"]) + 1)), feature_cls="getter"),
        **config,
    )


def _cfg(**kwargs: Any) -> dict[str, Any]:
    """Evaluation settings of the authors' ImageNet configs (224 px, crop 0.9, bicubic)."""
    return {
        "num_classes": 1000,
        "input_size": (3, 224, 224),
        "fixed_input_size": False,
        "pool_size": (7, 7),
        "crop_pct": 0.9,
        "interpolation": "bicubic",
        "mean": (0.485, 0.456, 0.406),
        "std": (0.229, 0.224, 0.225),
        "first_conv": "tokenizer.block.0",
        "classifier": "head",
        "license": "apache-2.0",
        "origin_url": "https://github.com/SHI-Labs/Convolutional-MLPs",
        "paper_ids": "arXiv:2109.04454",
        "notes": ("computation: the same operations as the authors' code; no alternative",),
        **kwargs,
    }


default_cfgs = generate_default_cfgs(
    {"convmlp_s": _cfg(), "convmlp_m": _cfg(), "convmlp_l": _cfg()}
)


@register_model
def convmlp_s(pretrained: bool = False, **kwargs: Any) -> ConvMLP:
    """ConvMLP-S: widths 128-256-512, (2, 4, 2) Conv-MLP blocks, MLP ratio 2."""
    return _create_convmlp("convmlp_s", pretrained, **kwargs)


@register_model
def convmlp_m(pretrained: bool = False, **kwargs: Any) -> ConvMLP:
    """ConvMLP-M: widths 128-256-512, (3, 6, 3) Conv-MLP blocks, MLP ratio 3."""
    return _create_convmlp("convmlp_m", pretrained, **kwargs)


@register_model
def convmlp_l(pretrained: bool = False, **kwargs: Any) -> ConvMLP:
    """ConvMLP-L: widths 192-384-768, (4, 8, 3) Conv-MLP blocks, MLP ratio 3."""
    return _create_convmlp("convmlp_l", pretrained, **kwargs)
