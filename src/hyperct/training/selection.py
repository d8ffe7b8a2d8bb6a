"""Choosing a comparison's learning rates on validation only, and summarising repeated seeds.

A method's learning rate is the grid value with the best mean validation AUC over its seeds:
each run's validation AUC is computed from its ``val`` rows alone (the split the trainer selects
epochs on; test rows are dropped before anything is computed), so the test split never
influences a choice. Seeds are summarised as mean and sample standard deviation of the AUC per
(cohort, task or group mean) over the runs of the chosen learning rate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hyperct.evaluation.auc import auc
from hyperct.evaluation.metrics import group_means, task_metrics
from hyperct.inference.predictions import COHORT, LABEL, METHOD, PROB, RUN, SPLIT, TASK

#: Columns of :func:`choose_lr`'s input: one row per finished run.
SCORE_COLUMNS = ("variant", "lr", "seed", "val_mean_auc")


def validation_auc(predictions: pd.DataFrame, cohort: str | None = None) -> float:
    """Mean over tasks of the AUC on the ``val`` rows (of ``cohort`` when given), all cohorts'
    scans pooled as the trainer validates; tasks lacking a class are left out (NaN if none)."""
    val = predictions[predictions[SPLIT] == "val"]
    if cohort is not None:
        val = val[val[COHORT] == cohort]
    val = val[val[LABEL] != -1]
    aucs = [
        auc(rows[LABEL].to_numpy(dtype=int), rows[PROB].to_numpy(dtype=float))
        for _, rows in val.groupby(TASK, sort=False)
        if 0 < rows[LABEL].sum() < len(rows)
    ]
    return float(np.mean(aucs)) if aucs else float("nan")


def choose_lr(scores: pd.DataFrame) -> pd.DataFrame:
    """Per (variant, lr): mean and sd of ``val_mean_auc`` over seeds, and ``chosen`` (the best
    mean of its variant; the smaller lr on a tie). NaN means rank last."""
    missing = set(SCORE_COLUMNS) - set(scores.columns)
    if missing:
        raise ValueError(f"choose_lr: scores lack columns {sorted(missing)}")
    table = (
        scores.groupby(["variant", "lr"], sort=False)["val_mean_auc"]
        .agg(val_mean_auc="mean", val_sd="std", seeds="count")
        .reset_index()
    )
    ranked = table.assign(_key=table["val_mean_auc"].fillna(-np.inf)).sort_values(
        ["variant", "_key", "lr"], ascending=[True, False, True], kind="stable"
    )
    best = ranked.groupby("variant", sort=False).head(1).index
    table["chosen"] = table.index.isin(best)
    return table


def auc_rows(predictions: pd.DataFrame, split: str) -> pd.DataFrame:
    """AUC per (method, run, cohort, row) on ``split``: rows are tasks, then the group means
    (``mean AUC: <group>``)."""
    if not (predictions[SPLIT] == split).any():
        raise ValueError(f"no predictions on split {split!r} to summarise")
    metrics = task_metrics(predictions)  # thresholds come from val; AUC needs none
    metrics = metrics[metrics[SPLIT] == split]
    tasks = metrics[[METHOD, RUN, COHORT, TASK, "auc"]].rename(columns={TASK: "row"})
    groups = group_means(metrics)[[METHOD, RUN, COHORT, "name", "auc"]]
    groups = groups.rename(columns={"name": "row"}).assign(row=lambda d: "mean AUC: " + d["row"])
    return pd.concat([tasks, groups], ignore_index=True)


def seed_statistics(predictions: pd.DataFrame, split: str) -> pd.DataFrame:
    """Mean, sample sd and number of seeds (runs) of each method's AUC per (cohort, row)."""
    rows = auc_rows(predictions, split)
    return (
        rows.groupby([COHORT, "row", METHOD], sort=False)["auc"]
        .agg(mean="mean", sd="std", seeds="count")
        .reset_index()
    )
