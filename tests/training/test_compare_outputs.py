"""Segmentation and report metrics of compared runs, from hand-written run files."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hyperct.evaluation.report_metrics import ReportMetricsConfig, report_metrics
from hyperct.evaluation.segmentation_files import FINDINGS_CSV
from hyperct.inference.reports import REPORTS
from hyperct.training.compare_outputs import ScoredRun, output_metrics, outputs_markdown

REPORT = {"a": "Small left pleural effusion.", "b": "No effusion. Emphysema in both apices.",
          "c": "Nodule in the right upper lobe.", "d": "Cardiomegaly.", "e": "Normal chest."}


def _run(folder: Path, test: list[str], dice: dict[str, list[float]], reports: dict[str, str],
         ) -> tuple[Path, pd.DataFrame]:
    """A run folder with both files (one row per finding of ``dice``; val scan 'v' too) and its
    manifest: ``test`` scans in test, the others in train, 'v' in val."""
    folder.mkdir(parents=True)
    rows = [{"scan_id": s, "finding": k, "category": "2e", "dice": d, "ref_instances": 1,
             "pred_instances": 1, "matched_instances": int(d > 0), "hit": d >= 0.1}
            for s, values in dice.items() for k, d in enumerate(values)]
    pd.DataFrame(rows).to_csv(folder / FINDINGS_CSV, index=False)
    pd.DataFrame({"scan_id": list(reports), "report": list(reports.values())}).to_csv(
        folder / REPORTS, index=False)
    manifest = pd.DataFrame({
        "scan_id": [*REPORT, "v"], "cohort": "internal",
        "split": ["test" if s in test else "train" for s in REPORT] + ["val"],
        "report_text": [*REPORT.values(), "Val report."],
    })
    return folder, manifest


def test_folds_are_scored_one_by_one_and_stacked(tmp_path: Path) -> None:
    both = ("segmentation", "report")
    d0, m0 = _run(tmp_path / "f0", ["a", "b"], {"a": [0.8, 0.0], "b": [0.5], "v": [1.0]},
                  {"a": "Small left pleural effusion.", "b": "Emphysema.", "v": "x"})
    d1, m1 = _run(tmp_path / "f1", ["c", "d", "e"], {"c": [0.2], "d": [0.05, 0.6], "v": [0.0]},
                  {"c": "Nodule.", "d": "", "e": "Normal chest.", "v": "y"})
    m1.loc[m1["scan_id"] == "e", "cohort"] = "external"  # not re-split: never stacked
    runs = [ScoredRun("unict", "fold0", d0, m0, both), ScoredRun("unict", "fold1", d1, m1, both),
            ScoredRun("seg-only", "fold0", d0, m0, ("segmentation",)),
            ScoredRun("seg-only", "fold1", tmp_path / "no-files", m1, ("segmentation",))]
    table = output_metrics(runs, "test", 50, pooled_run="out-of-fold", folded=["internal"])
    got = table[table["cohort"] == "internal"].set_index(["variant", "run", "metric"])["value"]
    assert got[("unict", "fold0", "global_dice")] == pytest.approx((0.8 + 0.0 + 0.5) / 3)
    assert got[("unict", "fold1", "hit_rate")] == pytest.approx(2 / 3)
    assert got[("unict", "out-of-fold", "global_dice")] == pytest.approx(2.15 / 6)
    assert got[("unict", "out-of-fold", "hit_rate")] == pytest.approx(4 / 6)
    # the reports of the stacked internal test scans a-d, scored once against the manifest's texts
    generated = ["Small left pleural effusion.", "Emphysema.", "Nodule.", ""]
    expected = report_metrics(generated, list(REPORT.values())[:4],
                              ReportMetricsConfig(meteor=False))
    for metric in ("bleu_4", "rouge_l", "ce_macro_f1", "crg"):
        assert got[("unict", "out-of-fold", metric)] == pytest.approx(expected.metrics[metric])
    pooled = table[(table["run"] == "out-of-fold") & (table["variant"] == "unict")]
    assert set(pooled["cohort"]) == {"internal"}
    assert (pooled["n_scans"] == 4).all()
    external = table[(table["cohort"] == "external") & (table["variant"] == "unict")]
    assert set(external["run"]) == {"fold1"} and set(external["output"]) == {"report"}
    dice = pooled[pooled["metric"] == "global_dice"].iloc[0]
    assert dice["ci_low"] <= dice["value"] <= dice["ci_high"]
    # seg-only lacks fold1's file: no stacked run of a partial set; segmentation only
    assert set(table.loc[table["variant"] == "seg-only", "output"]) == {"segmentation"}
    assert set(table.loc[table["variant"] == "seg-only", "run"]) == {"fold0"}
    markdown = outputs_markdown(table, ["unict", "seg-only"], "out-of-fold")
    mean = np.mean([(0.8 + 0.0 + 0.5) / 3, (0.2 + 0.05 + 0.6) / 3])
    assert f"| global_dice | {mean:.3f} ± " in markdown and "pooled 0.358 (" in markdown


def test_missing_files_give_no_rows_and_missing_reports_are_refused(tmp_path: Path) -> None:
    folder, manifest = _run(tmp_path / "r", ["a", "b"], {"a": [0.5]}, {"a": "Effusion."})
    (folder / FINDINGS_CSV).unlink()
    run = ScoredRun("unict", "seed0", folder, manifest, ("segmentation",))
    assert output_metrics([run], "test", 0).empty
    run = ScoredRun("unict", "seed0", folder, manifest, ("report",))
    with pytest.raises(ValueError, match=r"no generated report for 1 test scan.*\['b'\]"):
        output_metrics([run], "test", 0)


def test_classification_f1_and_map_per_cohort(tmp_path: Path) -> None:
    """F1 at the threshold chosen on val (Youden), and average precision, on test, per cohort."""
    from sklearn.metrics import average_precision_score, f1_score

    from hyperct.evaluation.metrics import youden_threshold
    from hyperct.inference.predictions import predictions_from_arrays, write_predictions

    rng = np.random.default_rng(1)
    splits = ["val"] * 12 + ["test"] * 12
    cohorts = ["internal"] * 18 + ["external"] * 6
    labels = np.full((24, 25), -1)
    labels[:, 0] = np.tile([1, 0, 0, 1, 0, 1], 4)
    labels[:, 1] = np.tile([0, 1, 1, 0, 0, 0], 4)
    probs = rng.uniform(0, 1, (24, 25))
    table = predictions_from_arrays(scan_ids=[f"s{i}" for i in range(24)], cohorts=cohorts,
                                    splits=splits, labels=labels, probs=probs, method="m",
                                    run="seed0")
    (tmp_path / "run").mkdir()
    write_predictions(table, tmp_path / "run" / "predictions.csv")
    manifest = pd.DataFrame({"scan_id": [f"s{i}" for i in range(24)], "split": splits,
                             "cohort": cohorts})
    got = output_metrics([ScoredRun("m", "seed0", tmp_path / "run", manifest,
                                    ("classification",))], "test", 0)
    got = got.set_index(["cohort", "metric"])["value"]
    val, test = slice(0, 12), slice(12, 18)  # the internal test scans
    f1s, aps = [], []
    for j in (0, 1):
        threshold = youden_threshold(pd.Series(labels[val, j]), pd.Series(probs[val, j]))
        f1s.append(f1_score(labels[test, j], probs[test, j] >= threshold))
        aps.append(average_precision_score(labels[test, j], probs[test, j]))
    assert got[("internal", "mean_f1")] == pytest.approx(np.mean(f1s))
    assert got[("internal", "map")] == pytest.approx(np.mean(aps))
    assert ("external", "map") in got.index and ("internal", "global_dice") not in got.index
