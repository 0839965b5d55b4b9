"""The train command: a digits run lands in the store, reruns are refused, crashes are recorded,
bad input fails before anything is submitted, and --dry-run shows the ImageNet submissions."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch

from reproduce import paper, recipes, store, train_cli
from reproduce.train import CheckpointMismatch, TrainJob, load_checkpoint

# ---------------------------------------------------------------------------------------------
# A real (tiny) run through submitit's debug executor


@pytest.fixture
def digits_run(tmp_path: Path, tiny: list[str], store_args: list[str]) -> dict:
    """Train digits for 2 tiny epochs through the CLI; return its record."""
    argv = ["digits", *tiny, "epochs=2", "--executor", "debug", *store_args]
    assert train_cli.main(argv) == 0
    overrides = recipes.parse_overrides([*tiny, "epochs=2"])
    key = recipes.config_key(recipes.resolve("digits", overrides))
    record = store.load_record(tmp_path / "results", key)
    assert record is not None
    return record


def test_digits_run_writes_result_metrics_and_checkpoints(digits_run: dict, tmp_path: Path):
    record = digits_run
    assert record["status"] == "completed"
    for name in ("config", "model", "overrides", "dataset", "top1", "top5", "params"):
        assert name in record, name
    assert record["config"] == "digits" and record["model"] == "dynamixer_digits"
    assert record["dataset"] == "digits" and record["epochs"] == 2
    assert 0 <= record["top5"] <= 100 and record["top1"] <= record["top5"]
    assert record["params"] == 73362
    assert record["device"].startswith("cpu") and record["executor"] == "debug"
    assert record["commit"] is None or len(record["commit"]) >= 40
    run_dir = tmp_path / "runs" / record["config_key"]
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [0, 1]
    for column in ("train_loss", "top1", "top5", "lr", "images_per_s", "epoch_time_s"):
        assert column in lines[0]
    checkpoint = load_checkpoint(run_dir / "last.pt")
    for part in ("model", "model_ema", "optimizer", "scheduler", "rng", "epoch"):
        assert part in checkpoint
    assert (run_dir / "best.pt").exists()


def test_second_launch_does_not_overwrite_unless_forced(
    digits_run: dict, tiny: list[str], store_args: list[str], capsys
) -> None:
    argv = ["digits", *tiny, "epochs=2", "--executor", "debug", *store_args]
    the_plan = train_cli.plan(argv)
    assert the_plan.to_run == []
    assert "already completed" in the_plan.launches[0].skip
    assert train_cli.main(argv) == 0
    assert "skip" in capsys.readouterr().out
    assert len(train_cli.plan([*argv, "--force"]).to_run) == 1


def test_crash_is_recorded_with_error_and_log(tmp_path: Path, store_args: list[str]) -> None:
    # A folder that passes the pre-flight check but holds no images: the job itself fails
    # (in a subprocess of submitit's local executor, which writes real logs).
    (tmp_path / "imagenet" / "train").mkdir(parents=True)
    (tmp_path / "imagenet" / "val").mkdir()
    argv = [
        "imagenet_dynamixer_s", "model=dynamixer_digits", "img_size=32", "amp=False",
        "--data", str(tmp_path / "imagenet"), "--executor", "local", *store_args,
    ]  # fmt: skip
    assert train_cli.main(argv) == 1
    key = train_cli.plan([*argv, "--force"]).launches[0].key
    record = store.load_record(tmp_path / "results", key)
    assert record["status"] == "failed"
    assert "FileNotFoundError" in record["error"]
    assert "Traceback" in record["traceback"]
    stderr = Path(record["log_paths"]["stderr"])
    assert "Couldn't find any class folder" in stderr.read_text()
    assert record["model"] == "dynamixer_digits"


# ---------------------------------------------------------------------------------------------
# Bad input: a clear error, and nothing submitted


def _refused(tmp_path: Path, argv: list[str], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        train_cli.plan(argv)
    assert not (tmp_path / "results").exists(), "a record was written"
    assert not (tmp_path / "logs").exists(), "something was submitted"


def test_missing_dataset_path(tmp_path: Path, store_args: list[str]) -> None:
    _refused(tmp_path, ["imagenet_dynamixer_s", *store_args], FileNotFoundError, "needs --data")
    missing = str(tmp_path / "nowhere")
    argv = ["imagenet_dynamixer_s", "--data", missing, *store_args]
    _refused(tmp_path, argv, FileNotFoundError, "nowhere does not exist")
    argv = ["cifar10_dynamixer_s", "--data", str(tmp_path), *store_args]
    _refused(tmp_path, argv, FileNotFoundError, "pass --download")


def test_folder_without_train_or_val(tmp_path: Path, store_args: list[str]) -> None:
    (tmp_path / "imagenet" / "train").mkdir(parents=True)
    argv = ["imagenet_dynamixer_s", "--data", str(tmp_path / "imagenet"), *store_args]
    _refused(tmp_path, argv, FileNotFoundError, r"has no val/")
    (tmp_path / "empty").mkdir()
    argv = ["imagenet_dynamixer_s", "--data", str(tmp_path / "empty"), *store_args]
    _refused(tmp_path, argv, FileNotFoundError, r"has no train/ or val/")


def test_unknown_config_or_key(tmp_path: Path, store_args: list[str], capsys) -> None:
    match = "unknown config or sweep 'digitz'.*'digits'"
    _refused(tmp_path, ["digitz", *store_args], ValueError, match)
    _refused(tmp_path, ["digits", "lr_rate=1", *store_args], ValueError, "unknown key 'lr_rate'")
    _refused(tmp_path, ["digits", "epochs=many", *store_args], ValueError, "epochs='many'")
    _refused(tmp_path, ["digits", "reduced_dim=0", *store_args], ValueError, "reduced_dim")
    # Through main: exit status 2 and the message on stderr.
    assert train_cli.main(["digitz", *store_args]) == 2
    assert "unknown config or sweep 'digitz'" in capsys.readouterr().err


def test_resume_from_another_variant(
    digits_run: dict, tmp_path: Path, tiny: list[str], store_args: list[str]
) -> None:
    checkpoint = tmp_path / "runs" / digits_run["config_key"] / "last.pt"
    other = tmp_path / "other"
    argv = ["digits_mixing_random", *tiny, "--resume", str(checkpoint), "--results", str(other)]
    with pytest.raises(CheckpointMismatch, match="'mixing': 'random'"):
        train_cli.plan(argv)
    # The job checks again itself, before its first epoch.
    recipe = recipes.resolve("digits_mixing_random", recipes.parse_overrides(tiny))
    run_dir = tmp_path / "other_run"
    spec = train_cli.check_data("digits", None)
    job = TrainJob(recipe, run_dir, other, spec, resume_from=checkpoint)
    with pytest.raises(CheckpointMismatch):
        job()
    assert not (run_dir / "metrics.jsonl").exists()
    # A file that is not a training checkpoint is refused too.
    torch.save({"weights": torch.zeros(1)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointMismatch, match="not a training checkpoint"):
        train_cli.plan(["digits", "--resume", str(tmp_path / "foreign.pt"), *store_args])


def test_slurm_without_sbatch(tmp_path: Path, store_args: list[str], monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no Slurm tools on PATH
    _refused(tmp_path, ["digits", "--executor", "slurm", *store_args], RuntimeError, "sbatch")


# ---------------------------------------------------------------------------------------------
# --dry-run


def test_dry_run_imagenet_s_m_l(tmp_path: Path, store_args: list[str], monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # the dry run needs no cluster
    argv = ["imagenet", "--executor", "slurm", "--partition", "gpu", "--dry-run", *store_args]
    assert train_cli.main(argv) == 0
    out = capsys.readouterr().out
    stoch_depth = next(r for r in paper.get_table(1).rows if r.label == "Stoch. Dep.")
    expected = {  # (model, per-GPU batch, drop path from Table 1, crop_pct)
        "imagenet_dynamixer_s": ("dynamixer_s", 256, stoch_depth.cells["DynaMixer-S"], 0.9),
        "imagenet_dynamixer_m": ("dynamixer_m", 128, stoch_depth.cells["DynaMixer-M"], 0.9),
        "imagenet_dynamixer_l": ("dynamixer_l", 64, stoch_depth.cells["DynaMixer-L"], 0.875),
    }
    blocks = out.split("config ")[1:]
    assert [b.split()[0] for b in blocks] == list(expected)
    for block, (model, batch, drop_path, crop) in zip(blocks, expected.values(), strict=False):
        assert f"model:     {model} " in block
        assert f"drop path {float(drop_path)}" in block
        assert f"crop_pct {crop}" in block
        assert "300 + 10 cooldown epochs, adamw lr 0.002 wd 0.05, cosine to 1e-05" in block
        assert "20 warm-up epochs from 1e-06" in block
        assert f"batch:     {batch} per process x 8 processes = {batch * 8}" in block
        augment = "aa=rand-m9-mstd0.5-inc1 mixup 0.8 cutmix 1.0 smoothing 0.1 reprob 0.25 (pixel)"
        assert augment in block
        assert "AMP True" in block and "WARNING:   would fail: imagenet needs --data" in block
    for flag in (
        "#SBATCH --array=0-2%3",
        "#SBATCH --gpus-per-node=8",
        "#SBATCH --ntasks-per-node=8",
        "#SBATCH --nodes=1",
        "#SBATCH --partition=gpu",
        "#SBATCH --signal=USR2@90",
        "#SBATCH --time=1440",
        "#SBATCH --job-name=mlp-repro:imagenet",
        "-m submitit.core._submit",
    ):
        assert flag in out, flag
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


def test_dry_run_single_config_options(tmp_path: Path, store_args: list[str], capsys) -> None:
    argv = [
        "imagenet_dynamixer_m", "--executor", "slurm", "--dry-run", "--nodes", "2",
        "--gpus-per-node", "4", "--timeout-min", "600", "--constraint", "a100", *store_args,
    ]  # fmt: skip
    assert train_cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "#SBATCH --array" not in out and "would submit one job" in out
    assert "#SBATCH --nodes=2" in out and "#SBATCH --gpus-per-node=4" in out
    assert "#SBATCH --constraint=a100" in out and "#SBATCH --time=600" in out
    assert "128 per process x 8 processes = 1024" in out


def test_sweeps_derive_from_the_paper_tables() -> None:
    table7 = recipes.expand("table7")
    assert table7 == [
        "table7_reduced_dim_1", "imagenet_dynamixer_s", "table7_reduced_dim_4",
        "table7_reduced_dim_8",
    ]  # fmt: skip
    for number in (5, 6, 7, 8):
        names = recipes.expand(f"table{number}")
        rows = paper.get_table(number).rows
        assert len(names) == len(rows)
        for name, row in zip(names, rows, strict=True):
            recipe = recipes.get_recipe(name)
            assert recipe.model == row.zoo_name
            if name != "imagenet_dynamixer_s":
                assert recipe.overrides == dict(row.overrides)
                base = recipes.get_recipe("imagenet_dynamixer_s")
                assert recipes.resolve(name) == recipes.resolve(name)
                assert recipe.lr == base.lr and recipe.epochs == base.epochs
    assert recipes.get_recipe("table7_reduced_dim_2").name == "imagenet_dynamixer_s"
    cifar = recipes.get_recipe("cifar100_dynamixer_s")
    assert (cifar.epochs, cifar.opt, cifar.sched, cifar.overrides) == (
        60, "momentum", "cosine", {"num_classes": 100},
    )  # fmt: skip


def test_run_whose_job_died_silently_is_marked_failed_and_relaunched(
    tmp_path: Path, store_args: list[str]
) -> None:
    # A record left 'running' by a job that was SIGKILLed (no chance to write 'failed').
    dead = subprocess.Popen(["true"])
    dead.wait()
    key = "digits"
    store.write_record(
        tmp_path / "results",
        {"config_key": key, "status": "running", "executor": "local", "job_id": "1",
         "host": {"hostname": store.host()["hostname"], "pid": dead.pid}},
    )  # fmt: skip
    the_plan = train_cli.plan(["digits", *store_args])
    assert len(the_plan.to_run) == 1
    record = store.load_record(tmp_path / "results", key)
    assert record["status"] == "failed" and "ended without a result" in record["error"]
