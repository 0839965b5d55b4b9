"""reproduce.table4: rendering fixed records, options and bad input, submitit jobs, end to end."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pandas as pd
import pytest
import submitit
import torch

import benchmarks.measure as measure
from benchmarks.measure import Environment, FlopCount, ParamCount, Throughput, ThroughputSettings
from reproduce import table4
from reproduce.launch import SlurmOptions
from reproduce.paper import TABLES
from reproduce.table4 import RowMeasurement, Table4Job, Table4Result
from tests.reproduce.conftest import ENVIRONMENT, META

TABLE = TABLES[4]
ORDER = ["resmlp_s24", "resmlp_b24", "vip_m7", "dynamixer_s", "vip_l7", "dynamixer_m"]

PARAMS = dict(
    zip(ORDER, [30020680, 115736776, 55272488, 26265960, 87784936, 57128264], strict=True)
)
MACS = dict(
    zip(
        ORDER,
        [5964981736, 23028090856, 16305051944, 7315402216, 24369603560, 17003395368],
        strict=True,
    )
)
# Made-up measured medians, unlike any paper figure, chosen so the claims come out known:
# DynaMixer-S 1.25x ViP-M/7 and 2.00x ResMLP-B24; DynaMixer-M 25% slower than ViP-M/7.
RATES = dict(zip(ORDER, [40.0, 10.0, 16.0, 20.0, 9.0, 12.0], strict=True))
GEMM_PEAK = 1000.0  # GFLOP/s, made up: MFU = 2 x MACs x images/s / 1e12


def fixed_result(
    rates: dict[str, float] = RATES,
    models: list[str] = ORDER,
    settings: ThroughputSettings | None = None,
    environment: Environment = ENVIRONMENT,
    quick: bool = False,
    fused: bool = False,
    gemm_peak_gflops: float | None = GEMM_PEAK,
) -> Table4Result:
    """A Table 4 result built from fixed records (no model is built)."""
    settings = settings or ThroughputSettings(batch_size=32, warmup=1, iters=3)
    labels = {row.zoo_name: row.label for row in TABLE.rows}
    rows = []
    for name in models:
        median = rates[name]
        seconds = tuple(settings.batch_size / r for r in (median * 0.9, median, median * 1.1))
        throughput = Throughput(
            model=name,
            overrides={},
            batch_size=settings.batch_size,
            input_size=(3, 224, 224),
            precision=settings.precision,
            channels_last=settings.channels_last,
            compiled=settings.compile,
            compile_mode=settings.compile_mode if settings.compile else None,
            warmup=settings.warmup,
            iters=3,
            batch_seconds=seconds,
            median_images_per_s=median,
            min_images_per_s=median * 0.9,
            max_images_per_s=median * 1.1,
            load_average_before=1.5,
            load_average_after=2.0,
            environment=environment,
        )
        params = ParamCount(model=name, overrides={}, params=PARAMS[name], environment=META)
        flops = FlopCount(
            model=name,
            overrides={},
            input_size=(3, 224, 224),
            macs=MACS[name],
            counter="ptflops 0.7.5, aten backend",
            environment=META,
        )
        rows.append(RowMeasurement(labels[name], params, flops, throughput))
    return Table4Result(
        tuple(rows),
        settings,
        environment,
        wall_seconds=123.4,
        quick=quick,
        fused=fused,
        gemm_peak_gflops=gemm_peak_gflops,
    )


def markdown_table(text: str) -> pd.DataFrame:
    """The pipe table in a rendered file, read back as strings."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    del lines[1]  # the |:---| alignment row
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return pd.DataFrame(cells[1:], columns=cells[0])


# ---------------------------------------------------------------------------------------------
# The renderer, on fixed records


