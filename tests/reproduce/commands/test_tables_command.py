"""`python -m reproduce tables` end to end on fixed counts, and its --check mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from reproduce.commands import tables as tables_command
from reproduce.tables.counts import (
    read_committed,
)
from reproduce.tables.specs import (
    COUNTED_TABLES,
)
from tests.reproduce.conftest import (
    fixed_measurements,
)


def test_main_writes_every_output_and_check_mode_finds_a_moved_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(tables_command, "count_models", lambda keys, **_: fixed_measurements(keys))
    runs = tmp_path / "runs"
    assert tables_command.main(["--output-dir", str(tmp_path), "--runs-dir", str(runs)]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    expected = {f"table{n}.{ext}" for n in COUNTED_TABLES for ext in ("md", "csv")}
    assert expected | {"REPORT.md", "figure1.png"} <= names
    assert (
        tables_command.main(["--check", "--output-dir", str(tmp_path), "--runs-dir", str(runs)])
        == 0
    )
    csv = tmp_path / "table6.csv"
    frame = read_committed(csv)
    frame.loc[1, "measured_params"] = 1
    frame.to_csv(csv, index=False)
    capsys.readouterr()
    assert (
        tables_command.main(["--check", "--output-dir", str(tmp_path), "--runs-dir", str(runs)])
        == 1
    )
    assert "Table 6, row 2 'DynaMixer-S': measured_params was 1, now " in capsys.readouterr().out


def test_an_unreadable_record_is_one_line_naming_the_file(tmp_path, capsys) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "train_digits_abc.json").write_text('{"status": "completed", "kind": ')
    with pytest.raises(SystemExit) as exit_status:
        tables_command.main(["--runs-dir", str(runs), "--output-dir", str(tmp_path / "out")])
    assert exit_status.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "Traceback" not in error
    assert f"results store record {runs / 'train_digits_abc.json'} is not valid JSON" in error
    assert not (tmp_path / "out").exists()
