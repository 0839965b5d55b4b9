"""Counting a model: parameters and FLOPs, for zoo models and for any model timm builds.

Both counts depend on shapes alone, so models are built on PyTorch's ``meta`` device (no
memory, no arithmetic) and counting even the largest takes about a second; with
:func:`skip_meta_init` the weight initialisation is skipped too (``trunc_normal_`` alone costs
~20 ms per layer in meta kernels), several times faster again and with the same counts.
FLOPs are what the paper's tables print: multiply-accumulates of one image at batch 1, as
ptflops' aten backend counts them (conv, mm, addmm, bmm; element-wise ops count zero), plus
two stated rules for what that backend cannot see: FFTs (GFNet's global filters, see
:func:`global_filter_macs`) and torchvision's ``deform_conv2d`` (CycleMLP's authors' Cycle FC,
counted as the convolution it is: :func:`deform_conv_macs`).
Models outside the zoo (timm's ResNet, DeiT, Swin, ...) are counted by the same code.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from typing import Any

import timm
import torch
from ptflops import get_model_complexity_info
from torch import nn
from torch.overrides import TorchFunctionMode

from benchmarks.records import DEFAULT_INPUT_SIZE, FlopCount, ModelSpec, ParamCount, check_timm_name
from common.environment import describe_environment, library_version

__all__ = [
    "COUNTING_DEVICE",
    "check_timm_name",
    "count_flops",
    "count_module_flops",
    "count_module_params",
    "count_params",
    "count_timm_flops",
    "count_timm_params",
    "deform_conv_macs",
    "global_filter_macs",
    "skip_meta_init",
]

#: The device the counting functions build on: shapes only, no storage, no arithmetic.
COUNTING_DEVICE = "meta"

# In-place ops that weight initialisation uses (nn.init, timm's trunc_normal_). Each keeps its
# tensor's shape, and ptflops' aten backend counts none of them (it counts mm, matmul, addmm,
# bmm and convolutions, never an in-place variant), so skipping them changes no count.
_INIT_OPS = frozenset(
    {
        "uniform_",
        "normal_",
        "erfinv_",
        "mul_",
        "add_",
        "sub_",
        "div_",
        "clamp_",
        "zero_",
        "fill_",
    }
)


class _SkipMetaInit(TorchFunctionMode):
    """Return the tensor unchanged for initialisation ops on meta tensors (no values to set)."""

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Any:
        if (
            getattr(func, "__name__", None) in _INIT_OPS
            and args
            and isinstance(args[0], torch.Tensor)
            and args[0].is_meta
        ):
            return args[0]
        return func(*args, **(kwargs or {}))


@contextmanager
def skip_meta_init() -> Iterator[None]:
    """Inside, initialising a meta tensor is a no-op: counting builds are 5-10x faster."""
    with _SkipMetaInit():
        yield


# ---------------------------------------------------------------------------------------------
# The FFT rule: what ptflops' aten backend counts as zero but a model's own paper counts


def global_filter_macs(inputs: tuple[Any, ...], outputs: tuple[Any, ...] = ()) -> int:
    """MACs of one global filter layer, charged to its forward real FFT (``aten._fft_r2c``).

    GFNet's paper (Rao et al., 2021, arXiv:2107.00645, Table 1, the global filter's row) gives
    the cost of a global filter on an H x W x D map, the 2D FFT, the element-wise product with
    the learned filter and the inverse 2D FFT together, as ``HWD * ceil(log2(HW)) + HWD``; its
    authors count each layer so (github.com/raoyongming/GFNet, issue #3). The paper's totals
    are multiply-accumulates (GFNet-H-Ti: 2.0G printed, 2.05 GMACs here), so one paper FLOP is
    counted as one MAC. The whole layer's term is charged to its one forward transform, with
    ``HW`` the points transformed and ``HWD`` (times the batch) the input's elements; the
    inverse transform (``_fft_c2r``) and the complex product stay at zero, as in ptflops.
    """
    x, dims = inputs[0], inputs[1]
    points = 1
    for dim in dims:
        points *= x.shape[dim]
    ceil_log2 = (points - 1).bit_length()  # exact ceil(log2(points)) for points >= 1
    return x.numel() * (ceil_log2 + 1)


def deform_conv_macs(inputs: tuple[Any, ...], outputs: tuple[Any, ...]) -> int:
    """MACs of one ``torchvision.ops.deform_conv2d``: those of the convolution it computes
    (output elements x input channels per group x kernel area), as ptflops counts a conv; the
    bilinear sampling at the offsets counts zero, like any element-wise op. CycleMLP's Cycle FC
    on its authors' route is a 1x1 deformable convolution, so both of the zoo's routes to the
    same numbers count the same MACs."""
    weight, output = inputs[1], outputs[0] if isinstance(outputs, (tuple, list)) else outputs
    _, in_per_group, kernel_h, kernel_w = weight.shape
    return output.numel() * in_per_group * kernel_h * kernel_w


# ---------------------------------------------------------------------------------------------
# Counting an already built module (shared by zoo and timm models, so both count alike)


def count_module_params(net: nn.Module, *, model: str, overrides: Mapping[str, Any]) -> ParamCount:
    """The parameter record of an already built ``net`` (weights and biases, no buffers).

    Shared by :func:`count_params` and :func:`count_timm_params`, so both count alike.
    """
    return ParamCount(
        model=model,
        overrides=overrides,
        params=sum(p.numel() for p in net.parameters()),
        environment=describe_environment(COUNTING_DEVICE),
    )


def count_module_flops(
    net: nn.Module,
    size: tuple[int, ...],
    *,
    model: str,
    overrides: Mapping[str, Any],
    label: str,
) -> FlopCount:
    """The FLOPs record of an already built ``net``: ptflops' aten MACs at batch 1.

    Models with FFTs also count :func:`global_filter_macs`, and models with deformable
    convolutions :func:`deform_conv_macs`; their record's ``counter`` says so. ``label`` names
    the model in the error raised when ptflops cannot count it. Shared by :func:`count_flops`
    and :func:`count_timm_flops`, so both count alike.
    """
    fft_macs: list[int] = []  # what the rules added, so that the record can say so
    deform_macs: list[int] = []

    def fft_rule(inputs: tuple[Any, ...], outputs: tuple[Any, ...]) -> int:
        fft_macs.append(global_filter_macs(inputs, outputs))
        return fft_macs[-1]

    def deform_rule(inputs: tuple[Any, ...], outputs: tuple[Any, ...]) -> int:
        deform_macs.append(deform_conv_macs(inputs, outputs))
        return deform_macs[-1]

    hooks: dict[Any, Callable[..., int]] = {torch.ops.aten._fft_r2c: fft_rule}
    if hasattr(torch.ops.torchvision, "deform_conv2d"):  # registered once torchvision is imported
        hooks[torch.ops.torchvision.deform_conv2d] = deform_rule

    log = io.StringIO()
    # ptflops prints a failed forward pass's traceback (to stdout and stderr) and returns None
    # instead of raising: keep it in the log, which the error below ends with.
    with torch.no_grad(), redirect_stdout(log), redirect_stderr(log):
        macs, _ = get_model_complexity_info(
            net,
            size,
            as_strings=False,
            print_per_layer_stat=False,
            backend="aten",
            ost=log,
            custom_modules_hooks=hooks,
        )
    if macs is None:
        raise RuntimeError(f"ptflops could not count {label} at input {size}: {log.getvalue()}")
    return FlopCount(
        model=model,
        overrides=overrides,
        input_size=size,
        macs=int(macs),
        counter=f"ptflops {library_version('ptflops')}, aten backend"
        + (" + GFNet's FFT rule" if fft_macs else "")
        + (" + the deform_conv2d rule" if deform_macs else ""),
        environment=describe_environment(COUNTING_DEVICE),
    )


# ---------------------------------------------------------------------------------------------
# Zoo models


def _build_on_meta(spec: ModelSpec) -> nn.Module:
    with torch.device(COUNTING_DEVICE):
        return spec.build()


def count_params(model: ModelSpec | str) -> ParamCount:
    """Count the parameters of a zoo model (built on the meta device: fast, no memory)."""
    spec = ModelSpec.of(model)
    return count_module_params(_build_on_meta(spec), model=spec.name, overrides=spec.overrides)


def count_flops(
    model: ModelSpec | str, input_size: tuple[int, ...] = DEFAULT_INPUT_SIZE
) -> FlopCount:
    """Multiply-accumulates of one forward pass at batch 1, by ptflops' aten backend."""
    spec = ModelSpec.of(model)
    size = tuple(input_size)
    net = _build_on_meta(spec)
    # Count the reference computation, the one the official code runs: a module's fused fast
    # path may fold products together or use ops (baddbmm) that ptflops does not count.
    for module in net.modules():
        if isinstance(getattr(module, "fused", None), bool):
            module.fused = False
    return count_module_flops(
        net, size, model=spec.name, overrides=spec.overrides, label=spec.label
    )


# ---------------------------------------------------------------------------------------------
# timm's models


def _build_timm_on_meta(name: str) -> nn.Module:
    check_timm_name(name)
    with torch.device(COUNTING_DEVICE):
        return timm.create_model(name, pretrained=False).eval()


def count_timm_params(name: str) -> ParamCount:
    """Parameters (weights and biases, no buffers) of timm's ``name``, built on the meta device."""
    return count_module_params(_build_timm_on_meta(name), model=name, overrides={})


def count_timm_flops(name: str, input_size: tuple[int, ...] = DEFAULT_INPUT_SIZE) -> FlopCount:
    """Multiply-accumulates of one forward pass of timm's ``name`` at batch 1 (ptflops, aten).

    The input size is the caller's (EfficientNet-B3 is counted at 300x300, as the paper's
    Table 3 says); a model that only takes its own size (ViT-style patch grids) fails loudly.
    """
    size = tuple(input_size)
    net = _build_timm_on_meta(name)
    return count_module_flops(net, size, model=name, overrides={}, label=f"timm {name}")
