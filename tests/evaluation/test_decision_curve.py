import numpy as np
import pandas as pd
import pytest

from hyperct.evaluation.decision_curve import decision_curves, net_benefit, net_benefit_treat_all


def test_net_benefit_hand_case() -> None:
    # 10 patients, 4 diseased. At pt = 0.25 the model treats probs >= 0.25: 6 patients,
    # 3 diseased (TP=3) and 3 healthy (FP=3): NB = 3/10 - 3/10 * (0.25/0.75) = 0.2.
    labels = np.array([1, 1, 1, 0, 0, 0, 1, 0, 0, 0])
    probs = np.array([0.9, 0.6, 0.3, 0.5, 0.4, 0.25, 0.2, 0.1, 0.05, 0.0])
    nb = net_benefit(labels, probs, np.array([0.25, 0.5, 0.95]))
    assert nb[0] == pytest.approx(0.3 - 0.3 / 3)
    assert nb[1] == pytest.approx(2 / 10 - 1 / 10 * 1.0)  # treats 0.9, 0.6, 0.5
    assert nb[2] == pytest.approx(0.0)  # treats nobody
    assert net_benefit_treat_all(0.4, np.array([0.25]))[0] == pytest.approx(0.4 - 0.6 / 3)


def test_net_benefit_matches_definition_on_random_data() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.round(rng.random(500), 2)
    pts = np.arange(1, 81) / 100
    direct = [
        np.mean((p >= t) & (y == 1)) - np.mean((p >= t) & (y == 0)) * t / (1 - t) for t in pts
    ]
    np.testing.assert_allclose(net_benefit(y, p, pts), direct, atol=1e-12)


def test_table_shape(sim: pd.DataFrame) -> None:
    dc = decision_curves(sim)
    assert len(dc) == 25 * 80
    assert {"net_benefit_model", "net_benefit_all", "net_benefit_none"} <= set(dc.columns)
    with pytest.raises(ValueError, match="strictly between"):
        net_benefit(np.ones(2), np.ones(2), np.array([1.0]))
