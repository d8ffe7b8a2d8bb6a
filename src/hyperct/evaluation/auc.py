"""Rank-based AUC (Mann-Whitney), for one sample or for many bootstrap resamples at once.

A bootstrap resample of scans is a vector of counts (how often each scan was drawn). The AUC of a
resample is the Mann-Whitney statistic with those counts as multiplicities: for every positive,
the count of negatives scored below it plus half the ties. Scores are sorted once per task; each
resample then costs one gather, one cumulative sum and one dot product, done for all resamples
in one numpy pass, so 1000 resamples of 10,000 scans take milliseconds per task.

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
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=float)
    if counts.ndim != 2 or counts.shape[1] != len(labels) or len(scores) != len(labels):
        raise ValueError(
            f"labels ({len(labels)}), scores ({len(scores)}) and counts {counts.shape} disagree"
        )
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    positive = labels[order].astype(bool)
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    has_ties = len(starts) < len(sorted_scores)
    out = np.empty(counts.shape[0])
    for lo in range(0, counts.shape[0], _CHUNK):
        block = counts[lo : lo + _CHUNK][:, order]
        out[lo : lo + _CHUNK] = _auc_sorted(block, positive, starts if has_ties else None)
    return out


def _auc_sorted(counts: np.ndarray, positive: np.ndarray, starts: np.ndarray | None) -> np.ndarray:
    """Mann-Whitney AUC per row of ``counts`` whose columns are sorted by score."""
    neg = np.where(positive, 0, counts)
    pos = np.where(positive, counts, 0)
    if starts is not None:  # merge tied scores into one group each
        neg = np.add.reduceat(neg, starts, axis=1)
        pos = np.add.reduceat(pos, starts, axis=1)
    below = np.cumsum(neg, axis=1, dtype=np.int64) - neg
    twice_wins = (pos * (2 * below + neg)).sum(axis=1, dtype=np.int64)
    n_pos = pos.sum(axis=1, dtype=np.int64)
    n_neg = neg.sum(axis=1, dtype=np.int64)
    pairs = (n_pos * n_neg).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, twice_wins / (2.0 * pairs), np.nan)
