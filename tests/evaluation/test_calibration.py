import numpy as np
import pandas as pd
import pytest

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
