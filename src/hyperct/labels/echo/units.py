"""Units of echo measurements: LVIDd in cm or mm, LVEF in percent or as a fraction.

A unit is taken from a per-row unit column when there is one, else from an explicit option,
else inferred from the values. Inference refuses a column whose values look like both units
(e.g. LVIDd 5.1 and 48): guessing would silently turn one kind of exam into the other.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class UnitError(ValueError):
    """The unit of a measurement column cannot be decided."""


_LVIDD_BANDS = {"cm": (1.5, 12.0), "mm": (15.0, 120.0)}
_LVEF_BANDS = {"fraction": (0.03, 0.97), "percent": (3.0, 97.0)}
_UNIT_WORDS = {
    "cm": "cm",
    "centimeter": "cm",
    "centimetre": "cm",
    "mm": "mm",
    "millimeter": "mm",
    "millimetre": "mm",
    "%": "percent",
    "percent": "percent",
    "pct": "percent",
    "fraction": "fraction",
    "ratio": "fraction",
    "": "",
}
_TO_CANONICAL = {"cm": 1.0, "mm": 0.1, "percent": 1.0, "fraction": 100.0}


def to_numbers(values: pd.Series, column: str, problems: list[str]) -> pd.Series:
    """Parse a text column to floats; blanks are missing, other non-numbers are recorded."""
    text = values.where(values.notna(), "").astype(str).str.strip()
    text = text.replace({"nan": "", "None": "", "NA": "", "NaN": ""})
    numbers = pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce")
    bad = text[(text != "") & numbers.isna()]
    for idx, raw in bad.items():
        problems.append(f"echo row {int(idx) + 2}, column {column!r}: {raw!r} is not a number")
    return numbers.astype(float)


def _infer(values: pd.Series, bands: dict[str, tuple[float, float]], column: str) -> str | None:
    present = values.dropna()
    hits = {
        unit: present[(present >= low) & (present <= high)] for unit, (low, high) in bands.items()
    }
    found = [unit for unit, v in hits.items() if len(v)]
    if len(found) > 1:
        detail = "; ".join(f"{unit}-like values {v.head(5).tolist()}" for unit, v in hits.items())
        raise UnitError(
            f"column {column!r}: ambiguous unit, {detail}. Give the unit explicitly "
            f"(option or a unit column) or fix the values"
        )
    return found[0] if found else None


def resolve_unit(
    values: pd.Series,
    column: str,
    mode: str,
    canonical: str,
    unit_column: pd.Series | None = None,
) -> pd.Series:
    """Convert ``values`` to the canonical unit ("cm" for LVIDd, "percent" for LVEF)."""
    bands = _LVIDD_BANDS if canonical == "cm" else _LVEF_BANDS
    row_units = pd.Series("", index=values.index)
    if unit_column is not None:
        row_units = unit_column.astype(str).str.strip().str.lower().map(_UNIT_WORDS)
        unknown = unit_column[row_units.isna()]
        if len(unknown):
            raise UnitError(
                f"column {unit_column.name!r}: unknown unit(s) {sorted(set(unknown))[:5]}; "
                f"expected one of {sorted(u for u in bands)}"
            )
        wrong = unit_column[~row_units.isin(["", *bands])]
        if len(wrong):
            raise UnitError(
                f"column {unit_column.name!r}: unit(s) {sorted(set(wrong))[:5]} "
                f"do not fit {column!r}"
            )
    default = (
        mode if mode != "auto" else _infer(values[row_units == ""], bands, column) or canonical
    )
    units = row_units.where(row_units != "", default)
    factors = units.map(_TO_CANONICAL).astype(float)
    return pd.Series(np.asarray(values, dtype=float) * factors.to_numpy(), index=values.index)
