"""Count models outside our zoo (timm's ResNet, DeiT, Swin, ...), and build counted models faster.

The paper compares DynaMixer with models timm already builds. :func:`count_timm_params` and
:func:`count_timm_flops` count those exactly as :mod:`benchmarks.measure` counts the zoo: built
with ``pretrained=False`` on PyTorch's ``meta`` device (shapes only, nothing downloaded), FLOPs
as ptflops' aten backend counts them (multiply-accumulates of one image at batch 1). They return
the same records (:class:`~benchmarks.measure.ParamCount`, :class:`~benchmarks.measure.FlopCount`)
with the same provenance.

:func:`skip_meta_init` makes any counting on the meta device several times faster: it skips the
weight-initialisation ops (``trunc_normal_`` alone costs ~20 ms per layer in meta kernels).
Counts depend on shapes only, so they are unchanged (the tests hold them to it).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import Any

import timm
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from benchmarks.measure import (
    COUNTING_DEVICE,
    DEFAULT_INPUT_SIZE,
    FlopCount,
    ParamCount,
    count_module_flops,
    count_module_params,
)

__all__ = [
    "check_timm_name",
    "count_timm_flops",
    "count_timm_params",
    "skip_meta_init",
]

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


@cache
def _timm_names() -> frozenset[str]:
    return frozenset(timm.list_models())


def check_timm_name(name: str) -> str:
    """Return ``name`` if timm builds it, else raise a ValueError with the closest timm names."""
    if name in _timm_names():
        return name
    close = difflib.get_close_matches(name, sorted(_timm_names()), n=3)
    hint = f" Closest: {', '.join(close)}." if close else ""
    raise ValueError(f"timm {timm.__version__} has no model {name!r}.{hint}")


def _build_on_meta(name: str) -> nn.Module:
    check_timm_name(name)
    with torch.device(COUNTING_DEVICE):
        return timm.create_model(name, pretrained=False).eval()


def count_timm_params(name: str) -> ParamCount:
    """Parameters (weights and biases, no buffers) of timm's ``name``, built on the meta device."""
    return count_module_params(_build_on_meta(name), model=name, overrides={})


def count_timm_flops(name: str, input_size: tuple[int, ...] = DEFAULT_INPUT_SIZE) -> FlopCount:
    """Multiply-accumulates of one forward pass of timm's ``name`` at batch 1 (ptflops, aten).

    The input size is the caller's (EfficientNet-B3 is counted at 300x300, as the paper's
    Table 3 says); a model that only takes its own size (ViT-style patch grids) fails loudly.
    """
    size = tuple(input_size)
    net = _build_on_meta(name)
    return count_module_flops(net, size, model=name, overrides={}, label=f"timm {name}")
