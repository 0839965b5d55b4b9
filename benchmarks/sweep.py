"""Any list of models timed in bounded memory: groups anchored by one reference, failures as rows.

A sweep walks a list of any length a few models at a time. Each group holds at most
``group_size`` models resident, the reference model among them: the group is timed interleaved
(:func:`benchmarks.timing.measure_throughputs`, the one timing engine), its models are freed,
and its rows are handed to ``write_rows`` before the next group is built. Every model's
"vs reference" ratio therefore comes from rounds it shared with the reference; two models of
different groups compare only through the reference (the ratio of their ratios, each with its
own interval), never through their absolute rates measured minutes apart.

A model that cannot be counted, built or run gets a row whose ``status`` says why (``oom`` for
out of memory, else ``error: <one line>``) and the sweep goes on; out of memory is retried at a
smaller batch (timm's ``decay_batch_step``) only when asked, and the row then says the batch it
ran at. Rows already held (``--resume``) are not timed again.
"""

from __future__ import annotations

import datetime
import gc
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import torch
from timm.utils import decay_batch_step

from benchmarks.counting import count_flops, count_params, skip_meta_init
from benchmarks.gemm import measure_gemm_peak
from benchmarks.memory import step_memory
from benchmarks.records import FlopCount, ModelSpec, ParamCount, Throughput
from benchmarks.rows import finish_row, model_row
from benchmarks.settings import ThroughputSettings, validate
from benchmarks.suite import ASSUMED_MFU, estimate_reporter, note, upfront_seconds
from benchmarks.timing import measure_throughputs
from common.durations import duration_text
from common.environment import Environment, describe_environment

__all__ = [
    "DEFAULT_GROUP_SIZE",
    "STATUS_OK",
    "STATUS_OOM",
    "Sweep",
    "SweepResult",
    "failure_status",
    "plan_groups",
    "run_sweep",
]

#: Models per group besides the reference (so six resident at once): Table 4's six rows
#: are one group.
DEFAULT_GROUP_SIZE = 5
STATUS_OK = "ok"
STATUS_OOM = "oom"
_OOM_TEXT = ("out of memory", "can't allocate memory", "cannot allocate memory")


@dataclass(frozen=True)
class Sweep:
    """How a list is walked: group size, the shared reference, what happens on failure."""

    group_size: int = DEFAULT_GROUP_SIZE  # models per group besides the reference
    reference: str | None = None  # a model's label; None: the first model of the list
    retry_smaller_batch: bool = False
    memory: bool = False  # also measure each model's peak step memory


@dataclass
class SweepResult:
    """Every row (held and new, in the list's order), and how the sweep went."""

    rows: list[dict[str, object]]
    gemm_peak_gflops: float
    wall_seconds: float
    environment: Environment
    timed: int  # models timed in this call (not held from an earlier run)


def failure_status(error: BaseException) -> str:
    """A row's status for a model that raised: ``oom``, or ``error: <its last line>``."""
    text = str(error).strip()
    if isinstance(error, torch.OutOfMemoryError) or any(t in text.lower() for t in _OOM_TEXT):
        return STATUS_OOM
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reason = lines[-1] if lines else type(error).__name__
    return f"error: {type(error).__name__}: {reason[:200]}"


def plan_groups(labels: Sequence[str], reference: str, group_size: int) -> list[list[str]]:
    """The other models in groups of ``group_size`` (the reference joins each group)."""
    if group_size < 1:
        raise ValueError(f"group size must be at least 1; got {group_size}")
    others = [label for label in labels if label != reference]
    size = group_size
    return [others[start : start + size] for start in range(0, len(others), size)] or [[]]


def _count(
    spec: ModelSpec, size: tuple[int, ...]
) -> tuple[ParamCount | None, FlopCount | None, str]:
    """Parameters and MACs on the meta device, or the status that says why not."""
    try:
        with skip_meta_init():
            return count_params(spec), count_flops(spec, size), STATUS_OK
    except Exception as error:  # a model that cannot be built or cannot run at this size
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        reason = lines[-1] if lines else type(error).__name__  # ptflops wraps the model's error
        return None, None, f"error: does not run at input {size}: {reason[:200]}"


