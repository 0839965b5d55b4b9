"""Table 1, generated: each configuration cell of the paper beside what the models build.

The paper's Table 1 gives DynaMixer-S/M/L's two stages (patch size, hidden size, tokens, mixer
layers, segments S) and other hyperparameters (layers, MLP ratio, stochastic depth, d,
parameters). Here every cell is read back from the zoo's configuration (and the training
recipe, for stochastic depth) as the paper would print it, so a difference is visible cell by
cell rather than only as a parameter count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from models import dynamixer
from reproduce.paper import TABLES
from reproduce.tables.counts import Measurement
from reproduce.tables.specs import MeasureKey
from reproduce.training.recipes import get_recipe

__all__ = ["TABLE1", "built_configuration", "table1_frame"]

TABLE1 = TABLES[1]


def _joined(values: list[Any]) -> str:
    """'192', or '192/384' where the stage's groups differ (the paper prints one value)."""
    return "/".join(str(v) for v in dict.fromkeys(values))


def built_configuration(name: str, params: int) -> dict[tuple[str | None, str], str]:
    """Table 1's cells for one DynaMixer, (group, specification) -> text as the paper prints it.

    The official configs count four groups of layers; the paper's "first stage" ends at the
    first resolution change, its "second stage" is the rest.
    """
    config = dynamixer.CONFIGS[name]
    sides = config.resolutions()
    first = config.transitions.index(True)
    stages = {"first stage": range(first + 1), "second stage": range(first + 1, len(sides))}
    built: dict[tuple[str | None, str], str] = {}
    for group, indices in stages.items():
        side = sides[indices[0]]
        patch = config.patch_size if group == "first stage" else sides[first] // side
        built |= {
            (group, "Patch size"): f"{patch}×{patch}",
            (group, "Hidden size"): _joined([config.embed_dims[i] for i in indices]),
            (group, "#Tokens"): f"{side}×{side}",
            (group, "#Mixer Layers"): str(sum(config.layers[i] for i in indices)),
            (group, "S"): _joined([config.num_segments[i] for i in indices]),
        }
    return built | {
        ("other", "#Layers"): str(sum(config.layers)),
        ("other", "MLP Ratio"): f"{config.mlp_ratio:g}",
        ("other", "Stoch. Dep."): f"{get_recipe(f'imagenet_{name}').drop_path:g}",
        ("other", "d"): str(config.reduced_dim),
        ("other", "#Parameters"): f"{params:,}",
    }


def table1_frame(measurements: Mapping[MeasureKey, Measurement]) -> pd.DataFrame:
    """One row per specification: the paper's cell and the built one, for each model."""
    built = {
        column: built_configuration(name, measurements[MeasureKey("zoo", name)].params.params)
        for column, name in TABLE1.column_zoo_names.items()
    }
    records = []
    for row in TABLE1.rows:
        record: dict[str, Any] = {"group": row.group, "specification": row.label}
        for column, name in TABLE1.column_zoo_names.items():
            record[f"{name}_paper"] = row.cells[column]
            record[f"{name}_built"] = built[column][(row.group, row.label)]
        records.append(record)
    return pd.DataFrame.from_records(records)
