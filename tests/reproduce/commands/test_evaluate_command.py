"""The evaluate command: a digits checkpoint evaluated on its validation images written as PNG
files scores what the training loop scored; the record lands in the store and says which
weights it used; every bad input is one clear error before any image is read."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from models.weights import read_weights_file
from reproduce.commands import evaluate as evaluate_command
from reproduce.evaluation import image_folders
from reproduce.training import store
from reproduce.training.data import DigitsDataset, check_data
from reproduce.training.job import TrainJob
from reproduce.training.loaders import VAL_SUBSET_SEED, balanced_subset
from reproduce.training.overrides import parse_overrides, resolve
from tests.conftest import refusal

# A few epochs on a few hundred images, one thread: seconds.
TINY = ["train_subset=192", "val_subset=96", "batch_size=32", "log_every=1000", "threads=1"]


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> dict:
    """A 3-epoch digits run, and its 96 validation images as an ImageFolder of PNG files."""
    root = tmp_path_factory.mktemp("digits")
    recipe = resolve("digits", parse_overrides([*TINY, "epochs=3"]))
    record = TrainJob(recipe, root / "run", root / "results", check_data("digits", None))()
    assert record["status"] == "completed"
    validation = DigitsDataset(train=False)
    targets = [int(t) for t in validation.targets]
    for number, index in enumerate(balanced_subset(targets, 96, VAL_SUBSET_SEED)):
        folder = root / "images" / "val" / f"digit_{targets[index]}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (validation.images[index] * 255).round().byte().permute(1, 2, 0).numpy()
        Image.fromarray(pixels).save(folder / f"{number:03d}.png")
    return {"root": root, "record": record, "best": root / "run" / "best.pt"}


def _argv(digits: dict, tmp_path: Path, *extra: str, checkpoint: Path | None = None) -> list[str]:
    return [
        "dynamixer_digits", "--checkpoint", str(checkpoint or digits["best"]),
        "--data", str(digits["root"] / "images"), "--dataset", "digits",
        "--weights-source", "our digits run", "--runs-dir", str(tmp_path / "store"),
        "--workers", "0", "--batch-size", "32", "--no-progress", *extra,
    ]  # fmt: skip


def test_evaluating_the_best_checkpoint_scores_what_training_scored(
    digits: dict, tmp_path: Path, capsys
) -> None:
    assert evaluate_command.main(_argv(digits, tmp_path)) == 0
    [record] = store.load_results(tmp_path / "store", kinds=store.KINDS)
    trained = digits["record"]
    # best.pt holds the epoch the loop scored best, with EMA weights (what it evaluated).
    assert record["top1"] == trained["top1"] and record["top5"] == trained["top5"]
    assert trained["eval_model"] == "ema" and record["checkpoint"]["ema"] is True
    assert record["checkpoint"]["weights"] == "EMA weights (model_ema)"
    assert record["checkpoint"]["sha256"] == hashlib.sha256(digits["best"].read_bytes()).hexdigest()
    assert record["checkpoint"]["trained_here"] == trained["config_key"]
    assert record["kind"] == "evaluation" and record["status"] == "completed"
    assert record["weights_source"] == "our digits run" and record["model_source"] == "zoo"
    assert record["data"] == {
        "folder": str(digits["root"] / "images" / "val"),
        "split": "val",
        "classes": 10,
        "images": 96,
        "full_split_images": 360,
        "complete": False,
    }
    assert record["transform"]["crop_pct"] == 1.0 and record["transform"]["input_size"] == [
        3,
        32,
        32,
    ]
    assert record["dtype"] == "float32" and record["device"].startswith("cpu: ")
    assert {"torch", "timm", "torchvision", "pillow"} <= set(record["versions"])
    assert record["config_key"].startswith("eval_dynamixer_digits_digits_val_")
    assert store.load_results(tmp_path / "store") == []  # training records only, by default
    out = capsys.readouterr().out
    assert f"top-1 {trained['top1']:.2f}" in out and "EMA weights (model_ema) of best.pt" in out


def test_plain_weights_when_asked_and_a_timm_style_checkpoint(digits: dict, tmp_path: Path):
    ours = read_weights_file(digits["best"]).content
    timm_style = tmp_path / "checkpoint-2.pth.tar"
    torch.save({"state_dict": ours["model"], "state_dict_ema": ours["model_ema"]}, timm_style)
    assert evaluate_command.main(_argv(digits, tmp_path, checkpoint=timm_style)) == 0
    assert evaluate_command.main(_argv(digits, tmp_path, "--no-ema", checkpoint=timm_style)) == 0
    records = store.load_results(tmp_path / "store", kinds=("evaluation",))
    by_weights = {r["checkpoint"]["weights_key"]: r for r in records}
    assert set(by_weights) == {"state_dict_ema", "state_dict"}
    assert by_weights["state_dict_ema"]["top1"] == digits["record"]["top1"]
    assert by_weights["state_dict"]["checkpoint"]["ema"] is False
    assert by_weights["state_dict"]["checkpoint"]["trained_here"] is None
    # The plain weights' score is the loop's plain-weights score of the best epoch.
    best_epoch = digits["record"]["history"][digits["record"]["best_epoch"]]
    assert by_weights["state_dict"]["top1"] == best_epoch["top1"]


# ---------------------------------------------------------------------------------------------
# Bad input: argparse's error (usage, one line, exit status 2) before any image is read


@pytest.fixture
def no_image_read(monkeypatch) -> None:
    def refuse(path: str):
        raise AssertionError(f"an image was read: {path}")

    monkeypatch.setattr(image_folders, "_load_rgb", refuse)


def _refused(argv: list[str], tmp_path: Path, capsys) -> str:
    err = refusal(evaluate_command.main, argv, capsys)
    assert err.startswith("usage: python -m reproduce evaluate") and "Traceback" not in err
    assert not (tmp_path / "store").exists(), "a record was written"
    return err.splitlines()[-1]


def test_missing_folder_and_folder_without_classes(
    digits: dict, tmp_path: Path, capsys, no_image_read
) -> None:
    argv = _argv(digits, tmp_path)
    argv[argv.index("--data") + 1] = str(tmp_path / "nowhere")
    assert "nowhere does not exist" in _refused(argv, tmp_path, capsys)
    loose = tmp_path / "loose" / "val"
    loose.mkdir(parents=True)
    for number in range(3):
        Image.new("RGB", (32, 32)).save(loose / f"ILSVRC2012_val_{number:08d}.JPEG")
    argv[argv.index("--data") + 1] = str(tmp_path / "loose")
    line = _refused(argv, tmp_path, capsys)
    assert "has no class folders (3 images directly in it)" in line
    assert "one folder per class" in line


def test_class_count_other_than_the_models(
    digits: dict, tmp_path: Path, capsys, no_image_read
) -> None:
    three = tmp_path / "three"
    for name in ("a", "b", "c"):
        (three / name).mkdir(parents=True)
        Image.new("RGB", (32, 32)).save(three / name / "0.png")
    argv = _argv(digits, tmp_path)
    argv[argv.index("--data") + 1] = str(three)
    line = _refused(argv, tmp_path, capsys)
    assert f"{three} holds 3 class folders, but the model has 10 classes" in line
    argv = _argv(digits, tmp_path, "--dataset", "imagenet")
    assert "has 10 classes but imagenet has 1000" in _refused(argv, tmp_path, capsys)


def test_a_folder_that_is_no_named_dataset_evaluates_as_itself(
    digits: dict, tmp_path: Path, capsys
) -> None:
    """Without --dataset, a 10-class model on a 10-class folder is evaluated, and the record
    names the folder as its dataset (not ImageNet, whose 1000 classes the model lacks)."""
    argv = _argv(digits, tmp_path)
    del argv[argv.index("--dataset") : argv.index("--dataset") + 2]
    assert evaluate_command.main(argv) == 0
    [record] = store.load_results(tmp_path / "store", kinds=store.KINDS)
    assert record["dataset"] == "folder:images"
    assert record["data"]["classes"] == 10 and record["data"]["complete"] is None
    assert record["top1"] == digits["record"]["top1"]


def test_checkpoint_of_another_model_lists_what_does_not_fit(
    digits: dict, tmp_path: Path, capsys, no_image_read
) -> None:
    weights = dict(read_weights_file(digits["best"]).content["model"])
    weights["head.weight"] = torch.zeros(7, weights["head.weight"].shape[1])
    weights["extra.scale"] = torch.ones(1)
    del weights["norm.bias"]
    torch.save(weights, tmp_path / "other.pth")
    line = _refused(_argv(digits, tmp_path, checkpoint=tmp_path / "other.pth"), tmp_path, capsys)
    assert "other.pth does not fit dynamixer_digits: 1 missing keys [norm.bias]" in line
    assert "1 unexpected keys [extra.scale]" in line
    assert "1 mis-shaped keys [head.weight: checkpoint (7, 64) vs model (10, 64)]" in line


def test_corrupt_checkpoint_unknown_model_and_bad_override(
    digits: dict, tmp_path: Path, capsys, no_image_read
) -> None:
    (tmp_path / "corrupt.pth").write_bytes(digits["best"].read_bytes()[:5000])
    argv = _argv(digits, tmp_path, checkpoint=tmp_path / "corrupt.pth")
    assert "corrupt.pth cannot be read as a PyTorch or safetensors file" in _refused(
        argv, tmp_path, capsys
    )
    argv = _argv(digits, tmp_path)
    argv[0] = "dynamixer_digit"
    assert "unknown model 'dynamixer_digit'. Did you mean 'dynamixer_digits'?" in _refused(
        argv, tmp_path, capsys
    )
    line = _refused(_argv(digits, tmp_path, "crop=0.9"), tmp_path, capsys)
    assert "unknown key(s) ['crop']; accepted:" in line and "crop_pct" in line
    line = _refused(_argv(digits, tmp_path, "interpolation=cubic"), tmp_path, capsys)
    assert "interpolation='cubic'; accepted: nearest, bilinear, bicubic" in line


def test_an_unreadable_image_is_one_line(digits: dict, tmp_path: Path, capsys) -> None:
    # Found only when read: a file with an image's name whose content is not one.
    images = tmp_path / "images" / "val"
    for digit in range(10):
        (images / f"digit_{digit}").mkdir(parents=True)
        Image.new("RGB", (32, 32)).save(images / f"digit_{digit}" / "fine.png")
    (images / "digit_9" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(SystemExit) as stopped:
        evaluate_command.main(_argv(dict(digits, root=tmp_path), tmp_path))
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m reproduce evaluate: error: image ") and "broken.png" in err
    assert len(err.strip().splitlines()) == 1


def test_record_kind_is_how_the_store_tells_them_apart(tmp_path: Path) -> None:
    store.write_record(tmp_path, {"config_key": "a", "status": "completed"})  # before kinds
    store.write_record(tmp_path, {"config_key": "b", "status": "completed", "kind": "evaluation"})
    assert [r["config_key"] for r in store.load_results(tmp_path)] == ["a"]
    assert [r["config_key"] for r in store.load_results(tmp_path, kinds=store.KINDS)] == ["a", "b"]
    with pytest.raises(ValueError, match="unknown record kind"):
        store.load_results(tmp_path, kinds=("benchmark",))
    assert json.loads((tmp_path / "b.json").read_text())["kind"] == "evaluation"
