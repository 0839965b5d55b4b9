"""``python -m benchmarks.fastpath``: the fast-path report's command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

from benchmarks.fastpath.memory import measure_step_memory
from benchmarks.fastpath.options import (
    COMPILE_CHOICES,
    DEFAULT_OUTPUT_DIR,
    SLOW_BF16_BATCH,
    Settings,
    check_settings,
)
from benchmarks.fastpath.render import read_report, render_markdown, render_text, write_report
from benchmarks.fastpath.run import run_report
from benchmarks.settings import COMPILE_MODES, CUDA_GRAPH_MIN_WARMUP
from common.files import write_text_atomic


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.fastpath",
        description="DynaMixer-S fused vs plain vs ViP-S/7, measured side by side.",
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda (or cuda:N)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--bf16-batch-size",
        type=int,
        default=None,
        help=f"default: --batch-size, or {SLOW_BF16_BATCH} on a CPU without fast bf16",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="untimed rounds, compiling in the first (default: 1 on cpu, "
        + f"{CUDA_GRAPH_MIN_WARMUP} on cuda)",
    )
    parser.add_argument("--iters", type=int, default=3, help="timed inference rounds")
    parser.add_argument("--train-iters", type=int, default=2, help="timed training rounds")
    parser.add_argument(
        "--compile-scope",
        choices=COMPILE_CHOICES,
        default="regional",
        help="what to compile: each layer (default), the whole model, or nothing",
    )
    parser.add_argument(
        "--compile",
        dest="compile_scope",
        choices=COMPILE_CHOICES,
        action=DeprecatedSpelling,
        help=argparse.SUPPRESS,  # the earlier spelling of --compile-scope
    )
    parser.add_argument(
        "--compile-mode",
        choices=COMPILE_MODES,
        default="default",
        help="torch.compile mode (reduce-overhead: CUDA graphs on a GPU)",
    )
    parser.add_argument("--compile-plain", action="store_true", help="also compile plain")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--no-bf16", dest="bf16", action="store_false")
    parser.add_argument("--no-train", dest="train", action="store_false")
    parser.add_argument("--no-memory", dest="memory", action="store_false")
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR)
    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="JSON",
        help="measure nothing: re-render the markdown of a report's JSON beside it",
    )
    probe = parser.add_argument_group("internal: one memory probe in a fresh process")
    probe.add_argument("--memory-probe", metavar="MODEL", default=None)
    path = probe.add_mutually_exclusive_group()
    path.add_argument("--fused", dest="probe_fused", action="store_true", default=True)
    path.add_argument("--plain", dest="probe_fused", action="store_false")
    return parser


class DeprecatedSpelling(argparse.Action):
    """An earlier option name that still works, with a line naming the new one."""

    def __call__(self, parser, namespace, values, option_string=None):
        new = "--" + self.dest.replace("_", "-")
        print(f"{parser.prog}: {option_string} is now {new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def _check(args: argparse.Namespace) -> Settings:
    on_gpu = str(args.device).startswith("cuda")
    warmup = args.warmup if args.warmup is not None else (CUDA_GRAPH_MIN_WARMUP if on_gpu else 1)
    settings = Settings(
        device=args.device,
        batch_size=args.batch_size,
        bf16_batch_size=args.bf16_batch_size,
        warmup=warmup,
        iters=args.iters,
        train_iters=args.train_iters,
        compile_scope=args.compile_scope,
        compile_mode=args.compile_mode,
        compile_plain=args.compile_plain,
        bf16=args.bf16,
        train=args.train,
        memory=args.memory,
        output_dir=args.output_dir,
    )
    check_settings(settings)
    return settings


@contextlib.contextmanager
def _threads(count: int | None) -> Iterator[None]:
    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.memory_probe is not None:
        probe = measure_step_memory(
            args.memory_probe, args.probe_fused, args.batch_size, args.device
        )
        print(json.dumps(probe))
        return 0
    if args.render is not None:
        if not args.render.is_file():
            parser.error(f"--render needs a report JSON; {args.render} is not a file")
        markdown = write_text_atomic(
            args.render.with_suffix(".md"), render_markdown(read_report(args.render))
        )
        print(f"wrote {markdown}")
        return 0
    try:
        settings = _check(args)
    except ValueError as error:
        parser.error(str(error))
    with _threads(args.threads):
        report = run_report(settings)
    markdown, data = write_report(report, settings.output_dir)
    print(render_text(report))
    print(f"wrote {markdown} and {data}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
