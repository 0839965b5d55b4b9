"""Figure 1, redrawn from Table 2."""

from __future__ import annotations

from pathlib import Path

from reproduce.paper import TABLES
from reproduce.render import figure1
from tests.reproduce.conftest import (
    run_record,
)


def test_families_are_the_labels_before_the_size() -> None:
    assert figure1.family_of("S²-MLPv2-Small/7") == "S²-MLPv2"
    assert figure1.family_of("Hire-MLP-Ti") == "Hire-MLP"
    assert figure1.family_of("Mixer-B/16†") == "MLP-Mixer† (re-impl.)"
    data = figure1.figure_data()
    assert len(data) == len(TABLES[2].rows)
    assert set(data[data["family"] == "DynaMixer"]["label"]) == {
        "DynaMixer-S",
        "DynaMixer-M",
        "DynaMixer-L",
    }


def test_figure_is_a_png_with_measured_points_only_when_runs_exist(tmp_path: Path) -> None:
    assert figure1.measured_points([]).empty
    points = figure1.measured_points([run_record()], {"dynamixer_s": 26_265_960})
    assert points.to_dict("records") == [
        {"label": "DynaMixer-S", "params_m": 26.26596, "top1": 82.31}
    ]
    path = figure1.write_figure([run_record()], tmp_path / "figure1.png")
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
