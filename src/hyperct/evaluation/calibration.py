"""Calibration: binned reliability curves and logistic recalibration (slope and intercept).

The calibration slope and intercept are the coefficients of a logistic regression of the label
on the model's logit, ``logit P(y=1) = intercept + slope * logit(prob)`` (Cox, Biometrika 1958).
A perfectly calibrated model has slope 1 and intercept 0; slope < 1 means over-confident
predictions (too extreme), slope > 1 under-confident ones.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from hyperct.evaluation.metrics import SUBSET_KEYS
from hyperct.inference.predictions import LABEL, PROB, TASK

logger = logging.getLogger(__name__)

_EPS = 1e-6
_MAX_HALVINGS = 30


def reliability_bins(labels: np.ndarray, probs: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Equal-width bins of predicted probability: mean prediction, observed rate and count
    (empty bins omitted)."""
    probs = np.asarray(probs, dtype=float)
    labels = np.asarray(labels, dtype=float)
    which = np.clip((probs * n_bins).astype(int), 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    pred = np.bincount(which, weights=probs, minlength=n_bins)
    obs = np.bincount(which, weights=labels, minlength=n_bins)
    keep = count > 0
    return pd.DataFrame(
        {
            "bin_low": np.arange(n_bins)[keep] / n_bins,
            "bin_high": (np.arange(n_bins)[keep] + 1) / n_bins,
            "mean_predicted": pred[keep] / count[keep],
            "observed_rate": obs[keep] / count[keep],
            "count": count[keep],
        }
    )


def calibration_slope_intercept(
    labels: np.ndarray, probs: np.ndarray, max_iter: int = 100
) -> tuple[float, float]:
    """(slope, intercept) of the logistic recalibration; NaNs with one class, a constant
    prediction, or perfect separation (no finite maximum).

    Newton-Raphson damped by step halving: a full step is taken only when it raises the
    log-likelihood. An undamped step overshoots when one probability sits at the clip (0 or 1,
    logit +-13.8), and the fit diverged although the maximum is finite.
    """
    y = np.asarray(labels, dtype=float)
    x = _logit(np.asarray(probs, dtype=float))
    if y.min() == y.max() or np.ptp(x) == 0:
        return float("nan"), float("nan")
    design = np.column_stack([np.ones_like(x), x])
    beta = np.array([0.0, 1.0])
    current = _log_likelihood(design @ beta, y)
    for _ in range(max_iter):
        p = _sigmoid(design @ beta)
        w = np.maximum(p * (1 - p), 1e-12)
        step = np.linalg.solve(design.T @ (design * w[:, None]), design.T @ (y - p))
        scale = 1.0
        for _ in range(_MAX_HALVINGS):
            proposal = _log_likelihood(design @ (beta + scale * step), y)
            if proposal >= current:
                break
            scale /= 2
        beta = beta + scale * step
        current = proposal
        if not np.all(np.isfinite(beta)) or np.abs(beta).max() > 1e3:
            break
        if np.abs(scale * step).max() < 1e-10:
            return float(beta[1]), float(beta[0])
    logger.warning("calibration fit did not converge (separable data?); slope/intercept NaN")
    return float("nan"), float("nan")


def calibration_table(df: pd.DataFrame) -> pd.DataFrame:
    """Calibration slope and intercept per (method, run, cohort, split, task)."""
    rows = []
    for key, sub in df[df[LABEL] != -1].groupby([*SUBSET_KEYS, TASK], sort=False):
        slope, intercept = calibration_slope_intercept(sub[LABEL], sub[PROB])
        rows.append(
            {
                **dict(zip([*SUBSET_KEYS, TASK], key)),
                "calibration_slope": slope,
                "calibration_intercept": intercept,
                "n": len(sub),
            }
        )
    return pd.DataFrame(rows)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def _sigmoid(eta: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -eta))


def _log_likelihood(eta: np.ndarray, y: np.ndarray) -> float:
    """Bernoulli log-likelihood of labels ``y`` under logits ``eta``, without overflow."""
    return float(np.sum(y * eta - np.logaddexp(0.0, eta)))
