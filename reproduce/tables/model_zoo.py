"""The model zoo as a table: every name ``models.list_models()`` gives, counted, with its origin.

The zoo's names live in the model files alone; this table is generated from them, so the README
and the results never carry a copy of the list.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import timm

from models import is_reconstruction, list_models
from models.registry import FAMILIES, OTHER_FAMILIES
from reproduce.paper import TABLES
from reproduce.tables.counts import Measurement
from reproduce.tables.specs import MeasureKey

__all__ = ["zoo_frame", "zoo_keys"]


def zoo_keys() -> list[MeasureKey]:
    """One key per zoo name, as built by default (224x224 unless its cfg says otherwise)."""
    keys = []
    for name in list_models():
        size = tuple(timm.models.get_pretrained_cfg(name).input_size)
        keys.append(MeasureKey("zoo", name, (), size))
    return keys


#: How the zoo table groups its families.
KINDS = {False: "vision MLPs (Table 2)", True: "other families of the paper's comparison"}


def _paper_labels() -> dict[str, str]:
    """Zoo name -> its row label in the paper's Table 2 (or 3, or 9), where it has one."""
    labels: dict[str, str] = {}
    for number in (9, 3, 2):  # Table 2's label wins where a model is in several tables
        labels |= {str(row.zoo_name): row.label for row in TABLES[number].rows if row.zoo_name}
    return labels


def zoo_frame(measurements: Mapping[MeasureKey, Measurement]) -> pd.DataFrame:
    """One row per zoo name, by family: counts, input size and where the model comes from."""
    labels = _paper_labels()
    records = []
    for family in FAMILIES:
        for name in list_models(family):
            cfg = timm.models.get_pretrained_cfg(name)
            key = MeasureKey("zoo", name, (), tuple(cfg.input_size))
            measured = measurements[key]
            records.append(
                {
                    "model": name,
                    "family": family,
                    "kind": KINDS[family in OTHER_FAMILIES],
                    "paper_row": labels.get(name),
                    "params": measured.params.params,
                    "macs": None if measured.flops is None else measured.flops.macs,
                    "input_size": "x".join(map(str, cfg.input_size)),
                    "fixed_input_size": bool(cfg.fixed_input_size),
                    "reconstruction": is_reconstruction(name),
                    "license": cfg.license,
                    "origin_url": cfg.origin_url,
                    "paper_ids": cfg.paper_ids,
                }
            )
    frame = pd.DataFrame.from_records(records)
    frame["macs"] = frame["macs"].astype("Int64")
    return frame
