"""A sweep's output file: rows written as they are measured, read back to resume, and a run
that is interrupted (Ctrl-C, Slurm's SIGTERM) ended with one line instead of a traceback."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType

import pandas as pd
import torch

from benchmarks.settings import ThroughputSettings
from common.environment import library_version
from common.files import write_text_atomic

__all__ = [
    "RESUME_FIELDS",
    "held_rows",
    "interrupted_line",
    "print_interrupted",
    "raise_interrupt_on_sigterm",
    "read_sweep_csv",
    "resume_values",
    "row_writer",
]

#: What must match for an earlier output to be resumed: the rows' settings and machine.
RESUME_FIELDS = (
    "device",
    "precision",
    "requested_batch_size",
    "channels_last",
    "compile_mode",
    "warmup",
    "iters",
    "threads",
    "torch",
    "timm",
)
_SUITE_COLUMNS = {"model", "status", "requested_batch_size", "precision"}


def resume_values(settings: ThroughputSettings) -> dict[str, object]:
    """This run's value of every :data:`RESUME_FIELDS` field, as the rows store them."""
    device = torch.device(settings.device)
    return {
        "device": str(device) if device.type == "cpu" else f"cuda:{device.index or 0}",
        "precision": settings.precision,
        "requested_batch_size": settings.batch_size,
        "channels_last": settings.channels_last,
        "compile_mode": settings.compile_mode if settings.compile else "",
        "warmup": settings.warmup,
        "iters": settings.iters,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "timm": library_version("timm"),
    }


def read_sweep_csv(path: Path) -> pd.DataFrame:
    """An earlier output of a sweep; ValueError naming the file if it is not one."""
    if not path.is_file():
        raise ValueError(f"--resume {path}: no such file")
    try:
        frame = pd.read_csv(path, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ValueError(f"--resume {path}: not a CSV ({type(error).__name__})") from None
    missing = _SUITE_COLUMNS - set(frame.columns)
    if missing:
        raise ValueError(
            f"--resume {path} is not an output of this suite's sweeps: it has no column "
            + ", ".join(sorted(missing))
        )
    return frame


def held_rows(path: Path, settings: ThroughputSettings) -> dict[str, dict[str, object]]:
    """The rows of an earlier output that this run keeps (status ok), after checking that it
    was made with the same settings on the same kind of machine: ValueError naming the first
    field that differs."""
    frame = read_sweep_csv(path)
    expected = resume_values(settings)
    for field in RESUME_FIELDS:
        if field not in frame.columns:
            raise ValueError(f"--resume {path} has no column {field}: not this suite's output")
        found = {str(value) for value in frame[field] if str(value) != ""}
        wanted = str(expected[field])
        if found and found != {wanted}:
            raise ValueError(
                f"--resume {path} was made with {field}={', '.join(sorted(found))}; this run "
                + f"has {field}={wanted}: resume with the same settings, or start a new file"
            )
    kept = frame[frame["status"] == "ok"]
    return {str(row["model"]): dict(row) for _, row in kept.iterrows()}


def row_writer(
    path: Path, to_frame: Callable[[Sequence[Mapping[str, object]]], pd.DataFrame]
) -> Callable[[list[dict[str, object]]], None]:
    """A ``write_rows`` hook that rewrites ``path`` atomically with every row so far."""

    def write(rows: list[dict[str, object]]) -> None:
        write_text_atomic(path, to_frame(rows).to_csv(index=False))

    return write


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def raise_interrupt_on_sigterm() -> None:
    """Make SIGTERM (Slurm's preemption, ``kill``) end a run as Ctrl-C does."""
    signal.signal(signal.SIGTERM, _interrupt)


def interrupted_line(prog: str, kept: int, total: int, path: Path, argv: Sequence[str]) -> str:
    """The one line an interrupted sweep ends with: what was kept, and how to go on."""
    again, skip = [], False
    for arg in argv:
        if skip or arg.startswith("--resume="):
            skip = False
            continue
        if arg == "--resume":
            skip = True
            continue
        again.append(arg)
    if kept == 0:
        command = " ".join([prog, *again])
        return f"{prog}: interrupted before any of {total} models was kept; start again: {command}"
    command = " ".join([prog, *again, "--resume", str(path)])
    return f"{prog}: interrupted; {kept} of {total} models kept in {path}; resume: {command}"


def print_interrupted(prog: str, kept: int, total: int, path: Path, argv: Sequence[str]) -> int:
    """Print :func:`interrupted_line` to stderr; return the exit status (130, as shells do)."""
    print(interrupted_line(prog, kept, total, path, argv), file=sys.stderr)
    return 130
