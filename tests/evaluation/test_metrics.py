from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from hyperct.evaluation.metrics import (
    SOURCE_NO_VAL,
    SOURCE_YOUDEN,
    binary_metrics,
    group_means,
    task_metrics,
    youden_threshold,
)
from hyperct.tasks import TASKS


def test_youden_matches_roc_curve() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    p = np.round(rng.random(400) * 0.5 + 0.4 * y, 3)
    fpr, tpr, thr = roc_curve(y, p)
    assert youden_threshold(y, p) == pytest.approx(thr[np.argmax(tpr - fpr)])


def test_binary_metrics_hand_case() -> None:
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.2, 0.7, 0.1, 0.1, 0.1, 0.1])  # TP=2 FN=1 FP=1 TN=4
    m = binary_metrics(y, p, 0.5)
    assert m["sensitivity"] == pytest.approx(2 / 3)
    assert m["specificity"] == pytest.approx(4 / 5)
    assert m["ppv"] == pytest.approx(2 / 3)
    assert m["npv"] == pytest.approx(4 / 5)
    assert m["f1"] == pytest.approx(4 / 6)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 4 / 5) / 2)


def test_threshold_from_val_applied_to_test(simulate: Callable[..., pd.DataFrame]) -> None:
    df = pd.concat([simulate(150, 0, split="val"), simulate(150, 1, split="test")])
    df["scan_id"] = df["scan_id"] + df["split"]
    m = task_metrics(df)
    assert set(m["threshold_source"]) == {SOURCE_YOUDEN}
    val = df[(df["split"] == "val") & (df["task"] == TASKS[0].name) & (df["label"] != -1)]
    row = m[(m["split"] == "test") & (m["task"] == TASKS[0].name)].iloc[0]
    assert row["threshold"] == pytest.approx(youden_threshold(val["label"], val["prob"]))
    test = df[(df["split"] == "test") & (df["task"] == TASKS[0].name) & (df["label"] != -1)]
    assert row["auc"] == pytest.approx(roc_auc_score(test["label"], test["prob"]))
    assert row["n"] == len(test)
    assert row["brier"] == pytest.approx(np.mean((test["prob"] - test["label"]) ** 2))


def test_no_val_falls_back_and_says_so(sim: pd.DataFrame, caplog: pytest.LogCaptureFixture) -> None:
    m = task_metrics(sim)
    assert set(m["threshold_source"]) == {SOURCE_NO_VAL}
    assert (m["threshold"] == 0.5).all()
    assert "falls back" in caplog.text


def test_one_class_task_gives_nan_with_reason(sim: pd.DataFrame) -> None:
    sim.loc[(sim["task"] == TASKS[3].name) & (sim["label"] == 1), "label"] = 0
    m = task_metrics(sim)
    row = m[m["task"] == TASKS[3].name].iloc[0]
    assert np.isnan(row["auc"]) and "one class" in row["auc_note"]
    means = group_means(m).set_index("name")
    assert means.loc["conventional", "n_tasks_nan"] == 1
    assert means.loc["overall", "auc"] == pytest.approx(m["auc"].mean())
