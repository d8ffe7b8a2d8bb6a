"""Learning-rate choice on validation only, and the seed statistics."""

import numpy as np
import pandas as pd
import pytest

from hyperct.inference.predictions import predictions_from_arrays
from hyperct.training.selection import choose_lr, seed_statistics, validation_auc


def _run(val_signal: float, test_signal: float, run: str = "seed0", method: str = "ew",
         seed: int = 0) -> pd.DataFrame:
    """40 val + 40 test scans, 25 tasks; scores separate the labels by the split's signal."""
    rng = np.random.default_rng(seed)
    n = 80
    labels = (rng.random((n, 25)) < 0.4).astype(int)
    signal = np.where(np.arange(n) < 40, val_signal, test_signal)[:, None]
    logits = signal * (2 * labels - 1) + rng.normal(size=(n, 25))
    return predictions_from_arrays(
        scan_ids=[f"s{i:03d}" for i in range(n)], cohorts=["internal"] * n,
        splits=["val"] * 40 + ["test"] * 40, labels=labels, probs=1 / (1 + np.exp(-logits)),
        method=method, run=run,
    )


def test_validation_auc_never_reads_test_rows() -> None:
    table = _run(0.5, 0.5)
    base = validation_auc(table)
    perfect_test = table.copy()
    test = perfect_test["split"] == "test"
    perfect_test.loc[test, "prob"] = perfect_test.loc[test, "label"].clip(lower=0).astype(float)
    assert validation_auc(perfect_test) == base
    assert 0.5 < base < 1.0
    assert np.isnan(validation_auc(table[table["split"] == "test"]))


def test_the_lr_with_better_test_but_worse_val_is_not_chosen() -> None:
    runs = {1e-4: _run(val_signal=0.2, test_signal=3.0), 1e-3: _run(val_signal=1.5, test_signal=0.0)}
    scores = pd.DataFrame([
        {"variant": "ew", "lr": lr, "seed": 0, "val_mean_auc": validation_auc(t)}
        for lr, t in runs.items()
    ])
    table = choose_lr(scores).set_index("lr")
    assert table["chosen"].tolist() == [False, True]
    test_auc = {lr: validation_auc(t.assign(split=t["split"].map({"test": "val", "val": "x"})))
                for lr, t in runs.items()}
    assert test_auc[1e-4] > test_auc[1e-3]  # the rejected lr was better on test


def test_choice_uses_the_mean_over_seeds_and_ranks_nan_last() -> None:
    scores = pd.DataFrame({
        "variant": ["ew"] * 4 + ["uw"] * 2, "lr": [1e-4, 1e-4, 1e-3, 1e-3, 1e-4, 1e-3],
        "seed": [0, 1, 0, 1, 0, 0], "val_mean_auc": [0.9, 0.5, 0.72, 0.72, np.nan, 0.6],
    })
    table = choose_lr(scores).set_index(["variant", "lr"])
    assert table.loc[("ew", 1e-3), "chosen"] and not table.loc[("ew", 1e-4), "chosen"]
    assert table.loc[("ew", 1e-4), "val_mean_auc"] == pytest.approx(0.7)
    assert table.loc[("uw", 1e-3), "chosen"]
    with pytest.raises(ValueError, match="lack columns"):
        choose_lr(scores.drop(columns="seed"))


def test_seed_statistics_give_mean_and_sd_over_runs() -> None:
    table = pd.concat([_run(1.0, 1.0, run="seed0", seed=0), _run(1.0, 1.0, run="seed1", seed=1)])
    stats = seed_statistics(table, "test").set_index(["cohort", "row", "method"])
    row = stats.loc[("internal", "mean AUC: overall", "ew")]
    per_seed = [validation_auc(t.assign(split=t["split"].map({"test": "val", "val": "x"})))
                for t in (_run(1.0, 1.0, seed=0), _run(1.0, 1.0, seed=1))]
    assert row["seeds"] == 2
    assert row["mean"] == pytest.approx(np.mean(per_seed))
    assert row["sd"] == pytest.approx(np.std(per_seed, ddof=1))
