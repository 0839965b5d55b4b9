"""Table 4 as markdown, rendered from its frame alone (so also from its committed CSV).

The caption says what was measured where and how; the footnote renders the speed claims that
:mod:`reproduce.claims.speed` checked on this device.
"""

from __future__ import annotations

import math

import pandas as pd

from benchmarks.ratios import interval_method
from reproduce.claims.speed import table4_claims
from reproduce.claims.verdicts import Check
from reproduce.render.text import (
    bf16_sentence,
    duration_text,
    gpu_short_name,
    is_true,
    load_text,
    mfu_sentence,
    rate_text,
    ratio_text,
    run_device_text,
    run_row,
    settings_stem_parts,
    share_text,
)
from reproduce.tables.table4 import (
    FLOPS_COLUMN,
    PARAM_COLUMN,
    REFERENCE_MODEL,
    TABLE,
    TABLE_BATCH_SIZE,
    THROUGHPUT_COLUMN,
    TOP1_COLUMN,
    paper_device,
)

__all__ = [
    "claim_line",
    "device_description",
    "display_frame",
    "render_table4",
    "table4_caption",
    "table4_stem",
]


def _compile_mode(run: pd.Series) -> str:
    """The compile mode, or "" for an eager run."""
    return str(run["compile_mode"]) if is_true(run["compiled"]) else ""


def device_description(frame: pd.DataFrame) -> str:
    """'AMD EPYC, cpu, 2 threads, fp32' or 'NVIDIA H100 80GB HBM3, cuda:0, amp-bf16'."""
    run = run_row(frame)
    text = run_device_text(run, _compile_mode(run))
    return text + (", DynaMixer fused" if is_true(run["fused"]) else "")


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The markdown table's cells: paper columns say "paper", measured ones say where."""
    reference_label = next(row.label for row in TABLE.rows if row.zoo_name == REFERENCE_MODEL)
    measured = f"measured ({device_description(frame)})"
    paper = f"paper ({paper_device()})"
    return pd.DataFrame(
        {
            TABLE.columns[0]: frame["label"],
            f"{PARAM_COLUMN}, paper": [f"{v:g}M" for v in frame["paper_params_m"]],
            f"{PARAM_COLUMN}, measured": [f"{v / 1e6:.2f}M" for v in frame["params"]],
            f"{FLOPS_COLUMN}, paper": [f"{v:.1f}G" for v in frame["paper_gflops"]],
            f"{FLOPS_COLUMN}, measured": [f"{v / 1e9:.2f}G" for v in frame["macs"]],
            f"{THROUGHPUT_COLUMN}, {paper}": [f"{v:.0f}" for v in frame["paper_images_per_s"]],
            f"{THROUGHPUT_COLUMN}, {measured} [min–max]": [
                f"{rate_text(m)} [{rate_text(lo)}–{rate_text(hi)}]"
                for m, lo, hi in zip(
                    frame["images_per_s"],
                    frame["images_per_s_min"],
                    frame["images_per_s_max"],
                    strict=True,
                )
            ],
            f"vs {reference_label}, paper": [ratio_text(v) for v in frame["paper_relative"]],
            f"vs {reference_label}, measured": [ratio_text(v) for v in frame["relative"]],
            "MFU, measured": [share_text(v) for v in frame["mfu"]],
            f"{TOP1_COLUMN}, paper": [f"{v:.1f}" for v in frame["paper_top1"]],
        }
    )


def _load_sentence(frame: pd.DataFrame) -> str:
    loads = [
        v
        for column in ("load_average_before", "load_average_after")
        for v in frame.get(column, pd.Series(dtype=float)).dropna()
    ]
    shared = (
        "the CPU was shared with other work, so absolute throughput is low and noisy; the "
        + "relative columns suffer less"
    )
    return load_text(run_row(frame), loads, shared, during=" while timing")


