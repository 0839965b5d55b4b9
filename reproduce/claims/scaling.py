"""The families' own claims about input size and cost, checked against the scaling study.

Each family of :data:`reproduce.sources.SIZE_CLAIMS` claims to take other input sizes (and
CycleMLP also that its cost is linear in the pixels); the fixed-grid families make no such
claim, and their growth is reported as measured. DynaMixer's Section 3.1 gives its operation's
cost in N, the tokens per line: the share of that term (generating the mixing matrices,
S·N³·d per line) in the whole model's MACs is computed at every side it ran at.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch

from benchmarks.counting import skip_meta_init
from benchmarks.records import ModelSpec
from models.dynamixer import DynaMixerOp
from reproduce.claims.verdicts import (
    INCONCLUSIVE,
    INDICATIVE,
    NOT_REPRODUCED,
    REPRODUCED,
    Check,
)
from reproduce.sources import SIZE_CLAIMS, SizeClaim
from reproduce.tables.scaling import growth_frame

__all__ = ["LINEAR_BAND", "MACS_BAND", "dynamixer_generation_share", "scaling_checks"]

#: A growth exponent of MACs within this distance of 1 is linear in the pixels.
MACS_BAND = 0.05
#: Measured seconds per image: linear when the interval of the per-round slopes lies within
#: 1 ± this; not linear when it lies wholly outside; else inconclusive at this noise.
LINEAR_BAND = 0.15
_FIXED_GRID = ("dynamixer_s(fused=False)", "vip_s7", "resmlp_s12", "mixer_b16_224", "gmlp_s16_224")
_SECTION_3_1 = "DynaMixer paper, Section 3.1 (the operation's cost in N, the tokens per line)"


def _source(name: str, claim: SizeClaim) -> str:
    return f"{claim.source} vs {name}"


def _sizes_check(claim: SizeClaim, row: pd.Series, name: str) -> Check:
    """The model ran at every requested side: with the same weights, or rebuilt with weights of
    the same shapes (a size check in the code, not a size-bound weight)."""
    ran = int(row["points"])
    same, loads = bool(row["same_weights"]), bool(row["weights_load"])
    holds = ran >= 4 and (same or loads)
    how = (
        "the same weights at every side"
        if same
        else "rebuilt per side (img_size=) with weights of unchanged shapes"
        if loads
        else "rebuilt per side with token-mixing weights of other shapes"
    )
    measured = f"ran at {row['sizes']} ({ran} sides): {how}"
    if row.get("not_run"):
        measured += f"; could not take {row['not_run']}"
    return Check(
        source=_source(name, claim),
        subject=f"{claim.model}: other input sizes",
        kind="complexity",
        paper=claim.quote,
        measured=measured,
        verdict=REPRODUCED if holds else NOT_REPRODUCED,
        why=f"measured by running the model at each side ({name})",
        models=(claim.model,),
    )


def _linear_checks(claim: SizeClaim, row: pd.Series, name: str, device: str) -> list[Check]:
    """MACs and measured seconds per image against pixels: slope 1 is linear."""
    macs = float(row["macs_slope"])
    checks = [
        Check(
            source=_source(name, claim),
            subject=f"{claim.model}: MACs linear in the pixels",
            kind="complexity",
            paper="linear computational complexity to image size",
            measured=f"MACs grow as pixels^{macs:.3f}",
            verdict=REPRODUCED if abs(macs - 1) <= MACS_BAND else NOT_REPRODUCED,
            why=f"least-squares slope on log-log axes over {row['sizes']}; linear: 1 ± {MACS_BAND}",
            models=(claim.model,),
        )
    ]
    if pd.notna(row.get("time_slope")):
        low, high = float(row["time_slope_low"]), float(row["time_slope_high"])
        inside = low >= 1 - LINEAR_BAND and high <= 1 + LINEAR_BAND
        outside = high < 1 - LINEAR_BAND or low > 1 + LINEAR_BAND
        verdict = REPRODUCED if inside else NOT_REPRODUCED if outside else INCONCLUSIVE
        checks.append(
            Check(
                source=_source(name, claim),
                subject=f"{claim.model}: measured time linear in the pixels",
                kind="complexity",
                paper="linear computational complexity to image size",
                measured=f"seconds per image grow as pixels^{float(row['time_slope']):.2f} "
                + f"[{low:.2f}–{high:.2f}]",
                verdict=verdict,
                why=f"median and interval of the per-round slopes; linear: 1 ± {LINEAR_BAND}",
                device=device,
                models=(claim.model,),
            )
        )
    return checks


def _growth_check(row: pd.Series, name: str, device: str) -> Check:
    """A fixed-grid family's growth as measured (none of them claims anything about it)."""
    parts = []
    if pd.notna(row.get("macs_slope")):
        parts.append(f"MACs as pixels^{float(row['macs_slope']):.2f}")
    if pd.notna(row.get("time_slope")):
        parts.append(f"time as pixels^{float(row['time_slope']):.2f}")
    parts += [f"params {row['params_range']}", f"sides {row['sizes'] or '–'}"]
    if row.get("not_run"):
        parts.append(f"could not take {row['not_run']}")
    return Check(
        source=f"scaling study ({name})",
        subject=f"{row.name}: growth with input size",
        kind="complexity",
        paper="token mixing sized to one grid (no claim about other sizes)",
        measured="; ".join(parts),
        verdict=INDICATIVE,
        why="as measured: what a reader of the table should expect when the input grows",
        device=device,
        models=(str(row.name).split("(")[0],),
    )