def _free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


class _Group:
    """One group's timing: the reference and a few models, interleaved, every step."""

    def __init__(self, sweep: Sweep, settings: ThroughputSettings, steps: Sequence[str]):
        self.sweep, self.settings, self.steps = sweep, settings, steps

    def time(
        self,
        specs: Sequence[ModelSpec],
        sizes: Mapping[str, tuple[int, ...]],
        progress: bool,
        report: Callable[[str], None],
    ) -> tuple[dict[str, dict[str, Throughput]], dict[str, str]]:
        """Each step's records by label, and the status of every model that failed."""
        records: dict[str, dict[str, Throughput]] = {spec.label: {} for spec in specs}
        statuses: dict[str, str] = {}
        for step in self.steps:
            live = [spec for spec in specs if spec.label not in statuses]
            failures: dict[str, BaseException] = {}
            measured = measure_throughputs(
                live,
                self.settings,
                progress,
                step=step,
                input_sizes=sizes,
                after_warmup=estimate_reporter(step, self.settings, report),
                failures=failures,
            )
            for spec, record in zip(live, measured, strict=True):
                if record is None:
                    statuses[spec.label] = failure_status(failures[spec.label])
                else:
                    records[spec.label][step] = record
            del measured
            _free_memory(torch.device(self.settings.device))
        return records, statuses


def run_sweep(
    specs: Sequence[ModelSpec],
    settings: ThroughputSettings,
    steps: Sequence[str] = ("inference",),
    input_sizes: Mapping[str, tuple[int, ...]] | None = None,
    sweep: Sweep = Sweep(),
    held: Mapping[str, dict[str, object]] | None = None,
    write_rows: Callable[[list[dict[str, object]]], None] | None = None,
    progress: bool = True,
    report: Callable[[str], None] | None = None,
) -> SweepResult:
    """Count every model, then time the list group by group (see the module docstring).

    ``held`` maps labels to rows of an earlier run of the same settings (not timed again);
    ``write_rows`` gets every row so far after each group (and at the end), so an interrupted
    sweep keeps what it measured. Raises ValueError for a reference that is not in the list or
    cannot be timed.
    """
    run = _SweepRun(tuple(specs), settings, tuple(steps), sweep, dict(held or {}))
    run.sizes = {
        label: tuple((input_sizes or {}).get(label, settings.input_size)) for label in run.labels
    }
    run.write_rows, run.report = write_rows, report or note
    return run.go(progress)


