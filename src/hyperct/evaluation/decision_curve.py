"""Decision curve analysis: net benefit of acting on the model versus treating all or none.

At threshold probability ``pt`` a patient is treated (referred, worked up) when ``prob >= pt``;
net benefit = TP/n - FP/n * pt / (1 - pt) (Vickers & Elkin, Med Decis Making 2006). Treat-all
has net benefit prevalence - (1 - prevalence) * pt / (1 - pt); treat-none has 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hyperct.evaluation.metrics import SUBSET_KEYS
from hyperct.inference.predictions import LABEL, PROB, TASK

DEFAULT_THRESHOLDS: np.ndarray = np.round(np.arange(1, 81) / 100, 2)


def net_benefit(labels: np.ndarray, probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Net benefit of treating when ``prob >= pt``, for each threshold ``pt`` in (0, 1)."""
    labels = np.asarray(labels).astype(bool)
    thresholds = np.asarray(thresholds, dtype=float)
    if np.any((thresholds <= 0) | (thresholds >= 1)):
        raise ValueError("decision-curve thresholds must lie strictly between 0 and 1")
    order = np.argsort(-np.asarray(probs, dtype=float), kind="stable")
    sorted_probs, sorted_pos = np.asarray(probs, dtype=float)[order], labels[order]
    tp = np.r_[0, np.cumsum(sorted_pos)]
    fp = np.r_[0, np.cumsum(~sorted_pos)]
    treated = np.searchsorted(-sorted_probs, -thresholds, side="right")
    n = len(labels)
    return tp[treated] / n - fp[treated] / n * thresholds / (1 - thresholds)


def net_benefit_treat_all(prevalence: float, thresholds: np.ndarray) -> np.ndarray:
    """Net benefit of treating everyone."""
    thresholds = np.asarray(thresholds, dtype=float)
    return prevalence - (1 - prevalence) * thresholds / (1 - thresholds)


def decision_curves(df: pd.DataFrame, thresholds: np.ndarray = DEFAULT_THRESHOLDS) -> pd.DataFrame:
    """Long table: per (method, run, cohort, split, task, threshold) the net benefit of the
    model, of treat-all and of treat-none; label -1 rows excluded."""
    frames = []
    known = df[df[LABEL] != -1]
    for key, sub in known.groupby([*SUBSET_KEYS, TASK], sort=False):
        labels = sub[LABEL].to_numpy()
        frame = pd.DataFrame(
            {
                "threshold": thresholds,
                "net_benefit_model": net_benefit(labels, sub[PROB].to_numpy(), thresholds),
                "net_benefit_all": net_benefit_treat_all(labels.mean(), thresholds),
                "net_benefit_none": 0.0,
            }
        )
        for name, value in reversed(list(zip([*SUBSET_KEYS, TASK], key))):
            frame.insert(0, name, value)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
