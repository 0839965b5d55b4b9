"""Where a case's time goes: one batch under torch.profiler, self CPU time by kind of op.

The report's gaps (a target missed) are ratios of medians; this says what the extra time is
made of. Each timed inference case is run once more under the profiler after its timed rounds
(warm, compiled where it is compiled) and its ops' self CPU time is summed by kind: the large
matrix products (linear layers), the batched small ones (DynaMixer's mixing), softmax, the
kernels torch.compile generated, and everything else. A profiled batch runs a little slower
than a timed one (the profiler's own overhead), so the kinds are read as shares and
differences, not as throughput.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch.profiler import ProfilerActivity, profile

__all__ = ["OP_KINDS", "kind_of", "profile_call", "time_by_kind"]

#: The kinds of op a profile is summed into, in the order the report shows them; an op whose
#: name matches none is "other".
OP_KINDS: dict[str, tuple[str, ...]] = {
    "GEMM": ("aten::addmm", "aten::mm", "aten::_addmm_activation", "mkldnn::", "onednn::"),
    "batched products": ("aten::bmm", "aten::baddbmm"),
    "softmax": ("aten::_softmax", "aten::softmax", "aten::_safe_softmax"),
    "compiled kernels": ("## Call CompiledFxGraph", "Torch-Compiled Region", "cpp_fused"),
}
OTHER = "other"


def kind_of(op_name: str) -> str:
    """The kind of an op, by its profiler name (prefix match, so 'mkldnn::_linear' is a GEMM)."""
    for kind, prefixes in OP_KINDS.items():
        if any(op_name.startswith(prefix) for prefix in prefixes):
            return kind
    return OTHER


def time_by_kind(self_ms: Mapping[str, float]) -> dict[str, float]:
    """Self time (ms) by op name -> by kind, every kind present (0 where none), and 'total'."""
    kinds = {kind: 0.0 for kind in (*OP_KINDS, OTHER)}
    for name, ms in self_ms.items():
        kinds[kind_of(name)] += ms
    kinds["total"] = sum(self_ms.values())
    return kinds


def profile_call(call: Callable[[], object]) -> dict[str, float]:
    """One call under torch.profiler (CPU activity): self CPU milliseconds by kind."""
    with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU]) as prof:
        call()
    self_ms = {event.key: event.self_cpu_time_total / 1000 for event in prof.key_averages()}
    return time_by_kind(self_ms)
