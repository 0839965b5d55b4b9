"""reproduce.tables, report and figure1: the count regression check against the committed CSVs,
and the renderer, report and figure on fixed records.

The regression check recounts in memory and compares with ``results/table*.csv``. What it
recounts, chosen by measured cost on a 2-core CPU (all on the meta device, init skipped):

* parameters of every row of every table (46 distinct models, ~8 s): always;
* FLOPs of the timm-built rows of Tables 2 and 3 (16 models, ~10 s): always. Nothing else pins
  them; the zoo's named models' FLOPs are held within 1% by tests/benchmarks/test_measure.py;
* FLOPs of every row exactly, zoo ablations and transfer heads included (~45 s): marked slow
  (``nox -s slow_tests``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from benchmarks.external import check_timm_name, count_timm_params, skip_meta_init
from benchmarks.measure import FlopCount, ParamCount, count_flops, count_params
from reproduce import figure1, report, tables
from reproduce.paper import TABLES
from reproduce.tables import TABLE_SPECS, MeasureKey, Measurement
from tests.reproduce.conftest import META

RESULTS = Path(__file__).resolve().parents[2] / "results"


# ---------------------------------------------------------------------------------------------
# The regression check: counts against the committed CSVs


def _committed(number: int) -> pd.DataFrame:
    path = RESULTS / f"table{number}.csv"
    if not path.exists():
        pytest.fail(f"{path} is missing: run `python -m reproduce tables` and commit results/")
    return tables.read_committed(path)


def _compare(measurements: dict[MeasureKey, Measurement], numbers: list[int]) -> None:
    problems = []
    for number in numbers:
        frame = tables.build_frame(TABLE_SPECS[number], measurements)
        problems += tables.count_differences(_committed(number), frame)
    assert not problems, "counts moved (regenerate with `python -m reproduce tables`):\n" + (
        "\n".join(problems)
    )


@pytest.fixture(scope="module")
def param_counts() -> dict[MeasureKey, Measurement]:
    return tables.measure(tables.measure_keys(), flops=False, progress=False)


def test_parameter_counts_match_the_committed_tables(
    param_counts: dict[MeasureKey, Measurement],
) -> None:
    _compare(param_counts, list(TABLE_SPECS))


def test_flops_of_timm_models_match_the_committed_tables(
    param_counts: dict[MeasureKey, Measurement],
) -> None:
    timm_keys = [key for key in tables.measure_keys([2, 3]) if key.source == "timm"]
    measurements = dict(param_counts) | tables.measure(timm_keys, progress=False)
    _compare(measurements, [2, 3])


@pytest.mark.slow
def test_flops_of_every_row_match_the_committed_tables() -> None:
    measurements = tables.measure(tables.measure_keys(), progress=False)
    _compare(measurements, list(TABLE_SPECS))


def test_skipping_init_on_meta_changes_no_count() -> None:
    """The generator counts with init skipped; a plain meta build must give the same numbers."""
    for name, size in (("dynamixer_digits", (3, 32, 32)), ("resmlp_s12", (3, 224, 224))):
        plain = count_params(name).params, count_flops(name, size).macs
        with skip_meta_init():
            skipped = count_params(name).params, count_flops(name, size).macs
        assert skipped == plain, name


def test_a_moved_count_is_reported_with_table_row_old_and_new() -> None:
    committed = _fixed_frame(8)
    moved = committed.copy()
    moved.loc[3, "measured_params"] = 23_495_017
    problems = tables.count_differences(committed, moved)
    assert problems == [
        "Table 8, row 4 '- channel fusion': measured_params was 23,495,016, now 23,495,017"
    ]
    assert tables.count_differences(committed, committed) == []
    reordered = committed.copy()
    reordered.loc[0, "model"] = "something else"
    assert (
        "the committed CSV has 'DynaMixer-S' at that row"
        in tables.count_differences(committed, reordered)[0]
    )


# ---------------------------------------------------------------------------------------------
# Fixed records (nothing built)

FIXED_PARAMS = {
    (): 26_265_960,
    (("column_mixing", False),): 22_919_528,
    (("row_mixing", False),): 22_919_528,
    (("channel_mixing", False),): 23_495_016,
    (("reweight", False),): 24_034_152,
    (("share_row_column", True),): 23_478_632,
}


def _fake(key: MeasureKey, params: int | None = None, macs: int | None = None) -> Measurement:
    params = params if params is not None else 10_000_000 + 7919 * len(key.label)
    macs = macs if macs is not None else 1_000 * params
    overrides = dict(key.overrides)
    return Measurement(
        key,
        ParamCount(key.name, overrides, params, META),
        FlopCount(key.name, overrides, key.input_size, macs, "ptflops 0.7.5, aten backend", META),
    )


def _fixed_measurements() -> dict[MeasureKey, Measurement]:
    measurements = {key: _fake(key) for key in tables.measure_keys()}
    for overrides, params in FIXED_PARAMS.items():
        key = MeasureKey("zoo", "dynamixer_s", overrides)
        measurements[key] = _fake(key, params)
    return measurements


def _fixed_frame(number: int, results: list[dict[str, Any]] | None = None) -> pd.DataFrame:
    return tables.build_frame(TABLE_SPECS[number], _fixed_measurements(), results or [])


def _record(**fields: Any) -> dict[str, Any]:
    record = {
        "status": "completed",
        "config_key": "imagenet_dynamixer_s",
        "model": "dynamixer_s",
        "overrides": {},
        "dataset": "imagenet",
        "changed": {},
        "top1": 82.31,
        "finished": "2026-01-01T00:00:00+00:00",
    }
    return record | fields


def markdown_table(text: str) -> pd.DataFrame:
    lines = [line for line in text.splitlines() if line.startswith("|")]
    del lines[1]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return pd.DataFrame(cells[1:], columns=cells[0])


def test_specs_name_every_paper_column_and_reject_unknown_ones() -> None:
    for number, spec in TABLE_SPECS.items():
        assert spec.paper is TABLES[number]
    with pytest.raises(ValueError, match="Table 8: spec names columns"):
        tables.TableSpec(8, "# parameters", "Top-1 (%)", text_columns=("Scale",))


def test_frame_keeps_the_papers_text_and_puts_measured_counts_beside_it() -> None:
    frame = _fixed_frame(8)
    paper = TABLES[8]
    assert list(frame["model"]) == [row.model_text for row in paper.rows]
    assert list(frame["paper_params"]) == [row.cells["# parameters"] for row in paper.rows]
    assert list(frame["measured_params"]) == list(FIXED_PARAMS.values())
    assert frame.loc[3, "params_diff_m"] == pytest.approx(0.495016)
    assert frame["measured_top1"].isna().all()
    assert frame.loc[3, "built_as"] == "zoo dynamixer_s(channel_mixing=False)"


def test_rows_nothing_builds_say_not_in_zoo_and_show_no_measured_figure() -> None:
    spec = TABLE_SPECS[9]
    frame = _fixed_frame(9)
    shown = markdown_table(tables.render_markdown(spec, frame, _fixed_measurements())).set_index(
        "Model"
    )
    vit = shown.loc[["ViT-S/16 (Dosovitskiy et al., 2021)"]]
    assert (vit["built as"] == tables.NOT_IN_ZOO).all()
    for column in (
        "# parameters, measured",
        "# parameters, measured (M)",
        "FLOPs, measured (G MACs)",
    ):
        assert (vit[column] == "—").all()
    assert list(vit["# parameters, paper"]) == ["49M", "49M"]


def test_headers_say_paper_or_measured_and_text_columns_stay_as_printed() -> None:
    spec = TABLE_SPECS[3]
    shown = markdown_table(tables.render_markdown(spec, _fixed_frame(3), _fixed_measurements()))
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
    assert list(
        markdown_table(
            tables.render_markdown(TABLE_SPECS[2], _fixed_frame(2), _fixed_measurements())
        )["Date"]
    ) == [row.cells["Date"] for row in TABLES[2].rows]


def test_caption_says_how_it_was_measured() -> None:
    text = tables.render_markdown(TABLE_SPECS[5], _fixed_frame(5), _fixed_measurements())
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


def test_measured_top1_only_from_a_completed_run_of_exactly_that_configuration() -> None:
    results = [
        _record(),  # DynaMixer-S itself: Table 5's D/S=24 row is the same model
        _record(config_key="x", overrides={"reduced_dim": 4}, changed={"epochs": 1}, top1=50.0),
        _record(config_key="y", overrides={"segment_dim": 96}, status="running", top1=60.0),
        _record(config_key="z", overrides={"segment_dim": 48}, dataset="cifar10", top1=70.0),
    ]
    frame = _fixed_frame(5, results).set_index("paper_D/S")
    assert frame.loc["24", "measured_top1"] == 82.31
    assert frame.loc["24", "top1_run"] == "imagenet_dynamixer_s"
    assert frame[["measured_top1"]].drop(index="24").isna().all().all()
    assert _fixed_frame(7, results).set_index("paper_d")["measured_top1"].notna().tolist() == [
        False,
        True,
        False,
        False,
    ]  # d=4 was run with a changed recipe: not the paper's configuration
    shown = markdown_table(
        tables.render_markdown(TABLE_SPECS[5], _fixed_frame(5, results), _fixed_measurements())
    )
    assert list(shown["Top-1 (%), measured"]) == ["—", "—", "—", "82.3"]


def test_table9_top1_is_matched_per_dataset_and_head() -> None:
    record = _record(
        config_key="cifar100_dynamixer_s", dataset="cifar100", overrides={"num_classes": 100}
    )
    frame = _fixed_frame(9, [record])
    hits = frame[frame["measured_top1"].notna()]
    assert list(zip(hits["model"], hits["dataset"], strict=True)) == [("DynaMixer-S", "cifar100")]


# ---------------------------------------------------------------------------------------------
# The report


@pytest.mark.parametrize(
    ("count", "printed", "expected"),
    [
        (26_265_960, "26M", "rounding and truncation"),
        (97_818_088, "97M", "truncation only"),
        (25_704_296, "26M", "rounding only"),
        (32_718_184, "32M", "truncation only"),
        (23_495_016, "23M", "rounding and truncation"),
        (7_315_402_216, "7.3G", "rounding and truncation"),
        (5_964_981_736, "6.0G", "rounding only"),
    ],
)
def test_each_match_says_whether_rounding_or_truncation_gives_it(
    count: int, printed: str, expected: str
) -> None:
    check = report.check_count("Table X", "model", "params", printed, count)
    assert check.outcome == report.MATCH
    assert check.how.startswith(expected)


def test_a_mismatch_comes_with_its_arithmetic() -> None:
    check = report.check_count("Table 2", "gMLP-S", "params", "20M", 19_422_656)
    assert check.outcome == report.MISMATCH
    assert check.how == (
        "19.423M rounds to 19M and truncates to 19M, not 20M (rounding up, a third convention, "
        + "would give 20M): measured − paper = -0.577M (-2.9%)"
    )
    check = report.check_count("Table 3", "DeiT-B", "FLOPs", "55.4G", 55_532_652_520)
    assert "rounds to 55.5G and truncates to 55.5G, not 55.4G:" in check.how


def _table4_csv(folder: Path) -> Path:
    """A measured Table 4 as reproduce.table4 writes it (the columns the checks read)."""
    rates = {
        "resmlp_s24": 40.0,
        "resmlp_b24": 10.0,
        "vip_m7": 16.0,
        "dynamixer_s": 20.0,
        "vip_l7": 9.0,
        "dynamixer_m": 12.0,
    }
    rows = []
    for row in TABLES[4].rows:
        name, rate = str(row.zoo_name), rates[str(row.zoo_name)]
        rows.append(
            {
                "model": name,
                "label": row.label,
                "paper_params_m": float(row.cells["# Param"][:-1]),
                "paper_gflops": float(row.cells["FLOPs"][:-1]),
                "paper_images_per_s": float(row.cells["Throughput image/s"]),
                "params": 1_000_000,
                "macs": 1_000_000_000,
                "images_per_s": rate,
                "images_per_s_min": rate * 0.9,
                "images_per_s_max": rate * 1.1,
                "batch_size": 32,
                "precision": "fp32",
                "device": "cpu",
                "device_name": "Test CPU 9000",
                "threads": 2,
            }
        )
    path = folder / "table4.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_speed_claims_without_a_measured_table4_are_not_checked(tmp_path: Path) -> None:
    checks = report.speed_checks(tmp_path)
    assert checks and {c.outcome for c in checks} == {report.NOT_CHECKED}
    assert all(c.how == "not checked: run nox -s reproduce_table4" for c in checks)


def test_speed_claims_are_checked_against_table4_csv_and_name_the_device(tmp_path: Path) -> None:
    _table4_csv(tmp_path)
    (tmp_path / "table4_quick.csv").write_text("ignored")  # quick runs are not evidence
    checks = report.speed_checks(tmp_path)
    assert all(c.device == "Test CPU 9000, cpu, 2 threads, fp32, batch 32" for c in checks)
    ordering = checks[0]
    # Only ViP-L/7 (9 img/s) and ResMLP B24 (10) are in the other order than the paper's.
    assert ordering.outcome == report.MISMATCH
    assert "14 of 15 pairs" in ordering.how and "ViP-L/7 9.0 ≤ ResMLP B24 10.0" in ordering.how
    by_claim = {c.how.split("claim ")[1].split(":")[0]: c.outcome for c in checks[1:4]}
    assert by_claim == {
        "dynamixer_s_faster_than_vip_m7": report.MATCH,
        "dynamixer_s_faster_than_resmlp_b24": report.MATCH,
        "throughput_lower_than_vip": report.MISMATCH,  # 25% slower, not 16-18%
    }
    # The claim's other pairs (DynaMixer-S/ViP-S/7, -L/-L/7) are not rows of Table 4.
    assert [c.outcome for c in checks[4:]] == [report.NOT_CHECKED] * 2


def test_report_counts_checks_and_lists_every_mismatch(tmp_path: Path) -> None:
    measurements = _fixed_measurements()
    checks, unbuilt_rows, unbuilt_figures = report.build_checks(measurements, [], tmp_path)
    text = report.render_report(checks, unbuilt_rows, unbuilt_figures, measurements)
    mismatches = [c for c in checks if c.outcome == report.MISMATCH]
    matches = [c for c in checks if c.outcome == report.MATCH]
    assert f"{len(matches) + len(mismatches)} figures checked: {len(matches)} match, " in text
    for check in mismatches:
        assert f"**{check.source}, {check.subject}, {check.kind}**" in text
    table8 = {c.subject: c for c in checks if c.source == "Table 8" and c.kind == "params"}
    assert table8["- channel fusion"].how == "rounding and truncation"
    assert unbuilt_rows == sum(
        row_key is None for n in (2, 3, 9) for row_key in map(tables.row_key, TABLES[n].rows)
    )
    assert "not checked: run nox -s reproduce_table4" in text


def test_table8_construction_explains_the_channel_fusion_count() -> None:
    lines = report.table8_construction()
    channel = next(line for line in lines if "channel fusion" in line)
    assert "23,495,016" in channel and "24,054,120" in channel and "(not 23M)" in channel


# ---------------------------------------------------------------------------------------------
# Figure 1


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
    points = figure1.measured_points([_record()], {"dynamixer_s": 26_265_960})
    assert points.to_dict("records") == [
        {"label": "DynaMixer-S", "params_m": 26.26596, "top1": 82.31}
    ]
    path = figure1.write_figure([_record()], tmp_path / "figure1.png")
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


# ---------------------------------------------------------------------------------------------
# The command, end to end on fixed counts


def test_main_writes_every_output_and_check_mode_finds_a_moved_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(tables, "measure", lambda keys, **_: _fixed_measurements())
    runs = tmp_path / "runs"
    assert tables.main(["--output-dir", str(tmp_path), "--runs-dir", str(runs)]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    expected = {f"table{n}.{ext}" for n in TABLE_SPECS for ext in ("md", "csv")}
    assert expected | {"REPORT.md", "figure1.png"} <= names
    assert tables.main(["--check", "--output-dir", str(tmp_path), "--runs-dir", str(runs)]) == 0
    csv = tmp_path / "table6.csv"
    frame = tables.read_committed(csv)
    frame.loc[1, "measured_params"] = 1
    frame.to_csv(csv, index=False)
    capsys.readouterr()
    assert tables.main(["--check", "--output-dir", str(tmp_path), "--runs-dir", str(runs)]) == 1
    assert "Table 6, row 2 'DynaMixer-S': measured_params was 1, now " in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# benchmarks.external


def test_timm_models_are_counted_without_downloading_and_bad_names_fail_clearly() -> None:
    record = count_timm_params("resnet18")
    assert record.params == 11_689_512 and record.environment.device == "meta"
    with pytest.raises(ValueError, match=r"has no model 'resnet_18'.*resnet18"):
        check_timm_name("resnet_18")


def test_records_are_plain_frozen_data() -> None:
    measured = _fixed_measurements()[MeasureKey("zoo", "dynamixer_s")]
    with pytest.raises(dataclasses.FrozenInstanceError):
        measured.key = MeasureKey("timm", "resnet18")  # type: ignore[misc]
