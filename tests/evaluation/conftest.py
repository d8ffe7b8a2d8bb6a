"""Simulated predictions tables for the evaluation tests."""

import numpy as np
import pandas as pd
import pytest

from hyperct.inference.predictions import predictions_from_arrays
from hyperct.tasks import NUM_TASKS


def simulate(
    n: int, seed: int, signal: float = 1.0, method: str = "m", run: str = "r", split: str = "test"
) -> pd.DataFrame:
    """Labels with ~30 % prevalence (10 % missing) and scores that separate them by ``signal``."""
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, NUM_TASKS)) < 0.3).astype(int)
    logits = signal * (2 * labels - 1) + rng.normal(size=(n, NUM_TASKS))
    labels[rng.random((n, NUM_TASKS)) < 0.1] = -1
    return predictions_from_arrays(
        scan_ids=[f"s{i:04d}" for i in range(n)],
        cohorts=["internal"] * n,
        splits=[split] * n,
        labels=labels,
        probs=1 / (1 + np.exp(-logits)),
        method=method,
        run=run,
    )


@pytest.fixture
def sim() -> pd.DataFrame:
    return simulate(200, seed=0)


@pytest.fixture(name="simulate")
def simulate_fixture():  # noqa: ANN201 - the factory itself
    return simulate
