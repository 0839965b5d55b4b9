"""``python -m reproduce evaluate MODEL --checkpoint PATH --data DIR [options] [key=value ...]``.

Evaluates a checkpoint (released weights, or a run's own) on an image folder and writes an
``evaluation`` record into the results store (``results/runs/eval_<model>_<dataset>_<split>_
<sha256 prefix>.json``), which Tables 2-9 show as "released weights, evaluated here" and
REPORT.md checks against the paper. Data: ``DIR/<split>/<class>/<image>`` (ImageNet's
``val/n01440764/*.JPEG``), or ``DIR/<class>/<image>`` when DIR has no ``<split>`` folder; nothing
is downloaded. Every input (model, overrides, folder, class count, checkpoint) is checked before
any image is read; a user's mistake is argparse's error, never a traceback.
"""

from __future__ import annotations

import argparse
from typing import Any

from reproduce.commands.errors import checked, fail
from reproduce.evaluation.evaluate import (
    MODEL_OVERRIDE_KEYS,
    PRECISIONS,
    EvaluationRequest,
    prepare,
    run,
)
from reproduce.evaluation.image_folders import EVALUATION_IMAGES, TRANSFORM_KEYS
from reproduce.training import store
from reproduce.training.overrides import parse_overrides

__all__ = ["PROG", "main", "make_parser", "parse_request"]

PROG = "python -m reproduce evaluate"


def make_parser() -> argparse.ArgumentParser:
    """The ``evaluate`` command's arguments."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Evaluate a checkpoint on an image folder (top-1, top-5) and record it.",
        epilog=f"key=value overrides: model ({', '.join(MODEL_OVERRIDE_KEYS)}) or evaluation "
        + f"transform ({', '.join(TRANSFORM_KEYS)}; default: the model's pretrained_cfg).",
    )
    parser.add_argument("model", help="a zoo name (dynamixer_s, vip_s7, ...) or a timm name")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="model/transform")
    parser.add_argument("--checkpoint", required=True, help="weights file (.pth, .safetensors)")
    parser.add_argument(
        "--data", required=True, help="DIR with <split>/<class>/<image>, or <class>/<image>"
    )
    parser.add_argument(
        "--weights-source",
        required=True,
        help='where the weights come from, as the record keeps it: "authors\' release", '
        + '"timm hub", "our run digits", ...',
    )
    parser.add_argument(
        "--dataset",
        default=None,
        choices=tuple(EVALUATION_IMAGES),
        help="what the folder holds; its classes must match the model's (default: imagenet for "
        + "a 1000-class model, else the folder itself, recorded as folder:<name>)",
    )
    parser.add_argument("--split", default="val", help="the split's folder name (default val)")
    parser.add_argument("--batch-size", type=_positive, default=64)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument(
        "--amp",
        nargs="?",
        const="bf16",
        choices=tuple(PRECISIONS),
        help="autocast (default fp32; --amp alone: bf16)",
    )
    parser.add_argument(
        "--no-ema", action="store_true", help="plain weights even where EMA weights exist"
    )
    parser.add_argument("--workers", type=_not_negative, default=4, help="data-loader workers")
    parser.add_argument("--runs-dir", help="results store (default results/runs)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: must be >= 1")
    return value


def _not_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value}: must be >= 0")
    return value


def parse_request(arguments: argparse.Namespace) -> EvaluationRequest:
    """The evaluation the parsed options ask for (ValueError for a malformed key=value)."""
    return EvaluationRequest(
        model=arguments.model,
        checkpoint=arguments.checkpoint,
        data=arguments.data,
        weights_source=arguments.weights_source,
        dataset=arguments.dataset,
        split=arguments.split,
        overrides=parse_overrides(arguments.overrides),
        batch_size=arguments.batch_size,
        device=arguments.device,
        amp=arguments.amp,
        prefer_ema=not arguments.no_ema,
        workers=arguments.workers,
        runs_dir=arguments.runs_dir,
    )


def _summary(record: dict[str, Any], runs_dir: str | None) -> str:
    data, checkpoint = record["data"], record["checkpoint"]
    if data["complete"] is None:  # a folder that is none of the named datasets
        whole = f", {record['dataset']}"
    else:
        whole = ", the whole split" if data["complete"] else f" of {data['full_split_images']:,}"
    path = store.record_path(runs_dir or store.DEFAULT_RUNS_DIR, record["config_key"])
    return (
        f"{record['model']} on {data['folder']} ({data['images']:,} images{whole}, "
        + f"{data['classes']} classes), {checkpoint['weights']} of {checkpoint['file']}: "
        + f"top-1 {record['top1']:.2f}, top-5 {record['top5']:.2f} "
        + f"({record['dtype']}, {record['device']}) -> {path}"
    )


def main(argv: list[str]) -> int:
    """Entry point of ``python -m reproduce evaluate``; returns the exit status (2: a user's
    mistake, argparse's error before any image is read, one line for an unreadable image)."""
    parser = make_parser()
    arguments = parser.parse_intermixed_args(argv)  # key=value may follow the options
    prepared = checked(parser, lambda: prepare(parse_request(arguments)))
    try:
        record = run(prepared, progress=not arguments.no_progress)
    except ValueError as error:  # an image that cannot be read (from a loader worker, maybe)
        lines = [line for line in str(error).splitlines() if line.strip()]
        fail(PROG, lines[-1].removeprefix("ValueError: ") if lines else str(error))
    print(_summary(record, arguments.runs_dir))
    return 0
