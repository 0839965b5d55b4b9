"""The zoo table as markdown and its figure (the paper's top-1 against measured images/s),
rendered from its frame alone, so also from its committed CSV."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from benchmarks.ratios import INTERVAL_METHOD
from common.files import write_atomic
from reproduce.paper import OWN_MODEL, row_label
from reproduce.render.figure1 import family_of
from reproduce.render.sweep_cells import count_cell, rate_cells, relative_cells, statuses
from reproduce.render.text import (
    bf16_sentence,
    cell_text,
    compile_mode_of,
    duration_text,
    gpu_short_name,
    is_true,
    load_text,
    mfu_sentence,
    run_device_text,
    run_loads,
    run_row,
    settings_stem_parts,
    share_text,
)
from reproduce.tables.mlp_zoo import REFERENCE_MODEL, TOP1_COLUMN, ZOO_BATCH_SIZE

__all__ = [
    "draw_mlp_zoo",
    "figure_points",
    "mlp_zoo_caption",
    "mlp_zoo_stem",
    "pareto_front",
    "render_mlp_zoo",
    "write_mlp_zoo_figure",
]

_MARKERS = "osD^vPX<>phd8H"
_RED = "#d62728"
#: One colour per family: tab10 without DynaMixer's red, then two of tab20b, so that no two of
#: Table 2's twelve families share a colour.
_COLOURS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#8c6d31",
)  # fmt: skip


def _notes(frame: pd.DataFrame) -> list[str]:
    """Each row's note, "" for none (an empty CSV cell reads back as NaN)."""
    return [note if isinstance(note, str) else "" for note in frame["note"]]


def _device_text(frame: pd.DataFrame) -> str:
    """'Intel Xeon ..., cpu, 2 threads, fp32' or 'NVIDIA H200, cuda:0, amp-bf16, torch.compile'."""
    run = run_row(frame)
    return run_device_text(run, compile_mode_of(run))


def mlp_zoo_stem(frame: pd.DataFrame) -> str:
    """'mlp_zoo_cpu', 'mlp_zoo_h200_amp-bf16', plus any non-default setting; '_subset' when
    only some models were timed."""
    run = run_row(frame)
    device = "cpu" if run["device"] == "cpu" else gpu_short_name(str(run["device_name"]))
    parts = ["mlp_zoo", device]
    parts += settings_stem_parts(
        str(run["precision"]), is_true(run["channels_last"]), compile_mode_of(run)
    )
    if int(run["infer_batch_size"]) != ZOO_BATCH_SIZE:
        parts.append(f"batch{int(run['infer_batch_size'])}")
    if is_true(run["subset"]):
        parts.append("subset")
    return "_".join(parts)


def _reference_label() -> str:
    return row_label(REFERENCE_MODEL)


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The markdown table's cells: measured columns say so, the paper's say "paper"."""
    notes = _notes(frame)
    return pd.DataFrame(
        {
            "Model": frame["label"],
            "timed as": [
                f"`{model}`" + (f", {note}" if note else "")
                for model, note in zip(frame["model"], notes, strict=True)
            ],
            "Params": [count_cell(v, 1e6, "M", 1) for v in frame["params"]],
            "MACs": [count_cell(v, 1e9, "G", 2) for v in frame["macs"]],
            "img/s, measured [min–max]": rate_cells(frame),
            f"vs {_reference_label()}, measured [interval]": relative_cells(frame),
            "MFU, measured": [share_text(v) for v in frame["infer_mfu"]],
            f"{TOP1_COLUMN}, paper": [cell_text(v, "{:.1f}") for v in frame["paper_top1"]],
        }
    )


def _load_text(frame: pd.DataFrame) -> str:
    return load_text(
        run_row(frame), run_loads(frame), "the CPU was shared, so the rates are low and noisy"
    )


def _notes_sentence(frame: pd.DataFrame) -> str:
    """What the table's labels mean, for the rows it has."""
    notes = set(_notes(frame))
    models = set(frame["model"])
    sentences = []
    if any(note.startswith("released") for note in notes):
        sentences.append(
            "CycleMLP-B1–B5 are the released CycleMLP family, not paper rows (the paper's "
            + "CycleMLP-T/S/B have no released code), so they have no top-1 here"
        )
    if any(note.startswith("reconstruction") for note in notes):
        sentences.append("S²-MLPv2 is a reconstruction (no official code)")
    if len(frame[frame["model"] == "mixer_b16_224"]) > 1:
        sentences.append("Mixer-B/16 and Mixer-B/16† are one timm model with two printed top-1s")
    if any("cycle_fc=" in model for model in models):
        sentences.append(
            "CycleMLP is timed on its authors' Cycle FC (torchvision's deform_conv2d) and on the "
            + "zoo's shift + linear (the same weights and numbers)"
        )
    if any(model.endswith("(fused=False)") for model in models):
        sentences.append(
            f"{OWN_MODEL} is timed on its authors' computation (fused=False) and on the fused "
            + "fast path (the same weights and numbers)"
        )
    return "; ".join(sentences) + ". " if sentences else ""


