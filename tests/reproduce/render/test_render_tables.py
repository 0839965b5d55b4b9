"""Tables 2, 3 and 5-9 rendered: headers, captions, rows nothing builds."""

from __future__ import annotations

from reproduce.paper import TABLES
from reproduce.render.tables import render_table
from reproduce.tables.specs import (
    NOT_IN_ZOO,
    TABLE_SPECS,
)
from tests.reproduce.conftest import (
    META,
    fixed_frame,
    fixed_measurements,
    markdown_table,
)


def test_rows_nothing_builds_say_not_in_zoo_and_show_no_measured_figure() -> None:
    spec = TABLE_SPECS[2]  # CycleMLP-T/S/B: no released code (every other row is built)
    frame = fixed_frame(2)
    text = render_table(spec, frame, fixed_measurements())
    shown = markdown_table(text).set_index("Model")
    cycle = shown.loc[[label for label in shown.index if label.startswith("CycleMLP-T")]]
    assert (cycle["built as"] == f"{NOT_IN_ZOO} (1)").all()  # and the reason is numbered below
    assert "- (1) no released code: the authors' README lists CycleMLP-T/S/B" in text
    for column in ("Param, measured", "Param, measured (M)", "FLOPs, measured (G MACs)"):
        assert (cycle[column] == "—").all()
    assert list(cycle["Param, paper"]) == ["28M"]


def test_headers_say_paper_or_measured_and_text_columns_stay_as_printed() -> None:
    spec = TABLE_SPECS[3]
    shown = markdown_table(render_table(spec, fixed_frame(3), fixed_measurements()))
    assert list(shown.columns) == [
        "Model",
        "Family",
        "Scale",
        "Param, paper",
        "Param, measured",
        "Param, measured (M)",
        "Param, Δ (M)",
        "FLOPs, paper",
        "FLOPs, measured (G MACs)",
        "FLOPs, Δ (G)",
        "Top-1 (%), paper",
        "Top-1 (%), measured",
        "built as",
    ]
    assert list(shown["Scale"]) == [row.cells["Scale"] for row in TABLES[3].rows]
    effnet = shown[shown["Model"].str.startswith("EffNet-B3")].iloc[0]
    assert effnet["built as"] == "timm efficientnet_b3 @ 300×300"
    table2 = render_table(TABLE_SPECS[2], fixed_frame(2), fixed_measurements())
    printed = [row.cells["Date"] for row in TABLES[2].rows]
    # As printed, except the three stray "1"s of the PDF: shown empty, never as a date, and said.
    assert printed.count("1") == 3
    assert list(markdown_table(table2)["Date"]) == ["" if d == "1" else d for d in printed]
    assert 'Shown empty: the PDF prints a stray "1" in the Date cell of AS-MLP-T' in table2


def test_caption_says_how_it_was_measured() -> None:
    text = render_table(TABLE_SPECS[5], fixed_frame(5), fixed_measurements())
    caption = text.splitlines()[0]
    for needed in (
        "ptflops 0.7.5",
        "aten backend",
        "multiply-accumulates",
        "meta device",
        "The top-1 accuracies with different segment dimensionalities.",
    ):
        assert needed in caption
    # Counts do not depend on the day: no date, so regenerating an unchanged table is no diff.
    assert META.date not in caption and "torch 2.14.1" in caption
