"""The zoo table: every MLP of the paper's Table 2 that the suite builds, timed side by side.

The rows are Table 2's, in the paper's order (read from :mod:`reproduce.paper`), where the zoo or
timm builds the model; CycleMLP-B1-B5 (the released family: the paper's CycleMLP-T/S/B have no
code) stand where the paper's CycleMLP rows stand; DynaMixer appears twice, on its authors'
computation (``fused=False``) and on the fused fast path. Every model is timed by
:func:`benchmarks.sweep.run_sweep` (the engine ``python -m benchmarks``
uses), so the table is that command's CSV with the paper's top-1 beside it. The models are
timed a group at a time (bounded memory), each group interleaved with the reference row.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from benchmarks.records import ModelSpec
from benchmarks.rows import sweep_frame
from benchmarks.settings import DEFAULT_ROUNDS, Rounds, ThroughputSettings
from benchmarks.sweep import Sweep, SweepResult, run_sweep
from models import is_reconstruction, list_models
from reproduce.paper import TABLES, PaperRow

__all__ = [
    "DEFAULT_ZOO_SWEEP",
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
#: Rounds: on a 2-core CPU one batch-32 round of the 39 models is ~13 TMAC (about 5 minutes on
#: a 2-core Xeon): two timed rounds, the fewest that give a spread, after one warm-up round at
#: the same batch, against the default three. GPUs take the default.
ZOO_ROUNDS: Rounds = {"cpu": (1, 2), "cuda": DEFAULT_ROUNDS["cuda"]}
#: Speed ratios are given against this row (Table 4's reference too); every group of the
#: sweep is timed interleaved with it.
REFERENCE_MODEL = "resmlp_s24"
DEFAULT_ZOO_SWEEP = Sweep(reference=REFERENCE_MODEL)
#: Paper families without code whose released relatives the zoo builds: the label prefix of the
#: paper's rows -> the zoo family that stands in their place (labelled, with no paper top-1).
RELEASED_FAMILIES = {"CycleMLP": "cyclemlp"}
#: How the paths of a model with a fused fast path are labelled.
PATHS = {False: "authors' computation", True: "fused"}
#: The released CycleMLP models are timed on the authors' Cycle FC (torchvision's
#: deform_conv2d) and on the zoo's (a shift and a linear layer): the same numbers, two routes.
CYCLE_FC_PATHS = {"deform_conv": "authors' computation", "shift": "shift + linear"}


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
    """The released models of a family whose paper rows have no code (CycleMLP: each on both
    routes of its Cycle FC)."""
    note = "released family (not a paper row)"
    if family != "cyclemlp":
        return [ZooEntry(_released_label(n), ModelSpec(n), None, note) for n in list_models(family)]
    return [
        ZooEntry(
            _released_label(name), ModelSpec(name, {"cycle_fc": route}), None, f"{note}, {path}"
        )
        for name in list_models(family)
        for route, path in CYCLE_FC_PATHS.items()
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
    sweep: Sweep = DEFAULT_ZOO_SWEEP,
    held: Mapping[str, dict[str, object]] | None = None,
    write_frame: Callable[[pd.DataFrame], None] | None = None,
    progress: bool = True,
    report: Callable[[str], None] | None = None,
) -> SweepResult:
    """Count and time every entry's model (each once), group by group with the reference row;
    ``write_frame`` gets the table so far after every group."""

    def write_rows(rows: list[dict[str, object]]) -> None:
        if write_frame is not None:
            write_frame(mlp_zoo_frame(rows, entries))

    return run_sweep(
        zoo_specs(entries),
        settings,
        ("inference",),
        None,
        sweep,
        held=held,
        write_rows=write_rows,
        progress=progress,
        report=report,
    )


#: The columns the zoo table puts before the sweep's (and after it: ``subset``,
#: ``rows_expected``).
ENTRY_COLUMNS = ("label", "note", "paper_top1", "relative", "relative_low", "relative_high")
RUN_COLUMNS = ("subset", "rows_expected")


def mlp_zoo_frame(
    rows: Sequence[Mapping[str, object]], entries: Sequence[ZooEntry]
) -> pd.DataFrame:
    """One row per entry that has a measurement: label, note, the paper's top-1, the speed
    ratio to the reference row (median and interval of the per-round ratios of the group it
    was timed in), then the sweep's row for that model in the schema every timing table shares
    (:func:`benchmarks.rows.sweep_frame`: timm's names, status, spread, MFU, provenance).
    ``rows_expected`` says how many entries the run had, so a partial table (an interrupted
    run) says what it lacks."""
    measured = {str(row["model"]): row for row in rows}
    records, sweep_rows = [], []
    for entry in entries:
        row = measured.get(entry.spec.label)
        if row is None:
            continue
        ours = row.get("reference") == REFERENCE_MODEL  # the table's ratios are to this row only
        records.append(
            {
                "label": entry.label,
                "note": entry.note,
                "paper_top1": entry.paper_top1,
                "relative": row.get("infer_vs_reference") if ours else math.nan,
                "relative_low": row.get("infer_vs_reference_low") if ours else math.nan,
                "relative_high": row.get("infer_vs_reference_high") if ours else math.nan,
            }
        )
        own = (*ENTRY_COLUMNS, *RUN_COLUMNS)  # a row held from an earlier zoo CSV has them
        sweep_rows.append({key: value for key, value in row.items() if key not in own})
    frame = pd.concat([pd.DataFrame(records), sweep_frame(sweep_rows)], axis=1)
    frame["subset"] = tuple(entries) != zoo_entries()  # not every row of the table was timed
    frame["rows_expected"] = len(entries)
    return frame
