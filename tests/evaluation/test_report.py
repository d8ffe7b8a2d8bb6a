import json
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from hyperct.cli.evaluate import evaluate as evaluate_command
from hyperct.evaluation.bootstrap import BootstrapConfig
from hyperct.evaluation.html import Section, fmt
from hyperct.inference.predictions import write_predictions
from hyperct.evaluation.report import evaluate
from hyperct.evaluation.sources import load_sources
from hyperct.evaluation.tables import EvaluationConfig
from hyperct.tasks import TASKS

CONFIG = EvaluationConfig(bootstrap=BootstrapConfig(n_resamples=30, seed=1))
FEW_TASKS = [TASKS[i].name for i in (0, 1, 18, 19)]  # both groups; small figures, fast test


@pytest.fixture
def runs(tmp_path: Path, simulate: Callable[..., pd.DataFrame]) -> tuple[Path, Path, Path]:
    """A HyperCT-like RUN folder, a baseline RUN folder and an external CSV on the same scans."""
    paths = []
    for name, signal in (("hyperct", 1.2), ("baseline", 0.6)):
        val = simulate(40, seed=0, signal=signal, method=name, run=name, split="val")
        test = simulate(60, seed=1, signal=signal, method=name, run=name)
        val["scan_id"] = "v" + val["scan_id"]
        both = pd.concat([val, test])
        write_predictions(both[both["task"].isin(FEW_TASKS)], tmp_path / name / "predictions.csv")
        paths.append(tmp_path / name)
    external = simulate(60, seed=1, signal=0.2).drop(columns=["method", "run"])
    external = external[external["task"].isin(FEW_TASKS)]
    external.to_csv(tmp_path / "vendor.csv", index=False)
    return paths[0], paths[1], tmp_path / "vendor.csv"


def test_report_is_written_self_contained_with_values(
    runs: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    hyper, base, vendor = runs
    result = evaluate(runs=[hyper, base], predictions=[vendor], out=tmp_path / "out", config=CONFIG)
    text = result.report.read_text()
    assert not re.search(r"(src|href)=['\"]?(https?:|//|file:)", text)
    assert "<link" not in text and "<script" not in text
    assert text.count("data:image/png;base64,") == 3  # ROC, decision curves, calibration
    ci = pd.read_csv(tmp_path / "out" / "auc_ci.csv")
    overall = ci[(ci["level"] == "overall") & (ci["model"] == "hyperct")].iloc[0]
    cell = f"{fmt(overall['auc'])}</b> <span class=ci>({fmt(overall['ci_low'])}\u2013{fmt(overall['ci_high'])})"
    assert cell in text
    assert {"vendor", "baseline", "hyperct"} <= set(ci["model"])
    diff = pd.read_csv(tmp_path / "out" / "paired_differences.csv")
    assert set(diff["model"]) == {"baseline", "vendor"}
    metrics = pd.read_csv(tmp_path / "out" / "metrics.csv")
    hyper_rows = metrics[metrics["model"] == "hyperct"]
    assert set(hyper_rows["threshold_source"]) == {"val_youden"}
    assert set(metrics[metrics["model"] == "vendor"]["threshold_source"]) == {
        "fallback_0.5_no_val_rows"
    }
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["config"]["bootstrap"]["n_resamples"] == 30
    assert (tmp_path / "out" / "plots" / "roc_internal_test.png").is_file()


def test_cli_writes_report(runs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(evaluate_command)
    hyper, base, _ = runs
    out = tmp_path / "cli"
    args = [str(hyper), "--compare", str(base), "--out", str(out), "--resamples", "20"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (out / "report.html").is_file()


def test_sources_errors(tmp_path: Path, runs: tuple[Path, Path, Path]) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="needs one of predictions.csv"):
        load_sources([tmp_path / "empty"])
    with pytest.raises(ValueError, match="appears in both"):
        load_sources([runs[0], runs[0] / "predictions.csv"])


def test_one_class_task_is_explained_in_the_table(simulate: Callable[..., pd.DataFrame]) -> None:
    from hyperct.evaluation.bootstrap import auc_confidence_table
    from hyperct.evaluation.html import auc_table

    df = simulate(50, seed=3)
    df = df[df["task"].isin(FEW_TASKS)]
    df.loc[df["task"] == FEW_TASKS[0], "label"] = 0
    ci = auc_confidence_table(df, BootstrapConfig(n_resamples=20)).assign(model="m")
    counts = pd.DataFrame({"n": [50], "n_pos": [0]}, index=[FEW_TASKS[0]])
    assert "one class only" in auc_table(ci, counts, ["m"])


def test_unreliable_interval_is_marked_with_a_footnote(
    tmp_path: Path, simulate: Callable[..., pd.DataFrame]
) -> None:
    df = simulate(60, seed=1, method="m", run="r")
    df = df[df["task"].isin(FEW_TASKS)].copy()
    rare = (df["task"] == FEW_TASKS[2]) & (df["label"] != -1)
    df.loc[rare, "label"] = 0
    df.loc[df.index[rare][:3], "label"] = 1
    write_predictions(df, tmp_path / "run" / "predictions.csv")
    result = evaluate(runs=[tmp_path / "run"], out=tmp_path / "out", config=CONFIG, lora=False)
    ci = pd.read_csv(tmp_path / "out" / "auc_ci.csv", keep_default_na=False)
    flagged = ci[ci["ci_unreliable"].astype(str) == "True"]
    assert list(flagged["name"]) == [FEW_TASKS[2]]
    text = result.report.read_text()
    row = text[text.index(f"<td class=name>{FEW_TASKS[2]}</td>") :]
    row = row[: row.index("</tr>")]
    assert "<sup class=warn title='3 positives (&lt; 5)'>\u2020</sup>" in row
    assert text.count("<sup class=warn") == 2  # the marked cell and its footnote
    assert "Unreliable bootstrap interval" in text
    assert f"m ({FEW_TASKS[2]}): 3 positives (&lt; 5)" in text


def test_reliable_intervals_carry_no_marker(
    runs: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    result = evaluate(runs=[runs[0]], out=tmp_path / "out", config=CONFIG, lora=False)
    ci = pd.read_csv(tmp_path / "out" / "auc_ci.csv")
    assert not ci["ci_unreliable"].any()
    assert "<sup class=warn" not in result.report.read_text()


def test_extra_sections_follow_the_computed_ones_with_a_toc_entry(
    runs: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    extra = Section("UniCT example", "<p id=extra-body>generated beside reference</p>", "unict")
    result = evaluate(runs=[runs[0]], out=tmp_path / "out", config=CONFIG, lora=False,
                      sections=[extra])
    text = result.report.read_text()
    assert text.count("<p id=extra-body>") == 1
    headings = [m.start() for m in re.finditer("<h2", text)]
    assert len(headings) > 1 and text.index("<p id=extra-body>") > headings[-1]  # the last one
    assert "<a href='#unict'>UniCT example</a>" in text
