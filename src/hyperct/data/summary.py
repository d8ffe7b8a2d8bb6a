"""Per cohort/split counts of scans, patients and labels: what a paper's Table 1 needs."""

from __future__ import annotations

import pandas as pd

from hyperct.tasks import LABEL_ABSENT, LABEL_MISSING, LABEL_PRESENT, TASK_NAMES

SUMMARY_COLUMNS = (
    "cohort",
    "split",
    "task",
    "scans",
    "patients",
    "positives",
    "negatives",
    "missing",
    "prevalence",
)


def summarise_manifest(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (cohort, split, task): scans, patients, positives, negatives, missing, prevalence.

    Prevalence is positives / (positives + negatives), NaN when no scan has a label.
    """
    rows = []
    for (cohort, split), group in df.groupby(["cohort", "split"], sort=True):
        scans, patients = len(group), group["patient_id"].nunique()
        for task in TASK_NAMES:
            labels = (
                group[task]
                if task in group.columns
                else pd.Series(LABEL_MISSING, index=group.index)
            )
            pos, neg = int((labels == LABEL_PRESENT).sum()), int((labels == LABEL_ABSENT).sum())
            rows.append(
                {
                    "cohort": cohort,
                    "split": split,
                    "task": task,
                    "scans": scans,
                    "patients": patients,
                    "positives": pos,
                    "negatives": neg,
                    "missing": int((labels == LABEL_MISSING).sum()),
                    "prevalence": pos / (pos + neg) if pos + neg else float("nan"),
                }
            )
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
