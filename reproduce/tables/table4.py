"""Table 4's spec: its rows and columns (read from :mod:`reproduce.paper`, never retyped), the
reference row, the batch and rounds it is timed at, and which model each row times.

Measuring it is :mod:`reproduce.tables.table4_measurement`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from benchmarks.records import ModelSpec
from common.files import REPO_ROOT
from models import list_models
from reproduce.paper import CLAIMS, TABLES, PaperRow

__all__ = [
    "FUSED_MODELS",
    "QUICK",
    "REFERENCE_MODEL",
    "TABLE",
    "TABLE_BATCH_SIZE",
    "paper_device",
    "parse_paper_throughput",
    "row_spec",
    "table4_rows",
]

TABLE = TABLES[4]
#: Throughput in Table 4 is also given relative to this row (= 1.00), on the paper's device and
#: on ours, so the orderings can be compared across devices.
REFERENCE_MODEL = "resmlp_s24"
PARAM_COLUMN, FLOPS_COLUMN, THROUGHPUT_COLUMN, TOP1_COLUMN = TABLE.columns[1:]


DEFAULT_LOG_DIR = REPO_ROOT / "runs" / "table4"
TABLE_BATCH_SIZE = int(CLAIMS["table4_throughput_setting"].numbers["batch_size"])
# Table 4 is timed at the suite's DEFAULT_ROUNDS (benchmarks.settings); why the "16-18%" claim
# needs many more rounds is in the README (Every speed ratio ...).
QUICK = {"batch_size": 2, "warmup": 1, "iters": 2}  # --quick: a CI smoke run of the real models
#: Zoo models with a fused fast path (``fused=True``: same parameters and numbers, fewer ops).
#: Table 4 times them on the official computation (``fused=False``) unless ``--fused``: the paper
#: timed the authors' code, and ViP and ResMLP have no such path, so that is the fair comparison.
FUSED_MODELS = frozenset(list_models("dynamixer"))


def paper_device() -> str:
    """The GPU the paper timed on, read from its own sentence ("... a single NVIDIA V100 GPU")."""
    quote = CLAIMS["table4_throughput_setting"].quote
    match = re.search(r"NVIDIA (\S+) GPU", quote)
    return match.group(1) if match else "the paper's GPU"


def table4_rows(models: Sequence[str] | None = None) -> tuple[PaperRow, ...]:
    """Table 4's rows in the paper's order, optionally only those of ``models`` (zoo names)."""
    rows = TABLE.rows
    if models is None:
        return rows
    known = [row.zoo_name for row in rows]
    for name in models:
        ModelSpec(name)  # unknown to the zoo: ValueError listing the zoo's names
        if name not in known:
            raise ValueError(
                f"{name!r} is not a row of Table 4; its rows are: {', '.join(map(str, known))}"
            )
    return tuple(row for row in rows if row.zoo_name in models)


def row_spec(row: PaperRow, fused: bool = False) -> ModelSpec:
    """The model a Table 4 row measures; DynaMixer on its official or (``fused``) fast path."""
    if row.zoo_name is None:
        raise ValueError(f"Table 4 row {row.label!r} has no model in the zoo")
    overrides = dict(row.overrides)
    if row.zoo_name in FUSED_MODELS:
        overrides["fused"] = fused
    return ModelSpec(row.zoo_name, overrides)


def parse_paper_throughput(model: str) -> float:
    """The paper's Table 4 throughput of a zoo model, in images/s."""
    for row in TABLE.rows:
        if row.zoo_name == model:
            return float(row.cells[THROUGHPUT_COLUMN])
    raise ValueError(f"{model!r} is not a row of Table 4")
