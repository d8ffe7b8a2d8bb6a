"""Segmentation metrics over a set of scans, per category, with bootstrap CIs over scans.

From the per-finding scores (:mod:`hyperct.evaluation.segmentation`), per category and for
all findings together ("all"):

* ``global_dice``: mean Dice over the findings (ReXGroundingCT's Global Dice: every finding of
  every scan counts once);
* ``hit_rate``: share of findings with Dice >= 0.1;
* ``instance_precision``, ``instance_recall``, ``instance_f1``: from the instance counts pooled
  over the findings (TP = matched, FP = predicted - matched, FN = reference - matched),
  F1 = 2 TP / (2 TP + FP + FN).

Scans are the resampling unit, as for the AUCs (:mod:`hyperct.evaluation.bootstrap`): one
resample draws the scans with replacement and recomputes every metric from the drawn scans'
sums, so the findings of one scan stay together. Percentile intervals over the resamples where
the metric is defined (a resample may draw no finding of a rare category).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import numpy as np
import pandas as pd

from hyperct.evaluation.auc import resample_counts
from hyperct.evaluation.bootstrap import BootstrapConfig
from hyperct.evaluation.segmentation import FindingScore

ALL = "all"
METRICS = ("global_dice", "hit_rate", "instance_precision", "instance_recall", "instance_f1")
SUMMARY_COLUMNS = ("category", "metric", "value", "ci_low", "ci_high", "n_scans", "n_findings")
# Per-scan sums the metrics are ratios of.
_SUMS = ("dice_sum", "findings", "hits", "matched", "predicted", "reference")


def findings_table(scores: Sequence[FindingScore]) -> pd.DataFrame:
    """One row per finding: scan_id, finding, category, dice, hit, instance counts."""
    rows = [{**asdict(s), "hit": s.hit} for s in scores]
    columns = [*FindingScore.__dataclass_fields__, "hit"]
    return pd.DataFrame(rows, columns=columns)


def summary_table(
    findings: pd.DataFrame, config: BootstrapConfig = BootstrapConfig()
) -> pd.DataFrame:
    """Every metric per category and for all findings, with percentile CIs (long format)."""
    if findings.empty:
        raise ValueError("no findings to summarise")
    sums, categories, n_scans = _per_scan_sums(findings)
    counts = resample_counts(n_scans, config.n_resamples, config.seed)
    counts = np.vstack([np.ones((1, n_scans), dtype=counts.dtype), counts])
    pooled = {name: counts @ sums[name] for name in _SUMS}  # (1 + resamples, categories)
    values = _metrics(pooled)
    rows = []
    for k, category in enumerate(categories):
        for metric in METRICS:
            point, low, high = _interval(values[metric][:, k], config)
            rows.append(
                (category, metric, point, low, high, n_scans, int(pooled["findings"][0, k]))
            )
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def _per_scan_sums(findings: pd.DataFrame) -> tuple[dict[str, np.ndarray], list[str], int]:
    """Sums per (scan, category) as (scans, categories + 1) arrays; the last column is "all"."""
    table = findings.assign(
        dice_sum=findings["dice"].fillna(0.0),
        findings=findings["dice"].notna().astype(int),
        hits=findings["hit"].astype(int),
        matched=findings["matched_instances"],
        predicted=findings["pred_instances"],
        reference=findings["ref_instances"],
    )
    grouped = table.groupby(["scan_id", "category"])[list(_SUMS)].sum()
    categories = sorted(findings["category"].unique())
    scans = sorted(findings["scan_id"].unique())
    sums = {}
    for name in _SUMS:
        wide = grouped[name].unstack("category").reindex(index=scans, columns=categories)
        per_category = wide.fillna(0).to_numpy(dtype=float)
        sums[name] = np.hstack([per_category, per_category.sum(axis=1, keepdims=True)])
    return sums, [*categories, ALL], len(scans)


def _metrics(pooled: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    tp, predicted, reference = pooled["matched"], pooled["predicted"], pooled["reference"]
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "global_dice": pooled["dice_sum"] / pooled["findings"],
            "hit_rate": pooled["hits"] / pooled["findings"],
            "instance_precision": tp / predicted,
            "instance_recall": tp / reference,
            "instance_f1": 2 * tp / (predicted + reference),
        }


def _interval(values: np.ndarray, config: BootstrapConfig) -> tuple[float, float, float]:
    point, boot = float(values[0]), values[1:]
    valid = boot[np.isfinite(boot)]
    if np.isnan(point) or not len(valid):
        return point, np.nan, np.nan
    low, high = np.percentile(valid, config.percentiles)
    return point, float(low), float(high)
