import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from hyperct.evaluation.calibration import (
    calibration_slope_intercept,
    calibration_table,
    reliability_bins,
)


def _calibrated(n: int, seed: int, temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(-0.5, 1.5, n)
    labels = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(int)
    return labels, 1 / (1 + np.exp(-logits * temperature))


def _sklearn_slope_intercept(labels: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    """Unpenalised logistic regression of the label on logit(p), p clipped to [1e-6, 1 - 1e-6]."""
    clipped = np.clip(probs, 1e-6, 1 - 1e-6)
    x = np.log(clipped / (1 - clipped))[:, None]
    model = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(x, labels)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def _one_probability_at_the_edge(edge: float) -> tuple[np.ndarray, np.ndarray]:
    """Issue 18's case: ~30 % positives, p uniform in [0.2, 0.5], one p set to 0 (a positive's)
    or 1 (a negative's)."""
    rng = np.random.default_rng(0)
    labels = (rng.random(100) < 0.3).astype(int)
    probs = rng.uniform(0.2, 0.5, 100)
    probs[np.flatnonzero(labels == (1 if edge == 0.0 else 0))[0]] = edge
    return labels, probs


def test_issue_case_is_the_reported_reference() -> None:
    labels, probs = _one_probability_at_the_edge(0.0)
    slope, intercept = _sklearn_slope_intercept(labels, probs)
    assert (round(slope, 3), round(intercept, 3)) == (-0.649, -1.545)


@pytest.mark.parametrize("edge", [0.0, 1.0])
def test_probability_of_zero_or_one_matches_sklearn(edge: float) -> None:
    labels, probs = _one_probability_at_the_edge(edge)
    expected = _sklearn_slope_intercept(labels, probs)
    assert calibration_slope_intercept(labels, probs) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize(("seed", "temperature"), [(2, 1.0), (3, 0.5), (4, 2.0)])
def test_ordinary_data_matches_sklearn(seed: int, temperature: float) -> None:
    labels, probs = _calibrated(500, seed, temperature)
    expected = _sklearn_slope_intercept(labels, probs)
    assert calibration_slope_intercept(labels, probs) == pytest.approx(expected, abs=1e-5)


def test_calibrated_data_has_slope_one_intercept_zero() -> None:
    labels, probs = _calibrated(20_000, 0)
    slope, intercept = calibration_slope_intercept(labels, probs)
    assert slope == pytest.approx(1.0, abs=0.05)
    assert intercept == pytest.approx(0.0, abs=0.05)
    bins = reliability_bins(labels, probs)
    big = bins["count"] > 500
    np.testing.assert_allclose(bins["observed_rate"][big], bins["mean_predicted"][big], atol=0.04)


def test_overconfident_model_has_slope_below_one() -> None:
    labels, probs = _calibrated(20_000, 1, temperature=2.0)
    slope, _ = calibration_slope_intercept(labels, probs)
    assert slope == pytest.approx(0.5, abs=0.05)


def test_degenerate_cases_are_nan() -> None:
    assert np.isnan(calibration_slope_intercept(np.ones(5), np.linspace(0.1, 0.9, 5))[0])
    assert np.isnan(
        calibration_slope_intercept(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9]))[0]
    )


def test_table(sim: pd.DataFrame) -> None:
    table = calibration_table(sim)
    assert len(table) == 25
    assert table["calibration_slope"].notna().all()