def dynamixer_generation_share(spec: ModelSpec, side: int, macs: int) -> float:
    """The share of generating the mixing matrices (Eq. 6: S·N·d → N² per token line, so
    S·N³·d MACs per line, N lines per branch on a square grid) in the model's MACs."""
    with skip_meta_init(), torch.device("meta"):
        model = (
            spec.build()
            if side == 224
            else ModelSpec(spec.name, {**spec.overrides, "img_size": side}).build()
        )
    term = 0
    for module in model.modules():
        if isinstance(module, DynaMixerOp) and hasattr(module, "generate"):
            lines = module.seq_len  # a square grid: as many lines as tokens per line
            term += (
                lines
                * module.num_segments
                * module.generate.in_features
                * (module.generate.out_features)
            )
    return term / macs


def _dynamixer_check(frame: pd.DataFrame, name: str) -> Check | None:
    rows = frame[
        (frame["sweep"] == "resolution")
        & (frame["model"] == "dynamixer_s(fused=False)")
        & (frame["status"] == "ok")
    ]
    if rows.empty:
        return None
    spec = ModelSpec("dynamixer_s", {"fused": False})
    shares = [
        (int(r["size"]), dynamixer_generation_share(spec, int(r["size"]), int(r["macs"])))
        for _, r in rows.iterrows()
    ]
    text = ", ".join(f"{side}: {share:.1%}" for side, share in shares)
    return Check(
        source=_SECTION_3_1,
        subject="DynaMixer-S: the S·N³·d generation term as N grows",
        kind="complexity",
        paper="parameters S·D·d + N³·d + D²: the cost grows with N, the tokens per line",
        measured=f"share of the model's MACs by side: {text}",
        verdict=INDICATIVE,
        why="the term computed from the model's DynaMixer operations over the MACs ptflops "
        + "counts; it grows as pixels², so its share rises with the side",
        models=("dynamixer_s",),
    )


def scaling_checks(frames: Sequence[tuple[str, pd.DataFrame]]) -> list[Check]:
    """Every check of every committed scaling study (given as (file name, frame) pairs)."""
    checks: list[Check] = []
    for name, frame in frames:
        growth = growth_frame(frame).set_index("model")
        device = f"{frame['device_name'].iloc[0]} ({frame['device'].iloc[0]})"
        for claim in SIZE_CLAIMS:
            if claim.model not in growth.index:
                continue
            row = growth.loc[claim.model]
            checks.append(_sizes_check(claim, row, name))
            if claim.linear and pd.notna(row.get("macs_slope")):
                checks += _linear_checks(claim, row, name, device)
        for model in _FIXED_GRID:
            if model in growth.index:
                checks.append(_growth_check(growth.loc[model], name, device))
        dynamixer = _dynamixer_check(frame, name)
        if dynamixer is not None:
            checks.append(dynamixer)
    return checks
