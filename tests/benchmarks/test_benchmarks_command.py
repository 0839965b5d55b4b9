"""`python -m benchmarks`: options, bad input refused before anything is built, a tiny real run."""

from __future__ import annotations

import functools
import runpy
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from benchmarks import cli, sweep
from benchmarks.gemm import measure_gemm_peak
from benchmarks.settings import ThroughputSettings
from common.files import RESULTS_DIR
from tests.conftest import refusal

TIMM_COLUMNS = [
    "model",
    "infer_img_size",
    "infer_batch_size",
    "infer_samples_per_sec",
    "infer_step_time",
    "param_count",
    "infer_gmacs",
    "train_img_size",
    "train_batch_size",
    "train_samples_per_sec",
    "train_step_time",
]


def test_defaults_time_inference_at_batch_32_warming_up_at_the_same_batch_on_the_cpu() -> None:
    options = cli.parse_options(["dynamixer_s", "vip_s7"])
    assert [spec.name for spec in options.specs] == ["dynamixer_s", "vip_s7"]
    assert options.settings == ThroughputSettings(device="cpu", batch_size=32, warmup=1, iters=3)
    assert options.steps == ("inference",)
    assert options.input_sizes == {"dynamixer_s": (3, 224, 224), "vip_s7": (3, 224, 224)}
    assert options.results_file == RESULTS_DIR / "benchmark-infer-fp32-nchw-cpu.csv"
    compiled = cli.parse_options(["dynamixer_s", "--compile", "--bench", "both", "--amp", "bf16"])
    assert compiled.settings.warmup_batch == 32
    small = cli.parse_options(["vip_s7", "--warmup-batch-size", "2"])
    assert small.settings.warmup_batch == 2  # still there for a quick look
    assert compiled.steps == ("inference", "train")
    assert compiled.results_file.name == "benchmark-both-amp-bf16-nchw-compile-default-cpu.csv"


BAD_INPUT = [
    (["dynamixr_s"], "unknown model 'dynamixr_s': neither the zoo nor timm"),
    (["dynamixr_s"], "Did you mean 'dynamixer_s'"),
    (["nothing_like_it_*"], "'nothing_like_it_*' matches no zoo or timm model"),
    (["dynamixer_s", "--amp", "fp16"], "fp16 autocast is for cuda devices"),
    (["dynamixer_s", "--amp", "fp8"], "invalid choice: 'fp8'"),
    (["dynamixer_s", "--batch-size", "0"], "batch_size must be an integer >= 1; got 0"),
    (["dynamixer_s", "--iters", "0"], "iters must be an integer >= 1; got 0"),
    (["dynamixer_s", "--warmup-batch-size", "0"], "warmup_batch_size must be an integer >= 1"),
    (["dynamixer_s", "--compile", "fastest"], "argument --compile: invalid choice: 'fastest'"),
    (["dynamixer_s", "--device", "tpu"], "unknown device 'tpu'; accepted: cpu, cuda"),
    (["resmlp_s12", "--img-size", "32"], "resmlp_s12 takes only 224x224 input"),
    (["convmlp_s", "--img-size", "0"], "--img-size must be an integer >= 1; got 0"),
]
if not torch.cuda.is_available():
    BAD_INPUT.append((["dynamixer_s", "--device", "cuda"], "CUDA is not available here"))


@pytest.mark.parametrize(("argv", "message"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_clear_line_and_exit_2_before_anything_is_built(
    argv: list[str],
    message: str,
    no_model_is_built: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = refusal(cli.main, [*argv, "--results-file", str(tmp_path / "out.csv")], capsys)
    error = err.strip().splitlines()[-1]
    assert error.startswith("python -m benchmarks: error: ") and message in error
    assert list(tmp_path.iterdir()) == []


def test_a_model_that_cannot_run_at_its_size_fails_in_counting_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Hire-MLP pads its token grid to whole regions: below 19x19 it refuses, which counting on
    # the meta device finds before any model is built for timing.
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["hire_mlp_ti", "--img-size", "8", "--results-file", str(tmp_path / "out.csv")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (
        "python -m benchmarks: error: hire_mlp_ti does not run at input (3, 8, 8): ValueError: "
        + "this Hire-MLP needs images of at least 19x19 (each stage pads its token grid to "
        + "whole regions); got 8x8"
    )
    assert "Traceback" not in err and list(tmp_path.iterdir()) == []


def test_a_tiny_run_writes_timms_columns_and_the_provenance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A small yardstick keeps the test short; the models are real and really timed.
    small_peak = functools.partial(measure_gemm_peak, shape=(256, 256, 256))
    monkeypatch.setattr(sweep, "measure_gemm_peak", small_peak)
    out = tmp_path / "tiny.csv"
    argv = ["dynamixer_digits", "convmlp_s", "--img-size", "32", "-b", "1", "--iters", "2"]
    assert cli.main([*argv, "--bench", "both", "--results-file", str(out)]) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns[: len(TIMM_COLUMNS)]) == TIMM_COLUMNS
    assert list(frame["model"]) == ["dynamixer_digits", "convmlp_s"]
    assert set(frame["infer_img_size"]) == {32} and set(frame["infer_batch_size"]) == {1}
    assert (frame["infer_samples_per_sec"] > 0).all() and (frame["train_samples_per_sec"] > 0).all()
    assert frame["param_count"].iloc[1] == pytest.approx(9.02292)  # ConvMLP-S, millions
    assert [len(s.split()) for s in frame["infer_batch_seconds"]] == [2, 2]
    assert set(frame["precision"]) == {"fp32"} and set(frame["device"]) == {"cpu"}
    assert set(frame["warmup_batch_size"]) == {1} and (frame["gemm_peak_gflops"] > 0).all()
    for column in (
        "device_name",
        "cpu_bf16",
        "native_bf16",
        "threads",
        "torch",
        "date",
        "infer_mfu",
    ):
        assert frame[column].notna().all()
    output = capsys.readouterr()
    assert "expected" in output.err and f"wrote {out}" in output.out
    # Before anything is timed, a rough duration for each step; after its warm-up, a closer one.
    assert output.err.count("rounds: roughly ") == 2 and output.err.count(": expected ") == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.csv"]  # no temporary files


def test_python_dash_m_benchmarks_is_the_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["benchmarks", "--help"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("benchmarks", run_name="__main__")
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: python -m benchmarks")