def _mfu_sentence(frame: pd.DataFrame) -> str:
    run = run_row(frame)
    peak = run.get("gemm_peak_gflops")
    if peak is None or not math.isfinite(float(peak)):
        return "MFU not measured. "
    definition = "achieved FLOP/s (2 × MACs × images/s) over the GEMM peak measured here"
    return mfu_sentence(definition, "rows", str(run["precision"]), float(peak))


def table4_caption(frame: pd.DataFrame) -> str:
    """One line: what was measured, where, how, with which libraries, and how long it took."""
    run = run_row(frame)
    size = str(run["input_size"]).replace("x", "×")
    quick = " QUICK SMOKE RUN (not the paper's setting)." if is_true(run["quick"]) else ""
    reference_label = next(row.label for row in TABLE.rows if row.zoo_name == REFERENCE_MODEL)
    path = (
        "DynaMixer on its fused fast path (fused=True; ViP and ResMLP as written)"
        if is_true(run["fused"])
        else "every model as its authors compute it (DynaMixer fused=False)"
    )
    return (
        f"**Table 4, measured.**{quick} Throughput of {path} on {device_description(frame)}: "
        + f"batch {int(run['batch_size'])}, {size} input, eval + inference mode, median "
        + f"images/s of {int(run['iters'])} timed batches after {int(run['warmup'])} warm-up "
        + "[min–max], the models interleaved (each round times one batch of every model in "
        + f"turn){_load_sentence(frame)}. "
        + bf16_sentence(str(run["device"]), str(run["precision"]), run.get("cpu_bf16"))
        + f"Params and FLOPs (multiply-accumulates, {run['flop_counter']}) counted from the "
        + f"models' shapes. Throughput relative to {reference_label} (= 1.00). "
        + _mfu_sentence(frame)
        + f"torch {run['torch']}, timm {run['timm']}; "
        + f"{run['date']}; measuring took {duration_text(float(run['wall_seconds']))}. "
        + f"Paper: batch {TABLE_BATCH_SIZE} on one {paper_device()}; top-1 is the paper's "
        + f'(not measured). Paper\'s caption: "{TABLE.caption}"'
    )


def claim_line(check: Check) -> str:
    """A checked claim as one sentence: what, the paper's figure, ours, the verdict."""
    verdict = {True: "holds", False: "does not hold", None: "inconclusive at this noise"}[
        check.holds_here
    ]
    # A figure that is itself a list ("+3.6% params, +4.3% FLOPs") ends with a semicolon.
    separator = ";" if "," in check.paper_figure else ","
    return (
        f"{check.subject}: paper {check.paper_figure}{separator} measured "
        + f"{check.measured_figure} — {verdict}"
    )


def render_table4(frame: pd.DataFrame) -> str:
    """The whole results file: caption line, table, and the claims footnote."""
    table = display_frame(frame).to_markdown(index=False, disable_numparse=True)
    lines = [table4_caption(frame), "", table, ""]
    checks = table4_claims(frame)
    if checks:
        lines.append(
            f"Claims on this device ({device_description(frame)}; in brackets an interval for "
            + f"the median ratio: {interval_method(int(run_row(frame)['iters']))}):"
        )
        lines.append("")
        lines += [f"- {claim_line(check)}" for check in checks]
        lines.append("")
    lines.append(
        "Generated by `nox -s reproduce_table4` (`python -m reproduce table4`); do not edit."
    )
    return "\n".join(lines) + "\n"


def table4_stem(frame: pd.DataFrame) -> str:
    """'table4' for the default CPU run; device and non-default settings otherwise."""
    run = run_row(frame)
    parts = ["table4"]
    if str(run["device"]).startswith("cuda"):
        parts.append(gpu_short_name(str(run["device_name"])))
    parts += settings_stem_parts(
        str(run["precision"]), is_true(run["channels_last"]), _compile_mode(run)
    )
    if is_true(run["fused"]):
        parts.append("fused")
    if is_true(run["quick"]):
        parts.append("quick")
    elif int(run["batch_size"]) != TABLE_BATCH_SIZE:
        parts.append(f"batch{int(run['batch_size'])}")
    return "_".join(parts)