class _SweepRun:
    """The state of one sweep: counts, rows so far, the reference's rounds."""

    def __init__(self, specs, settings, steps, sweep, held) -> None:
        validate(settings, specs)
        self.specs, self.settings, self.steps, self.sweep, self.held = (
            specs, settings, steps, sweep, held
        )  # fmt: skip
        self.labels = [spec.label for spec in specs]
        self.reference = sweep.reference or self.labels[0]
        if self.reference not in self.labels:
            raise ValueError(
                f"reference {self.reference!r} is not in the list; the list: {self.labels}"
            )
        self.by_label = {spec.label: spec for spec in specs}
        self.rows: dict[str, dict[str, object]] = {}
        self.reference_seconds: dict[str, list[float]] = {step: [] for step in steps}
        self.reference_records: dict[str, Throughput] = {}
        self.start = time.perf_counter()
        # Which run measured a row: rows of different runs (a resumed file) share no rounds.
        self.started = datetime.datetime.now().isoformat(timespec="seconds")
        self.sizes: dict[str, tuple[int, ...]] = {}
        self.write_rows: Callable[[list[dict[str, object]]], None] | None = None
        self.report: Callable[[str], None] = note
        self.environment = describe_environment(settings.device)
        self.peak = math.nan

    def go(self, progress: bool) -> SweepResult:
        counts = {
            label: _count(self.by_label[label], self.sizes[label])
            for label in self.labels
            if label not in self.held or label == self.reference
        }
        if counts[self.reference][2] != STATUS_OK:
            reason = counts[self.reference][2].removeprefix("error: ")
            raise ValueError(f"{self.reference} {reason}")
        self.counts = counts
        self.peak = measure_gemm_peak(self.settings.device, self.settings.dtype)
        for label, (params, flops, status) in counts.items():
            if status != STATUS_OK:
                self._keep(
                    label, model_row(self.by_label[label], params, flops, status, {}, 0, None)
                )
        to_time = [l for l in self.labels if l not in self.held and counts[l][2] == STATUS_OK]
        groups = plan_groups([self.reference, *to_time], self.reference, self.sweep.group_size)
        _announce(groups, counts, self.reference, self.settings, self.steps, self.peak, self.report)
        timing = _Group(self.sweep, self.settings, self.steps)
        for index, group in enumerate(groups, start=1):
            self._time_group(timing, index, group, progress)
            self._emit()
        self.peak = max(self.peak, measure_gemm_peak(self.settings.device, self.settings.dtype))
        self.environment = describe_environment(self.settings.device)
        for label in self.rows:
            self._finish(label)
        self._emit()
        ordered = [self.rows.get(l) or self.held[l] for l in self.labels if self._known(l)]
        return SweepResult(
            ordered, self.peak, time.perf_counter() - self.start, self.environment, len(self.rows)
        )

    def _time_group(self, timing: _Group, index: int, group: list[str], progress: bool) -> None:
        reference = self.by_label[self.reference]
        members = [reference, *(self.by_label[label] for label in group)]
        records, statuses = timing.time(members, self.sizes, progress, self.report)
        if self.reference in statuses:
            raise ValueError(f"the reference {self.reference} failed: {statuses[self.reference]}")
        anchor = {step: records[self.reference][step].batch_seconds for step in self.steps}
        for step in self.steps:
            self.reference_seconds[step] += anchor[step]
            self.reference_records[step] = records[self.reference][step]
        for label in group:
            status, own, own_anchor, batch_note = (
                statuses.get(label, STATUS_OK), records[label], anchor, ""
            )  # fmt: skip
            if status == STATUS_OOM and self.sweep.retry_smaller_batch:
                status, own, own_anchor, batch_note = _retry(
                    timing, reference, self.by_label[label], self.sizes, progress, self.report
                )
            params, flops, _ = self.counts[label]
            row = model_row(self.by_label[label], params, flops, status, own, self.peak, own_anchor)
            row |= self._memory(label, status) | {"group": index, "batch_note": batch_note}
            self._keep(label, row)
        row = _reference_row(
            reference, self.counts[self.reference], self.reference_records,
            self.reference_seconds, self.peak,
        )  # fmt: skip
        earlier = self.rows.get(self.reference, {})
        memory = {k: v for k, v in earlier.items() if "memory" in k}  # measured in group 1
        self._keep(self.reference, row | (memory or self._memory(self.reference, STATUS_OK)))
        _free_memory(torch.device(self.settings.device))

    def _memory(self, label: str, status: str) -> dict[str, object]:
        """The peak memory of the model's (first) step, when asked and the model ran."""
        if not self.sweep.memory or status != STATUS_OK:
            return {}
        spec, size = self.by_label[label], self.sizes[label]
        try:
            return dict(step_memory(spec, self.settings, self.steps[0], size))
        except Exception as error:
            return {"memory_status": failure_status(error)}

    def _keep(self, label: str, row: dict[str, object]) -> None:
        self.rows[label] = row
        self._finish(label)

    def _finish(self, label: str) -> None:
        finish_row(
            self.rows[label],
            self.settings,
            self.environment,
            self.peak,
            time.perf_counter() - self.start,
            self.counts.get(label),
            self.reference,
            self.started,
        )

    def _known(self, label: str) -> bool:
        return label in self.rows or label in self.held

    def _emit(self) -> None:
        if self.write_rows is not None:
            self.write_rows(
                [self.rows.get(l) or self.held[l] for l in self.labels if self._known(l)]
            )


