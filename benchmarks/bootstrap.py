"""Bootstrap speed: AUC CIs for 1000 resamples x 25 tasks x 10,000 scans (goal: seconds).

Run: ``.venv/bin/python -m benchmarks.bootstrap``. Also times a scikit-learn loop on a slice of
the same work and extrapolates it, to show what the vectorised rank AUC saves.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.metrics import roc_auc_score

from benchmarks.record import median_time, save_result
from hyperct.evaluation.auc import bootstrap_indices
from hyperct.evaluation.bootstrap import BootstrapConfig, auc_confidence_table
from hyperct.inference.predictions import predictions_from_arrays
from hyperct.tasks import NUM_TASKS

N_SCANS, N_RESAMPLES = 10_000, 1000


def _table():  # noqa: ANN202
    rng = np.random.default_rng(0)
    labels = (rng.random((N_SCANS, NUM_TASKS)) < 0.2).astype(int)
    labels[rng.random((N_SCANS, NUM_TASKS)) < 0.1] = -1
    logits = (2 * labels - 1) + rng.normal(size=labels.shape)
    return predictions_from_arrays(
        scan_ids=[f"s{i}" for i in range(N_SCANS)],
        cohorts=["internal"] * N_SCANS,
        splits=["test"] * N_SCANS,
        labels=labels,
        probs=np.round(1 / (1 + np.exp(-logits)), 4),  # 4 decimals, like a CSV: ties happen
        method="bench",
        run="r",
    )


def _naive_seconds_per_resample_task(df) -> float:  # noqa: ANN001
    sub = df[(df["task"] == df["task"].iloc[0]) & (df["label"] != -1)]
    y, p = sub["label"].to_numpy(), sub["prob"].to_numpy()
    idx = bootstrap_indices(len(y), 20, seed=0)
    start = time.perf_counter()
    for rows in idx:
        roc_auc_score(y[rows], p[rows])
    return (time.perf_counter() - start) / len(idx)


def main() -> None:
    df = _table()
    config = BootstrapConfig(n_resamples=N_RESAMPLES, seed=0)
    seconds, times = median_time(lambda: auc_confidence_table(df, config), repeats=3, warmup=1)
    naive = _naive_seconds_per_resample_task(df) * N_RESAMPLES * NUM_TASKS
    metrics = [
        {
            "metric": "bootstrap AUC CIs, 1000 resamples x 25 tasks x 10,000 scans (+ group/overall)",
            "value": round(seconds, 2),
            "unit": "s",
            "goal": "seconds",
            "anchor": None,
            "met": seconds < 10,
            "times": [round(t, 2) for t in times],
        },
        {
            "metric": "same work as a scikit-learn roc_auc_score loop (extrapolated from 20 resamples)",
            "value": round(naive, 1),
            "unit": "s",
            "goal": None,
            "anchor": None,
            "met": None,
        },
    ]
    path = save_result(
        "bootstrap",
        metrics,
        notes="auc_confidence_table on a simulated table (prevalence 20 %, 10 % labels missing, "
        "probs rounded to 4 decimals); 2-core shared CPU, other jobs running at the same time.",
    )
    print(f"{seconds:.2f} s vectorised vs ~{naive:.0f} s loop; saved {path}")  # noqa: T201


if __name__ == "__main__":
    main()
