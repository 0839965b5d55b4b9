"""Table 4 in bf16 autocast on the CPU: accepted, named, and captioned as native or emulated."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import benchmarks.settings as settings_module
from benchmarks.settings import ThroughputSettings
from reproduce.commands import table4 as table4_command
from tests.reproduce.conftest import ENVIRONMENT, fixed_result, frame_of, render, stem

BF16 = ThroughputSettings(batch_size=32, amp="bf16", warmup=1, iters=3)


def test_bf16_autocast_is_accepted_on_the_cpu_and_fp16_is_not() -> None:
    options = table4_command.parse_options(["--amp", "bf16"])
    assert (options.settings.device, options.settings.amp) == ("cpu", "bf16")
    with pytest.raises(ValueError, match=r"fp16 autocast is for cuda devices.*--amp bf16"):
        table4_command.parse_options(["--amp", "fp16"])


def test_caption_says_whether_the_cpu_ran_bf16_natively() -> None:
    emulated = fixed_result(
        settings=BF16, environment=dataclasses.replace(ENVIRONMENT, cpu_bf16=())
    )
    assert stem(emulated) == "table4_amp-bf16"
    assert "bf16 is emulated on this CPU (no AVX512-BF16 or AMX)" in render(emulated)
    native = fixed_result(
        settings=BF16, environment=dataclasses.replace(ENVIRONMENT, cpu_bf16=("avx512_bf16",))
    )
    assert "bf16 runs natively on this CPU (avx512_bf16)" in render(native)
    fp32 = render(fixed_result())
    assert "bf16 is emulated" not in fp32 and "bf16 runs natively" not in fp32
    frame = frame_of(native)
    assert set(frame["cpu_bf16"]) == {"avx512_bf16"} and set(frame["native_bf16"]) == {True}


def test_the_command_warns_in_one_line_where_bf16_is_emulated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    emulated = fixed_result(
        settings=BF16, environment=dataclasses.replace(ENVIRONMENT, cpu_bf16=())
    )
    monkeypatch.setattr(table4_command, "run", lambda *args: emulated)
    monkeypatch.setattr(settings_module, "cpu_bf16_flags", lambda: ())
    assert table4_command.main(["--amp", "bf16", "--output-dir", str(tmp_path)]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "bf16" in line]
    assert len(warnings) == 1 and "emulated and slower than fp32" in warnings[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "table4_amp-bf16.csv",
        "table4_amp-bf16.md",
    ]
