"""`python -m reproduce mlp-zoo`: defaults, bad input, files written, re-rendering, a run."""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd
import pytest
import torch

import benchmarks.sweep as sweep
from benchmarks.gemm import measure_gemm_peak
from benchmarks.settings import ThroughputSettings
from common.files import RESULTS_DIR
from reproduce.commands import mlp_zoo as zoo_command
from reproduce.render.mlp_zoo import render_mlp_zoo
from reproduce.tables.mlp_zoo import mlp_zoo_frame, select_entries, zoo_entries
from tests.benchmarks.conftest import fixed_rows
from tests.conftest import refusal


def test_defaults_time_every_row_at_batch_32_after_a_warm_up_at_that_batch() -> None:
    options = zoo_command.parse_options([])
    assert options.entries == zoo_entries()
    assert options.settings == ThroughputSettings(device="cpu", batch_size=32, warmup=1, iters=2)
    assert options.output_dir == RESULTS_DIR


BAD_INPUT = [
    (["--models", "resnet18"], "'resnet18' is not a model of the zoo table"),
    (["--amp", "fp16"], "fp16 autocast is for cuda devices"),
    (["--batch-size", "0"], "batch_size must be an integer >= 1; got 0"),
    (["--iters", "0"], "iters must be an integer >= 1; got 0"),
    (["--compile", "fastest"], "invalid choice: 'fastest'"),
    (["--device", "tpu"], "unknown device 'tpu'"),
]
if not torch.cuda.is_available():
    BAD_INPUT.append((["--device", "cuda"], "CUDA is not available here"))


@pytest.mark.parametrize(("argv", "message"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_exits_2_with_one_line_before_anything_is_built(
    argv: list[str],
    message: str,
    no_model_is_built: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = refusal(zoo_command.main, [*argv, "--output-dir", str(tmp_path)], capsys)
    error = err.strip().splitlines()[-1]
    assert error.startswith("python -m reproduce mlp-zoo: error: ") and message in error
    assert list(tmp_path.iterdir()) == []


def test_outputs_are_written_atomically_and_render_again_from_the_csv(tmp_path: Path) -> None:
    seconds = {"resmlp_s24": [2.0, 2.0], "convmlp_s": [1.0, 1.5]}
    run = fixed_rows(seconds, settings=ThroughputSettings(iters=2, warmup_batch_size=2))
    frame = mlp_zoo_frame(run, select_entries(zoo_entries(), ["resmlp_s24", "convmlp_s"]))
    markdown, csv, figure = zoo_command.write_outputs(frame, tmp_path)
    names = ["mlp_zoo_cpu_subset.csv", "mlp_zoo_cpu_subset.md", "mlp_zoo_cpu_subset.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == names  # no temporary files left
    text = markdown.read_text(encoding="utf-8")
    assert text == render_mlp_zoo(frame, figure.name) and "(mlp_zoo_cpu_subset.png)" in text
    assert render_mlp_zoo(pd.read_csv(csv), figure.name) == text  # the CSV alone renders it
    markdown.unlink()
    assert zoo_command.main(["--render", str(csv)]) == 0
    assert markdown.read_text(encoding="utf-8") == text


def test_render_refuses_a_csv_that_is_not_a_zoo_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "table4.csv"
    other.write_text("model,images_per_s\nresmlp_s24,5.0\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        zoo_command.main(["--render", str(other)])
    assert exit_info.value.code == 2
    assert "is not a zoo CSV: it has no column" in capsys.readouterr().err


def test_a_tiny_real_run_of_two_small_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    small_peak = functools.partial(measure_gemm_peak, shape=(256, 256, 256))
    monkeypatch.setattr(sweep, "measure_gemm_peak", small_peak)
    argv = ["--models", "convmlp_s", "cyclemlp_b1", "--batch-size", "1", "--iters", "2"]
    assert zoo_command.main([*argv, "--output-dir", str(tmp_path)]) == 0
    frame = pd.read_csv(tmp_path / "mlp_zoo_cpu_batch1_subset.csv")
    assert list(frame["label"]) == ["ConvMLP-S", "CycleMLP-B1", "CycleMLP-B1"]  # both routes
    assert (frame["infer_samples_per_sec"] > 0).all() and set(frame["infer_img_size"]) == {224}
    assert frame["paper_top1"].tolist()[0] == 76.8 and pd.isna(frame["paper_top1"].tolist()[1])
    assert (tmp_path / "mlp_zoo_cpu_batch1_subset.png").stat().st_size > 0
    assert "expected" in capsys.readouterr().err