def test_layout_paper_beside_measured_in_the_papers_row_order() -> None:
    text = table4.render_markdown(fixed_result())
    frame = markdown_table(text)
    device = "measured (Test CPU 9000, cpu, 2 threads, fp32)"
    assert list(frame.columns) == [
        "Model",
        "# Param, paper",
        "# Param, measured",
        "FLOPs, paper",
        "FLOPs, measured",
        "Throughput image/s, paper (V100)",
        f"Throughput image/s, {device} [min–max]",
        "vs ResMLP S24, paper",
        "vs ResMLP S24, measured",
        "MFU, measured",
        "Top-1 (%), paper",
    ]
    assert list(frame["Model"]) == [row.label for row in TABLE.rows]
    for (_, cells), row in zip(frame.iterrows(), TABLE.rows, strict=True):
        # Paper cells are the paper's text (read from reproduce.paper) ...
        assert cells["# Param, paper"] == row.cells["# Param"]
        assert cells["FLOPs, paper"] == row.cells["FLOPs"]
        assert cells["Throughput image/s, paper (V100)"] == row.cells["Throughput image/s"]
        assert cells["Top-1 (%), paper"] == row.cells["Top-1 (%)"]
        # ... and measured cells come from the records, never from the paper.
        name = str(row.zoo_name)
        assert cells["# Param, measured"] == f"{PARAMS[name] / 1e6:.2f}M"
        assert cells["FLOPs, measured"] == f"{MACS[name] / 1e9:.2f}G"
        median = RATES[name]
        measured = cells[f"Throughput image/s, {device} [min–max]"]
        assert measured.startswith(f"{median:.1f} [") or measured.startswith(f"{median:.2f} [")
    assert frame.loc[3, f"Throughput image/s, {device} [min–max]"] == "20.0 [18.0–22.0]"


def test_mfu_is_achieved_flops_over_the_measured_gemm_peak() -> None:
    result = fixed_result()
    frame = table4.build_frame(result)
    # DynaMixer-S: 2 x 7.315 GMACs x 20 img/s = 292.6 GFLOP/s of a 1000 GFLOP/s peak.
    row = frame.set_index("model").loc["dynamixer_s"]
    assert row["gflop_per_s"] == pytest.approx(2 * MACS["dynamixer_s"] * 20.0 / 1e9)
    assert row["mfu"] == pytest.approx(0.2926, abs=1e-4)
    shown = markdown_table(table4.render_markdown(result))
    assert list(shown["MFU, measured"]) == ["48%", "46%", "52%", "29%", "44%", "41%"]
    assert (
        "the best of 5 calls of one 2048×2048×2048 linear before and 5 after the rows, fp32: 1000.0"
        in (table4.render_markdown(result))
    )
    blank = table4.render_markdown(fixed_result(gemm_peak_gflops=None))
    assert set(markdown_table(blank)["MFU, measured"]) == {"–"}
    assert "MFU not measured" in blank


def test_relative_throughput_columns() -> None:
    frame = markdown_table(table4.render_markdown(fixed_result()))
    paper = frame.set_index("Model")["vs ResMLP S24, paper"]
    measured = frame.set_index("Model")["vs ResMLP S24, measured"]
    assert paper["ResMLP S24"] == measured["ResMLP S24"] == "1.00"
    assert paper["DynaMixer-S"] == f"{551 / 680:.2f}" == "0.81"
    assert measured["DynaMixer-S"] == "0.50"  # 20 / 40
    assert measured["ViP-L/7"] == f"{9 / 40:.2f}"
    numbers = table4.build_frame(fixed_result()).set_index("model")
    assert numbers.loc["resmlp_b24", "relative"] == pytest.approx(0.25)
    assert numbers.loc["resmlp_b24", "paper_relative"] == pytest.approx(215 / 680)


def test_relative_columns_are_blank_without_the_reference_row() -> None:
    result = fixed_result(models=["vip_m7", "dynamixer_s"])
    frame = markdown_table(table4.render_markdown(result))
    assert list(frame["vs ResMLP S24, measured"]) == ["–", "–"]
    assert list(frame["vs ResMLP S24, paper"]) == [f"{390 / 680:.2f}", f"{551 / 680:.2f}"]


