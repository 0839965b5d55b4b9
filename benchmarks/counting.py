"""Counting a model: parameters and FLOPs, for zoo models and for any model timm builds.

Both counts depend on shapes alone, so models are built on PyTorch's ``meta`` device (no
memory, no arithmetic) and counting even the largest takes about a second; with
:func:`skip_meta_init` the weight initialisation is skipped too (``trunc_normal_`` alone costs
~20 ms per layer in meta kernels), several times faster again and with the same counts.
FLOPs are what the paper's tables print: multiply-accumulates of one image at batch 1, as
ptflops' aten backend counts them (conv, mm, addmm, bmm; element-wise ops count zero).
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

    ``label`` names the model in the error raised when ptflops cannot count it. Shared by
    :func:`count_flops` and :func:`count_timm_flops`, so both count alike.
    """
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
        )
    if macs is None:
        raise RuntimeError(f"ptflops could not count {label} at input {size}: {log.getvalue()}")
    return FlopCount(
        model=model,
        overrides=overrides,
        input_size=size,
        macs=int(macs),
        counter=f"ptflops {library_version('ptflops')}, aten backend",
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