def _grouping_text(frame: pd.DataFrame) -> str:
    """How the models shared their rounds: all interleaved, or in groups with the reference."""
    models = frame["model"].nunique()
    groups = frame["group"].dropna() if "group" in frame else pd.Series(dtype=float)
    if groups.empty or groups.max() <= 1:
        return (
            f"all {models} models interleaved (each round times one batch of every model in turn)"
        )
    return (
        f"{models} models in {int(groups.max())} groups, each group interleaved with "
        + f"{_reference_label()} (each round times one batch of every model of the group in "
        + "turn; a ratio comes from the rounds a model shared with the reference)"
    )


def _partial_text(frame: pd.DataFrame) -> str:
    """What an interrupted run's table lacks, and what did not run."""
    text = ""
    expected = frame["rows_expected"].iloc[0] if "rows_expected" in frame else None
    if expected is not None and not pd.isna(expected) and len(frame) < int(expected):
        text += (
            f" PARTIAL: {len(frame)} of {int(expected)} rows measured, {int(expected) - len(frame)}"
            + " missing (an interrupted run: `--resume` its CSV to finish it)."
        )
    failed = [status for status in statuses(frame) if status != "ok"]
    if failed:
        text += f" {len(failed)} model(s) could not be timed; their rows say why."
    return text


def mlp_zoo_caption(frame: pd.DataFrame) -> str:
    """One paragraph: what was timed, where, how, against what, and what is the paper's."""
    run = run_row(frame)
    subset = " SUBSET: only some of the zoo's models." if is_true(run["subset"]) else ""
    subset += _partial_text(frame)
    size = int(run["infer_img_size"])
    mfu = "2 × MACs × images/s over the GEMM peak measured in the same run"
    return (
        f"**Every vision MLP of the paper's Table 2, timed side by side.**{subset} Throughput on "
        + f"{_device_text(frame)}: batch {int(run['infer_batch_size'])}, 3×{size}×{size} input, "
        + f"eval + inference mode, median images/s of {int(run['iters'])} timed batches "
        + f"[min–max] after {int(run['warmup'])} warm-up round(s) at batch "
        + f"{int(run['warmup_batch_size'])}, {_grouping_text(frame)}{_load_text(frame)}. "
        + bf16_sentence(str(run["device"]), str(run["precision"]), run.get("cpu_bf16"))
        + f"Params and MACs ({run['flop_counter']}) counted from the models' shapes. Speed "
        + f"relative to {_reference_label()} (= 1.00): median [{INTERVAL_METHOD}]. "
        + mfu_sentence(mfu, "models", str(run["precision"]), float(run["gemm_peak_gflops"]))
        + "Top-1 is the paper's Table 2 (not measured). "
        + _notes_sentence(frame)
        + f"torch {run['torch']}, timm {run['timm']}; {run['date']}; measuring took "
        + f"{duration_text(float(run['wall_seconds']))}."
    )


