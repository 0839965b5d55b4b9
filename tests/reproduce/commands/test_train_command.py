"""The train command: a digits run lands in the store, reruns are refused, crashes are recorded,
a user's mistake ends in one line and exit status 2, --dry-run shows the ImageNet submissions."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from reproduce import paper
from reproduce.commands import train as train_command
from reproduce.training import store
from reproduce.training.checkpoints import read_training_checkpoint
from reproduce.training.overrides import config_key, parse_overrides, resolve
from reproduce.training.plan import plan
from reproduce.training.submission import wait
from tests.reproduce.conftest import TINY


def _plan(argv: list[str]):
    return plan(train_command.parse_options(argv))


# ---------------------------------------------------------------------------------------------
# A real (tiny) run through submitit's debug executor


@pytest.fixture
def digits_run(tmp_path: Path, store_args: list[str]) -> dict:
    """Train digits for 2 tiny epochs through the command; return its record."""
    argv = ["digits", *TINY, "epochs=2", "--executor", "debug", *store_args]
    assert train_command.main(argv) == 0
    key = config_key(resolve("digits", parse_overrides([*TINY, "epochs=2"])))
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
    assert record["commit"] is None or len(record["commit"]) == 40
    assert record["tree_dirty"] in (True, False) and record["kind"] == "training"
    # batch_size=32 per process on one process: 2 accumulation steps reach digits' global 64.
    assert (record["world_size"], record["batch_size"], record["accumulation_steps"]) == (1, 32, 2)
    assert record["global_batch"] == record["recipe_global_batch"] == 64
    assert record["initial_weights"] is None
    run_dir = tmp_path / "runs" / record["config_key"]
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [0, 1]
    assert record["history"] == lines  # the record stands without the run folder
    assert record["top1"] == max(x["eval_top1"] for x in lines)  # the best epoch's
    for column in ("train_loss", "top1", "top5", "lr", "images_per_s", "epoch_time_s"):
        assert column in lines[0]
    checkpoint = read_training_checkpoint(run_dir / "last.pt")
    for part in ("model", "model_ema", "optimizer", "scheduler", "rng", "epoch"):
        assert part in checkpoint
    assert (run_dir / "best.pt").exists()


def test_second_launch_does_not_overwrite_unless_forced(
    digits_run: dict, store_args: list[str], capsys
) -> None:
    argv = ["digits", *TINY, "epochs=2", "--executor", "debug", *store_args]
    the_plan = _plan(argv)
    assert the_plan.to_run == []
    assert "already completed" in the_plan.launches[0].skip
    assert train_command.main(argv) == 0
    assert "skip" in capsys.readouterr().out
    assert len(_plan([*argv, "--force"]).to_run) == 1


def test_crash_is_recorded_with_error_and_log(tmp_path: Path, store_args: list[str]) -> None:
    # A folder that passes the pre-flight check but holds no images: the job itself fails
    # (in a subprocess of submitit's local executor, which writes real logs).
    (tmp_path / "imagenet" / "train").mkdir(parents=True)
    (tmp_path / "imagenet" / "val").mkdir()
    argv = [
        "imagenet_dynamixer_s", "model=dynamixer_digits", "img_size=32", "amp=False",
        "--data", str(tmp_path / "imagenet"), "--executor", "local", *store_args,
    ]  # fmt: skip
    assert train_command.main(argv) == 1
    key = _plan([*argv, "--force"]).launches[0].key
    record = store.load_record(tmp_path / "results", key)
    assert record["status"] == "failed"
    assert "FileNotFoundError" in record["error"]
    assert "Traceback" in record["traceback"]
    stderr = Path(record["log_paths"]["stderr"])
    assert "Couldn't find any class folder" in stderr.read_text()
    assert record["model"] == "dynamixer_digits"


# ---------------------------------------------------------------------------------------------
# A user's mistake: argparse's error (usage, one line, exit status 2), never a traceback


def _exit_status(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as stopped:
        train_command.main(argv)
    return stopped.value.code


def test_unknown_config_is_a_usage_error(tmp_path: Path, store_args: list[str], capsys) -> None:
    assert _exit_status(["digitz", *store_args]) == 2
    err = capsys.readouterr().err
    assert "unknown config or sweep 'digitz'" in err
    assert err.startswith("usage: python -m reproduce train") and "Traceback" not in err
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


def test_bad_data_path_is_a_usage_error(tmp_path: Path, store_args: list[str], capsys) -> None:
    argv = ["imagenet_dynamixer_s", "--data", str(tmp_path / "nowhere"), *store_args]
    assert _exit_status(argv) == 2
    assert "python -m reproduce train: error: ImageNet folder" in capsys.readouterr().err


def test_results_option_is_now_runs_dir(tmp_path: Path, capsys) -> None:
    # One results-store option name across commands: --runs-dir (train's --results is gone).
    assert _exit_status(["digits", "--dry-run", "--results", str(tmp_path)]) == 2
    assert "unrecognized arguments: --results" in capsys.readouterr().err


def test_refused_submission_is_one_line(
    tmp_path: Path, store_args: list[str], monkeypatch, capsys
) -> None:
    def refuse(the_plan):
        raise RuntimeError("sbatch: error: invalid partition specified: nope")

    monkeypatch.setattr(train_command, "submit", refuse)
    assert _exit_status(["digits", *TINY, *store_args]) == 2
    err = capsys.readouterr().err
    expected = "python -m reproduce train: error: sbatch: error: invalid partition specified: nope"
    assert err == expected + "\n"


def test_list_shows_configs_aliases_and_sweeps(capsys) -> None:
    assert train_command.main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "  digits " in out and "table7_reduced_dim_2" in out and "-> imagenet_dynamixer_s" in out
    assert out.index("configs:") < out.index("aliases (same run):") < out.index("sweeps:")


# ---------------------------------------------------------------------------------------------
# --dry-run


def test_dry_run_imagenet_s_m_l(tmp_path: Path, store_args: list[str], monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # the dry run needs no cluster
    argv = ["imagenet", "--executor", "slurm", "--partition", "gpu", "--dry-run", *store_args]
    assert train_command.main(argv) == 0
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
        assert f"batch:     {batch} per process x 8 processes x 1 accumulation steps = " in block
        assert f"= {batch * 8} (recipe's global batch: {batch * 8}, on 8 GPUs)" in block
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
    assert train_command.main(argv) == 0
    out = capsys.readouterr().out
    assert "#SBATCH --array" not in out and "would submit one job" in out
    assert "#SBATCH --nodes=2" in out and "#SBATCH --gpus-per-node=4" in out
    assert "#SBATCH --constraint=a100" in out and "#SBATCH --time=600" in out
    assert "128 per process x 8 processes x 1 accumulation steps = 1024" in out


def test_dry_run_on_fewer_gpus_accumulates_to_the_recipes_global_batch(
    store_args: list[str], capsys
) -> None:
    argv = ["imagenet_dynamixer_s", "--executor", "slurm", "--gpus-per-node", "2", "--dry-run"]
    assert train_command.main([*argv, *store_args]) == 0
    out = capsys.readouterr().out
    assert "256 per process x 2 processes x 4 accumulation steps = 2048" in out
    assert train_command.main([*argv, "accumulation_steps=1", *store_args]) == 0
    out = capsys.readouterr().out
    assert "make a global batch of 512, not the recipe's 2048: no table will take the run" in out
    with pytest.raises(SystemExit):
        train_command.main([*argv, "batch_size=96", *store_args])
    assert "global batch 2048 is not a whole number of steps" in capsys.readouterr().err


class _FakeJob:
    """A submitted job whose log grows by one progress line per poll, then ends."""

    def __init__(self, log: Path, lines: list[str]) -> None:
        self.paths = SimpleNamespace(stdout=log, stderr=log.with_suffix(".err"))
        self.lines, self.state, self.job_id = lines, "RUNNING", "7"

    def done(self) -> bool:
        if self.lines:
            with self.paths.stdout.open("a") as handle:
                handle.write(self.lines.pop(0) + "\n")
            return False
        self.state = "COMPLETED"
        return True

    def results(self) -> list[dict]:
        return [{"status": "completed", "config_key": "digits"}]


def test_waiting_for_a_local_job_shows_its_progress(tmp_path: Path, capsys) -> None:
    lines = [
        "training digits: dynamixer_digits (0.07M params) ...",
        "epoch 1/30 step 10/22 loss 2.2031 lr 1.41e-03 610 img/s ETA 1:02",
        "epoch 1/30: train loss 2.1, val top-1 40.00 top-5 80.00, 600 img/s, 2.3 s",
    ]
    the_plan = _plan(["digits", "--runs-dir", str(tmp_path)])
    job = _FakeJob(tmp_path / "0_log.out", list(lines))
    [result] = wait(the_plan, [job], poll_s=0.0)
    assert result["status"] == "completed"
    assert capsys.readouterr().out.splitlines() == lines
