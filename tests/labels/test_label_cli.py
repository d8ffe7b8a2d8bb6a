"""`hyperct label` smoke tests on real reports and small echo tables."""

import pandas as pd
from typer.testing import CliRunner

from hyperct.cli.main import app

runner = CliRunner()


def test_reports_then_evaluate(shared_data, tmp_path):
    gold = pd.read_csv(shared_data / "reports" / "ctrate_reports_train.csv").head(40)
    gold.to_csv(tmp_path / "gold.csv", index=False)
    gold[["AccessionNo", "report_text"]].to_csv(tmp_path / "reports.csv", index=False)
    out = tmp_path / "labels.csv"
    result = runner.invoke(
        app, ["label", "reports", str(tmp_path / "reports.csv"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "labels.evidence.csv").is_file()
    result = runner.invoke(
        app,
        [
            "label",
            "evaluate",
            str(out),
            str(tmp_path / "gold.csv"),
            "--out-dir",
            str(tmp_path / "eval"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "macro F1" in result.output
    assert (tmp_path / "eval" / "per_task.csv").is_file()


def test_reports_with_an_empty_report_exit_non_zero(tmp_path):
    pd.DataFrame({"AccessionNo": ["a", "b"], "report_text": ["Emphysema.", ""]}).to_csv(
        tmp_path / "r.csv", index=False
    )
    result = runner.invoke(
        app, ["label", "reports", str(tmp_path / "r.csv"), "--out", str(tmp_path / "l.csv")]
    )
    assert result.exit_code == 1
    assert "empty report" in result.output
    assert pd.read_csv(tmp_path / "l.csv").set_index("AccessionNo").loc["a", "Emphysema"] == 1


def test_echo_command(tmp_path):
    pd.DataFrame(
        {"scan_id": ["a"], "patient_id": ["p"], "study_date": ["2020-01-01"], "sex": ["F"]}
    ).to_csv(tmp_path / "ct.csv", index=False)
    pd.DataFrame({"pid": ["p"], "exam_date": ["2020-01-10"], "lvef_percent": ["0.4"]}).to_csv(
        tmp_path / "echo.csv", index=False
    )
    args = [
        "label",
        "echo",
        "--ct",
        str(tmp_path / "ct.csv"),
        "--echo",
        str(tmp_path / "echo.csv"),
        "--out",
        str(tmp_path / "l.csv"),
        "--echo-patient-id",
        "pid",
        "--window-days",
        "30",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    labels = pd.read_csv(tmp_path / "l.csv")
    assert labels.loc[0, "Reduced LV systolic function"] == 1  # 0.4 read as a fraction: 40 %


def test_bad_input_is_one_clear_line(tmp_path):
    pd.DataFrame({"id": ["a"], "report_text": ["x"]}).to_csv(tmp_path / "r.csv", index=False)
    result = runner.invoke(
        app, ["label", "reports", str(tmp_path / "r.csv"), "--out", str(tmp_path / "l.csv")]
    )
    assert result.exit_code == 2
    assert "error: " in result.output and "'AccessionNo'" in result.output
    result = runner.invoke(
        app,
        [
            "label",
            "reports",
            str(tmp_path / "r.csv"),
            "--out",
            str(tmp_path / "l.csv"),
            "--id-column",
            "id",
            "--method",
            "llm",
        ],
    )
    assert result.exit_code == 2 and "model is required" in result.output