def render_mlp_zoo(frame: pd.DataFrame, figure_name: str | None = None) -> str:
    """The whole results file: caption, table, the figure's link, and how to regenerate it."""
    table = display_frame(frame).to_markdown(index=False, disable_numparse=True)
    lines = [mlp_zoo_caption(frame), "", table, ""]
    if figure_name:
        lines += [f"![The paper's top-1 against images/s measured here]({figure_name})", ""]
    lines.append(
        "Generated by `nox -s reproduce_mlp_zoo` (`python -m reproduce mlp-zoo`); do not edit."
    )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# The figure


def figure_points(frame: pd.DataFrame) -> pd.DataFrame:
    """The timed rows with a paper top-1: family (DynaMixer per path), label, images/s and
    spread."""
    timed = [status == "ok" for status in statuses(frame)]
    rows = frame[frame["paper_top1"].notna() & pd.Series(timed, index=frame.index)]
    families = [
        f"{family_of(label)} ({note})" if family_of(label) == OWN_MODEL else family_of(label)
        for label, note in zip(rows["label"], _notes(rows), strict=True)
    ]
    return pd.DataFrame(
        {
            "family": families,
            "label": list(rows["label"]),
            "images_per_s": list(rows["infer_samples_per_sec"]),
            "low": list(rows["infer_samples_per_sec_min"]),
            "high": list(rows["infer_samples_per_sec_max"]),
            "top1": [float(v) for v in rows["paper_top1"]],
        }
    )


def pareto_front(points: pd.DataFrame) -> pd.DataFrame:
    """The points no other point beats on both speed and top-1, fastest first."""
    front, best = [], -math.inf
    for _, point in points.sort_values(["images_per_s", "top1"], ascending=False).iterrows():
        if point["top1"] > best:
            front.append(point)
            best = point["top1"]
    return pd.DataFrame(front, columns=points.columns)


def draw_mlp_zoo(frame: pd.DataFrame) -> Figure:
    """Top-1 (the paper's) against images/s (measured), one marker per family, the front."""
    figure = Figure(figsize=(11, 6.5), dpi=150, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    points = figure_points(frame)
    for index, family in enumerate(dict.fromkeys(points["family"])):
        group = points[points["family"] == family]
        own = family.startswith(OWN_MODEL)
        axes.errorbar(
            group["images_per_s"],
            group["top1"],
            xerr=[group["images_per_s"] - group["low"], group["high"] - group["images_per_s"]],
            fmt="*" if own else _MARKERS[index % len(_MARKERS)],
            markersize=13 if own else 7,
            color=_RED if own else _COLOURS[index % len(_COLOURS)],
            markerfacecolor="none" if own and "fused" not in family else None,
            elinewidth=0.8,
            capsize=2,
            linestyle="none",
            label=family,
            zorder=5 if own else 3,
        )
    front = pareto_front(points)
    axes.step(
        front["images_per_s"],
        front["top1"],
        where="post",
        color="0.35",
        linewidth=1.2,
        linestyle="--",
        label="Pareto front (faster and more accurate)",
        zorder=2,
    )
    for _, point in front.iterrows():
        axes.annotate(
            point["label"],
            (point["images_per_s"], point["top1"]),
            xytext=(4, 4),
            textcoords="offset points",
            fontsize=7.5,
        )
    run = run_row(frame)
    axes.set_xscale("log")
    axes.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel(
        f"Images/s, measured here (median of {int(run['iters'])} batch-"
        + f"{int(run['infer_batch_size'])} batches; bars: min–max; log scale)",
        fontsize=10,
    )
    axes.set_ylabel(
        "ImageNet-1K top-1 (%), printed in the paper's Table 2 (not measured)", fontsize=10
    )
    axes.set_title(
        f"Vision MLPs: the paper's top-1 against throughput on {_device_text(frame)}", fontsize=10
    )
    axes.grid(True, which="both", linewidth=0.4, alpha=0.5)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return figure


def write_mlp_zoo_figure(frame: pd.DataFrame, path: str | Path) -> Path:
    """Draw the figure and write it as a PNG, atomically; byte-stable (no version metadata)."""
    figure = draw_mlp_zoo(frame)
    return write_atomic(
        path, lambda tmp: figure.savefig(tmp, format="png", metadata={"Software": None})
    )
