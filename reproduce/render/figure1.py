"""The paper's Table 2 plotted: ImageNet top-1 against parameters, one line per MLP-like
family, DynaMixer highlighted. This is not the paper's Figure 1 (which shows six families): it
plots every row of Table 2. Points are the paper's printed figures; measured points (our
parameter count, our top-1) are overlaid where the results store has a measured top-1 of
exactly that model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from common.files import write_atomic
from reproduce.paper import OWN_MODEL, TABLES, parse_millions
from reproduce.tables.frames import measured_top1
from reproduce.tables.specs import TABLE_SPECS

__all__ = ["draw", "family_of", "figure_data", "measured_points", "write_figure"]

#: Display names where the row label's prefix is not the family's usual name.
_FAMILY_NAMES = {"Mixer": "MLP-Mixer", "Mixer†": "MLP-Mixer† (re-impl.)"}
_SPEC = TABLE_SPECS[2]
# Twelve distinguishable colours for Table 2's other families, none red (red is DynaMixer's):
# tab10 without its red, black, and tab20b's dark blue and ochre; markers and dash patterns
# tell neighbours apart in grey too.
_PALETTE = (
    *(c for i, c in enumerate(matplotlib.colormaps["tab10"].colors) if i != 3),
    "#000000",
    "#393b79",
    "#8c6d31",
)
_MARKERS = "osD^vPX<>phd"
_LINESTYLES = ("-", "--", "-.", ":")
_RED = "#d62728"


def family_of(label: str) -> str:
    """'ViP-Small/14' -> 'ViP', 'S²-MLPv2-Small/7' -> 'S²-MLPv2', 'Mixer-B/16†' -> 'MLP-Mixer†
    (re-impl.)': the label up to its last hyphen (a dagger stays with its family)."""
    family = label.rsplit("-", 1)[0] + ("†" if label.endswith("†") else "")
    return _FAMILY_NAMES.get(family, family)


def figure_data() -> pd.DataFrame:
    """Table 2 as the figure plots it: family, label, params (M) and top-1, as printed."""
    rows = TABLES[2].rows
    return pd.DataFrame(
        {
            "family": [family_of(row.label) for row in rows],
            "label": [row.label for row in rows],
            "params_m": [parse_millions(row.cells[_SPEC.params_column]) for row in rows],
            "top1": [float(row.cells[_SPEC.top1_column]) for row in rows],
        }
    )


def measured_points(
    results: Sequence[Mapping[str, Any]], params: Mapping[str, int] | None = None
) -> pd.DataFrame:
    """Table 2 rows with a measured ImageNet top-1 (`measured_top1`): label, params, top-1.

    ``params`` maps zoo names to measured counts; without one the paper's count is used.
    """
    points = []
    for row in TABLES[2].rows:
        measured = measured_top1(results, row, "imagenet")
        if measured is None:
            continue
        count = (params or {}).get(str(row.zoo_name))
        points.append(
            {
                "label": row.label,
                "params_m": count / 1e6
                if count
                else parse_millions(row.cells[_SPEC.params_column]),
                "top1": measured.top1,
            }
        )
    return pd.DataFrame(points, columns=["label", "params_m", "top1"])


def draw(data: pd.DataFrame, measured: pd.DataFrame | None = None) -> Figure:
    """The figure: one line per family in order of size, DynaMixer on top in red."""
    # A Figure on the Agg canvas directly, not through pyplot: no global state, no display.
    figure = Figure(figsize=(9.5, 6), dpi=150, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    families = list(dict.fromkeys(data["family"]))
    others = [f for f in families if f != OWN_MODEL]
    for index, family in enumerate(others):
        points = data[data["family"] == family].sort_values("params_m")
        axes.plot(
            points["params_m"],
            points["top1"],
            marker=_MARKERS[index % len(_MARKERS)],
            markersize=5.5,
            linewidth=1.3,
            linestyle=_LINESTYLES[index % len(_LINESTYLES)],
            color=_PALETTE[index % len(_PALETTE)],
            label=family,
        )
    _draw_own_model(axes, data[data["family"] == OWN_MODEL].sort_values("params_m"))
    if measured is not None and not measured.empty:
        axes.scatter(
            measured["params_m"],
            measured["top1"],
            s=90,
            facecolors="none",
            edgecolors="black",
            linewidths=1.5,
            zorder=6,
            label="measured here (results store)",
        )
    axes.set_xlabel(
        "Parameters (M): printed in the paper's Table 2 (lines); measured here (circles)",
        fontsize=10.5,
    )
    axes.set_ylabel(
        "ImageNet-1K top-1 (%): printed (lines); measured here (circles)", fontsize=10.5
    )
    axes.set_title(
        "The paper's Table 2 plotted: top-1 vs. parameters, every MLP-like row "
        + "(not the paper's Figure 1, which shows six families)",
        fontsize=10.5,
    )
    axes.set_xlim(0, max(data["params_m"]) * 1.08)
    low, high = data["top1"].min(), data["top1"].max()
    axes.set_ylim(low - 0.8, high + 1.4)
    axes.grid(True, linewidth=0.5, alpha=0.5)
    axes.legend(loc="lower right", fontsize=8.5, ncols=2, framealpha=0.95)
    return figure


def _draw_own_model(axes: Any, ours: pd.DataFrame) -> None:
    """The paper's own model on top, in red, each point labelled."""
    axes.plot(
        ours["params_m"],
        ours["top1"],
        marker="*",
        markersize=14,
        linewidth=2.8,
        color=_RED,
        label=OWN_MODEL,
        zorder=5,
    )
    for _, point in ours.iterrows():
        axes.annotate(
            f"{point['label']}\n{point['params_m']:g}M, {point['top1']:.1f}%",
            (point["params_m"], point["top1"]),
            xytext=(0, 10),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8.5,
            color=_RED,
            fontweight="bold",
        )


def write_figure(
    results: Sequence[Mapping[str, Any]],
    path: str | Path,
    params: Mapping[str, int] | None = None,
) -> Path:
    """Draw Figure 1 and write it as a PNG, atomically; byte-stable (no version metadata)."""
    figure = draw(figure_data(), measured_points(results, params))
    return write_atomic(
        path, lambda tmp: figure.savefig(tmp, format="png", metadata={"Software": None})
    )
