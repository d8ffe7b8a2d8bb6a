"""Match each CT to its patient's echo exam closest in time within a window.

Exams before and after the CT both count. Ties are broken deterministically: the smaller
absolute gap first, then the earlier exam (so an exam before the CT beats one the same number
of days after it), then the exam that comes first in the echo file.
"""

from __future__ import annotations

import pandas as pd


def match_exams(cts: pd.DataFrame, exams: pd.DataFrame, window_days: int) -> pd.DataFrame:
    """For each CT row, the matched exam's row label and signed gap in days (exam - CT).

    ``cts`` needs ``patient_id`` and ``date`` (datetime64, NaT allowed); ``exams`` the same
    plus any measurement columns. Returns a frame indexed like ``cts`` with ``exam_index``
    (the exam's index label, or -1) and ``days_apart`` (NaN when unmatched).
    """
    result = pd.DataFrame({"exam_index": -1, "days_apart": float("nan")}, index=cts.index)
    left = cts[["patient_id", "date"]].dropna().reset_index(names="ct_index")
    right = exams[["patient_id", "date"]].dropna().reset_index(names="exam_index")
    pairs = left.merge(right, on="patient_id", suffixes=("_ct", "_exam"))
    if pairs.empty:
        return result
    pairs["days_apart"] = (pairs["date_exam"] - pairs["date_ct"]).dt.days
    pairs["gap"] = pairs["days_apart"].abs()
    pairs = pairs[pairs["gap"] <= window_days]
    best = pairs.sort_values(["ct_index", "gap", "date_exam", "exam_index"], kind="mergesort")
    best = best.drop_duplicates("ct_index", keep="first").set_index("ct_index")
    result.loc[best.index, "exam_index"] = best["exam_index"]
    result.loc[best.index, "days_apart"] = best["days_apart"].astype(float)
    return result
