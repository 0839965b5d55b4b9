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
from reproduce.render.sweep_cells import count_cell, rate_cells, relative_cells, statuses
from reproduce.render.text import (
    bf16_sentence,
    compile_mode_of,
    duration_text,
    gpu_short_name,
    is_true,
    load_text,
    mfu_sentence,
    ratio_text,
    run_device_text,
    run_loads,
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


def device_description(frame: pd.DataFrame) -> str:
    """'AMD EPYC, cpu, 2 threads, fp32' or 'NVIDIA H100 80GB HBM3, cuda:0, amp-bf16'."""
    run = run_row(frame)
    text = run_device_text(run, compile_mode_of(run))
    return text + (", DynaMixer fused" if is_true(run["fused"]) else "")


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The markdown table's cells: paper columns say "paper", measured ones say where; a model
    that could not be timed says why in its throughput cell."""
    reference_label = next(row.label for row in TABLE.rows if row.zoo_name == REFERENCE_MODEL)
    measured = f"measured ({device_description(frame)})"
    paper = f"paper ({paper_device()})"
    return pd.DataFrame(
        {
            TABLE.columns[0]: frame["label"],
            f"{PARAM_COLUMN}, paper": [f"{v:g}M" for v in frame["paper_params_m"]],
            f"{PARAM_COLUMN}, measured": [count_cell(v, 1e6, "M", 2) for v in frame["params"]],
            f"{FLOPS_COLUMN}, paper": [f"{v:.1f}G" for v in frame["paper_gflops"]],
            f"{FLOPS_COLUMN}, measured": [count_cell(v, 1e9, "G", 2) for v in frame["macs"]],
            f"{THROUGHPUT_COLUMN}, {paper}": [f"{v:.0f}" for v in frame["paper_images_per_s"]],
            f"{THROUGHPUT_COLUMN}, {measured} [min–max]": rate_cells(frame),
            f"vs {reference_label}, paper": [ratio_text(v) for v in frame["paper_relative"]],
            f"vs {reference_label}, measured [interval]": relative_cells(frame),
            "MFU, measured": [share_text(v) for v in frame.get("infer_mfu", _blank(frame))],
            f"{TOP1_COLUMN}, paper": [f"{v:.1f}" for v in frame["paper_top1"]],
        }
    )


def _blank(frame: pd.DataFrame) -> pd.Series:
    """A column of NaN (every row failed before it was timed)."""
    return pd.Series(math.nan, index=frame.index)


def _load_sentence(frame: pd.DataFrame) -> str:
    shared = (
        "the CPU was shared with other work, so absolute throughput is low and noisy; the "
        + "relative columns suffer less"
    )
    return load_text(run_row(frame), run_loads(frame), shared, during=" while timing")


def _mfu_sentence(frame: pd.DataFrame) -> str:
    run = run_row(frame)
    peak = run.get("gemm_peak_gflops")
    if peak is None or not math.isfinite(float(peak)):
        return "MFU not measured. "
    definition = "achieved FLOP/s (2 × MACs × images/s) over the GEMM peak measured here"
    return mfu_sentence(definition, "rows", str(run["precision"]), float(peak))


def _failures_sentence(frame: pd.DataFrame) -> str:
    """'1 of 6 models could not be timed (its row says why). ' or ""."""
    failed = [status for status in statuses(frame) if status != "ok"]
    if not failed:
        return ""
    return f"{len(failed)} of {len(frame)} models could not be timed (their rows say why). "


def table4_caption(frame: pd.DataFrame) -> str:
    """One line: what was measured, where, how, with which libraries, and how long it took."""
    run = run_row(frame)
    side = int(run["infer_img_size"]) if "infer_img_size" in run else 224
    size = f"{side}×{side}"
    quick = " QUICK SMOKE RUN (not the paper's setting)." if is_true(run["quick"]) else ""
    reference_label = next(row.label for row in TABLE.rows if row.zoo_name == REFERENCE_MODEL)
    path = (
        "DynaMixer on its fused fast path (fused=True; ViP and ResMLP as written)"
        if is_true(run["fused"])
        else "every model as its authors compute it (DynaMixer fused=False)"
    )
    return (
        f"**Table 4, measured.**{quick} Throughput of {path} on {device_description(frame)}: "
        + f"batch {int(run['requested_batch_size'])}, {size} input, eval + inference mode, median "
        + f"images/s of {int(run['iters'])} timed batches after {int(run['warmup'])} warm-up "
        + "[min–max], the models interleaved (each round times one batch of every model in "
        + f"turn){_load_sentence(frame)}. {_failures_sentence(frame)}"
        + bf16_sentence(str(run["device"]), str(run["precision"]), run.get("cpu_bf16"))
        + f"Params and FLOPs (multiply-accumulates, {run['flop_counter']}) counted from the "
        + f"models' shapes. Throughput relative to {reference_label} (= 1.00): paper, the ratio of "
        + "its figures; measured, the median of the per-round ratios [interval]. "
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
        str(run["precision"]), is_true(run["channels_last"]), compile_mode_of(run)
    )
    if is_true(run["fused"]):
        parts.append("fused")
    if is_true(run["quick"]):
        parts.append("quick")
    elif int(run["requested_batch_size"]) != TABLE_BATCH_SIZE:
        parts.append(f"batch{int(run['requested_batch_size'])}")
    return "_".join(parts)
