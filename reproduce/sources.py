"""The paper's sources as data: figures other documents give for what the paper prints.

The paper copies its baselines (Tables 2 and 4) from other papers and READMEs. Each entry here
is one figure as the paper prints it beside the same figure in its source, with the citation
(repository, file, commit, line) and whether it was checked against that source here. A figure
that could not be reached here is recorded as unverified, never as agreeing. The paper's own
reference list gives each family's arXiv identifier, whose YYMM is the initial release month
that Table 2's Date column claims to show.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = ["ARXIV_IDS", "SOURCE_FIGURES", "SourceFigure"]


@dataclass(frozen=True)
class SourceFigure:
    """One figure of the paper beside the same figure in one of its sources."""

    id: str
    table: int  # the paper's table that prints it
    subject: str  # what the figure is ("ViP-M/7 throughput, V100, batch 32")
    paper: str  # as the paper prints it
    source: str | None  # as the source gives it (None: not reachable here, or no such figure)
    citation: str  # where the source says it
    verified: bool  # read from the source here (False: recorded from elsewhere, unverified)
    note: str = ""


_VIP_README = (
    "github houqb/VisionPermutator README.md @ 2cab2ce, table 'Comparison with Recent MLP-like "
    + "Models' (lines 20-31; 'The throughput is measured on a single machine with V100 GPU "
    + "(32GB) with batch size set to 32', line 33)"
)
_SPACH_README = "github microsoft/SPACH README.md @ dcede1e, sMLPNet table, lines 26-28"
_HIRE_README = "github ggjy/Hire-Wave-MLP.pytorch README.md @ 7ef7ddd, lines 13-16"
_VIP_ARXIV_V1 = "arXiv:2106.12368v1 (ViP's first version), its ImageNet table"
_HIRE_ARXIV_V1 = "arXiv:2108.13341v1 (Hire-MLP's first version), its ImageNet table"
_UNREACHABLE = "not reachable from here (no internet); recorded from the issue that asked for it"

SOURCE_FIGURES: Final[tuple[SourceFigure, ...]] = (
    # Table 4's baselines against the same authors' V100 batch-32 figures.
    SourceFigure(
        "vip_m7_throughput", 4, "ViP-M/7 throughput (img/s)", "390", "418", _VIP_README, True
    ),
    SourceFigure(
        "vip_l7_throughput", 4, "ViP-L/7 throughput (img/s)", "276", "298", _VIP_README, True
    ),
    SourceFigure(
        "resmlp_s24_throughput", 4, "ResMLP S24 throughput (img/s)", "680", "715", _VIP_README, True
    ),
    SourceFigure(
        "resmlp_b24_throughput", 4, "ResMLP B24 throughput (img/s)", "215", "231", _VIP_README, True
    ),
    SourceFigure(
        "dynamixer_s_throughput",
        4,
        "DynaMixer-S throughput (img/s)",
        "551",
        None,
        "no second source: the DynaMixer repository (ziyuwwang/DynaMixer @ 038b73b) prints no "
        + "throughput",
        True,
    ),
    # Table 2's rows against the cited papers and READMEs.
    SourceFigure("smlpnet_t_top1", 2, "sMLPNet-T top-1 (%)", "81.9", "81.9", _SPACH_README, True),
    SourceFigure("smlpnet_s_top1", 2, "sMLPNet-S top-1 (%)", "83.1", "83.1", _SPACH_README, True),
    SourceFigure("smlpnet_b_top1", 2, "sMLPNet-B top-1 (%)", "83.3", "83.4", _SPACH_README, True),
    SourceFigure(
        "vip_s14_top1",
        2,
        "ViP-Small/14 top-1 (%)",
        "80.7",
        None,
        _VIP_ARXIV_V1,
        False,
        "reported as 80.5-80.6 there; " + _UNREACHABLE + " (ViP's README lists no Small/14)",
    ),
    SourceFigure(
        "hire_mlp_ti_top1", 2, "Hire-MLP-Ti top-1 (%)", "79.7", "79.7", _HIRE_README, True
    ),
    SourceFigure("hire_mlp_s_top1", 2, "Hire-MLP-S top-1 (%)", "82.1", "82.1", _HIRE_README, True),
    SourceFigure("hire_mlp_b_top1", 2, "Hire-MLP-B top-1 (%)", "83.2", "83.2", _HIRE_README, True),
    SourceFigure("hire_mlp_l_top1", 2, "Hire-MLP-L top-1 (%)", "83.8", "83.8", _HIRE_README, True),
    SourceFigure(
        "hire_mlp_first_version",
        2,
        "Hire-MLP rows (top-1)",
        "79.7 / 82.1 / 83.2 / 83.8",
        None,
        _HIRE_ARXIV_V1,
        False,
        "the paper's rows follow the README above, not the first arXiv version; " + _UNREACHABLE,
    ),
    SourceFigure(
        "cyclemlp_tsb_code",
        2,
        "CycleMLP-T/S/B sizes",
        "28M 4.4G / 50M 8.5G / 88M 15.2G",
        None,
        "github ShoufaChen/CycleMLP: commit 5296a2b ('add CycleMLP-T,S,B', 2022-04-25) changes "
        + "README.md only; no commit up to 4e062a0 has their code",
        True,
        "no released code to count (README rows and weights only); the printed sizes are "
        + "exactly AS-MLP-T/S/B's, both families being Swin-sized by design",
    ),
)

#: The arXiv identifier of each citation, as the paper's reference list prints it.
ARXIV_IDS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "Tolstikhin et al., 2021": "2105.01601",
        "Touvron et al., 2021a": "2105.03404",
        "Liu et al., 2021a": "2105.08050",
        "Hou et al., 2021": "2106.12368",
        "Lian et al., 2021": "2107.08391",
        "Yu et al., 2021b": "2108.01072",
        "Tatsunami & Taki, 2021": "2108.04384",
        "Tang et al., 2021": "2109.05422",
        "Li et al., 2021": "2109.04454",
        "Chen et al., 2021b": "2107.10224",
        "Guo et al., 2021": "2108.13341",
    }
)


@dataclass(frozen=True)
class SizeClaim:
    """What a family's own paper says about input sizes and cost: its sentence and source."""

    family: str  # the zoo family
    model: str  # the scaling study's model of that family
    quote: str
    source: str
    linear: bool  # the sentence claims cost linear in the pixels (else only other sizes)


