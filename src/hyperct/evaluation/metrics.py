"""Per-task metrics from the predictions table: AUC and metrics at a validation-chosen threshold.

The operating point of each (method, run, task) is chosen by Youden's J on the validation rows
(all cohorts pooled) and applied unchanged to every cohort and split, so test data never tunes
it. Without usable validation rows the threshold falls back to 0.5, with a logged warning and
the reason in the ``threshold_source`` column. Rows with label -1 are excluded per task. A task
with one class only gets AUC NaN and the reason in ``auc_note``, never an exception.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hyperct.evaluation.auc import auc
from hyperct.inference.predictions import COHORT, LABEL, METHOD, PROB, RUN, SPLIT, TASK
from hyperct.tasks import GROUPS, TASK_NAMES, task_by_name

logger = logging.getLogger(__name__)

MODEL_KEYS: tuple[str, ...] = (METHOD, RUN)
SUBSET_KEYS: tuple[str, ...] = (METHOD, RUN, COHORT, SPLIT)
SOURCE_YOUDEN = "val_youden"
SOURCE_NO_VAL = "fallback_0.5_no_val_rows"
SOURCE_ONE_CLASS = "fallback_0.5_val_one_class"


@dataclass(frozen=True)
class OperatingPointConfig:
    """Where the operating point comes from: Youden's J on ``select_split``, else ``fallback``."""

    select_split: str = "val"
    fallback: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.fallback < 1.0:
            raise ValueError(f"fallback threshold must be in (0, 1), got {self.fallback}")


def youden_threshold(labels: np.ndarray, probs: np.ndarray) -> float:
    """The probability threshold (predict positive when ``prob >= t``) maximising TPR - FPR."""
    labels = np.asarray(labels).astype(bool)
    probs = np.asarray(probs, dtype=float)
    candidates = np.unique(probs)[::-1]
    order = np.argsort(-probs, kind="stable")
    sorted_probs, sorted_pos = probs[order], labels[order]
    tp = np.cumsum(sorted_pos)
    fp = np.cumsum(~sorted_pos)
    last = np.searchsorted(-sorted_probs, -candidates, side="right") - 1
    j = tp[last] / labels.sum() - fp[last] / (~labels).sum()
    return float(candidates[int(np.argmax(j))])


def binary_metrics(labels: np.ndarray, probs: np.ndarray, threshold: float) -> dict[str, float]:
    """Sensitivity, specificity, PPV, NPV, F1, balanced accuracy at ``prob >= threshold``."""
    labels = np.asarray(labels).astype(bool)
    pred = np.asarray(probs, dtype=float) >= threshold
    tp, fp = float(np.sum(pred & labels)), float(np.sum(pred & ~labels))
    fn, tn = float(np.sum(~pred & labels)), float(np.sum(~pred & ~labels))
    sens, spec = _ratio(tp, tp + fn), _ratio(tn, tn + fp)
    return {
        "sensitivity": sens,
        "specificity": spec,
        "ppv": _ratio(tp, tp + fp),
        "npv": _ratio(tn, tn + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "balanced_accuracy": (sens + spec) / 2,
    }


def choose_thresholds(
    df: pd.DataFrame, config: OperatingPointConfig = OperatingPointConfig()
) -> pd.DataFrame:
    """One threshold per (method, run, task) with its source; see the module docstring."""
    known = df[df[LABEL] != -1]
    rows = []
    for (method, run, task), rows_all in known.groupby([METHOD, RUN, TASK], sort=False):
        sel = rows_all[rows_all[SPLIT] == config.select_split]
        if sel.empty:
            threshold, source = config.fallback, SOURCE_NO_VAL
        elif sel[LABEL].nunique() < 2:
            threshold, source = config.fallback, SOURCE_ONE_CLASS
        else:
            threshold, source = youden_threshold(sel[LABEL], sel[PROB]), SOURCE_YOUDEN
        rows.append(
            {
                METHOD: method,
                RUN: run,
                TASK: task,
                "threshold": threshold,
                "threshold_source": source,
            }
        )
    table = pd.DataFrame(rows, columns=[METHOD, RUN, TASK, "threshold", "threshold_source"])
    _warn_fallbacks(table, config)
    return table


def _warn_fallbacks(table: pd.DataFrame, config: OperatingPointConfig) -> None:
    fallback = table[table["threshold_source"] != SOURCE_YOUDEN]
    for (method, run), rows in fallback.groupby([METHOD, RUN], sort=False):
        logger.warning(
            "%s/%s: %d task(s) without usable %r rows (%s); their threshold falls back to %.2f",
            method,
            run,
            len(rows),
            config.select_split,
            ", ".join(sorted(set(rows["threshold_source"]))),
            config.fallback,
        )


def task_metrics(
    df: pd.DataFrame, config: OperatingPointConfig = OperatingPointConfig()
) -> pd.DataFrame:
    """One row per (method, run, cohort, split, task) with n, prevalence, AUC, Brier and the
    threshold metrics; tasks in catalogue order."""
    thresholds = choose_thresholds(df, config).set_index([METHOD, RUN, TASK])
    known = df[df[LABEL] != -1]
    rows = []
    for key, sub in known.groupby([*SUBSET_KEYS, TASK], sort=False):
        labels, probs = sub[LABEL].to_numpy(), sub[PROB].to_numpy(dtype=float)
        threshold, source = thresholds.loc[(key[0], key[1], key[4])]
        n_pos = int(labels.sum())
        row = dict(zip([*SUBSET_KEYS, TASK], key))
        row.update(
            group=task_by_name(key[4]).group,
            n=len(labels),
            n_pos=n_pos,
            prevalence=n_pos / len(labels),
        )
        row.update(_auc_with_note(labels, probs, n_pos))
        row.update(
            brier=float(np.mean((probs - labels) ** 2)),
            threshold=float(threshold),
            threshold_source=source,
        )
        row.update(binary_metrics(labels, probs, float(threshold)))
        rows.append(row)
    return _in_task_order(pd.DataFrame(rows))


def group_means(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean AUC over the tasks of each group and over all tasks (tasks with NaN AUC skipped),
    per (method, run, cohort, split)."""
    rows = []
    for key, sub in metrics.groupby(list(SUBSET_KEYS), sort=False):
        for name in (*GROUPS, "overall"):
            part = sub if name == "overall" else sub[sub["group"] == name]
            valid = part["auc"].dropna()
            if part.empty:
                continue
            rows.append(
                {
                    **dict(zip(SUBSET_KEYS, key)),
                    "name": name,
                    "auc": valid.mean(),
                    "n_tasks": len(valid),
                    "n_tasks_nan": len(part) - len(valid),
                }
            )
    return pd.DataFrame(rows)


def _auc_with_note(labels: np.ndarray, probs: np.ndarray, n_pos: int) -> dict[str, object]:
    if n_pos == 0 or n_pos == len(labels):
        kind = "positives" if n_pos == 0 else "negatives"
        return {"auc": float("nan"), "auc_note": f"one class only (no {kind})"}
    return {"auc": auc(labels, probs), "auc_note": ""}


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else float("nan")


def _in_task_order(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return df
    rank = {name: i for i, name in enumerate(TASK_NAMES)}
    order = df[TASK].map(rank)
    return (
        df.assign(_o=order)
        .sort_values([*SUBSET_KEYS, "_o"], kind="stable")
        .drop(columns="_o")
        .reset_index(drop=True)
    )
