"""Per-category Global Dice, hit rate and instance P/R/F1 with bootstrap CIs over scans."""

import math

import numpy as np
import pandas as pd
import pytest

from hyperct.evaluation.bootstrap import BootstrapConfig
from hyperct.evaluation.segmentation import FindingScore
from hyperct.evaluation.segmentation_summary import METRICS, findings_table, summary_table

CONFIG = BootstrapConfig(n_resamples=200, seed=1)


def _scores() -> list[FindingScore]:
    return [
        FindingScore("s1", 0, "1c", 0.8, ref_instances=1, pred_instances=1, matched_instances=1),
        FindingScore("s1", 1, "2d", 0.05, ref_instances=2, pred_instances=3, matched_instances=0),
        FindingScore("s2", 0, "2d", 0.5, ref_instances=1, pred_instances=1, matched_instances=1),
        FindingScore("s3", 0, "1c", 0.0, ref_instances=1, pred_instances=0, matched_instances=0),
        FindingScore("s3", 1, "2d", math.nan, ref_instances=0, pred_instances=2,
                     matched_instances=0),
    ]


def _value(summary: pd.DataFrame, category: str, metric: str) -> float:
    row = summary[(summary["category"] == category) & (summary["metric"] == metric)]
    return float(row["value"].iloc[0])


def test_point_values_match_hand_computation() -> None:
    summary = summary_table(findings_table(_scores()), CONFIG)
    assert _value(summary, "1c", "global_dice") == pytest.approx(0.4)
    assert _value(summary, "2d", "global_dice") == pytest.approx(0.275)  # NaN row: no finding
    assert _value(summary, "all", "global_dice") == pytest.approx((0.8 + 0.05 + 0.5 + 0.0) / 4)
    assert _value(summary, "all", "hit_rate") == pytest.approx(2 / 4)
    # 2d: TP 1, predicted 3 + 1 + 2 = 6, reference 2 + 1 = 3.
    assert _value(summary, "2d", "instance_precision") == pytest.approx(1 / 6)
    assert _value(summary, "2d", "instance_recall") == pytest.approx(1 / 3)
    assert _value(summary, "2d", "instance_f1") == pytest.approx(2 / 9)
    assert _value(summary, "all", "instance_f1") == pytest.approx(2 * 2 / (7 + 5))
    counts = summary.drop_duplicates("category").set_index("category")
    assert counts.loc["2d", "n_findings"] == 2 and counts.loc["all", "n_scans"] == 3


def test_intervals_bracket_the_point_and_narrow_with_more_scans() -> None:
    rng = np.random.default_rng(0)

    def cohort(n: int) -> pd.DataFrame:
        scores = [
            FindingScore(f"s{i}", 0, "2c", float(rng.beta(2, 3)), 1, 1, int(rng.random() < 0.5))
            for i in range(n)
        ]
        return summary_table(findings_table(scores), CONFIG)

    small, large = cohort(20), cohort(400)
    for table in (small, large):
        assert (table["ci_low"] <= table["value"]).all() and (table["value"] <= table["ci_high"]).all()
    width = lambda t: float((t["ci_high"] - t["ci_low"])[t["metric"] == "global_dice"].iloc[0])  # noqa: E731
    assert width(large) < width(small) / 2
    assert set(large["metric"]) == set(METRICS)


def test_same_seed_same_intervals_and_undefined_metrics_stay_nan() -> None:
    table = findings_table(_scores())
    first, again = summary_table(table, CONFIG), summary_table(table, CONFIG)
    pd.testing.assert_frame_equal(first, again)
    only_fp = findings_table([FindingScore("s", 0, "2g", math.nan, 0, 2, 0)])
    summary = summary_table(only_fp, CONFIG)
    assert math.isnan(_value(summary, "2g", "global_dice"))
    assert _value(summary, "2g", "instance_precision") == 0.0


def test_no_findings_is_an_error() -> None:
    with pytest.raises(ValueError, match="no findings"):
        summary_table(findings_table([]), CONFIG)