def test_claim_footnote_says_which_claims_hold() -> None:
    text = table4.render_markdown(fixed_result())
    footnote = text.split("Claims on this device (Test CPU 9000, cpu, 2 threads, fp32):")[1]
    assert "- DynaMixer-S faster than ViP-M/7: paper 1.41x, measured 1.25x" in footnote
    assert "- DynaMixer-S faster than ResMLP B24: paper 2.56x, measured 2.00x" in footnote
    assert (
        "- DynaMixer-M about 16%–18% slower than ViP-M/7: paper 16.4% (Table 4), "
        + "measured 25.0% (slower) — does not hold"
    ) in footnote
    assert (
        "- DynaMixer-M about 5% larger than ViP-M/7: paper +3.6% params, +4.3% FLOPs; "
        + "measured +3.4% params, +4.3% FLOPs — holds"
    ) in footnote
    checks = {
        c.text.split(":")[0]: c.holds
        for c in table4.check_claims(table4.build_frame(fixed_result()))
    }
    assert checks == {
        "DynaMixer-S faster than ViP-M/7": True,
        "DynaMixer-S faster than ResMLP B24": True,
        "DynaMixer-M about 16%–18% slower than ViP-M/7": False,
        "DynaMixer-M about 5% larger than ViP-M/7": True,
    }
    # Where DynaMixer-S is the slower one, the claim fails, and says so.
    slower = table4.render_markdown(fixed_result(rates={**RATES, "vip_m7": 25.0}))
    assert "DynaMixer-S faster than ViP-M/7: paper 1.41x, measured 0.80x — does not hold" in slower
    # Only claims whose models were measured are listed.
    partial = table4.render_markdown(fixed_result(models=["resmlp_s24", "dynamixer_s"]))
    assert "Claims on this device" not in partial


def test_caption_says_device_settings_versions_and_duration() -> None:
    caption = table4.render_markdown(fixed_result()).splitlines()[0]
    for text in (
        "Throughput of every model as its authors compute it (DynaMixer fused=False) on ",
        "Test CPU 9000, cpu, 2 threads, fp32",
        "batch 32",
        "median images/s of 3 timed batches after 1 warm-up",
        "load average 1.5–2.0",
        "ptflops 0.7.5, aten backend",
        "torch 2.14.1, timm 1.0.31",
        "2026-01-02T03:04:05+00:00",
        "measuring took 2 min 3 s",
        "batch 32 on one V100",
        TABLE.caption,
    ):
        assert text in caption, text
    assert "shared with other work" not in caption  # load 2.0 = this run's own 2 threads
    quick = table4.render_markdown(fixed_result(quick=True)).splitlines()[0]
    assert "QUICK SMOKE RUN" in quick
    fused = table4.render_markdown(fixed_result(fused=True))
    assert "Throughput of DynaMixer on its fused fast path (fused=True; ViP and ResMLP" in fused
    assert "measured (Test CPU 9000, cpu, 2 threads, fp32, DynaMixer fused) [min–max]" in fused


def test_caption_warns_when_other_work_shared_the_cpu() -> None:
    result = fixed_result()
    busy = dataclasses.replace(
        result.rows[0],
        throughput=dataclasses.replace(result.rows[0].throughput, load_average_after=4.4),
    )
    result = dataclasses.replace(result, rows=(busy, *result.rows[1:]))
    caption = table4.render_markdown(result).splitlines()[0]
    assert "load average 1.5–4.4 while timing on 2 cores (above this run's own threads" in caption


