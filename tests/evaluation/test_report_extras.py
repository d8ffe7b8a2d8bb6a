"""The segmentation and report-generation sections of the HTML report."""

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from hyperct.evaluation.bootstrap import BootstrapConfig
from hyperct.inference.predictions import write_predictions
from hyperct.evaluation.report import evaluate
from hyperct.evaluation.report_extras import report_metrics_section, segmentation_section
from hyperct.evaluation.report_metrics import METRIC_KEYS
from hyperct.evaluation.segmentation import FindingScore
from hyperct.evaluation.segmentation_summary import findings_table, summary_table
from hyperct.evaluation.tables import EvaluationConfig
from hyperct.io.atomic import write_csv_atomic, write_text_atomic
from hyperct.tasks import TASKS


@pytest.fixture
def summary_csv(tmp_path: Path) -> Path:
    scores = [
        FindingScore("s1", 0, "2d", 0.75, 1, 1, 1),
        FindingScore("s2", 0, "2d", 0.25, 2, 1, 1),
        FindingScore("s2", 1, "1c", 0.0, 1, 0, 0),
    ]
    summary = summary_table(findings_table(scores), BootstrapConfig(n_resamples=20))
    return write_csv_atomic(summary, tmp_path / "segmentation_summary.csv")


@pytest.fixture
def metrics_json(tmp_path: Path) -> Path:
    payload = {k: 0.25 for k in METRIC_KEYS} | {"meteor": None, "n_reports": 7}
    payload["ci"] = {"crg": [0.125, 0.375]}
    payload["ce_per_label"] = [
        {"finding": "Cardiomegaly", "tp": 3, "fp": 1, "fn": 0, "precision": 0.75,
         "recall": 1.0, "f1": 0.857}
    ]
    return write_text_atomic(tmp_path / "metrics.json", json.dumps(payload))


def test_segmentation_section_shows_every_category_and_the_overall_row(summary_csv) -> None:
    section = segmentation_section(summary_csv)
    assert section is not None and section.anchor == "segmentation"
    body = section.body
    assert body.index(">1c<") < body.index(">2d<") < body.index(">all<")
    assert "<td>0.500 <span class=ci>" in body  # 2d Global Dice (0.75 + 0.25) / 2
    assert "2 scans" in body
    assert segmentation_section(None) is None


def test_report_metrics_section_lists_the_metrics_and_ce_per_finding(metrics_json) -> None:
    section = report_metrics_section(metrics_json)
    assert section is not None
    for key in METRIC_KEYS:
        assert f">{key}<" in section.body
    assert "<td class=name>meteor</td><td>\u2013</td>" in section.body  # null shown as a dash
    assert "<td>0.250 <span class=ci>(0.125\u20130.375)</span></td>" in section.body  # crg
    assert ">Cardiomegaly<" in section.body and "7 reports" in section.body


def test_report_metrics_without_the_contract_keys_is_refused(tmp_path) -> None:
    path = write_text_atomic(tmp_path / "m.json", json.dumps({"bleu_1": 0.3}))
    with pytest.raises(ValueError, match="missing metric"):
        report_metrics_section(path)


def test_evaluate_includes_the_sections_when_given(
    tmp_path, simulate: Callable[..., pd.DataFrame], summary_csv, metrics_json
) -> None:
    few = [TASKS[i].name for i in (0, 18)]
    df = simulate(40, seed=0)
    write_predictions(df[df["task"].isin(few)], tmp_path / "run" / "predictions.csv")
    config = EvaluationConfig(bootstrap=BootstrapConfig(n_resamples=20, seed=1))
    result = evaluate(
        runs=[tmp_path / "run"], out=tmp_path / "out", config=config, lora=False,
        segmentation=summary_csv, report_metrics=metrics_json,
    )
    text = result.report.read_text()
    assert "id='segmentation'" in text and "id='report-generation'" in text