#: The families whose papers make input size their point (the scaling study checks each).
SIZE_CLAIMS: Final[tuple[SizeClaim, ...]] = (
    SizeClaim(
        "cyclemlp",
        "cyclemlp_b1",
        "CycleMLP ... can cope with various image sizes ... achieves linear computational "
        + "complexity to image size by using local windows",
        "arXiv:2107.10224 (CycleMLP), abstract",
        True,
    ),
    SizeClaim(
        "hire_mlp",
        "hire_mlp_ti",
        "previous vision MLPs ... accept linearly flattened image patches as input, making them "
        + "inflexible for different input sizes (Hire-MLP is not)",
        "arXiv:2108.13341v2 (Hire-MLP), abstract",
        False,
    ),
    SizeClaim(
        "as_mlp",
        "as_mlp_t",
        "AS-MLP is also the first MLP-based architecture to be applied to the downstream tasks "
        + "(e.g., object detection and semantic segmentation)",
        "arXiv:2107.08391 (AS-MLP), abstract",
        False,
    ),
    SizeClaim(
        "convmlp",
        "convmlp_s",
        "most adopt spatial MLPs which take fixed dimension inputs, therefore making it "
        + "difficult to apply them to downstream tasks (ConvMLP does not)",
        "arXiv:2109.04454v1 (ConvMLP), abstract",
        False,
    ),
)
