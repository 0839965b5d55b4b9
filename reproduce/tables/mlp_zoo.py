"""The zoo table: every MLP of the paper's Table 2 that the suite builds, timed side by side.

The rows are Table 2's, in the paper's order (read from :mod:`reproduce.paper`), where the zoo or
timm builds the model; CycleMLP-B1-B5 (the released family: the paper's CycleMLP-T/S/B have no
code) stand where the paper's CycleMLP rows stand; DynaMixer appears twice, on its authors'
computation (``fused=False``) and on the fused fast path. Every model is timed in one
interleaved run by :func:`benchmarks.suite.run_benchmark` (the engine ``python -m benchmarks``
uses), so the table is that command's CSV with the paper's top-1 beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from benchmarks.ratios import ratio_interval
from benchmarks.records import ModelSpec
from benchmarks.settings import ThroughputSettings
from benchmarks.suite import BenchmarkRun, benchmark_frame, run_benchmark
from models import is_reconstruction, list_models
from reproduce.paper import TABLES, PaperRow

__all__ = [
    "REFERENCE_MODEL",
    "RELEASED_FAMILIES",
    "ZOO_BATCH_SIZE",
    "ZOO_ROUNDS",
    "ZooEntry",
    "measure_mlp_zoo",
    "mlp_zoo_frame",
    "select_entries",
    "zoo_entries",
    "zoo_specs",
]

TABLE = TABLES[2]
TOP1_COLUMN = TABLE.columns[-1]
#: The batch every row is timed at: Table 4's (the paper times throughput at batch 32).
ZOO_BATCH_SIZE = 32
#: (warm-up rounds, timed rounds) per device type. On a 2-core CPU one batch-32 round of the 39
#: models is ~13 TMAC (about 5 minutes on a 2-core Xeon): two timed rounds, the fewest that give
#: a spread, after one warm-up round at the same batch. GPUs take timm's counts.
ZOO_ROUNDS = {"cpu": (1, 2), "cuda": (10, 40)}
#: Speed ratios are given against this row (Table 4's reference too).
REFERENCE_MODEL = "resmlp_s24"
#: Paper families without code whose released relatives the zoo builds: the label prefix of the
#: paper's rows -> the zoo family that stands in their place (labelled, with no paper top-1).
RELEASED_FAMILIES = {"CycleMLP": "cyclemlp"}
#: How the paths of a model with a fused fast path are labelled.
PATHS = {False: "authors' computation", True: "fused"}


@dataclass(frozen=True)
class ZooEntry:
    """One row of the zoo table: a label, the model it times, and what the paper says of it."""

    label: str  # the paper's row label, or the released model's name ("CycleMLP-B1")
    spec: ModelSpec
    paper_top1: float | None  # None: not a row of the paper
    note: str = ""  # "reconstruction ...", "released family (not a paper row)", or a path


def _row_entries(row: PaperRow) -> list[ZooEntry]:
    """A buildable Table 2 row: one entry, or one per path for a model with a fused path."""
    name = row.zoo_name or row.timm_name
    if name is None:
        return []
    top1 = float(row.cells[TOP1_COLUMN])
    if row.zoo_name is not None and name in list_models("dynamixer"):
        return [
            ZooEntry(row.label, ModelSpec(name, {**row.overrides, "fused": fused}), top1, path)
            for fused, path in PATHS.items()
        ]
    note = "reconstruction (no official code)" if row.zoo_name and is_reconstruction(name) else ""
    return [ZooEntry(row.label, ModelSpec(name, dict(row.overrides)), top1, note)]


def _released_entries(family: str) -> list[ZooEntry]:
    """The released models of a family whose paper rows have no code."""
    return [
        ZooEntry(_released_label(name), ModelSpec(name), None, "released family (not a paper row)")
        for name in list_models(family)
    ]


def _released_label(name: str) -> str:
    """'cyclemlp_b1' -> 'CycleMLP-B1', in the paper's spelling of the family."""
    family, size = name.rsplit("_", 1)
    prefix = next(p for p, f in RELEASED_FAMILIES.items() if f == family)
    return f"{prefix}-{size.upper()}"


def zoo_entries() -> tuple[ZooEntry, ...]:
    """The table's rows, in the paper's order; a released family stands once where its paper
    rows (which nothing builds) stand."""
    entries: list[ZooEntry] = []
    placed: set[str] = set()
    for row in TABLE.rows:
        if not row.buildable:
            prefix = next((p for p in RELEASED_FAMILIES if row.label.startswith(p)), None)
            if prefix is not None and prefix not in placed:
                entries += _released_entries(RELEASED_FAMILIES[prefix])
                placed.add(prefix)
            continue
        entries += _row_entries(row)
    return tuple(entries)


def zoo_specs(entries: Sequence[ZooEntry]) -> list[ModelSpec]:
    """The models to time, each once (Mixer-B/16 and Mixer-B/16† are one model)."""
    return list({entry.spec.label: entry.spec for entry in entries}.values())


def select_entries(
    entries: Sequence[ZooEntry], names: Sequence[str] | None
) -> tuple[ZooEntry, ...]:
    """The entries of these model names (all for None); an unknown name is a ValueError."""
    if names is None:
        return tuple(entries)
    known = list(dict.fromkeys(entry.spec.name for entry in entries))
    for name in names:
        if name not in known:
            raise ValueError(
                f"{name!r} is not a model of the zoo table; its models: {', '.join(known)}"
            )
    return tuple(entry for entry in entries if entry.spec.name in names)


def measure_mlp_zoo(
    entries: Sequence[ZooEntry],
    settings: ThroughputSettings,
    progress: bool = True,
    report: Callable[[str], None] | None = None,
) -> BenchmarkRun:
    """Count and time every entry's model in one interleaved run (each model once)."""
    return run_benchmark(zoo_specs(entries), settings, ("inference",), None, progress, report)


def mlp_zoo_frame(run: BenchmarkRun, entries: Sequence[ZooEntry]) -> pd.DataFrame:
    """One row per entry: label, note, the paper's top-1, the speed ratio to the reference row
    (median and interval of the per-round ratios), then the run's columns for that model
    (``python -m benchmarks``'s CSV: timm's names, spread, MFU, provenance)."""
    measured = benchmark_frame(run).set_index("model")
    seconds = {
        spec.label: record.batch_seconds
        for spec, record in zip(run.specs, run.throughputs["inference"], strict=True)
    }
    reference = next((s for s in run.specs if s.name == REFERENCE_MODEL), None)
    rows = []
    for entry in entries:
        row: dict[str, object] = {
            "label": entry.label,
            "note": entry.note,
            "paper_top1": entry.paper_top1,
        }
        if reference is not None:
            ratio = ratio_interval(seconds[entry.spec.label], seconds[reference.label])
            row |= {
                "relative": ratio.median,
                "relative_low": ratio.low,
                "relative_high": ratio.high,
            }
        rows.append(row | {"model": entry.spec.label} | measured.loc[entry.spec.label].to_dict())
    frame = pd.DataFrame.from_records(rows)
    frame["subset"] = tuple(entries) != zoo_entries()  # not every row of the table was timed
    return frame
