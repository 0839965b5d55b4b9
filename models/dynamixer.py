"""DynaMixer (Wang et al., ICML 2022): token mixing with content-generated mixing matrices.

Read top to bottom: the DynaMixer operation (Eqs. 5-7), the block that weights row, column and
channel mixing (Eq. 9 + reweighting), the configurations, and their timm registrations.
Parameter names follow the authors' implementation (github: ziyuwwang/DynaMixer), so official
checkpoints load with ``strict=True``.

Ablations of the paper's Tables 5-8 are keyword overrides of a named configuration:
``segment_dim``, ``reduced_dim``, ``mixing``, ``row_mixing``, ``column_mixing``,
``channel_mixing``, ``reweight`` and ``share_row_column``.

``fused`` (default True) picks how a block is computed, not what: the fused path
(:meth:`DynaMixerBlock.forward_fused`) has the same parameters and the same numbers (fp32: about
1e-7 apart) as the plain path (:meth:`DynaMixerBlock.forward_plain`, the authors' code line by
line), with fewer copies, passes and token GEMMs. ``fused=False`` or :func:`set_fused` selects the
plain path; state dicts are interchangeable.
"""

from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Any

import torch
import torch.fx
import torch.nn.functional as F
from timm.layers import Mlp, trunc_normal_
from timm.models import generate_default_cfgs, register_model
from torch import nn

from models.building import build_zoo_model
from models.hierarchical import HierarchicalMixer, hierarchical_cfg, square_size

MIXING_METHODS = ("dynamic", "random", "dense")

__all__ = ["MIXING_METHODS", "DynaMixerBlock", "DynaMixerConfig", "DynaMixerOp", "set_fused"]

