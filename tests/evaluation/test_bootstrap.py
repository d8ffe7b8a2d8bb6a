from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from hyperct.evaluation.auc import bootstrap_indices
from hyperct.evaluation.bootstrap import (
    BootstrapConfig,
    auc_confidence_table,
    paired_difference_table,
    pooled_difference_table,
    to_wide,
)
from hyperct.tasks import CONVENTIONAL, TASKS

CONFIG = BootstrapConfig(n_resamples=60, seed=7)


def _naive(table, tasks, idx) -> np.ndarray:  # noqa: ANN001
    """Loop bootstrap with scikit-learn: (resamples, tasks)."""
    out = np.full((len(idx), len(tasks)), np.nan)
    for b, rows in enumerate(idx):
        for j, _ in enumerate(tasks):
            y, p = table.labels[rows, j], table.probs[rows, j]
            keep = y != -1
            if len(np.unique(y[keep])) == 2:
                out[b, j] = roc_auc_score(y[keep], p[keep])
    return out


def test_cis_match_naive_loop_bootstrap(simulate: Callable[..., pd.DataFrame]) -> None:
    df = simulate(80, seed=2)
    df = df[df["task"].isin([t.name for t in TASKS[::4]])]  # 7 tasks of both groups: fast
    table = to_wide(df)
    naive = _naive(table, table.tasks, bootstrap_indices(80, CONFIG.n_resamples, CONFIG.seed))
    ci = auc_confidence_table(df, CONFIG).set_index("name")
    for j, task in enumerate(table.tasks):
        low, high = np.nanpercentile(naive[:, j], [2.5, 97.5])
        assert ci.loc[task, "ci_low"] == pytest.approx(low)
        assert ci.loc[task, "ci_high"] == pytest.approx(high)
    conv = [j for j, t in enumerate(table.tasks) if t in {c.name for c in CONVENTIONAL}]
    low, high = np.percentile(np.nanmean(naive[:, conv], axis=1), [2.5, 97.5])
    assert ci.loc["conventional", "ci_low"] == pytest.approx(low)
    assert ci.loc["conventional", "ci_high"] == pytest.approx(high)
    low, high = np.percentile(np.nanmean(naive, axis=1), [2.5, 97.5])
    assert ci.loc["overall", "ci_low"] == pytest.approx(low)
    assert ci.loc["overall", "auc"] == pytest.approx(ci[ci["level"] == "task"]["auc"].mean())


def test_paired_difference(simulate: Callable[..., pd.DataFrame]) -> None:
    weak = simulate(150, seed=3, signal=0.3, method="weak")
    strong = simulate(150, seed=3, signal=1.5, method="strong")
    same = simulate(150, seed=3, signal=0.3, method="same")
    df = pd.concat([weak, strong, same])
    diff = paired_difference_table(df, ("weak", "r"), ("strong", "r"), CONFIG).set_index("name")
    assert diff.loc["overall", "difference"] > 0.1
    assert diff.loc["overall", "p_value"] < 0.05
    assert diff.loc["overall", "ci_low"] > 0
    null = paired_difference_table(df, ("weak", "r"), ("same", "r"), CONFIG).set_index("name")
    assert null.loc["overall", "difference"] == pytest.approx(0.0)
    assert null.loc["overall", "p_value"] == pytest.approx(1.0)


def test_reference_values_are_reproducible(simulate: Callable[..., pd.DataFrame]) -> None:
    ci = auc_confidence_table(simulate(100, seed=4), CONFIG).set_index("name")
    again = auc_confidence_table(simulate(100, seed=4), CONFIG).set_index("name")
    pd.testing.assert_frame_equal(ci, again)
    assert (
        0.0 < ci.loc["overall", "ci_low"] < ci.loc["overall", "auc"] < ci.loc["overall", "ci_high"]
    )


def test_reference_output_twelve_scans() -> None:
    """Pinned output on a committed hand-made input: AUC 30/35 and its seed-0 percentile CI."""
    labels = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    probs = [0.9, 0.8, 0.35, 0.6, 0.1, 0.4, 0.3, 0.7, 0.2, 0.05, 0.55, 0.5]
    df = pd.DataFrame(
        {
            "scan_id": [f"s{i}" for i in range(12)],
            "cohort": "internal",
            "split": "test",
            "task": "Emphysema",
            "label": labels,
            "prob": probs,
            "method": "m",
            "run": "r",
        }
    )
    row = auc_confidence_table(df, BootstrapConfig(n_resamples=200, seed=0)).iloc[0]
    assert row["auc"] == pytest.approx(30 / 35)
    assert row["ci_low"] == pytest.approx(0.542857, abs=1e-6)
    assert row["ci_high"] == pytest.approx(1.0)
    assert row["n_resamples_valid"] == 199  # one resample drew a single class


