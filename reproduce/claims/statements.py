"""The prose's claims that need no training: against the real op, the counts, and the paper's
own tables (a claim about accuracies is checked against the accuracies the paper prints; that
those accuracies are right needs training, which the top-1 checks cover)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping

import torch

from benchmarks.counting import skip_meta_init
from models import create_model
from models.dynamixer import DynaMixerOp
from reproduce.claims.verdicts import NOT_REPRODUCED, REPRODUCED, Check
from reproduce.paper import CLAIMS, TABLES, PaperRow
from reproduce.tables.counts import Measurement
from reproduce.tables.specs import MeasureKey

__all__ = ["statement_checks"]

Measurements = Mapping[MeasureKey, Measurement]


def _claim_check(
    claim_id: str, subject: str, paper: str, measured: str, holds: bool, why: str, table: int
) -> Check:
    claim = CLAIMS[claim_id]
    verdict = REPRODUCED if holds else NOT_REPRODUCED
    source = f"Prose: {claim.section}"
    return Check(
        source, subject, "claim", paper, measured, verdict, why, claim_id=claim_id, table=table
    )


def _top1(table: int, label: str, column: str = "Top-1 (%)", **cells: str) -> float:
    """A printed top-1 of the paper's table, by row label (and cells, where labels repeat)."""
    rows = [
        row
        for row in TABLES[table].rows
        if row.label == label and all(row.cells[k] == v for k, v in cells.items())
    ]
    if len(rows) != 1:
        raise ValueError(f"Table {table}: {len(rows)} rows labelled {label!r} with {cells}")
    return float(rows[0].cells[column])


def _params(measurements: Measurements, name: str, **overrides: object) -> int:
    return measurements[MeasureKey("zoo", name, tuple(overrides.items()))].params.params


def _timm_params(measurements: Measurements, name: str) -> int:
    return measurements[MeasureKey("timm", name)].params.params


def _operation_formula(_: Measurements) -> list[Check]:
    """S·D·d + N³·d + D² against each stage's real DynaMixer operation in DynaMixer-S."""
    with skip_meta_init(), torch.device("meta"):
        model = create_model("dynamixer_s")
    checks, seen = [], set()
    for op in model.modules():
        if not isinstance(op, DynaMixerOp) or (op.dim, op.seq_len) in seen:
            continue
        seen.add((op.dim, op.seq_len))
        S, D, d, N = op.num_segments, op.dim, op.reduced_dim, op.seq_len
        formula = S * D * d + N**3 * d + D**2
        weights = sum(p.numel() for n, p in op.named_parameters() if n.endswith("weight"))
        total = sum(p.numel() for p in op.parameters())
        why = (
            f"S={S}, D={D}, d={d}, N={N}: the formula gives {formula:,}; the op's weights "
            + f"{weights:,}, its biases {total - weights:,} more (S·d + N² + D, outside the "
            + "formula)"
        )
        subject = f"DynaMixer-S operation, {N}x{N} tokens of width {D}"
        measured = f"{total:,} ({weights:,} weights)"
        checks.append(
            _claim_check(
                "operation_parameter_formula",
                subject,
                f"{formula:,}",
                measured,
                formula == weights,
                why,
                1,
            )
        )
    return checks


def _better_than_gmlp_b(measurements: Measurements) -> list[Check]:
    ours, theirs = _top1(2, "DynaMixer-S"), _top1(2, "gMLP-B")
    small, large = _params(measurements, "dynamixer_s"), _timm_params(measurements, "gmlp_b16_224")
    holds = ours > theirs and small < large
    why = (
        f"Table 2: {ours} vs {theirs}; counted here: {small / 1e6:.2f}M vs {large / 1e6:.2f}M "
        + "parameters (gMLP-B through timm)"
    )
    paper = "DynaMixer-S (26M) better than gMLP-B (73M)"
    measured = f"{ours} vs {theirs}; {small / 1e6:.2f}M vs {large / 1e6:.2f}M"
    return [
        _claim_check(
            "dynamixer_s_better_than_gmlp_b",
            "DynaMixer-S vs gMLP-B",
            paper,
            measured,
            holds,
            why,
            2,
        )
    ]


def _m_superior_to_all(_: Measurements) -> list[Check]:
    ours = _top1(2, "DynaMixer-M")
    better = [
        (row.label, float(row.cells["Top-1 (%)"]))
        for row in TABLES[2].rows
        if not row.label.startswith("DynaMixer") and float(row.cells["Top-1 (%)"]) >= ours
    ]
    why = (
        "the paper's own Table 2: " + ", ".join(f"{label} {top1}" for label, top1 in better)
        if better
        else "every other MLP-like row of the paper's Table 2 is lower"
    ) + f" (DynaMixer-M {ours})"
    measured = "; ".join(f"{label} {top1}" for label, top1 in better) or "none higher"
    return [
        _claim_check(
            "dynamixer_m_superior_to_all_mlps",
            "DynaMixer-M vs Table 2's MLPs",
            f"{ours} > all",
            measured,
            not better,
            why,
            2,
        )
    ]


def _fewer_than_swin_t(measurements: Measurements) -> list[Check]:
    ours = _params(measurements, "dynamixer_s")
    swin = _timm_params(measurements, "swin_tiny_patch4_window7_224")
    fewer = 100 * (1 - ours / swin)
    holds = 0 < fewer <= 10
    why = (
        f"counted here: {ours:,} vs {swin:,} ({fewer:.1f}% fewer; 'slightly' read as at most "
        + f"10%); Table 3 prints 26M vs 29M; top-1 {_top1(3, 'DynaMixer-S')} vs "
        + f"{_top1(3, 'Swin-T')} as printed"
    )
    return [
        _claim_check(
            "dynamixer_s_fewer_parameters_than_swin_t",
            "DynaMixer-S vs Swin-T",
            "slightly fewer parameters",
            f"{ours / 1e6:.2f}M vs {swin / 1e6:.2f}M",
            holds,
            why,
            3,
        )
    ]


