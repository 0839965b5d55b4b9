"""How a timing is set up, checked before any model is built: device, precision, batch, rounds.

:class:`ThroughputSettings` is what every timing in the suite is asked to do, and
:func:`validate` refuses a bad device, precision, batch size, compile mode or model name in
milliseconds, with a message naming the bad value and the accepted ones. bf16 autocast runs on
the CPU too: natively (and fastest) where the CPU has AVX512-BF16 or AMX, emulated and slower
than fp32 elsewhere, which :func:`emulated_bf16_warning` says in one line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch

from benchmarks.records import DEFAULT_INPUT_SIZE, ModelSpec
from common.environment import cpu_bf16_flags
from common.precision import AMP_DEVICES, AMP_DTYPES

__all__ = [
    "COMPILE_MODES",
    "COMPILE_SCOPES",
    "CUDA_GRAPH_MIN_WARMUP",
    "CUDA_GRAPH_MODES",
    "DEFAULT_ROUNDS",
    "DEVICES",
    "LATENCY_ROUNDS",
    "STEPS",
    "Rounds",
    "ThroughputSettings",
    "check_cuda_graph_warmup",
    "check_input_size",
    "check_positive_int",
    "emulated_bf16_warning",
    "rounds_on",
    "validate",
]

#: Device types ``measure_throughput`` accepts ("cuda" may carry an index: "cuda:1").
DEVICES = ("cpu", "cuda")
#: What is timed: inference (eval mode, no autograd) or a training step (train mode: forward,
#: cross-entropy, backward, SGD step), as timm's benchmark.py names them ("infer", "train").
STEPS = ("inference", "train")
#: ``torch.compile`` modes (``mode=``); "reduce-overhead" adds CUDA graphs on a GPU.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
#: Modes that capture CUDA graphs on a GPU: graphs are recorded on the second call, so they
#: need a few warm-up calls, and each compiled call is its own graph (see validate).
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")
CUDA_GRAPH_MIN_WARMUP = 3
#: What ``compile_model`` compiles: each MixerLayer (one graph per stage), or the whole model.
COMPILE_SCOPES = ("regional", "full")

#: (warm-up rounds, timed rounds) per device type: how many rounds a timing command runs unless
#: told (``--warmup``, ``--iters``). One idea, one type: every command's default is
#: :data:`DEFAULT_ROUNDS` or says in its own module why it differs.
Rounds = Mapping[str, tuple[int, int]]
#: On a 2-core CPU a batch-32 forward pass of a 7-GMAC model takes seconds, so a few rounds are
#: all a run can afford (three timed CPU rounds decide Table 4's two "faster than" claims, whose
#: margins exceed the rounds' spread); GPUs take about timm's counts.
DEFAULT_ROUNDS: Rounds = {"cpu": (1, 3), "cuda": (10, 50)}
#: ``--bench latency`` (batch 1): enough calls for a p99 to mean something on a GPU, and a p90
#: on a CPU.
LATENCY_ROUNDS: Rounds = {"cpu": (3, 30), "cuda": (20, 200)}


def rounds_on(rounds: Rounds, device: str) -> tuple[int, int]:
    """(warm-up, timed) rounds of ``rounds`` for a device ("cuda:1" counts as "cuda"; a device
    type not listed takes the CPU's)."""
    return rounds.get(device.split(":")[0], rounds["cpu"])


@dataclass(frozen=True)
class ThroughputSettings:
    """How to time a model: device, batch, precision and the optional fast paths."""

    device: str = "cpu"
    batch_size: int = 32
    input_size: tuple[int, ...] = DEFAULT_INPUT_SIZE
    amp: str | None = None  # None (fp32) or a key of AMP_DTYPES (fp16: GPU only)
    channels_last: bool = False
    compile: bool = False  # torch.compile before warm-up (the first warm-up batch compiles)
    compile_mode: str = "default"  # torch.compile(mode=...), one of COMPILE_MODES
    warmup: int = 1
    iters: int = 3
    # The warm-up batches' size (None: batch_size). A small one costs less but leaves the timed
    # shape's first-call costs in the first timed round; a compiled model would recompile.
    warmup_batch_size: int | None = None

    @property
    def precision(self) -> str:
        """ "fp32", "amp-bf16" or "amp-fp16"."""
        return "fp32" if self.amp is None else f"amp-{self.amp}"

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the matmuls run in: fp32, or the autocast dtype."""
        return torch.float32 if self.amp is None else AMP_DTYPES[self.amp]

    @property
    def warmup_batch(self) -> int:
        """The size of a warm-up batch."""
        return self.batch_size if self.warmup_batch_size is None else self.warmup_batch_size


# ---------------------------------------------------------------------------------------------
# Validation: every bad argument fails here, before a model is built.


def check_positive_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")


def check_cuda_graph_warmup(device: torch.device, compile_mode: str, warmup: int) -> None:
    """CUDA graphs are recorded on a compiled model's second call: refuse fewer warm-up calls
    than :data:`CUDA_GRAPH_MIN_WARMUP` for a CUDA-graph mode on a GPU (else a timed batch
    would include the recording)."""
    graphs = device.type == "cuda" and compile_mode in CUDA_GRAPH_MODES
    if graphs and warmup < CUDA_GRAPH_MIN_WARMUP:
        raise ValueError(
            f"compile mode {compile_mode!r} on {device} records CUDA graphs on its second "
            + f"call: it needs warmup >= {CUDA_GRAPH_MIN_WARMUP}; got {warmup} "
            + f"(pass --warmup {CUDA_GRAPH_MIN_WARMUP})"
        )


def validate(
    settings: ThroughputSettings,
    models: Iterable[ModelSpec | str] = (),
    check_device_available: bool = True,
) -> None:
    """Raise a ValueError naming the first bad setting or unknown model name.

    ``check_device_available=False`` skips only the "is there a GPU here" check, for settings
    that will run on another machine (a Slurm job validates again where it runs).
    """
    for model in models:
        ModelSpec.of(model)  # an unknown name: ValueError with the closest zoo and timm names
    device = _checked_device(settings.device, check_device_available)
    _check_amp(settings.amp, device, check_device_available)
    check_positive_int("batch_size", settings.batch_size, 1)
    check_positive_int("iters", settings.iters, 1)
    check_positive_int("warmup", settings.warmup, 0)
    if settings.warmup_batch_size is not None:
        check_positive_int("warmup_batch_size", settings.warmup_batch_size, 1)
    if settings.compile_mode not in COMPILE_MODES:
        raise ValueError(
            f"unknown compile mode {settings.compile_mode!r}; accepted: {', '.join(COMPILE_MODES)}"
        )
    if settings.compile and settings.warmup < 1:
        raise ValueError("compile=True needs warmup >= 1: the first batch compiles the model")
    if settings.compile and settings.warmup_batch != settings.batch_size:
        raise ValueError(
            "a compiled model recompiles for a new batch size: warm it up at the timed batch "
            + f"({settings.batch_size}), not at {settings.warmup_batch}"
        )
    if settings.compile:
        check_cuda_graph_warmup(device, settings.compile_mode, settings.warmup)
    check_input_size(settings.input_size)


def check_input_size(size: Sequence[int]) -> None:
    """An input size is (channels, height, width), each a positive integer."""
    size = tuple(size)
    if len(size) != 3 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in size):
        raise ValueError(f"input_size must be (channels, height, width) > 0; got {size!r}")


def _checked_device(name: str, check_available: bool) -> torch.device:
    accepted = f"accepted: {', '.join(DEVICES)} (or cuda:N)"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {name!r}; {accepted}") from None
    if device.type not in DEVICES:
        raise ValueError(f"unknown device {name!r}; {accepted}")
    if device.type == "cuda" and check_available:
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {name!r} was asked for but CUDA is not available here "
                + f"(torch {torch.__version__}, CUDA build {torch.version.cuda}); "
                + "use --device cpu"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {name!r} does not exist: "
                + f"{torch.cuda.device_count()} CUDA device(s) visible"
            )
    return device


def _check_amp(amp: str | None, device: torch.device, check_available: bool) -> None:
    """An autocast dtype this device type runs: bf16 on CPU or GPU, fp16 on a GPU."""
    if amp is None:
        return
    if amp not in AMP_DTYPES:
        raise ValueError(
            f"unknown AMP dtype {amp!r}; accepted: {', '.join(AMP_DTYPES)} (or none for fp32)"
        )
    if device.type not in AMP_DEVICES[amp]:
        other = [name for name, types in AMP_DEVICES.items() if device.type in types]
        raise ValueError(
            f"{amp} autocast is for {' or '.join(AMP_DEVICES[amp])} devices: it was asked for "
            + f"on {str(device)!r}; there use fp32 (no --amp)"
            + (f" or --amp {' or '.join(other)}" if other else "")
        )
    supported = device.type != "cuda" or not check_available or torch.cuda.is_bf16_supported()
    if amp == "bf16" and not supported:
        raise ValueError(
            f"{torch.cuda.get_device_name(device)} has no bf16: use --amp fp16 or fp32 (no --amp)"
        )


def emulated_bf16_warning(settings: ThroughputSettings) -> str | None:
    """One line when bf16 autocast is asked of a CPU without native bf16 (else None)."""
    if settings.amp != "bf16" or torch.device(settings.device).type != "cpu" or cpu_bf16_flags():
        return None
    return (
        "warning: this CPU has no native bf16 (no avx512_bf16 or amx_bf16), so bf16 matmuls are "
        + "emulated and slower than fp32: these timings measure the emulation"
    )