def _with_rare_task(df: pd.DataFrame, task: str, positives: int) -> pd.DataFrame:
    """``df`` with ``task`` relabelled: its first ``positives`` labelled scans positive, the
    rest negative."""
    df = df.copy()
    rows = df.index[(df["task"] == task) & (df["label"] != -1)]
    df.loc[rows, "label"] = 0
    df.loc[rows[:positives], "label"] = 1
    return df


FOUR_TASKS = [TASKS[i].name for i in (0, 1, 18, 19)]


def test_task_with_few_positives_is_flagged(simulate: Callable[..., pd.DataFrame]) -> None:
    df = simulate(80, seed=5)
    df = _with_rare_task(df[df["task"].isin(FOUR_TASKS)], FOUR_TASKS[1], positives=3)
    ci = auc_confidence_table(df, CONFIG).set_index("name")
    rare = ci.loc[FOUR_TASKS[1]]
    assert rare["n_pos"] == 3
    assert rare["n_pos"] + rare["n_neg"] == (df[df["task"] == FOUR_TASKS[1]]["label"] != -1).sum()
    assert bool(rare["ci_unreliable"])
    assert "3 positives (< 5)" in rare["ci_warning"]
    others = ci.drop(index=FOUR_TASKS[1])
    assert not others["ci_unreliable"].any()
    assert (others["ci_warning"] == "").all()
    assert not np.isnan(rare["ci_low"])  # flagged, still reported


def test_few_valid_resamples_are_flagged_for_the_task_and_its_means(
    simulate: Callable[..., pd.DataFrame],
) -> None:
    # one positive in 12 scans: a resample misses it with probability (11/12)^12 = 35 %
    df = simulate(12, seed=6)
    df = _with_rare_task(df[df["task"].isin(FOUR_TASKS)], FOUR_TASKS[1], positives=1)
    config = BootstrapConfig(n_resamples=200, seed=0, min_class_count=0)
    ci = auc_confidence_table(df, config).set_index("name")
    rare = ci.loc[FOUR_TASKS[1]]
    fraction = rare["n_resamples_valid"] / 200
    assert fraction < 0.8
    assert rare["ci_warning"] == f"{fraction:.0%} valid resamples (< 80%)"
    group = TASKS[1].group
    assert bool(ci.loc[group, "ci_unreliable"]) and bool(ci.loc["overall", "ci_unreliable"])
    assert "valid resamples" in ci.loc["overall", "ci_warning"]


def test_paired_difference_is_flagged_like_the_intervals(
    simulate: Callable[..., pd.DataFrame],
) -> None:
    frames = [
        _with_rare_task(
            simulate(80, seed=5, signal=signal, method=name).query("task in @FOUR_TASKS"),
            FOUR_TASKS[1],
            positives=2,
        )
        for name, signal in (("a", 0.5), ("b", 1.0))
    ]
    diff = paired_difference_table(pd.concat(frames), ("a", "r"), ("b", "r"), CONFIG)
    flagged = diff[diff["ci_unreliable"]]
    assert list(flagged["name"]) == [FOUR_TASKS[1]]
    assert "2 positives (< 5)" in flagged["ci_warning"].iloc[0]


def _repeat(df: pd.DataFrame, run: str, seed: int) -> pd.DataFrame:
    """The same scans and labels, scores perturbed: another seed of the same model."""
    noise = np.random.default_rng(seed).normal(scale=0.1, size=len(df))
    return df.assign(run=run, prob=np.clip(df["prob"] + noise, 0.0, 1.0))


def test_pooled_difference_is_the_mean_over_repeats(simulate: Callable[..., pd.DataFrame]) -> None:
    weak = simulate(120, seed=3, signal=0.3, method="weak")
    strong = simulate(120, seed=3, signal=1.0, method="strong")
    df = pd.concat([weak, _repeat(weak, "r1", 1), strong, _repeat(strong, "r1", 2)])
    refs, others = [("weak", "r"), ("weak", "r1")], [("strong", "r"), ("strong", "r1")]
    pooled = pooled_difference_table(df, refs, others, CONFIG).set_index("name")
    single = [paired_difference_table(df, a, b, CONFIG).set_index("name") for a, b in zip(refs, others)]
    for name in ("overall", "conventional", TASKS[0].name):
        want = np.mean([s.loc[name, "difference"] for s in single])
        assert pooled.loc[name, "difference"] == pytest.approx(want)
        assert pooled.loc[name, "ci_low"] <= pooled.loc[name, "difference"] <= pooled.loc[name, "ci_high"]
    assert pooled["reference"].iloc[0] == "weak/r+1"
    with pytest.raises(ValueError, match="as many references"):
        pooled_difference_table(df, refs, others[:1], CONFIG)
