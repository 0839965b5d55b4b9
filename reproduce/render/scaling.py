"""The scaling study as markdown and a figure, rendered from its frame alone (so from its CSV)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from benchmarks.ratios import interval_method
from common.files import write_atomic
from reproduce.render.text import duration_text, gpu_short_name, rate_text

__all__ = ["render_scaling", "scaling_stem", "write_scaling_figure"]

_MARKERS = "osD^vPX<>phd8H*"
_COLOURS = (
    "#d62728", "#ff9896", "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#8c6d31", "#637939",
)  # fmt: skip


def scaling_stem(frame: pd.DataFrame) -> str:
    """'scaling_cpu', or 'scaling_cuda_h200_amp-bf16' on a GPU."""
    run = frame.iloc[0]
    if str(run["device"]).startswith("cuda"):
        parts = ["scaling_cuda", gpu_short_name(str(run["device_name"]))]
        if str(run["precision"]) != "fp32":
            parts.append(str(run["precision"]))
        return "_".join(parts)
    return "scaling_cpu" if str(run["precision"]) == "fp32" else f"scaling_cpu_{run['precision']}"


def _style(models: list[str]) -> dict[str, tuple[str, str]]:
    return {
        model: (_COLOURS[i % len(_COLOURS)], _MARKERS[i % len(_MARKERS)])
        for i, model in enumerate(models)
    }


def _slope_text(value: object, low: object = None, high: object = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if low is None or (isinstance(low, float) and math.isnan(low)):
        return f"{float(value):.2f}"
    return f"{float(value):.2f} [{float(low):.2f}–{float(high):.2f}]"


def _how_text(same: object, loads: object, points: int) -> str:
    if points < 2:
        return "ran at one side only"
    if str(same) == "True":
        return "same weights at every size"
    if str(loads) == "True":
        return "rebuilt per size; the weights keep their shapes (a size check, not the weights)"
    return "rebuilt per size; token-mixing weights change shape"


def growth_table(growth: pd.DataFrame) -> str:
    """One row per model: where it ran, how, and its growth exponents."""
    shown = pd.DataFrame(
        {
            "model": [f"`{m}`" for m in growth["model"]],
            "sides run": [s or "–" for s in growth["sizes"]],
            "how": [
                _how_text(s, w, n)
                for s, w, n in zip(
                    growth["same_weights"], growth["weights_load"], growth["points"], strict=True
                )
            ],
            "params": growth["params_range"],
            "MACs slope": [_slope_text(v) for v in growth.get("macs_slope", [math.nan])],
            "time slope [interval]": [
                _slope_text(v, lo, hi)
                for v, lo, hi in zip(
                    growth.get("time_slope", pd.Series(math.nan, index=growth.index)),
                    growth.get("time_slope_low", pd.Series(math.nan, index=growth.index)),
                    growth.get("time_slope_high", pd.Series(math.nan, index=growth.index)),
                    strict=True,
                )
            ],
            "memory slope": [
                _slope_text(v)
                for v in growth.get("memory_slope", pd.Series(math.nan, index=growth.index))
            ],
            "sizes it could not take": [n or "" for n in growth["not_run"]],
        }
    )
    return shown.to_markdown(index=False, disable_numparse=True)


def _point_cell(row: pd.Series, sweep: str) -> str:
    if row["status"] != "ok" or pd.isna(row.get("images_per_s")):
        return "cannot" if sweep == "resolution" and pd.isna(row["size"]) else "failed"
    memory = row.get("peak_memory_mb")
    extra = "" if memory is None or pd.isna(memory) else f", {memory:,.0f} MB"
    side = ""
    if sweep == "resolution" and int(row["size"]) != int(row["requested_size"]):
        side = f" at {int(row['size'])}"
    return f"{rate_text(row['images_per_s'])}{side}{extra}"


def _points_table(frame: pd.DataFrame, sweep: str, column: str, title: str) -> str:
    """Models by points: images/s (the side actually used where it is not the one asked for;
    peak memory where measured)."""
    part = frame[frame["sweep"] == sweep]
    cells: dict[str, dict[int, str]] = {}
    for _, row in part.iterrows():
        cells.setdefault(str(row["model"]), {})[int(row[column])] = _point_cell(row, sweep)
    table = pd.DataFrame(cells).T
    table.columns = [f"{title} {c}" for c in table.columns]
    table.index = [f"`{m}`" for m in table.index]
    return table.fillna("–").to_markdown(disable_numparse=True)


def render_scaling(frame: pd.DataFrame, growth: pd.DataFrame, figure_name: str | None) -> str:
    """The whole results file: caption, growth table, per-point tables, figure, provenance."""
    run = frame.iloc[0]
    resolution = frame[frame["sweep"] == "resolution"]
    rounds = int(run["iters"])
    memory = str(run.get("memory_measure") or "")
    caption = (
        "**How each vision MLP's cost grows with the input.** One model per family, timed on "
        + f"{run['device_name']} ({run['device']}, {int(run['threads'])} threads, "
        + f"{run['precision']}, native bf16: {run['cpu_bf16']}); each model's points timed "
        + f"interleaved ({int(run['warmup'])} warm-up and {rounds} timed rounds, each round one "
        + "batch at every point), so its growth is measured against itself. The resolution "
        + f"sweep runs at batch {int(resolution['batch_size'].iloc[0])}; each requested side "
        + "becomes the nearest side the model takes, found by running it: the same weights "
        + "where it takes the size as it is, else the model rebuilt for it (`img_size=`). "
        + "Slopes are of log(MACs), log(seconds per image) and log(peak memory) against "
        + "log(pixels): 1 is linear in the pixels, 2 quadratic; the time slope's interval is "
        + f"the {interval_method(rounds)} of the per-round slopes. MACs: ptflops "
        + f"{run['ptflops']}, aten backend."
        + (f" Peak memory: {memory}." if memory else "")
    )
    lines = [caption, "", growth_table(growth), ""]
    lines += [
        "Images/s (and peak memory) for each requested side; 'at N' where the model ran at the "
        + "nearest side it takes, 'cannot' where it takes none near it (the growth table says "
        + "why):",
        "",
    ]
    lines += [_points_table(frame, "resolution", "requested_size", "asked"), ""]
    batch_rows = frame[frame["sweep"] == "batch"]
    if not batch_rows.empty:
        side = int(batch_rows["size"].dropna().iloc[0]) if batch_rows["size"].notna().any() else 224
        lines += [f"Images/s (and peak memory) at {side}×{side} by batch size:", ""]
        lines += [_points_table(frame, "batch", "batch_size", "batch"), ""]
    if figure_name:
        lines += [f"![Cost against input size and batch]({figure_name})", ""]
    lines.append(
        f"torch {run['torch']}, timm {run['timm']}; {run['date']}"
        + (
            f"; measuring took {duration_text(float(run['wall_seconds']))}"
            if "wall_seconds" in run
            else ""
        )
        + ". Generated by `nox -s reproduce_scaling` (`python -m reproduce scaling`); do not edit."
    )
    return "\n".join(lines) + "\n"


def _panel(axes, frame: pd.DataFrame, x: str, y: str, styles, growth: pd.DataFrame) -> None:
    slopes = growth.set_index("model") if not growth.empty else pd.DataFrame()
    for model, rows in frame.groupby("model", sort=False):
        rows = rows[rows["status"] == "ok"].dropna(subset=[y])
        if rows.empty:
            continue
        colour, marker = styles[model]
        fixed = not bool(rows["same_weights"].astype(str).eq("True").all())
        label = model
        if y == "images_per_s" and model in slopes.index and "time_slope" in slopes:
            label += f" ({_slope_text(slopes.loc[model, 'time_slope'])})"
        axes.plot(
            rows[x] ** (2 if x == "size" else 1),
            rows[y],
            marker=marker,
            color=colour,
            linestyle="--" if fixed else "-",
            label=label,
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.grid(True, which="both", alpha=0.3)


def write_scaling_figure(frame: pd.DataFrame, growth: pd.DataFrame, path: Path) -> Path:
    """MACs, images/s and memory against pixels (log-log), and images/s against batch; solid
    lines for models that ran the same weights at every size, dashed for rebuilt ones."""
    figure = Figure(figsize=(16, 10))
    FigureCanvasAgg(figure)
    resolution = frame[frame["sweep"] == "resolution"]
    batch = frame[frame["sweep"] == "batch"]
    styles = _style(list(dict.fromkeys(frame["model"])))
    panels = [
        ("macs", "MACs per image (ptflops, aten)"),
        ("images_per_s", "images/s (legend: time slope)"),
        ("peak_memory_mb", "peak memory (MB)"),
    ]
    for index, (column, title) in enumerate(panels, start=1):
        axes = figure.add_subplot(2, 2, index)
        if column in resolution:
            _panel(axes, resolution, "size", column, styles, growth)
        axes.set_xlabel("pixels (input side²)")
        axes.set_title(title)
        if column == "images_per_s":
            axes.legend(fontsize=7, loc="best")
    axes = figure.add_subplot(2, 2, 4)
    if not batch.empty:
        _panel(axes, batch, "batch_size", "images_per_s", styles, pd.DataFrame())
    axes.set_xlabel("batch size")
    axes.set_title("images/s by batch at 224×224 (where throughput saturates)")
    figure.suptitle("Cost against input size: solid, the same weights; dashed, rebuilt per size")
    figure.tight_layout()
    return write_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=110))
