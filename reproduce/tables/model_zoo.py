"""The model zoo as a table: every name ``models.list_models()`` gives, counted, with its origin.

The zoo's names live in the model files alone; this table is generated from them, so the README
and the results never carry a copy of the list.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import timm

from benchmarks.ratios import ratio_interval
from models import is_reconstruction, list_models
from models.registry import FAMILIES, OTHER_FAMILIES, computation_note
from reproduce.paper import TABLES
from reproduce.tables.counts import Measurement
from reproduce.tables.specs import MeasureKey

__all__ = ["route_ratios", "zoo_frame", "zoo_keys"]


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
                    "computation": computation_note(name),
                    "license": cfg.license,
                    "origin_url": cfg.origin_url,
                    "paper_ids": cfg.paper_ids,
                }
            )
    frame = pd.DataFrame.from_records(records)
    frame["macs"] = frame["macs"].astype("Int64")
    return frame


def _seconds(row: pd.Series) -> list[float]:
    return [float(v) for v in str(row["infer_batch_seconds"]).split()]


def route_ratios(timing: pd.DataFrame, source: str) -> pd.DataFrame:
    """How much faster the zoo's route is than its authors' computation, for every model a
    committed MLP timing table ran both ways (DynaMixer: fused; CycleMLP: shift + linear).

    From the rounds the two rows shared where they were timed together (the per-round ratio's
    median and interval), else through their ratios to the reference row.
    """
    notes = timing["note"].fillna("").astype(str)
    authors = timing[notes.str.endswith("authors' computation")]
    records = []
    for _, slow in authors.iterrows():
        name = str(slow["model"]).split("(")[0]
        same_model = timing["model"].astype(str).str.startswith(name + "(")
        fast = timing[same_model & (timing["model"] != slow["model"])]
        if fast.empty or ("status" in timing and (fast["status"].iloc[0] != "ok")):
            continue
        quick = fast.iloc[0]
        same_rounds = len(_seconds(quick)) == len(_seconds(slow)) and (
            "group" not in timing or quick.get("group") == slow.get("group")
        )
        if same_rounds:
            ratio = ratio_interval(_seconds(quick), _seconds(slow))
            median, low, high = ratio.median, ratio.low, ratio.high
        else:
            median, low, high = quick["relative"] / slow["relative"], None, None
        records.append(
            {
                "model": name,
                "route": str(quick["note"]).split(", ")[-1],
                "authors": str(slow["model"]),
                "ratio": median,
                "ratio_low": low,
                "ratio_high": high,
                "device": f"{slow['device_name']} ({slow['device']}, {slow['precision']})",
                "source": source,
            }
        )
    return pd.DataFrame.from_records(records)
