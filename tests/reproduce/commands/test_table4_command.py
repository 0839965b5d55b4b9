"""`python -m reproduce table4`: options, bad input, submitit executors, a quick real run."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import submitit
import torch

from benchmarks.settings import ThroughputSettings
from common.files import REPO_ROOT, RESULTS_DIR
from common.launch import SlurmOptions
from reproduce.commands import table4 as table4_command
from reproduce.tables import table4_measurement
from reproduce.tables.table4_measurement import Table4Job
from tests.conftest import refusal
from tests.reproduce.conftest import (
    ORDER,
    PARAMS,
    RATES,
    TABLE,
    fixed_result,
    frame_of,
    markdown_table,
    render,
)


def test_csv_and_markdown_are_written_atomically_and_traceable(tmp_path: Path) -> None:
    result = fixed_result()
    markdown, csv = table4_command.write_outputs(frame_of(result), tmp_path)
    assert (markdown.name, csv.name) == ("table4.md", "table4.csv")
    assert markdown.read_text(encoding="utf-8") == render(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table4.csv", "table4.md"]  # no temps
    frame = pd.read_csv(csv)
    assert list(frame["name"]) == ORDER
    assert list(frame["params"]) == [PARAMS[n] for n in ORDER]
    assert list(frame["infer_samples_per_sec"]) == [RATES[n] for n in ORDER]
    # The benchmark frame's columns (timm's names first), the paper's beside them.
    for column in ("paper_images_per_s", "infer_batch_seconds", "device_name", "torch", "date"):
        assert column in frame.columns
    assert render(result) == table4_command.render_table4(pd.read_csv(csv))  # CSV re-renders
    assert set(frame["device_name"]) == {"Test CPU 9000"}


def test_default_and_quick_options() -> None:
    options = table4_command.parse_options([])
    assert options.models == tuple(ORDER)
    assert options.settings == ThroughputSettings(device="cpu", batch_size=32, warmup=1, iters=3)
    assert (options.executor, options.output_dir) == ("local", RESULTS_DIR)  # repository root
    quick = table4_command.parse_options(["--quick", "--models", "dynamixer_s", "resmlp_s24"])
    assert quick.models == ("resmlp_s24", "dynamixer_s")  # the paper's order
    assert (quick.settings.batch_size, quick.settings.warmup, quick.settings.iters) == (2, 1, 2)
    explicit = table4_command.parse_options(["--quick", "--iters", "5", "--batch-size", "4"])
    assert (explicit.settings.batch_size, explicit.settings.iters) == (4, 5)
    assert not options.fused and table4_command.parse_options(["--fused"]).fused
    assert not options.settings.compile
    plain_compile = table4_command.parse_options(["--compile"]).settings
    assert (plain_compile.compile, plain_compile.compile_mode) == (True, "default")
    graphs = table4_command.parse_options(["--compile", "reduce-overhead"]).settings
    assert (graphs.compile, graphs.compile_mode) == (True, "reduce-overhead")


BAD_INPUT = [
    (["--device", "tpu"], "unknown device 'tpu'; accepted: cpu, cuda"),
    (["--amp", "fp16"], "fp16 autocast is for cuda devices"),
    (["--batch-size", "0"], "batch_size must be an integer >= 1; got 0"),
    (["--iters", "0"], "iters must be an integer >= 1; got 0"),
    (["--models", "dynamixer_xl"], "unknown model 'dynamixer_xl'"),
    (["--models", "dynamixer_l"], "'dynamixer_l' is not a row of Table 4"),
    (["--executor", "kubernetes"], "invalid choice: 'kubernetes'"),
    (["--compile", "fastest"], "invalid choice: 'fastest'"),
]
if not torch.cuda.is_available():
    BAD_INPUT.append((["--device", "cuda"], "CUDA is not available here"))


@pytest.mark.parametrize(("argv", "message"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_exits_with_a_clear_message_before_building_a_model(
    argv: list[str],
    message: str,
    no_model_is_built: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = refusal(table4_command.main, [*argv, "--output-dir", str(tmp_path)], capsys)
    assert message in err
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def stand_in_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``sbatch``/``srun``/``sacct`` on PATH that accept a submission without a cluster."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scripts = {
        "sbatch": 'cp "$1" "$(dirname "$0")/submitted.sh"\necho "Submitted batch job 4242"\n',
        "srun": "exit 0\n",
        "sacct": "exit 0\n",
    }
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


def test_slurm_executor_builds_one_job_with_the_requested_resources(
    stand_in_slurm: Path, tmp_path: Path
) -> None:
    argv = ["--executor", "slurm", "--device", "cuda", "--amp", "bf16", "--partition", "gpu"]
    argv += ["--timeout-min", "30", "--log-dir", str(tmp_path / "logs")]
    # The GPU is checked on the node, not here: this parses on a machine without CUDA.
    options = table4_command.parse_options(argv)
    assert options.slurm == SlurmOptions(
        partition="gpu", gpus_per_node=1, cpus_per_task=2, timeout_min=30
    )
    assert options.settings == ThroughputSettings(device="cuda", amp="bf16", warmup=10, iters=50)
    job = Table4Job(options.models, options.settings, options.quick)
    submitted = table4_measurement.submit_table4(
        job, options.executor, options.log_dir, options.slurm
    )
    assert submitted.job_id == "4242"
    script = (stand_in_slurm / "submitted.sh").read_text()
    for line in (
        "#SBATCH --partition=gpu",
        "#SBATCH --gpus-per-node=1",
        "#SBATCH --time=30",
        "#SBATCH --job-name=table4",
        "#SBATCH --cpus-per-task=2",
    ):
        assert line in script, f"{line!r} not in the sbatch script:\n{script}"
    assert "submitit.core._submit" in script
    delayed = submitit.helpers.DelayedSubmission.load(submitted.paths.submitted_pickle)
    assert delayed.function == job
    requeued = job.checkpoint()
    assert requeued.function == job


def test_slurm_without_a_cluster_fails_before_measuring(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], no_model_is_built: None
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SystemExit):
        table4_command.main(["--executor", "slurm", "--device", "cuda"])
    assert "--executor slurm needs Slurm's sbatch" in capsys.readouterr().err


def test_debug_executor_runs_the_job_through_submitit(tmp_path: Path) -> None:
    argv = ["--quick", "--models", "resmlp_s24", "--executor", "debug"]
    argv += ["--log-dir", str(tmp_path / "logs"), "--output-dir", str(tmp_path)]
    assert table4_command.main(argv) == 0
    frame = pd.read_csv(tmp_path / "table4_quick.csv")
    assert list(frame["model"]) == ["resmlp_s24"] and frame.loc[0, "infer_samples_per_sec"] > 0


def _check_quick_run(tmp_path: Path, models: list[str], out: str) -> None:
    text = (tmp_path / "table4_quick.md").read_text(encoding="utf-8")
    assert text in out  # printed at the end, as written
    assert text.startswith("**Table 4, measured.** QUICK SMOKE RUN")
    frame = markdown_table(text)
    labels = {row.zoo_name: row.label for row in TABLE.rows}
    assert list(frame["Model"]) == [labels[m] for m in models]
    numbers = pd.read_csv(tmp_path / "table4_quick.csv")
    assert list(numbers["name"]) == models and set(numbers["status"]) == {"ok"}
    assert (numbers["infer_samples_per_sec"] > 0).all()
    assert set(numbers["infer_batch_size"]) == {2} and set(numbers["iters"]) == {2}
    assert set(numbers["device"]) == {"cpu"}
    expected = {"resmlp_s24": 30020680, "dynamixer_s": 26265960}
    for name, count in expected.items():
        if name in models:
            assert numbers.set_index("name").loc[name, "params"] == count
    if "dynamixer_s" in models:
        assert numbers.set_index("name").loc["dynamixer_s", "overrides"] == "{'fused': False}"
    assert "Generated by `nox -s reproduce_table4`" in text


def test_quick_run_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    models = ["resmlp_s24", "dynamixer_s"]
    assert table4_command.main(["--quick", "--models", *models, "--output-dir", str(tmp_path)]) == 0
    _check_quick_run(tmp_path, models, capsys.readouterr().out)


@pytest.mark.slow
def test_quick_run_of_all_six_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert table4_command.main(["--quick", "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    _check_quick_run(tmp_path, ORDER, out)
    assert "Claims on this device" in out


def test_resume_keeps_the_rows_held_and_never_compares_rows_of_two_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = ["--quick", "--models", "resmlp_s24", "dynamixer_s", "--output-dir", str(tmp_path)]
    assert table4_command.main(first) == 0
    csv = tmp_path / "table4_quick.csv"
    before = pd.read_csv(csv).set_index("name")
    more = ["--quick", "--models", "resmlp_s24", "resmlp_b24", "dynamixer_s"]
    assert table4_command.main([*more, "--output-dir", str(tmp_path), "--resume", str(csv)]) == 0
    after = pd.read_csv(csv).set_index("name")
    assert list(after.index) == ["resmlp_s24", "resmlp_b24", "dynamixer_s"]
    held = after.loc["dynamixer_s"]
    assert held["infer_batch_seconds"] == before.loc["dynamixer_s", "infer_batch_seconds"]
    assert held["run_started"] == before.loc["dynamixer_s", "run_started"]
    assert after.loc["resmlp_b24", "run_started"] != held["run_started"]
    # DynaMixer-S and ResMLP-B24 shared no rounds: the claim about them is not checked.
    out = capsys.readouterr().out
    assert "DynaMixer-S faster than ResMLP B24" not in out


def test_resume_refuses_another_settings_file_or_the_other_dynamixer_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_model_is_built: None
) -> None:
    csv = tmp_path / "table4.csv"
    table4_command.write_outputs(frame_of(fixed_result()), tmp_path)
    err = refusal(table4_command.main, ["--quick", "--resume", str(csv)], capsys)
    assert "was made with requested_batch_size=32; this run has requested_batch_size=2" in err
    frame = pd.read_csv(csv)
    frame["torch"], frame["threads"] = torch.__version__, torch.get_num_threads()
    frame["timm"] = table4_command.held_rows.__globals__["library_version"]("timm")
    frame.to_csv(csv, index=False)
    err = refusal(table4_command.main, ["--fused", "--resume", str(csv)], capsys)
    assert "was made with fused=False; this run has fused=True" in err
    other = tmp_path / "other.csv"
    other.write_text("model,images_per_s\nresmlp_s24,5.0\n", encoding="utf-8")
    err = refusal(table4_command.main, ["--resume", str(other)], capsys)
    assert "is not an output of this suite's sweeps" in err


def test_ctrl_c_ends_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    """A real child process, interrupted by SIGINT while it times."""
    argv = ["--quick", "--iters", "50", "--models", "resmlp_s24", "dynamixer_s"]
    command = [sys.executable, "-m", "reproduce", "table4", *argv, "--output-dir", str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stderr is not None
    seen = []
    for line in child.stderr:  # the interleaved rounds' progress bar: timing has begun
        seen.append(line)
        if "interleaved:" in line and "img/s" in line:
            break
    child.send_signal(signal.SIGINT)
    _, rest = child.communicate(timeout=120)
    stderr = "".join(seen) + rest
    assert child.returncode == 130, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("python -m reproduce table4: interrupted before any of 2 models")
    assert "start again: python -m reproduce table4 --quick" in last
    assert list(tmp_path.iterdir()) == []  # nothing half-written
