"""The paper's tables as data: shape, a few literal cells, builders and claims."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import models
from reproduce.paper import (
    CLAIMS,
    TABLES,
    PaperRow,
    get_claim,
    get_table,
    parse_giga,
    parse_millions,
)

# Counted by hand from the paper: table number -> number of body rows.
ROW_COUNTS = {1: 15, 2: 35, 3: 30, 4: 6, 5: 4, 6: 3, 7: 4, 8: 6, 9: 8}


def _row(table: int, label: str, **cells: str) -> PaperRow:
    """The single row of ``table`` with this label whose cells include ``cells``."""
    matches = [
        row
        for row in get_table(table).rows
        if row.label == label and all(row.cells[k] == v for k, v in cells.items())
    ]
    assert len(matches) == 1, f"Table {table}: {len(matches)} rows match {label!r} {cells}"
    return matches[0]


def test_every_table_is_present_with_the_papers_row_count() -> None:
    assert sorted(TABLES) == list(range(1, 10))
    for number, expected in ROW_COUNTS.items():
        table = TABLES[number]
        assert table.number == number
        assert len(table.rows) == expected, f"Table {number}: {len(table.rows)} != {expected}"


def test_cells_cover_every_column_but_the_first() -> None:
    for table in TABLES.values():
        for row in table.rows:
            assert tuple(row.cells) == table.columns[1:], (table.number, row.label)


@pytest.mark.parametrize(
    ("table", "label", "column", "text", "where"),
    [
        (2, "Mixer-B/16", "Date", "MAY, 2021", {}),
        (2, "ViP-Small/7", "Param", "25M", {}),
        (2, "AS-MLP-T", "Date", "1", {}),  # stray "1", kept as printed
        (2, "ResMLP-B24", "FLOPs", "23.0G", {}),
        (2, "DynaMixer-L", "Top-1 (%)", "84.3", {}),
        (3, "EffNet-B3", "Scale", "300²", {}),
        (3, "DeiT-B", "FLOPs", "55.4G", {"Scale": "384²"}),
        (3, "DynaMixer-M", "FLOPs", "17.0G", {}),
        (4, "DynaMixer-S", "Throughput image/s", "551", {}),
        (4, "ViP-M/7", "Throughput image/s", "390", {}),
        (5, "DynaMixer-S", "Top-1 (%)", "82.2", {"D/S": "D"}),
        (6, "DynaMixer-S", "# parameters", "32M", {"generating methods": "Synthesizer(Dense)"}),
        (7, "DynaMixer-S", "# parameters", "29M", {"d": "8"}),
        (8, "- reweighting", "Top-1 (%)", "81.9", {}),
        (9, "ViT-S/16", "# parameters", "49M", {"dataset": "CIFAR-100"}),
    ],
)
def test_spot_cells(table: int, label: str, column: str, text: str, where: dict[str, str]) -> None:
    assert _row(table, label, **where).cells[column] == text


def test_labels_and_citations_are_split() -> None:
    row = get_table(2).rows[9]
    assert (row.label, row.citation) == ("ViP-Small/7", "Hou et al., 2021")
    assert row.model_text == "ViP-Small/7 (Hou et al., 2021)"
    assert get_table(2).rows[1].label == "Mixer-B/16†"
    assert get_table(4).rows[0].model_text == "ResMLP S24"
    assert get_table(3).column("Model")[-1] == "DynaMixer-L"


def test_table_1_configurations() -> None:
    table = get_table(1)
    assert table.columns == ("Specification", "DynaMixer-S", "DynaMixer-M", "DynaMixer-L")
    assert dict(table.column_zoo_names) == {
        "DynaMixer-S": "dynamixer_s",
        "DynaMixer-M": "dynamixer_m",
        "DynaMixer-L": "dynamixer_l",
    }
    hidden = [row for row in table.rows if row.label == "Hidden size"]
    assert [(r.group, r.cells["DynaMixer-S"]) for r in hidden] == [
        ("first stage", "192"),
        ("second stage", "384"),
    ]
    assert table.column("DynaMixer-L")[-2:] == ("8", "97M")
    assert table.rows[0].cells["DynaMixer-M"] == "7×7"


def test_every_zoo_name_is_one_the_zoo_builds() -> None:
    known = set(models.list_models())
    for table in TABLES.values():
        for row in table.rows:
            assert row.zoo_name is None or row.zoo_name in known, row.label
            assert not (row.zoo_name and row.timm_name), row.label
    with pytest.raises(ValueError, match=r"unknown zoo_name 'dynamixer_xl'; accepted: \['"):
        PaperRow(label="DynaMixer-XL", cells={}, zoo_name="dynamixer_xl")


def test_ablations_override_dynamixer_s() -> None:
    expected = {
        5: [{"segment_dim": None}, {"segment_dim": 96}, {"segment_dim": 48}, {"segment_dim": 24}],
        6: [{"mixing": "random"}, {"mixing": "dense"}, {"mixing": "dynamic"}],
        7: [{"reduced_dim": d} for d in (1, 2, 4, 8)],
        8: [
            {},
            {"column_mixing": False},
            {"row_mixing": False},
            {"channel_mixing": False},
            {"reweight": False},
            {"share_row_column": True},
        ],
    }
    for number, overrides in expected.items():
        rows = get_table(number).rows
        assert [row.zoo_name for row in rows] == ["dynamixer_s"] * len(rows)
        assert [dict(row.overrides) for row in rows] == overrides


def test_table_9_builders() -> None:
    built = [
        (row.zoo_name, dict(row.overrides)) for row in get_table(9).rows if row.zoo_name is not None
    ]
    assert built == [
        ("vit_s16_t2t", {"num_classes": 10}),
        ("t2t_vit_14", {"num_classes": 10}),
        ("vip_s7", {"num_classes": 10}),
        ("dynamixer_s", {"num_classes": 10}),
        ("vit_s16_t2t", {"num_classes": 100}),
        ("t2t_vit_14", {"num_classes": 100}),
        ("vip_s7", {"num_classes": 100}),
        ("dynamixer_s", {"num_classes": 100}),
    ]
    assert all(row.timm_name is None for row in get_table(9).rows)


def test_timm_rows_and_input_sizes() -> None:
    timm_rows = {
        (row.label, row.timm_name, row.input_size)
        for table in TABLES.values()
        for row in table.rows
        if row.timm_name is not None
    }
    assert ("EffNet-B3", "efficientnet_b3", 300) in timm_rows
    assert ("DeiT-B", "deit_base_patch16_384", 384) in timm_rows
    assert ("DeiT-B", "deit_base_patch16_224", None) in timm_rows
    assert ("Mixer-B/16†", "mixer_b16_224", None) in timm_rows
    unbuilt = {row.label for row in get_table(3).rows if not row.buildable}
    assert not unbuilt  # every row of Table 3 is built: by timm, or by the zoo


def test_timm_names_exist_in_timm() -> None:
    timm = pytest.importorskip("timm")
    known = set(timm.list_models())
    names = {row.timm_name for table in TABLES.values() for row in table.rows if row.timm_name}
    assert names - known == set()


def test_get_table_rejects_unknown_numbers() -> None:
    with pytest.raises(ValueError, match=r"Table 10.*\[1, 2, 3, 4, 5, 6, 7, 8, 9\]"):
        get_table(10)
    with pytest.raises(ValueError, match="Table 0"):
        get_table(0)


def test_data_is_immutable() -> None:
    row = get_table(4).rows[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.label = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        row.cells["FLOPs"] = "1.0G"  # type: ignore[index]
    with pytest.raises(TypeError):
        TABLES[1] = TABLES[2]  # type: ignore[index]


def test_rows_validate_their_builders() -> None:
    with pytest.raises(ValueError, match="unknown zoo_name 'vip_xl'"):
        PaperRow(label="x", cells={}, zoo_name="vip_xl")
    with pytest.raises(ValueError, match="overrides need a zoo_name"):
        PaperRow(label="x", cells={}, overrides={"reduced_dim": 1})


@pytest.mark.parametrize(("text", "value"), [("26M", 26.0), ("116M", 116.0), ("0.5M", 0.5)])
def test_parse_millions(text: str, value: float) -> None:
    assert parse_millions(text) == value


@pytest.mark.parametrize(("text", "value"), [("7.3G", 7.3), ("55.4G", 55.4), ("17G", 17.0)])
def test_parse_giga(text: str, value: float) -> None:
    assert parse_giga(text) == value


@pytest.mark.parametrize("text", ["26", "26 M", "M", "7.3G", "", "-1M"])
def test_parse_millions_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="millions"):
        parse_millions(text)


@pytest.mark.parametrize("text", ["7.3", "26M", "G", "7.3GF"])
def test_parse_giga_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="giga"):
        parse_giga(text)


def test_every_count_and_flops_cell_parses() -> None:
    for table in TABLES.values():
        for column in table.columns:
            if column in {"Param", "# Param", "# parameters"}:
                for text in table.column(column):
                    parse_millions(text)
            if column == "FLOPs":
                for text in table.column(column):
                    parse_giga(text)


def test_claims_agree_with_the_tables() -> None:
    table_4 = {row.label: row.cells for row in get_table(4).rows}
    fast = get_claim("dynamixer_s_faster_than_vip_m7").numbers
    assert fast["dynamixer_s_images_per_s"] == float(table_4["DynaMixer-S"]["Throughput image/s"])
    assert fast["vip_m7_images_per_s"] == float(table_4["ViP-M/7"]["Throughput image/s"])
    resmlp = get_claim("dynamixer_s_faster_than_resmlp_b24").numbers
    assert resmlp["resmlp_b24_images_per_s"] == float(table_4["ResMLP B24"]["Throughput image/s"])

    # The one Limitations pair the paper's own figures allow us to check: M vs M/7 in Table 4.
    lower = get_claim("throughput_lower_than_vip")
    assert ("dynamixer_m", "vip_m7") in lower.pairs
    drop = 100 * (1 - 326 / 390)
    assert float(table_4["DynaMixer-M"]["Throughput image/s"]) == 326
    assert lower.numbers["throughput_lower_min_percent"] <= drop
    assert drop <= lower.numbers["throughput_lower_max_percent"]

    dense = get_claim("synthesizer_dense_20_percent_larger").numbers
    assert dense["synthesizer_dense_params_m"] == parse_millions(
        _row(6, "DynaMixer-S", **{"generating methods": "Synthesizer(Dense)"}).cells["# parameters"]
    )
    size = get_claim("dynamixer_m_about_5_percent_larger_than_vip_m7").numbers
    assert (size["dynamixer_m_params_m"], size["vip_m7_gflops"]) == (57, 16.3)


def test_claims_are_quoted_and_interpreted() -> None:
    for claim_id, claim in CLAIMS.items():
        assert claim.id == claim_id
        assert claim.quote
        assert claim.section
        # A claim states figures, or says which figures it is checked against.
        assert claim.numbers or claim.interpretation, claim_id


def test_every_claim_is_quoted_verbatim_from_the_paper() -> None:
    """The quotes are the paper's text (whitespace aside): a retyped quote fails here."""
    paper = Path(__file__).resolve().parents[3] / "shared" / "paper" / "dynamixer-icml2022.txt"
    if not paper.exists():
        pytest.skip(f"the paper's text is not beside this checkout ({paper})")
    text = " ".join(paper.read_text(encoding="utf-8").split())
    for claim in CLAIMS.values():
        assert " ".join(claim.quote.split()) in text, claim.id
    assert "about $16\\% \\sim 18\\%$ lower" in get_claim("throughput_lower_than_vip").quote
    assert get_claim("throughput_lower_than_vip").interpretation is not None
    with pytest.raises(ValueError, match="no claim 'nope'"):
        get_claim("nope")