# Line orders of the fused path: (B, H, W, S, k) per-token data -> (B, lines, S, N, k), where a
# line is a column (tokens along the height, mixed by ``mix_h``) or a row (along the width).
_COLUMN_LINES = (0, 2, 3, 1, 4)
_ROW_LINES = (0, 1, 3, 2, 4)
# ... and back: (B, lines, S, N, C/S) -> (B, H, W, S, C/S).
_COLUMN_TOKENS = (0, 3, 1, 2, 4)
_ROW_TOKENS = (0, 1, 3, 2, 4)


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

    # The fused path (see DynaMixerBlock.forward_fused): the op works on a whole NHWC grid.

    def line_weights(
        self, x: torch.Tensor, reduced: torch.Tensor | None, along_height: bool
    ) -> torch.Tensor:
        """Mixing matrices of every line of an NHWC grid, (B * lines * S, N_out, N_in).

        The lines are the columns when ``along_height``, else the rows; mixing is ``weights @
        tokens``. For dynamic mixing the result is a transposed view of the softmax weights in
        the layout of :meth:`mixing_weights` (input token, output token): ``generate``'s output
        units already come in that order, so its weight is used as it is stored. ``reduced`` is
        ``compress`` applied to the grid.
        """
        B, H, W, _ = x.shape
        N, S = self.seq_len, self.num_segments
        order = _COLUMN_LINES if along_height else _ROW_LINES
        if self.compress is not None:
            assert self.generate is not None and reduced is not None
            d = self.reduced_dim
            flat = reduced.reshape(B, H, W, S, d).permute(order).reshape(-1, N * d)
            # The bias enters the GEMM as a column of ones: the logits (larger than the tokens
            # in a 32x32 stage) are written once, not filled with the bias and then accumulated.
            flat = torch.cat([flat, flat.new_ones(flat.shape[0], 1)], dim=1)
            weight = torch.cat([self.generate.weight, self.generate.bias.unsqueeze(1)], dim=1)
            # generate's units come as (input token, output token); taken as (output, input),
            # the softmax over the input tokens runs along contiguous rows (not a strided
            # column) and its result is the mixing matrix itself, with no transpose.
            weight = weight.reshape(N, N, -1).transpose(0, 1).reshape(N * N, -1)
            logits = F.linear(flat, weight).reshape(-1, N, N)
            return softmax_in_own_dtype(logits)
        if self.dense is not None:
            # Token (h, w) generates its own row of weights: it is the output token of its line.
            logits = self.dense(x).reshape(B, H, W, S, N).permute(order).reshape(-1, N, N)
            return logits.softmax(dim=-1)
        if self.mixing_logits is not None:
            lines = B * (W if along_height else H)
            shared = self.mixing_logits.transpose(1, 2).softmax(dim=-1)
            return shared.unsqueeze(0).expand(lines, S, N, N).reshape(-1, N, N)
        raise RuntimeError("DynaMixerOp has no mixing-weight generator")

    def mix_lines(self, x: torch.Tensor, weights: torch.Tensor, along_height: bool) -> torch.Tensor:
        """Mix every line of an NHWC grid: (B, H, W, C) -> tokens before ``out``, (B, H*W, C).

        One copy into segment-major lines and one back, each moving whole segments (C/S
        contiguous numbers), around a single batched matmul.
        """
        B, H, W, C = x.shape
        S = self.num_segments
        order = _COLUMN_LINES if along_height else _ROW_LINES
        lines = x.reshape(B, H, W, S, C // S).permute(order)
        mixed = torch.bmm(weights, lines.reshape(-1, self.seq_len, C // S))
        back = _COLUMN_TOKENS if along_height else _ROW_TOKENS
        return mixed.reshape(lines.shape).permute(back).reshape(B, H * W, C)


def to_autocast_dtype(x: torch.Tensor) -> torch.Tensor:
    """``x`` in the autocast dtype of its device where autocast is on there, else ``x`` itself
    (also on devices autocast does not know, such as ``meta``, and in TorchScript)."""
    if not torch.jit.is_scripting():
        device_type = x.device.type
        if device_type in ("cpu", "cuda") and torch.is_autocast_enabled(device_type):
            return x.to(torch.get_autocast_dtype(device_type))
    return x


def softmax_in_own_dtype(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dimension in the logits' own dtype.

    CUDA's autocast runs softmax in fp32 (two casts and an fp32 pass over rows of only 16 or 32
    logits) and the mixing product casts the result back to half precision anyway; the
    half-precision kernels subtract each row's maximum and accumulate in fp32, so the weights
    they give are the fp32 ones rounded (tested against fp32). CPU autocast keeps bf16 already.
    Elsewhere (``meta``, where timm's tests run a bf16 model) there is no autocast to turn off,
    and ``torch.autocast`` refuses the device type: the devices are :func:`to_autocast_dtype`'s.
    """
    if (
        not torch.jit.is_scripting()
        and logits.dtype in (torch.bfloat16, torch.float16)
        and logits.device.type in ("cpu", "cuda")
    ):
        with torch.autocast(logits.device.type, enabled=False):
            return logits.softmax(dim=-1)
    return logits.softmax(dim=-1)


# Opaque calls in torch.fx graphs, decided when the graph runs (autocast is runtime state).
torch.fx.wrap("to_autocast_dtype")
torch.fx.wrap("softmax_in_own_dtype")


class DynaMixerBlock(nn.Module):
    """Row, column and channel mixing, summed with learned per-channel weights, then projected.

    ``mix_h`` mixes the tokens of each column (along the height axis) and ``mix_w`` those of
    each row (along the width), as in the official code; the paper's "row mixing" (tokens of
    one row) is ``mix_w`` and its "column mixing" is ``mix_h``. Removing a branch also shrinks
    the reweighting MLP to the branches that remain; with ``reweight=False`` the branches are
    summed (Eq. 9). ``share_row_column`` uses ``mix_h`` for both directions.

    ``fused`` selects :meth:`forward_fused` (default) or :meth:`forward_plain`; both read the
    same parameters. TorchScript always runs the plain path.
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
        fused: bool = True,
    ) -> None:
        super().__init__()
        self.fused = fused
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
        if self.fused and not torch.jit.is_scripting():
            return self.forward_fused(x)
        return self.forward_plain(x)

    def forward_plain(self, x: torch.Tensor) -> torch.Tensor:
        """The authors' computation, line by line: the reference the fused path is held to."""
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

    @torch.jit.unused
    def forward_fused(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward_plain` with fewer copies, passes and token GEMMs; the same numbers.

        - One ``compress`` GEMM serves both directions, straight on the NHWC tokens (a per-token
          linear needs no permute); only the small reduced tensor is permuted into lines.
        - Mixing is ``P @ X`` on segment-major lines (:meth:`DynaMixerOp.mix_lines`), with the
          weights generated in one GEMM per direction (:meth:`DynaMixerOp.line_weights`).
        - Pooling for the reweighting by linearity: the token mean of ``out_h(M_h) + out_w(M_w) +
          mlp_c(x)`` is ``out_h(mean M_h) + out_w(mean M_w) + mlp_c(mean x)``, so the branch
          outputs are never summed or copied just to be pooled.
        - The weighted sum goes into the GEMMs (:meth:`_combine`).

        Under autocast the tokens are cast to the autocast dtype once, on entry, and every step
        follows autocast's own policy from there, as the plain path does (on a CPU: GEMMs,
        softmax and the mixing matmuls in bf16, accumulating in fp32 inside each kernel); the
        weighted sum stays in that dtype. No activation is cast again inside the block.
        """
        B, H, W, C = x.shape
        amp = torch.is_autocast_enabled("cpu") or torch.is_autocast_enabled("cuda")
        x = to_autocast_dtype(x)
        inputs, layers = self._fused_branches(x)
        if self.reweight is None:
            total = self._combine_sum(inputs, layers)
        else:
            # Token means as sums / (H * W): a bf16 mean on a CPU copies its input to fp32
            # first, a bf16 sum does not (it accumulates in fp32 all the same).
            pooled = F.linear(inputs[0].sum(1) / (H * W), layers[0].weight, layers[0].bias)
            for branch, layer in zip(inputs[1:], layers[1:], strict=True):
                pooled = pooled + F.linear(branch.sum(1) / (H * W), layer.weight, layer.bias)
            weights = self.reweight(pooled).reshape(B, C, len(inputs)).permute(2, 0, 1)
            weights = weights.softmax(dim=0)
            per_branch = [weights[k] for k in range(len(inputs))]
            total = self._combine(inputs, layers, per_branch, fold=not amp)
        return self.proj_drop(total.reshape(B, H, W, C))

    def _fused_branches(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[nn.Linear]]:
        """Each enabled branch's input to its last linear (column, row, channel), (B, H*W, C)."""
        B, H, W, C = x.shape
        # The distinct ops, and per direction (op index, along the height?). Positions, not
        # object identities, so torch.compile can reuse one graph for every block of a stage.
        ops: list[DynaMixerOp] = []
        directions: list[tuple[int, bool]] = []
        if self.column_mixing and isinstance(self.mix_h, DynaMixerOp):
            ops.append(self.mix_h)
            directions.append((0, True))
        if isinstance(self.mix_w, DynaMixerOp):
            ops.append(self.mix_w)
            directions.append((len(ops) - 1, False))
        elif self.row_mixing and self.share_row_column:
            directions.append((0, False))
        inputs = self._mix(x, ops, directions)
        layers = [ops[index].out for index, _ in directions]
        if self.mlp_c is not None:
            inputs.append(x.reshape(B, H * W, C))
            layers.append(self.mlp_c)
        return inputs, layers

    @staticmethod
    def _mix(
        x: torch.Tensor, ops: list[DynaMixerOp], directions: list[tuple[int, bool]]
    ) -> list[torch.Tensor]:
        """The mixed tokens of each direction, before its ``out`` layer, (B, H*W, C)."""
        reduced = DynaMixerBlock._compress(x, ops)
        mixed = []
        for index, along_height in directions:
            op = ops[index]
            weights = op.line_weights(x, reduced[index], along_height)
            mixed.append(op.mix_lines(x, weights, along_height))
        return mixed

    @staticmethod
    def _compress(x: torch.Tensor, ops: list[DynaMixerOp]) -> list[torch.Tensor | None]:
        """Eq. 5 for every dynamic op at once: one GEMM over the NHWC tokens, split per op."""
        layers = [op.compress for op in ops]
        dynamic = [layer for layer in layers if layer is not None]
        if len(dynamic) < 2:
            return [None if layer is None else layer(x) for layer in layers]
        reduced = F.linear(
            x,
            torch.cat([layer.weight for layer in dynamic]),
            torch.cat([layer.bias for layer in dynamic]),
        )
        parts: list[torch.Tensor | None] = []
        start = 0
        for layer in layers:
            if layer is None:
                parts.append(None)
            else:
                parts.append(reduced[..., start : start + layer.out_features])
                start += layer.out_features
        return parts

    def _combine(
        self,
        inputs: list[torch.Tensor],
        layers: list[nn.Linear],
        weights: list[torch.Tensor],
        fold: bool = True,
    ) -> torch.Tensor:
        """``proj(sum_k a_k * layer_k(input_k))`` for per-image channel weights a_k (B, C).

        With T tokens per image and K branches, when T > K * C the projection is folded into
        per-image matrices, ``proj(sum_k a_k * (X_k W_k^T + b_k)) = sum_k X_k (W_k^T diag(a_k)
        W_p^T) + bias``: K GEMMs accumulated in place (``baddbmm_``) replace K + 1 token GEMMs
        and the elementwise weighting, for K * C^3 per image (cheaper than T * C^2). Otherwise
        the K outputs are weighted and summed in place (``addcmul_``) before ``proj``, as also
        under autocast (``fold=False``), where CPUs run per-image bf16 products slowly.
        """
        if fold and self.resolution * self.resolution > len(inputs) * self.dim:
            proj = self.proj.weight.t()
            bias = self.proj.bias.unsqueeze(0)
            folded = []
            for layer, a in zip(layers, weights, strict=True):
                if layer.bias is not None:
                    bias = bias + (a * layer.bias) @ proj
                folded.append((layer.weight.t().unsqueeze(0) * a.unsqueeze(1)) @ proj)  # (B, C, C)
            total = torch.baddbmm(bias.unsqueeze(1), inputs[0], folded[0])
            for branch, matrix in zip(inputs[1:], folded[1:], strict=True):
                # In-place ops are not autocast: give them the dtype autocast chose above.
                total = total.baddbmm_(branch.to(total.dtype), matrix.to(total.dtype))
            return total
        # The biases, weighted per image, enter once (sum_k a_k * b_k) instead of per GEMM.
        bias: torch.Tensor | None = None
        for layer, a in zip(layers, weights, strict=True):
            if layer.bias is not None:
                bias = a * layer.bias if bias is None else bias + a * layer.bias
        first = F.linear(inputs[0], layers[0].weight)
        if bias is None:
            total = first * weights[0].unsqueeze(1)
        else:
            # In the GEMMs' dtype: a bf16 product must not be promoted (copied) to fp32 here.
            total = torch.addcmul(bias.to(first.dtype).unsqueeze(1), first, weights[0].unsqueeze(1))
        for branch, layer, a in zip(inputs[1:], layers[1:], weights[1:], strict=True):
            total = total.addcmul_(F.linear(branch, layer.weight), a.unsqueeze(1))
        return self.proj(total)

    def _combine_sum(self, inputs: list[torch.Tensor], layers: list[nn.Linear]) -> torch.Tensor:
        """Eq. 9 without reweighting: ``proj(sum_k layer_k(input_k))`` as K accumulated GEMMs.

        The weights are shared by all images, so the projection folds into each branch once:
        ``sum_k X_k (W_k^T W_p^T) + (sum_k b_k) W_p^T + b_p`` (K * C^3 for the whole batch).
        """
        B, T, C = inputs[0].shape
        proj = self.proj.weight.t()
        bias = self.proj.bias
        for layer in layers:
            if layer.bias is not None:
                bias = bias + layer.bias @ proj
        folded = [layer.weight.t() @ proj for layer in layers]
        total = torch.addmm(bias, inputs[0].reshape(B * T, C), folded[0])
        for branch, matrix in zip(inputs[1:], folded[1:], strict=True):
            total = total.addmm_(branch.reshape(B * T, C).to(total.dtype), matrix.to(total.dtype))
        return total


@dataclass(frozen=True)
class DynaMixerConfig:
    """One DynaMixer variant as data: the named architecture plus the ablation switches.

    ``num_segments`` is S per stage, as the official configs give it; the ``segment_dim``
    override (D/S, the paper's Table 5) sets it for every stage, see :func:`resolve`.
    ``fused`` chooses the fast or the plain forward of the same model (see :func:`set_fused`).
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
    fused: bool = True

    def resolutions(self) -> tuple[int, ...]:
        """Token-grid side of each stage."""
        side, sides = self.img_size // self.patch_size, []
        for i in range(len(self.layers)):
            sides.append(side)
            if i < len(self.layers) - 1 and self.transitions[i]:
                side //= 2
        return tuple(sides)


# The on/off switches among the overrides (each must be a bool), then every override's name.
BOOLEAN_SWITCHES = (
    "row_mixing",
    "column_mixing",
    "channel_mixing",
    "reweight",
    "share_row_column",
    "fused",
)
ABLATION_KEYS = ("segment_dim", "reduced_dim", "mixing", *BOOLEAN_SWITCHES)
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
    for key in BOOLEAN_SWITCHES:
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
                fused=config.fused,
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
        # The fused blocks read whole NHWC grids: keep the tokens contiguous between stages.
        self.contiguous_tokens = config.fused


def set_fused(model: nn.Module, enabled: bool) -> nn.Module:
    """Switch every DynaMixer block in ``model`` to the fused (True) or plain (False) forward.

    Parameters and buffers are untouched, so this works on a trained model; a model compiled
    before the switch recompiles on its next call.
    """
    if not isinstance(enabled, bool):
        raise ValueError(f"enabled must be True or False; got {enabled!r}")
    for module in model.modules():
        if isinstance(module, DynaMixerBlock):
            module.fused = enabled
        elif isinstance(module, DynaMixer):
            module.contiguous_tokens = enabled
            module.config = replace(module.config, fused=enabled)
    return model


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
    return build_zoo_model(
        DynaMixer,
        name,
        pretrained,
        config=config,
        feature_cfg=dict(out_indices=tuple(range(len(config.layers))), feature_cls="getter"),
        **kwargs,
    )


def _cfg(**kwargs: Any) -> dict[str, Any]:
    return hierarchical_cfg(
        origin_url="https://github.com/ziyuwwang/DynaMixer",
        paper_ids="arXiv:2201.12083",
        notes=(
            "computation: the fused path by default (same parameters and numbers, fewer copies, "
            "passes and token GEMMs); fused=False computes the authors' code line by line",
        ),
        **kwargs,
    )


default_cfgs = generate_default_cfgs(
    {
        "dynamixer_s": _cfg(crop_pct=0.9),
        "dynamixer_m": _cfg(crop_pct=0.9),
        "dynamixer_l": _cfg(crop_pct=0.875),
        "dynamixer_digits": _cfg(
            num_classes=10,
            input_size=(3, 32, 32),
            pool_size=(4, 4),
            crop_pct=1.0,
            mean=(0.5,) * 3,
            std=(0.5,) * 3,
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
    """The resolved configuration of a named model with ablations, as plain data.

    ``fused`` is left out: it changes how the model is computed, not which model it is, so
    ``fused=False`` and ``fused=True`` compare equal.
    """
    config = asdict(resolve(CONFIGS[name], **ablations))
    del config["fused"]
    return config