def _more_segments_better(_: Measurements) -> list[Check]:
    rows = TABLES[5].rows
    top1 = [float(row.cells["Top-1 (%)"]) for row in rows]
    holds = all(a < b for a, b in itertools.pairwise(top1))
    shown = " < ".join(
        f"{row.cells['D/S']}: {value}" for row, value in zip(rows, top1, strict=True)
    )
    why = f"Table 5, D/S falling: {shown}" + ("" if holds else " (not strictly increasing)")
    return [
        _claim_check(
            "more_segments_better", "Table 5's trend", "better as S increases", shown, holds, why, 5
        )
    ]


def _vip_s7() -> float:
    return _top1(2, "ViP-Small/7")


def _random_close_to_vip(_: Measurements) -> list[Check]:
    random = _top1(6, "DynaMixer-S", **{"generating methods": "Synthesize(Random)"})
    vip = _vip_s7()
    holds = abs(random - vip) <= 0.5
    why = f"Table 6's Synthesize(Random) {random} vs Table 2's ViP-Small/7 {vip} (within 0.5)"
    return [
        _claim_check(
            "synthesizer_random_close_to_vip",
            "Synthesizer (Random) vs ViP-S/7",
            "close to ViP's",
            f"{random} vs {vip}",
            holds,
            why,
            6,
        )
    ]


def _d1_beats_vip(_: Measurements) -> list[Check]:
    d1, vip = _top1(7, "DynaMixer-S", d="1"), _vip_s7()
    gain = round(d1 - vip, 1)
    claimed = CLAIMS["reduced_dim_1_beats_vip_by_0_9"].numbers["improvement_points"]
    why = f"Table 7's d = 1 {d1} − Table 2's ViP-Small/7 {vip} = {gain:+.1f} points"
    return [
        _claim_check(
            "reduced_dim_1_beats_vip_by_0_9",
            "d = 1 vs ViP-S/7",
            f"+{claimed:g}",
            f"{gain:+.1f}",
            gain == claimed,
            why,
            7,
        )
    ]


def _table8_removals(_: Measurements) -> list[Check]:
    full = _top1(8, "DynaMixer-S")
    column, row = _top1(8, "- column mixing"), _top1(8, "- row mixing")
    channel = _top1(8, "- channel fusion")
    about = all(abs(value - 79) <= 0.5 for value in (column, row))
    drop = round(full - channel, 1)
    return [
        _claim_check(
            "without_row_or_column_about_79",
            "Table 8's row/column removals",
            "about 79%",
            f"{column}, {row}",
            about,
            f"Table 8: without column mixing {column}, without row mixing {row} "
            + "('about 79' read as within 0.5)",
            8,
        ),
        _claim_check(
            "without_channel_mixing_minus_0_6",
            "Table 8's channel removal",
            "−0.6",
            f"{-drop:+.1f}",
            drop == 0.6,
            f"Table 8: {full} − {channel} (- channel fusion) = {drop:.1f} points",
            8,
        ),
    ]


def _transfer_similar_sizes(_: Measurements) -> list[Check]:
    checks = []
    rows = TABLES[9].rows
    for dataset in ("CIFAR-10", "CIFAR-100"):
        here = {r.label: r for r in rows if r.cells["dataset"] == dataset}
        ours = here["DynaMixer-S"]
        higher = all(_row_top1(ours) > _row_top1(here[label]) for label in ("ViP-S/7", "ViT-S/16"))
        sizes = {
            label: _row_millions(here[label]) for label in ("DynaMixer-S", "ViP-S/7", "ViT-S/16")
        }
        similar = all(abs(v / sizes["DynaMixer-S"] - 1) <= 0.25 for v in sizes.values())
        why = (
            f"Table 9, {dataset}: top-1 DynaMixer-S {_row_top1(ours)}, ViP-S/7 "
            + f"{_row_top1(here['ViP-S/7'])}, ViT-S/16 {_row_top1(here['ViT-S/16'])}; sizes "
            + ", ".join(f"{k} {v:g}M" for k, v in sizes.items())
            + " ('similar' read as within 25% of DynaMixer-S's: ViT-S/16 is "
            + f"{100 * (sizes['ViT-S/16'] / sizes['DynaMixer-S'] - 1):+.0f}%)"
        )
        measured = (
            f"higher: {'yes' if higher else 'no'}; similar sizes: {'yes' if similar else 'no'}"
        )
        checks.append(
            _claim_check(
                "transfer_similar_model_sizes",
                f"Table 9, {dataset}",
                "higher top-1, similar sizes",
                measured,
                higher and similar,
                why,
                9,
            )
        )
    return checks


def _row_top1(row: PaperRow) -> float:
    return float(row.cells["Top-1 (%)"])


def _row_millions(row: PaperRow) -> float:
    return float(row.cells["# parameters"].rstrip("M"))


_CHECKS: tuple[Callable[[Measurements], list[Check]], ...] = (
    _operation_formula,
    _better_than_gmlp_b,
    _m_superior_to_all,
    _fewer_than_swin_t,
    _more_segments_better,
    _random_close_to_vip,
    _d1_beats_vip,
    _table8_removals,
    _transfer_similar_sizes,
)


def statement_checks(measurements: Measurements) -> list[Check]:
    """Every claim of the prose that needs no training, in the paper's order."""
    return [check for checker in _CHECKS for check in checker(measurements)]
