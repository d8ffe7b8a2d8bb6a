"""The UniCT ablation benchmark's metrics agree with the project's metric functions."""

import numpy as np
import pandas as pd
import pytest

from benchmarks.unict_ablation import (
    GUIDED,
    SINGLE,
    UNICT,
    VARIANTS,
    classification_metrics,
    cost_rows,
    dice_difference,
    macro_f1_resampled,
    paired_interval,
)
from hyperct.evaluation.bootstrap import BootstrapConfig
from hyperct.evaluation.clinical_efficacy import label_scores, macro_f1
from hyperct.evaluation.segmentation_summary import summary_table

BOOT = BootstrapConfig(n_resamples=200)


def _findings(dice: dict[str, list[float]]) -> pd.DataFrame:
    rows = [{"scan_id": scan, "finding": i, "category": "2d", "dice": d, "ref_instances": 1,
             "pred_instances": 1, "matched_instances": int(d >= 0.2), "hit": d >= 0.1}
            for scan, values in dice.items() for i, d in enumerate(values)]
    return pd.DataFrame(rows)


def test_ten_configurations_with_unique_folders_and_two_tasks_off_for_single_task_models():
    assert len(VARIANTS) == 10 and len({v.folder for v in VARIANTS}) == 10
    assert GUIDED.overrides == ["unict.report_guidance=true"]
    assert all(GUIDED.supervises(t) for t in SINGLE)
    assert VARIANTS[0] is UNICT and all(UNICT.supervises(t) for t in SINGLE)
    for task, variant in SINGLE.items():
        assert [t for t in SINGLE if variant.supervises(t)] == [task]
        assert f"unict.supervise_{task}=false" not in variant.overrides


def test_dice_difference_matches_global_dice_of_the_summary():
    scans = ["a", "b", "c", "d"]
    first = _findings({"a": [0.5, 0.1], "b": [0.2], "c": [0.9]})
    second = _findings({"a": [0.6, 0.3], "b": [0.0], "c": [0.8], "d": [0.4]})
    diff = dice_difference(first, second, scans, BOOT)
    dice = {name: summary_table(f, BOOT).query("category == 'all' and metric == 'global_dice'")
            ["value"].iloc[0] for name, f in (("first", first), ("second", second))}
    assert diff["difference"] == pytest.approx(dice["second"] - dice["first"])
    assert diff["ci_low"] <= diff["difference"] <= diff["ci_high"]
    same = dice_difference(first, first, scans, BOOT)
    assert same["difference"] == same["ci_low"] == same["ci_high"] == 0.0


def test_resampled_macro_f1_at_the_point_estimate_is_the_ce_f1():
    rng = np.random.default_rng(0)
    reference = rng.random((30, 18)) < 0.3
    generated = reference ^ (rng.random((30, 18)) < 0.2)
    generated[:, 5] = reference[:, 5] = False  # a finding nobody names: no F1
    ones = np.ones((1, 30))
    expected = macro_f1(label_scores(reference, generated))
    assert macro_f1_resampled(reference, generated, ones)[0] == pytest.approx(expected)


def test_paired_interval_p_value_is_small_for_a_clear_difference():
    values = np.linspace(0.0, 1.0, 40)
    clear = paired_interval(lambda c: c @ (values + 0.5) / c.sum(1) - c @ values / c.sum(1),
                            40, BOOT)
    assert clear["difference"] == pytest.approx(0.5) and clear["ci_low"] > 0
    assert clear["p_value"] < 0.05


def test_classification_metrics_of_perfect_scores():
    rows = []
    for split in ("val", "test"):
        for i in range(10):
            for task in ("Emphysema", "Cardiomegaly"):
                label = (i + len(task)) % 2
                rows.append({"scan_id": f"{split}{i}", "cohort": "internal", "split": split,
                             "task": task, "label": label, "prob": 0.2 + 0.6 * label,
                             "method": "m", "run": "m"})
    result = classification_metrics(pd.DataFrame(rows))
    assert result["auroc"] == result["map"] == result["f1"] == 1.0
    assert result["n_findings"] == 2


def test_cost_goal_compares_unict_with_the_sum_of_the_single_task_models():
    def bench(cpu: float, memory: float) -> dict:
        child = {"wall_s": [cpu * 2], "cpu_s": [cpu, cpu * 1.1, cpu * 0.9],
                 "peak_rss_gb": 1.0 + memory, "baseline_rss_gb": 1.0}
        return {"step": child, "predict": {**child, "cpu_s": [cpu / 10]}, "trainer_step_s": 1.0,
                "train": {"wall_s": 60.0, "cpu_s": 50.0, "peak_rss_gb": 2.0, "resumed": False}}

    benches = {UNICT.name: bench(1.5, 0.9), **{v.name: bench(0.6, 0.4) for v in SINGLE.values()}}
    goals = {r["metric"].split(":")[0]: r for r in cost_rows(benches) if r["goal"]}
    assert set(goals) == {"train step", "train step memory", "prediction", "prediction memory"}
    assert goals["train step"]["value"] == pytest.approx(1.5 / 1.8, abs=1e-4)
    assert goals["train step"]["met"] and goals["train step memory"]["met"]
    assert goals["prediction memory"]["value"] == pytest.approx(0.9 / 1.2, abs=1e-4)
    assert not cost_rows({UNICT.name: bench(1.0, 1.0)})[-1]["goal"]  # no singles: no goal rows
