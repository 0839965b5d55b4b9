"""Peak memory of one model's step, measured in a way that says what it counts.

On a GPU: ``torch.cuda.max_memory_allocated`` reset before the model is built, read after one
step, less what was allocated before: the model's weights plus the step's peak working memory.
On a CPU an allocator keeps freed memory, so a process that has run other models cannot say
what one model needs: each model is built and stepped in a fresh process
(``python -m benchmarks.memory``), whose peak resident set (VmHWM) less its resident set just
before the model was built is the figure: weights, the step's peak working memory and what the
allocator holds on to, without the interpreter and the libraries.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from collections.abc import Sequence

import torch
from torch import nn

from benchmarks.records import ModelSpec
from benchmarks.settings import ThroughputSettings
from common.precision import AMP_DTYPES, autocast

__all__ = [
    "MEMORY_MEASURES",
    "main",
    "measure_here",
    "measure_points_here",
    "reset_peak_rss",
    "series_memory",
    "status_mb",
    "step_memory",
]

#: What the memory column means, per device type (shown in captions).
MEMORY_MEASURES = {
    "cuda": "max_memory_allocated over one step, less what was allocated before the model was "
    + "built: weights + the step's peak",
    "cpu": "peak RSS of a fresh process over its RSS before the model was built: weights + the "
    + "step's peak + what the allocator keeps",
}
_PREFIXES = {"inference": "infer", "train": "train"}


def reset_peak_rss() -> None:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux ``clear_refs`` 5)."""
    with open("/proc/self/clear_refs", "w", encoding="utf-8") as clear_refs:
        clear_refs.write("5")


