"""Reading a reports table and checking it: id column, text column, duplicate ids, empty reports."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

_LETTERS = re.compile(r"[A-Za-z]{2,}")


@dataclass(frozen=True)
class ReportColumns:
    """Column names of a reports table (CT-RATE's by default)."""

    id_column: str = "AccessionNo"
    text_column: str = "report_text"


def check_reports(
    df: pd.DataFrame, columns: ReportColumns, source: str = "reports table"
) -> pd.DataFrame:
    """Validate a reports table and strip its ids; a ValueError names what is wrong."""
    missing = [c for c in (columns.id_column, columns.text_column) if c not in df.columns]
    if missing:
        raise ValueError(
            f"{source}: missing column(s) {missing}; columns are {list(df.columns)} "
            "(choose others with --id-column / --text-column)"
        )
    df = df.reset_index(drop=True).copy()
    df[columns.id_column] = df[columns.id_column].astype(str).str.strip()
    empty_ids = df.index[df[columns.id_column].isin(["", "nan"])]
    if len(empty_ids):
        rows = [int(i) + 2 for i in empty_ids[:5]]
        raise ValueError(f"{source}: empty {columns.id_column!r} at row(s) {rows}")
    dup = df[df[columns.id_column].duplicated(keep=False)]
    if len(dup):
        detail = ", ".join(
            f"{v!r} (rows {[int(i) + 2 for i in g.index]})"
            for v, g in list(dup.groupby(columns.id_column))[:5]
        )
        raise ValueError(f"{source}: duplicate {columns.id_column!r} values: {detail}")
    return df


def text_problem(text: object) -> str:
    """Why a report cannot be labelled ("" when it can): empty or without words."""
    if not isinstance(text, str) or not text.strip() or text.strip().lower() == "nan":
        return "empty report"
    if not _LETTERS.search(text):
        return f"report has no words: {text.strip()[:40]!r}"
    return ""


def read_reports(path: str | Path, columns: ReportColumns | None = None) -> pd.DataFrame:
    """Read and validate a reports CSV (every cell as text)."""
    from hyperct.labels.io import read_csv_text

    return check_reports(read_csv_text(path), columns or ReportColumns(), source=str(path))
