"""Which models a timing command times and how long it will take: names and globs (zoo names
before timm's), each model's input size, timm's column prefixes, and the duration estimates
printed before the models are timed (up front from their FLOPs, then after the warm-up).

The timing itself is :mod:`benchmarks.sweep` (the one engine every command uses) over
:mod:`benchmarks.timing`; a row's columns are :mod:`benchmarks.rows`.
"""

from __future__ import annotations

import datetime
import fnmatch
import sys
from collections.abc import Callable, Mapping, Sequence

import timm
from tqdm.auto import tqdm

from benchmarks.gemm import flop_per_image
from benchmarks.records import DEFAULT_INPUT_SIZE, FlopCount, model_source, timm_model_names
from benchmarks.settings import ThroughputSettings
from common.durations import duration_text
from models import list_models

__all__ = [
    "ASSUMED_MFU",
    "TIMM_PREFIXES",
    "estimate_reporter",
    "expected_seconds",
    "input_size_of",
    "note",
    "select_models",
    "upfront_seconds",
]

GLOB_CHARACTERS = "*?["
#: timm's column prefix for each step ("infer_samples_per_sec", "train_step_time", ...).
TIMM_PREFIXES = {"inference": "infer", "train": "train"}


def select_models(patterns: Sequence[str]) -> list[str]:
    """Model names for names and globs, in order, each once: zoo names (in the zoo's order)
    before the other timm names a glob matches (sorted). A name neither builds, or a glob that
    matches nothing, raises a ValueError saying so (with the closest names)."""
    names: list[str] = []
    for pattern in patterns:
        if any(character in pattern for character in GLOB_CHARACTERS):
            matched = [name for name in list_models() if fnmatch.fnmatchcase(name, pattern)]
            matched += sorted(
                name
                for name in timm_model_names()
                if fnmatch.fnmatchcase(name, pattern) and name not in matched
            )
            if not matched:
                raise ValueError(
                    f"{pattern!r} matches no zoo or timm model (globs are matched against "
                    + "models.list_models() and timm.list_models(), e.g. 'dynamixer_*', '*mlp*')"
                )
        else:
            model_source(pattern)  # an unknown name: ValueError with the closest names
            matched = [pattern]
        names += [name for name in matched if name not in names]
    if not names:
        raise ValueError("no model given: name at least one zoo or timm model, or a glob")
    return names


def input_size_of(name: str, img_size: int | None = None) -> tuple[int, int, int]:
    """The input a model is timed at: its pretrained cfg's input size, or ``img_size`` square.

    A model whose cfg says ``fixed_input_size`` (a fixed patch grid) refuses another size.
    """
    cfg = timm.models.get_pretrained_cfg(name)
    default = tuple(cfg.input_size) if cfg is not None else DEFAULT_INPUT_SIZE
    if img_size is None:
        return default
    size = (default[0], img_size, img_size)
    if cfg is not None and cfg.fixed_input_size and size != default:
        raise ValueError(
            f"{name} takes only {default[1]}x{default[2]} input (fixed_input_size in its "
            + f"pretrained cfg); got --img-size {img_size}"
        )
    return size


#: The share of the GEMM peak the up-front estimate assumes a model reaches (measured zoo MFU on
#: 2-core CPUs: 26-88%, most of it 55-70%); the estimate after the warm-up is the close one.
ASSUMED_MFU = 0.5


def upfront_seconds(
    flops: Sequence[FlopCount], settings: ThroughputSettings, gemm_peak_gflops: float, step: str
) -> float:
    """Seconds the warm-up and timed rounds of one step should take, before any is run: every
    model's FLOPs at its batch and rounds over :data:`ASSUMED_MFU` of the measured GEMM peak."""
    per_image = flop_per_image(sum(f.macs for f in flops), step)
    images = settings.warmup * settings.warmup_batch + settings.iters * settings.batch_size
    return per_image * images / (ASSUMED_MFU * gemm_peak_gflops * 1e9)


def expected_seconds(
    warmup_seconds: Mapping[str, Sequence[float]], settings: ThroughputSettings
) -> float | None:
    """Seconds the timed rounds should take: every model's last warm-up batch, scaled to the
    timed batch size, times the rounds (None without warm-up)."""
    if not all(warmup_seconds.values()) or not warmup_seconds:
        return None
    per_round = sum(times[-1] for times in warmup_seconds.values())
    return per_round * settings.batch_size / settings.warmup_batch * settings.iters


def estimate_reporter(
    step: str, settings: ThroughputSettings, report: Callable[[str], None]
) -> Callable[[dict[str, list[float]]], None]:
    """The hook that prints the expected duration of the timed rounds, after the warm-up."""

    def after_warmup(warmup_seconds: dict[str, list[float]]) -> None:
        seconds = expected_seconds(warmup_seconds, settings)
        if seconds is None:
            return
        scaled = (
            f" at batch {settings.warmup_batch}, scaled to {settings.batch_size}"
            if settings.warmup_batch != settings.batch_size
            else ""
        )
        compiled = (
            " (it compiled the models: an overestimate)"
            if settings.compile and settings.warmup == 1
            else ""
        )
        end = datetime.datetime.now() + datetime.timedelta(seconds=seconds)
        report(
            f"{step}: {len(warmup_seconds)} models x {settings.iters} timed rounds at batch "
            + f"{settings.batch_size}: expected {duration_text(seconds)}, until about "
            + f"{end:%H:%M} (from the last warm-up batch{scaled}){compiled}"
        )

    return after_warmup


def note(message: str) -> None:
    """One line on stderr, printed above any progress bar."""
    tqdm.write(message, file=sys.stderr)
