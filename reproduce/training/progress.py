"""Progress of a training epoch: a tqdm bar on a terminal, otherwise a log line now and then.

A job's output usually goes to a log file (submitit's), where a bar would be noise; there it
prints every ``every`` steps instead, and `LogFollower` shows those lines in the terminal of
whoever waits for the job.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

__all__ = ["LogFollower", "Progress", "format_duration"]


def format_duration(seconds: float) -> str:
    """``75`` -> ``1:15``, ``3725`` -> ``1:02:05``."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """Epoch, running loss, lr, images/s and the time left for the whole run.

    ``enabled=False`` (every process but the main one) shows nothing.
    """

    def __init__(self, epoch: int, epochs: int, steps: int, every: int, enabled: bool) -> None:
        self.epoch, self.epochs, self.steps, self.every = epoch, epochs, steps, max(1, every)
        self.enabled = enabled
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{epochs}", leave=False)

    def update(
        self, step: int, loss: float, lr: float, images_per_s: float, elapsed: float
    ) -> None:
        """Report step ``step`` (from 0) of this epoch, ``elapsed`` seconds into it."""
        if not self.enabled:
            return
        done = step + 1
        per_step = elapsed / done
        remaining = (self.steps - done) + (self.epochs - self.epoch - 1) * self.steps
        eta = format_duration(per_step * remaining)
        if self.bar is not None:
            self.bar.set_postfix_str(f"loss {loss:.4f} lr {lr:.2e} {images_per_s:.0f} img/s")
            self.bar.update(1)
            self.bar.set_description(f"epoch {self.epoch + 1}/{self.epochs} (ETA {eta})")
        elif done % self.every == 0 or done == self.steps:
            print(
                f"epoch {self.epoch + 1}/{self.epochs} step {done}/{self.steps} "
                + f"loss {loss:.4f} lr {lr:.2e} {images_per_s:.0f} img/s ETA {eta}",
                flush=True,
            )

    def close(self) -> None:
        """Remove the bar, if there is one."""
        if self.bar is not None:
            self.bar.close()


class LogFollower:
    """Echo the lines a job appends to its log (epoch, loss, lr, images/s, ETA) as they come.

    `poll` prints every complete line written since the last call; a log that does not exist
    yet (the job has not started) prints nothing.
    """

    def __init__(self, path: str | Path, stream: TextIO | None = None) -> None:
        self.path = Path(path)
        self.stream = stream
        self.offset = 0

    def poll(self) -> int:
        """Print the new complete lines; returns how many."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                text = handle.read()
        except OSError:
            return 0
        complete = text[: text.rfind(b"\n") + 1]
        self.offset += len(complete)
        lines = complete.decode("utf-8", errors="replace").splitlines()
        for line in lines:
            print(line, file=self.stream or sys.stdout, flush=True)
        return len(lines)
