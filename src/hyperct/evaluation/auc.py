"""Rank-based AUC (Mann-Whitney), for one sample or for many bootstrap resamples at once.

A bootstrap resample of scans is a vector of counts (how often each scan was drawn). The AUC of a
resample is the Mann-Whitney statistic with those counts as multiplicities: for every positive,
the count of negatives scored below it plus half the ties. Where each positive falls among the
sorted negatives does not depend on the resample, so it is found once per task; each resample
then costs one cumulative sum over the negatives' counts and two gathers, done for all
resamples in one numpy pass.

>>> import numpy as np
>>> auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
0.75
"""

from __future__ import annotations

import numpy as np

# Resamples processed per numpy pass: bounds the memory of the (resamples, scans) work arrays.
_CHUNK = 256


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of binary ``labels`` (0/1) and ``scores``; NaN with one class."""
    counts = np.ones((1, len(labels)), dtype=np.int32)
    return float(auc_resampled(labels, scores, counts)[0])


def resample_counts(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """How often each of ``n`` items is drawn in each of ``n_resamples`` bootstrap resamples.

    Equivalent to ``np.bincount`` of :func:`bootstrap_indices` row by row (a test pins this).
    """
    idx = bootstrap_indices(n, n_resamples, seed)
    offsets = (np.arange(n_resamples, dtype=np.int64) * n)[:, None]
    flat = np.bincount((idx + offsets).ravel(), minlength=n_resamples * n)
    return flat.reshape(n_resamples, n).astype(np.int32)


def bootstrap_indices(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """Indices of the items drawn with replacement, shape (n_resamples, n), reproducible."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(n_resamples, n), dtype=np.int64)


def auc_resampled(labels: np.ndarray, scores: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """AUC of each resample given by ``counts`` (resamples, n) over the items; NaN if one class.

    ``labels`` must be 0/1 (drop missing labels, and the matching count columns, first).
    """
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=float)
    if counts.ndim != 2 or counts.shape[1] != len(labels) or len(scores) != len(labels):
        raise ValueError(
            f"labels ({len(labels)}), scores ({len(scores)}) and counts {counts.shape} disagree"
        )
    pos_idx, neg_idx = np.flatnonzero(labels), np.flatnonzero(~labels)
    neg_idx = neg_idx[np.argsort(scores[neg_idx], kind="stable")]
    neg_scores = scores[neg_idx]
    # For each positive: negatives strictly below it, and below-or-tied; fixed for all resamples.
    lo = np.searchsorted(neg_scores, scores[pos_idx], side="left")
    hi = np.searchsorted(neg_scores, scores[pos_idx], side="right")
    out = np.empty(counts.shape[0])
    for start in range(0, counts.shape[0], _CHUNK):
        block = counts[start : start + _CHUNK]
        out[start : start + _CHUNK] = _auc_block(block[:, pos_idx], block[:, neg_idx], lo, hi)
    return out


def _auc_block(pos: np.ndarray, neg: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC per row from positive counts and score-sorted negative counts.

    Twice the wins of positive i are (negatives below) + (negatives below or tied), read from
    the running count of negatives at ``lo[i]`` and ``hi[i]``.
    """
    running = np.zeros((neg.shape[0], neg.shape[1] + 1), dtype=np.int64)
    np.cumsum(neg, axis=1, out=running[:, 1:])
    twice_wins = (pos * (running[:, lo] + running[:, hi])).sum(axis=1)
    pairs = (pos.sum(axis=1, dtype=np.int64) * running[:, -1]).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, twice_wins / (2.0 * pairs), np.nan)