def _announce(
    groups: Sequence[Sequence[str]],
    counts: Mapping[str, tuple[ParamCount | None, FlopCount | None, str]],
    reference: str,
    settings: ThroughputSettings,
    steps: Sequence[str],
    peak: float,
    report: Callable[[str], None],
) -> None:
    """The rough duration of each step before anything is timed: every group's FLOPs, the
    reference's in each group, at :data:`ASSUMED_MFU` of the GEMM peak just measured."""
    timed = [counts[label][1] for group in groups for label in (reference, *group)]
    flops = [count for count in timed if count is not None]
    models = sum(len(group) for group in groups) + 1
    resident = max(len(group) for group in groups) + 1
    for step in steps:
        seconds = upfront_seconds(flops, settings, peak, step)
        report(
            f"{step}: {models} models in {len(groups)} group(s) of at most {resident} resident "
            + f"(each with the reference {reference}), {settings.warmup} warm-up and "
            + f"{settings.iters} timed rounds: roughly {duration_text(seconds)} (their FLOPs at "
            + f"{ASSUMED_MFU:.0%} of the {peak:.0f} GFLOP/s GEMM peak just measured); a closer "
            + "estimate follows each warm-up"
        )
    failed = [label for label, (_, _, status) in counts.items() if status != STATUS_OK]
    if failed:
        report(f"{len(failed)} model(s) cannot run and get a row saying why: {', '.join(failed)}")


def _retry(
    timing: _Group,
    reference: ModelSpec,
    spec: ModelSpec,
    sizes: Mapping[str, tuple[int, ...]],
    progress: bool,
    report: Callable[[str], None],
) -> tuple[str, dict[str, Throughput], dict[str, tuple[float, ...]], str]:
    """Time a model that ran out of memory again, with the reference, at smaller batches
    (timm's ``decay_batch_step``): its status, records, the reference's rounds beside them,
    and the note its row carries."""
    settings = timing.settings
    batch = settings.batch_size
    while (smaller := decay_batch_step(batch)) >= 1:
        batch = smaller
        report(f"{spec.label}: out of memory; retrying at batch {batch} (--retry-smaller-batch)")
        smaller_settings = replace(
            settings, batch_size=batch, warmup_batch_size=min(settings.warmup_batch, batch)
        )
        retry = _Group(timing.sweep, smaller_settings, timing.steps)
        records, statuses = retry.time([reference, spec], sizes, progress, report)
        status = statuses.get(spec.label, STATUS_OK)
        if status != STATUS_OOM:
            anchor = {step: r.batch_seconds for step, r in records[reference.label].items()}
            note_text = f"ran at batch {batch} after out of memory at {settings.batch_size}"
            return status, records[spec.label], anchor, note_text
    return STATUS_OOM, {}, {}, f"out of memory down to batch {batch}"


def _reference_row(
    spec: ModelSpec,
    count: tuple[ParamCount | None, FlopCount | None, str],
    records: Mapping[str, Throughput],
    seconds: Mapping[str, list[float]],
    peak: float,
) -> dict[str, object]:
    """The reference's row: every round it ran, over all groups, in one record per step."""
    pooled = {}
    for step, record in records.items():
        rates = [record.batch_size / s for s in seconds[step]]
        pooled[step] = replace(
            record,
            batch_seconds=tuple(seconds[step]),
            median_images_per_s=statistics.median(rates),
            min_images_per_s=min(rates),
            max_images_per_s=max(rates),
        )
    row = model_row(spec, count[0], count[1], STATUS_OK, pooled, peak, seconds)
    return row | {"group": 0, "batch_note": ""}
