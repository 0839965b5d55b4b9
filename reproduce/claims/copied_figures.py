"""The paper against its own sources: each copied figure beside its source's, and Table 2's
dates beside the arXiv identifiers of the paper's own references."""

from __future__ import annotations

import re

from reproduce.claims.verdicts import NOT_CHECKABLE, NOT_REPRODUCED, REPRODUCED, Check
from reproduce.paper import ARTEFACTS, TABLES
from reproduce.sources import ARXIV_IDS, SOURCE_FIGURES, SourceFigure

__all__ = ["date_checks", "source_checks"]

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def _figure_check(figure: SourceFigure) -> Check:
    source = f"Table {figure.table} vs its source"
    if figure.source is None:
        why = figure.note or figure.citation
        verdict = NOT_CHECKABLE
        why = f"{why}; source: {figure.citation}" if figure.note else why
        return Check(
            source, figure.subject, "source", figure.paper, "—", verdict, why, table=figure.table
        )
    same = figure.source == figure.paper
    why = f"source: {figure.citation}" + (f"; {figure.note}" if figure.note else "")
    if not same:
        difference = float(figure.paper) - float(figure.source)
        relative = 100 * difference / float(figure.source)
        why = f"paper − source = {difference:+g} ({relative:+.1f}%); " + why
    verdict = REPRODUCED if same else NOT_REPRODUCED
    return Check(
        source,
        figure.subject,
        "source",
        figure.paper,
        figure.source,
        verdict,
        why,
        table=figure.table,
    )


def source_checks() -> list[Check]:
    """Every recorded figure of the paper against its source (unverified ones say so)."""
    return [_figure_check(figure) for figure in SOURCE_FIGURES]


def _release_month(arxiv_id: str) -> str:
    """'2107.10224' -> 'JUL, 2021' (arXiv identifiers begin with the release's YYMM)."""
    match = re.fullmatch(r"(\d\d)(\d\d)\.\d+", arxiv_id)
    if match is None:
        raise ValueError(f"not a new-style arXiv identifier: {arxiv_id!r}")
    return f"{_MONTHS[int(match[2]) - 1]}, 20{match[1]}"


def date_checks() -> list[Check]:
    """Table 2's Date cells ("initial release date on arXiv") against the cited arXiv ids."""
    checks = []
    for row in TABLES[2].rows:
        printed = row.cells["Date"]
        if not printed or (2, "Date", printed) in ARTEFACTS or row.citation is None:
            continue
        arxiv_id = ARXIV_IDS[row.citation]
        release = _release_month(arxiv_id)
        same = release == printed
        why = (
            f"the paper's reference {row.citation} is arXiv:{arxiv_id}, first released "
            + f"{release.title()}"
        )
        verdict = REPRODUCED if same else NOT_REPRODUCED
        checks.append(
            Check(
                "Table 2 vs its references",
                f"{row.label} date",
                "source",
                printed,
                release,
                verdict,
                why,
                table=2,
            )
        )
    return checks
