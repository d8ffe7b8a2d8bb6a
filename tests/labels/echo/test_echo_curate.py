import pandas as pd
import pytest

from hyperct.labels.echo.config import EchoConfig
from hyperct.labels.echo.curate import curate_echo_files, curate_echo_labels
from hyperct.labels.echo.units import UnitError

ECHO_COLUMNS = [
    "patient_id",
    "exam_date",
    "sex",
    "lvef_percent",
    "lvidd_cm",
    "lavi_ml_m2",
    "e_a_ratio",
    "tr_peak_velocity_m_s",
    "pasp_mmhg",
    "rv_systolic_function",
]


def _ct(rows):
    return pd.DataFrame(rows, columns=["scan_id", "patient_id", "study_date", "sex"])


def _echo(rows):
    return pd.DataFrame(rows, columns=ECHO_COLUMNS)


def test_nearest_exam_tie_goes_to_the_earlier_one():
    ct = _ct([("s1", "p", "2020-06-10", "F")])
    echo = _echo(
        [
            ("p", "2020-06-20", "F", "30", "", "", "", "", "", ""),
            ("p", "2020-06-01", "F", "60", "", "", "", "", "", ""),
        ]
    )
    result = curate_echo_labels(ct, echo)
    assert result.labels.loc[0, "Reduced LV systolic function"] == 0  # 9 days before beats 10 after
    ct = _ct([("s1", "p", "2020-06-10", "F")])
    echo = _echo(
        [
            ("p", "2020-06-20", "F", "30", "", "", "", "", "", ""),
            ("p", "2020-05-31", "F", "60", "", "", "", "", "", ""),
        ]
    )
    result = curate_echo_labels(ct, echo)
    assert result.labels.loc[0, "Reduced LV systolic function"] == 0  # tie: the earlier exam
    audit = result.audit.set_index("task").loc["Reduced LV systolic function"]
    assert audit.days_apart == -10 and audit.echo_row == 3 and audit.exam_date == "2020-05-31"


def test_window_and_unmatched_are_minus_one():
    ct = _ct([("s1", "p", "2020-01-01", "M"), ("s2", "q", "2020-01-01", "M")])
    echo = _echo([("p", "2020-08-01", "M", "30", "", "", "", "", "", "")])
    result = curate_echo_labels(ct, echo, EchoConfig(window_days=180))
    assert (result.labels.drop(columns="scan_id") == -1).all().all()
    wide = curate_echo_labels(ct, echo, EchoConfig(window_days=365))
    assert wide.labels.loc[0, "Reduced LV systolic function"] == 1
    assert "no echo exam within 180 days" in result.audit.reason.iloc[0]


def test_bad_dates_out_of_range_and_missing_sex():
    ct = _ct([("s1", "p", "2020-01-01", ""), ("s2", "p", "01/13/2020x", "F")])
    echo = _echo(
        [
            ("p", "2020-01-05", "", "160", "7.1", "40", "", "", "", "normal"),
            ("p", "not a date", "F", "20", "", "", "", "", "", ""),
        ]
    )
    result = curate_echo_labels(ct, echo)
    row = result.labels.set_index("scan_id").loc["s1"]
    assert row["Reduced LV systolic function"] == -1  # 160 % is out of range: flagged, not used
    assert row["Ventricular enlargement"] == -1  # sex unknown in both tables
    assert row["Atrial chamber enlargement"] == 1
    assert (result.labels.set_index("scan_id").loc["s2"] == -1).all()
    text = "\n".join(result.problems)
    assert "CT row 3, column 'study_date': '01/13/2020x' is not a date" in text
    assert "echo row 3, column 'exam_date': 'not a date' is not a date" in text
    assert "lvef_percent 160 % outside the valid range 5-90, not used" in text
    reason = result.audit.set_index(["scan_id", "task"]).loc[
        ("s1", "Reduced LV systolic function"), "reason"
    ]
    assert "outside the valid range" in reason


def test_errors_for_structure():
    with pytest.raises(ValueError, match=r"CT table: missing column\(s\) \['study_date'\]"):
        curate_echo_labels(pd.DataFrame({"scan_id": ["a"], "patient_id": ["p"]}), _echo([]))
    ct = _ct([("a", "p", "2020-01-01", "F"), ("a", "p", "2020-01-02", "F")])
    with pytest.raises(ValueError, match="duplicate scan_id"):
        curate_echo_labels(ct, _echo([]))
    echo = _echo(
        [
            ("p", "2020-01-01", "F", "", "5.2", "", "", "", "", ""),
            ("p", "2020-02-01", "F", "", "52", "", "", "", "", ""),
        ]
    )
    with pytest.raises(UnitError, match="lvidd_cm"):
        curate_echo_labels(_ct([("a", "p", "2020-01-01", "F")]), echo)


def test_files_and_manifest(tmp_path):
    _ct([("a", "p", "2020-01-01", "F"), ("b", "p", "2021-06-01", "F")]).to_csv(
        tmp_path / "ct.csv", index=False
    )
    _echo([("p", "2020-01-02", "F", "40", "4.9", "", "", "", "", "normal")]).to_csv(
        tmp_path / "echo.csv", index=False
    )
    pd.DataFrame(
        {
            "scan_id": ["a"],
            "patient_id": ["p"],
            "path": ["a.nii.gz"],
            "cohort": ["internal"],
            "split": ["train"],
        }
    ).to_csv(tmp_path / "m.csv", index=False)
    result = curate_echo_files(
        ct_path=tmp_path / "ct.csv",
        echo_path=tmp_path / "echo.csv",
        out_path=tmp_path / "labels.csv",
        into=tmp_path / "m.csv",
    )
    assert (tmp_path / "labels.audit.csv").is_file()
    manifest = pd.read_csv(tmp_path / "m.csv").set_index("scan_id")
    assert manifest.loc["a", "Reduced LV systolic function"] == 1
    assert any("'b' is not in the manifest" in p for p in result.problems)


def test_unknown_rv_wording_is_minus_one_with_a_warning_naming_row_and_value(caplog):
    ct = _ct([("s1", "p", "2020-01-01", "F"), ("s2", "q", "2020-01-01", "F")])
    echo = _echo(
        [
            ("p", "2020-01-02", "F", "60", "", "", "", "", "", "Normal RV function"),
            ("q", "2020-01-02", "F", "60", "", "", "", "", "", "as before"),
        ]
    )
    with caplog.at_level("WARNING", logger="hyperct.labels.echo.curate"):
        result = curate_echo_labels(ct, echo)
    assert result.labels["Reduced RV systolic function"].tolist() == [0, -1]
    assert any("echo row 3" in p and "'as before'" in p for p in result.problems)
    assert "echo row 3" in caplog.text and "'as before'" in caplog.text
