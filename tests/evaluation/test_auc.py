import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from hyperct.evaluation.auc import auc, auc_resampled, bootstrap_indices, resample_counts


@pytest.mark.parametrize("decimals", [None, 1])
def test_auc_matches_sklearn(decimals: int | None) -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    scores = rng.random(300) + 0.3 * labels
    if decimals is not None:  # many ties
        scores = np.round(scores, decimals)
    assert auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_one_class_is_nan() -> None:
    assert np.isnan(auc(np.ones(5), np.arange(5.0)))


def test_counts_are_the_indices() -> None:
    idx = bootstrap_indices(50, 7, seed=3)
    counts = resample_counts(50, 7, seed=3)
    for b in range(7):
        np.testing.assert_array_equal(counts[b], np.bincount(idx[b], minlength=50))


def test_resampled_auc_matches_naive_loop() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 120)
    scores = np.round(rng.random(120) + 0.2 * labels, 2)
    idx = bootstrap_indices(120, 40, seed=5)
    naive = [roc_auc_score(labels[i], scores[i]) for i in idx]
    fast = auc_resampled(labels, scores, resample_counts(120, 40, seed=5))
    np.testing.assert_allclose(fast, naive, atol=1e-12)