def status_mb(field_name: str) -> float:
    """A memory field of /proc/self/status (VmRSS: now; VmHWM: the peak since the last reset)."""
    with open("/proc/self/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"/proc/self/status has no {field_name}")


def _one_step(model: nn.Module, images: torch.Tensor, step: str, dtype: torch.dtype | None) -> None:
    if step == "inference":
        with torch.inference_mode(), autocast(images.device, dtype):
            model.eval()(images)
        return
    targets = torch.zeros(len(images), dtype=torch.long, device=images.device)
    with autocast(images.device, dtype):
        loss = nn.functional.cross_entropy(model.train()(images), targets)
    loss.backward()


def measure_here(
    spec: ModelSpec, device: str, batch_size: int, size: Sequence[int], step: str, amp: str | None
) -> float:
    """In this process: MB the model and one step of it take (see the module docstring)."""
    torch_device = torch.device(device)
    dtype = AMP_DTYPES[amp] if amp else None
    if torch_device.type == "cuda":
        torch.cuda.synchronize(torch_device)
        before = torch.cuda.memory_allocated(torch_device)
        torch.cuda.reset_peak_memory_stats(torch_device)
    else:
        reset_peak_rss()  # VmHWM back to the current RSS: imports do not count
        before = status_mb("VmRSS") * 2**20
    model = spec.build().to(torch_device)
    images = torch.randn(batch_size, *size, device=torch_device)
    _one_step(model, images, step, dtype)
    if torch_device.type == "cuda":
        torch.cuda.synchronize(torch_device)
        return (torch.cuda.max_memory_allocated(torch_device) - before) / 2**20
    return status_mb("VmHWM") - before / 2**20


def step_memory(
    spec: ModelSpec, settings: ThroughputSettings, step: str, size: Sequence[int]
) -> dict[str, object]:
    """The row's memory columns for one model's ``step`` at the settings' batch: on a GPU in
    this process, on a CPU in a fresh one. Raises RuntimeError if the probe fails."""
    prefix = _PREFIXES[step]
    device_type = torch.device(settings.device).type
    if device_type == "cuda":
        megabytes = measure_here(
            spec, settings.device, settings.batch_size, size, step, settings.amp
        )
    else:
        megabytes = _probe(spec, settings, step, size)
    return {f"{prefix}_peak_memory_mb": megabytes, "memory_measure": MEMORY_MEASURES[device_type]}


def _probe(spec: ModelSpec, settings: ThroughputSettings, step: str, size: Sequence[int]) -> float:
    command = [
        sys.executable,
        "-m",
        "benchmarks.memory",
        spec.name,
        "--overrides",
        repr(dict(spec.overrides)),
        "--batch-size",
        str(settings.batch_size),
        "--size",
        *map(str, size),
        "--step",
        step,
        "--threads",
        str(torch.get_num_threads()),
    ]
    if settings.amp:
        command += ["--amp", settings.amp]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise RuntimeError(f"memory probe failed: {lines[-1] if lines else done.returncode}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["megabytes"])


def measure_points_here(
    points: Sequence[tuple[ModelSpec, int, Sequence[int]]], device: str, amp: str | None
) -> list[float | str]:
    """In this process, one inference step at each (spec, batch, size), in order: MB of the
    model's weights and the step's peak above what the process held before the first model
    was built; a point that fails gives its error line. Points of one spec share its model."""
    torch_device = torch.device(device)
    dtype = AMP_DTYPES[amp] if amp else None
    if torch_device.type == "cuda":
        base = torch.cuda.memory_allocated(torch_device) / 2**20
    else:
        base = status_mb("VmRSS")
    models: dict[str, nn.Module] = {}
    results: list[float | str] = []
    for spec, batch, size in points:
        try:
            if spec.label not in models:
                models.clear()
                models[spec.label] = spec.build().to(torch_device)
            images = torch.randn(batch, *size, device=torch_device)
            _reset_peak(torch_device)
            _one_step(models[spec.label], images, "inference", dtype)
            results.append(_peak_mb(torch_device) - base)
        except Exception as error:  # reported per point, as the timing does
            lines = [line for line in str(error).splitlines() if line.strip()]
            results.append(f"error: {type(error).__name__}: {lines[-1] if lines else ''}"[:200])
    return results


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return
    reset_peak_rss()


def _peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) / 2**20
    return status_mb("VmHWM")


def series_memory(
    points: Sequence[tuple[ModelSpec, int, Sequence[int]]], settings: ThroughputSettings
) -> list[float | str]:
    """:func:`measure_points_here` for a series of one model: on a GPU in this process, on a
    CPU in one fresh process (give the points in increasing order: memory the allocator kept
    from a smaller point is then reused, not added)."""
    if torch.device(settings.device).type == "cuda":
        return measure_points_here(points, settings.device, settings.amp)
    encoded = [
        {"name": spec.name, "overrides": repr(dict(spec.overrides)), "batch": b, "size": list(s)}
        for spec, b, s in points
    ]
    command = [sys.executable, "-m", "benchmarks.memory", "--points", json.dumps(encoded)]
    command += ["--threads", str(torch.get_num_threads())]
    if settings.amp:
        command += ["--amp", settings.amp]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        reason = f"error: memory probe failed: {lines[-1] if lines else done.returncode}"
        return [reason[:200]] * len(points)
    return list(json.loads(done.stdout.strip().splitlines()[-1])["megabytes"])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks.memory MODEL ...``: one probe, its figure as JSON on stdout."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory")
    parser.add_argument("model", nargs="?", default=None)
    parser.add_argument(
        "--points", default=None, help="JSON list of {name, overrides, batch, size}"
    )
    parser.add_argument("--overrides", default="{}")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--size", type=int, nargs=3, default=(3, 224, 224))
    parser.add_argument("--step", choices=tuple(_PREFIXES), default="inference")
    parser.add_argument("--amp", choices=tuple(AMP_DTYPES), default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.points is not None:
        points = [
            (ModelSpec(p["name"], ast.literal_eval(p["overrides"])), p["batch"], p["size"])
            for p in json.loads(args.points)
        ]
        print(json.dumps({"megabytes": measure_points_here(points, args.device, args.amp)}))
        return 0
    spec = ModelSpec(args.model, ast.literal_eval(args.overrides))
    megabytes = measure_here(spec, args.device, args.batch_size, args.size, args.step, args.amp)
    print(json.dumps({"megabytes": megabytes}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
