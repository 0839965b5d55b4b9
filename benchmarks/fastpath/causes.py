"""The report's gaps with their measured causes: each target's two cases, profiled one batch
each (:mod:`benchmarks.fastpath.profiling`), and the difference of their time by kind of op."""

from __future__ import annotations

from collections.abc import Mapping

from benchmarks.fastpath.options import DYNAMIXER, VIP
from benchmarks.fastpath.profiling import OP_KINDS, OTHER
from benchmarks.fastpath.report import FastPathReport, Target

__all__ = ["KINDS", "profile_section", "target_cases"]

KINDS = (*OP_KINDS, OTHER)
_PARITY = "DynaMixer-S (fused) vs ViP-S/7, "


def target_cases(report: FastPathReport, target: Target) -> tuple[str, str] | None:
    """The two case keys a target's ratio compares (the measured one first), where the target
    is a ratio of two inference cases; None otherwise."""
    if target.name == "fused fp32 eager vs plain fp32 eager":
        return f"{DYNAMIXER} fused eager fp32", f"{DYNAMIXER} plain eager fp32"
    if target.name.startswith(_PARITY) and "contiguous" not in target.name:
        mode, precision = target.name.removeprefix(_PARITY).split()
        return f"{DYNAMIXER} fused {mode} {precision}", f"{VIP} {mode} {precision}"
    if target.name.startswith("best DynaMixer-S mode"):
        best = target.detail.removeprefix("best: ").split(",")[0]
        return best, f"{DYNAMIXER} plain eager fp32"
    return None


def _difference(ours: Mapping[str, float], theirs: Mapping[str, float]) -> str:
    """'+120 ms (+9%): batched products +95, softmax +20, GEMM +12, ...' largest first."""
    total = ours["total"] - theirs["total"]
    share = total / theirs["total"] if theirs["total"] else 0.0
    parts = sorted(KINDS, key=lambda kind: -abs(ours[kind] - theirs[kind]))
    kinds = ", ".join(f"{kind} {ours[kind] - theirs[kind]:+.0f}" for kind in parts)
    return f"{total:+.0f} ms ({share:+.0%}): {kinds}"


def profile_section(report: FastPathReport) -> list[str]:
    """The markdown sections: every profiled case by kind, then each target's two cases side by
    side (empty without profiles: a GPU run, or a report made before profiling)."""
    if not report.profiles:
        return []
    lines = [
        "",
        "## Where the time goes (torch.profiler, one batch of each case after its timed rounds)",
        "",
        "Self CPU time in ms by kind of op. A profiled batch runs a little slower than a timed "
        + "one (the profiler's overhead), so read shares and differences, not throughput.",
        "",
        "| case | total | " + " | ".join(KINDS) + " |",
        "|---|---|" + "---|" * len(KINDS),
    ]
    for key, kinds in report.profiles.items():
        cells = " | ".join(f"{kinds[kind]:.0f}" for kind in KINDS)
        lines.append(f"| {key} | {kinds['total']:.0f} | {cells} |")
    causes = []
    for target in [*report.targets, *report.context]:
        pair = target_cases(report, target)
        if pair is None or not all(key in report.profiles for key in pair):
            continue
        ours, theirs = (report.profiles[key] for key in pair)
        verdict = target.unreadable or ("PASS" if target.passed else "MISS")
        causes.append(
            f"- {target.name} ({target.measured:.3f}, {verdict}): {pair[0]} against {pair[1]}, "
            + _difference(ours, theirs)
        )
    if causes:
        lines += [
            "",
            "## Each target's time difference, by kind of op",
            "",
            "Per profiled batch, the first case minus the second (ms; positive: the first spent "
            + "more there):",
            "",
            *causes,
        ]
    return lines
