"""Where the fast-path report's time goes: op kinds, one profiled call, each target's causes."""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.fastpath import render
from benchmarks.fastpath import targets as fastpath_targets
from benchmarks.fastpath.causes import KINDS, profile_section, target_cases
from benchmarks.fastpath.profiling import kind_of, profile_call, time_by_kind
from tests.benchmarks.fastpath.test_fastpath_report import _report


def test_ops_are_sorted_into_kinds_by_name() -> None:
    assert kind_of("aten::addmm") == kind_of("mkldnn::_linear_pointwise") == "GEMM"
    assert kind_of("aten::bmm") == kind_of("aten::baddbmm") == "batched products"
    assert kind_of("aten::_softmax") == "softmax"
    assert kind_of("## Call CompiledFxGraph fabc123 ##") == "compiled kernels"
    assert kind_of("aten::layer_norm") == "other"
    kinds = time_by_kind({"aten::addmm": 5.0, "aten::bmm": 2.0, "aten::add": 1.0})
    assert kinds == {
        "GEMM": 5.0, "batched products": 2.0, "softmax": 0.0, "compiled kernels": 0.0,
        "other": 1.0, "total": 8.0,
    }  # fmt: skip


def test_one_profiled_call_finds_its_matrix_products() -> None:
    model = nn.Sequential(nn.Linear(256, 256), nn.GELU(), nn.Linear(256, 256)).eval()
    images = torch.randn(512, 256)
    kinds = profile_call(lambda: torch.bmm(model(images)[None], torch.ones(1, 256, 8)))
    assert kinds["GEMM"] > 0 and kinds["batched products"] > 0
    assert kinds["total"] >= kinds["GEMM"] + kinds["batched products"]


def _profiled_report():
    report = _report(fused_eager=2.1, train_fused=29.0, fused_peak_mb=8000.0)
    report.targets = fastpath_targets.evaluate_targets(report)
    report.context = fastpath_targets.evaluate_context(report)
    base = {"GEMM": 600.0, "batched products": 0.0, "softmax": 0.0, "compiled kernels": 0.0}
    vip = base | {"other": 400.0, "total": 1000.0}
    dynamixer = base | {"GEMM": 640.0, "batched products": 90.0, "softmax": 30.0}
    dynamixer |= {"other": 400.0, "total": 1160.0}
    report.profiles = {
        "dynamixer_s plain eager fp32": dynamixer | {"other": 500.0, "total": 1260.0},
        "dynamixer_s fused eager fp32": dynamixer,
        "vip_s7 eager fp32": vip,
    }
    return report


def test_each_target_names_its_two_cases_and_their_difference_by_kind() -> None:
    report = _profiled_report()
    by_name = {t.name: t for t in report.targets}
    parity = by_name["DynaMixer-S (fused) vs ViP-S/7, eager fp32"]
    assert target_cases(report, parity) == ("dynamixer_s fused eager fp32", "vip_s7 eager fp32")
    compiled = by_name["DynaMixer-S (fused) vs ViP-S/7, compiled fp32"]
    assert target_cases(report, compiled) == (
        "dynamixer_s fused compiled fp32",
        "vip_s7 compiled fp32",
    )
    fused = by_name["fused fp32 eager vs plain fp32 eager"]
    assert target_cases(report, fused)[1] == "dynamixer_s plain eager fp32"
    lines = profile_section(report)
    text = "\n".join(lines)
    assert "| case | total | " + " | ".join(KINDS) + " |" in text
    assert "| vip_s7 eager fp32 | 1000 | 600 | 0 | 0 | 0 | 400 |" in text
    # Only targets whose two cases were both profiled get a line; the biggest kind comes first.
    assert (
        "- DynaMixer-S (fused) vs ViP-S/7, eager fp32 (0.913, MISS): dynamixer_s fused eager fp32 "
        + "against vip_s7 eager fp32, +160 ms (+16%): batched products +90, GEMM +40, softmax "
        + "+30, compiled kernels +0, other +0"
    ) in text
    assert "compiled fp32 (" not in text.split("by kind of op")[-1]
    assert "## Where the time goes" in render.render_markdown(report)


def test_a_report_without_profiles_has_no_such_section() -> None:
    report = _report(fused_eager=2.1, train_fused=29.0, fused_peak_mb=8000.0)
    assert profile_section(report) == []
    assert "Where the time goes" not in render.render_markdown(report)