def test_csv_and_markdown_are_written_atomically_and_traceable(tmp_path: Path) -> None:
    result = fixed_result()
    markdown, csv = table4.write_outputs(result, tmp_path)
    assert (markdown.name, csv.name) == ("table4.md", "table4.csv")
    assert markdown.read_text(encoding="utf-8") == table4.render_markdown(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table4.csv", "table4.md"]  # no temps
    frame = pd.read_csv(csv)
    assert list(frame["model"]) == ORDER
    assert list(frame["params"]) == [PARAMS[n] for n in ORDER]
    assert list(frame["images_per_s"]) == [RATES[n] for n in ORDER]
    for column in ("paper_images_per_s", "batch_seconds", "device_name", "torch", "date"):
        assert column in frame.columns
    assert set(frame["device_name"]) == {"Test CPU 9000"}


@pytest.mark.parametrize(
    ("device_name", "short"),
    [
        ("NVIDIA H100 80GB HBM3", "h100"),
        ("NVIDIA A100-SXM4-40GB", "a100"),
        ("Tesla V100-SXM2-16GB", "v100"),
        ("NVIDIA GeForce RTX 4090", "rtx4090"),
        ("NVIDIA L4", "l4"),
    ],
)
def test_gpu_short_name(device_name: str, short: str) -> None:
    assert table4.gpu_short_name(device_name) == short


def test_output_names_say_device_and_non_default_settings() -> None:
    h100 = dataclasses.replace(ENVIRONMENT, device="cuda:0", device_name="NVIDIA H100 80GB HBM3")
    assert table4.output_stem(fixed_result()) == "table4"
    gpu = fixed_result(environment=h100, settings=ThroughputSettings(device="cuda"))
    assert table4.output_stem(gpu) == "table4_h100"
    amp = ThroughputSettings(device="cuda", amp="bf16", compile=True, channels_last=True)
    amp_result = fixed_result(environment=h100, settings=amp)
    assert table4.output_stem(amp_result) == "table4_h100_amp-bf16_channels-last_compile"
    autotuned = dataclasses.replace(amp, compile_mode="max-autotune")
    assert table4.output_stem(fixed_result(environment=h100, settings=autotuned)) == (
        "table4_h100_amp-bf16_channels-last_compile-max-autotune"
    )
    assert table4.output_stem(fixed_result(quick=True)) == "table4_quick"
    assert table4.output_stem(fixed_result(fused=True)) == "table4_fused"
    assert table4.output_stem(fixed_result(settings=ThroughputSettings(batch_size=8))) == (
        "table4_batch8"
    )


# ---------------------------------------------------------------------------------------------
# Options and bad input


def test_default_and_quick_options() -> None:
    options = table4.parse_options([])
    assert options.models == tuple(ORDER)
    assert options.settings == ThroughputSettings(device="cpu", batch_size=32, warmup=1, iters=2)
    assert (options.executor, options.output_dir) == ("local", Path("results"))
    quick = table4.parse_options(["--quick", "--models", "dynamixer_s", "resmlp_s24"])
    assert quick.models == ("resmlp_s24", "dynamixer_s")  # the paper's order
    assert (quick.settings.batch_size, quick.settings.warmup, quick.settings.iters) == (2, 1, 2)
    explicit = table4.parse_options(["--quick", "--iters", "5", "--batch-size", "4"])
    assert (explicit.settings.batch_size, explicit.settings.iters) == (4, 5)
    assert not options.fused and table4.parse_options(["--fused"]).fused
    assert not options.settings.compile
    plain_compile = table4.parse_options(["--compile"]).settings
    assert (plain_compile.compile, plain_compile.compile_mode) == (True, "default")
    graphs = table4.parse_options(["--compile", "reduce-overhead"]).settings
    assert (graphs.compile, graphs.compile_mode) == (True, "reduce-overhead")


def test_dynamixer_rows_time_the_official_computation_unless_fused() -> None:
    rows = {row.zoo_name: row for row in TABLE.rows}
    assert table4.row_spec(rows["dynamixer_s"]).overrides == {"fused": False}
    assert table4.row_spec(rows["dynamixer_m"], fused=True).overrides == {"fused": True}
    assert table4.row_spec(rows["vip_m7"], fused=True).overrides == {}
    assert table4.row_spec(rows["resmlp_s24"]).overrides == {}


@pytest.fixture
def no_model_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a model was built despite bad input: {args} {kwargs}")

    monkeypatch.setattr(measure, "create_model", refuse)


BAD_INPUT = [
    (["--device", "tpu"], "unknown device 'tpu'; accepted: cpu, cuda"),
    (["--amp", "bf16"], "AMP (bf16) is for GPUs"),
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
    with pytest.raises(SystemExit) as exit_info:
        table4.main([*argv, "--output-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Submitit: a Slurm job built for real (a stand-in sbatch records the submission), debug run


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
    options = table4.parse_options(argv)
    assert options.slurm == SlurmOptions(
        partition="gpu", gpus_per_node=1, cpus_per_task=2, timeout_min=30
    )
    assert options.settings == ThroughputSettings(device="cuda", amp="bf16", warmup=10, iters=50)
    job = Table4Job(options.models, options.settings, options.quick)
    submitted = table4.submit_table4(job, options.executor, options.log_dir, options.slurm)
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
        table4.main(["--executor", "slurm", "--device", "cuda"])
    assert "--executor slurm needs Slurm's sbatch" in capsys.readouterr().err


def test_debug_executor_runs_the_job_through_submitit(tmp_path: Path) -> None:
    argv = ["--quick", "--models", "resmlp_s24", "--executor", "debug"]
    argv += ["--log-dir", str(tmp_path / "logs"), "--output-dir", str(tmp_path)]
    assert table4.main(argv) == 0
    frame = pd.read_csv(tmp_path / "table4_quick.csv")
    assert list(frame["model"]) == ["resmlp_s24"] and frame.loc[0, "images_per_s"] > 0


# ---------------------------------------------------------------------------------------------
# End to end: `nox -s reproduce_table4 -- --quick` with the real models


def _check_quick_run(tmp_path: Path, models: list[str], out: str) -> None:
    text = (tmp_path / "table4_quick.md").read_text(encoding="utf-8")
    assert text in out  # printed at the end, as written
    assert text.startswith("**Table 4, measured.** QUICK SMOKE RUN")
    frame = markdown_table(text)
    labels = {row.zoo_name: row.label for row in TABLE.rows}
    assert list(frame["Model"]) == [labels[m] for m in models]
    numbers = pd.read_csv(tmp_path / "table4_quick.csv")
    assert list(numbers["model"]) == models
    assert (numbers["images_per_s"] > 0).all()
    assert set(numbers["batch_size"]) == {2} and set(numbers["iters"]) == {2}
    assert set(numbers["device"]) == {"cpu"}
    expected = {"resmlp_s24": 30020680, "dynamixer_s": 26265960}
    for name, count in expected.items():
        if name in models:
            assert numbers.set_index("model").loc[name, "params"] == count
    if "dynamixer_s" in models:
        assert numbers.set_index("model").loc["dynamixer_s", "overrides"] == "{'fused': False}"
    assert "Generated by `nox -s reproduce_table4`" in text


def test_quick_run_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    models = ["resmlp_s24", "dynamixer_s"]
    assert table4.main(["--quick", "--models", *models, "--output-dir", str(tmp_path)]) == 0
    _check_quick_run(tmp_path, models, capsys.readouterr().out)


@pytest.mark.slow
def test_quick_run_of_all_six_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert table4.main(["--quick", "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    _check_quick_run(tmp_path, ORDER, out)
    assert "Claims on this device" in out


def test_job_is_picklable_and_validates_where_it_runs() -> None:
    import pickle

    job = Table4Job(("resmlp_s24",), ThroughputSettings(device="cuda"), progress=False)
    assert pickle.loads(pickle.dumps(job)) == job
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            job()
