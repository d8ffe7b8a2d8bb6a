import pandas as pd
import pytest

from hyperct.labels.reports.batch import label_reports, label_reports_file
from hyperct.labels.reports.table import ReportColumns
from hyperct.tasks import CONVENTIONAL

FINDINGS = [t.name for t in CONVENTIONAL]


def _write(path, rows, columns=("AccessionNo", "report_text")):
    pd.DataFrame(rows, columns=list(columns)).to_csv(path, index=False)
    return path


def test_labels_evidence_and_failures(tmp_path):
    reports = _write(
        tmp_path / "r.csv",
        [
            ("a", "Bilateral pleural effusion. No emphysema."),
            ("b", ""),
            ("c", "12345 ..."),
        ],
    )
    run = label_reports_file(reports_path=reports, out_path=tmp_path / "labels.csv")
    labels = pd.read_csv(tmp_path / "labels.csv")
    assert list(labels.columns) == ["AccessionNo", *FINDINGS]
    row = labels.set_index("AccessionNo").loc["a"]
    assert row["Pleural effusion"] == 1 and row["Emphysema"] == 0 and row["Cardiomegaly"] == -1
    assert (labels.set_index("AccessionNo").loc[["b", "c"]] == -1).all().all()
    assert len(run.failures) == 2
    assert "row 3 (AccessionNo=b): empty report" in run.failures[0]
    assert "no words" in run.failures[1]
    evidence = pd.read_csv(tmp_path / "labels.evidence.csv")
    pe = evidence[(evidence.AccessionNo == "a") & (evidence.task == "Pleural effusion")].iloc[0]
    assert pe.sentence == "Bilateral pleural effusion." and pe.phrase == "pleural effusion"


def test_missing_id_column_is_an_error(tmp_path):
    reports = _write(tmp_path / "r.csv", [("a", "text")], columns=("id", "report_text"))
    with pytest.raises(ValueError, match=r"r\.csv: missing column\(s\) \['AccessionNo'\]"):
        label_reports_file(reports_path=reports, out_path=tmp_path / "o.csv")
    assert not (tmp_path / "o.csv").exists()


def test_other_column_names(tmp_path):
    df = pd.DataFrame({"id": ["x"], "findings": ["Cardiomegaly."]})
    run = label_reports(df, columns=ReportColumns(id_column="id", text_column="findings"))
    assert run.labels.loc[0, "Cardiomegaly"] == 1


def test_duplicate_ids_are_an_error():
    df = pd.DataFrame({"AccessionNo": ["a", "b", "a"], "report_text": ["x", "y", "z"]})
    with pytest.raises(ValueError, match=r"duplicate 'AccessionNo' values: 'a' \(rows \[2, 4\]\)"):
        label_reports(df)


def test_write_into_manifest(tmp_path):
    manifest = pd.DataFrame(
        {
            "scan_id": ["a", "z"],
            "patient_id": ["p1", "p2"],
            "path": ["a.nii.gz", "z.nii.gz"],
            "cohort": ["internal", "internal"],
            "split": ["train", "test"],
        }
    )
    manifest.to_csv(tmp_path / "m.csv", index=False)
    reports = _write(tmp_path / "r.csv", [("a", "Cardiomegaly."), ("q", "No cardiomegaly.")])
    run = label_reports_file(
        reports_path=reports, out_path=tmp_path / "l.csv", into=tmp_path / "m.csv"
    )
    updated = pd.read_csv(tmp_path / "m.csv").set_index("scan_id")
    assert updated.loc["a", "Cardiomegaly"] == 1
    assert updated.loc["z", "Cardiomegaly"] == -1
    assert any("'q' is not in the manifest" in f for f in run.failures)


def test_unmentioned_absent_maps_only_unmentioned_findings_of_labelled_reports(tmp_path):
    reports = _write(tmp_path / "r.csv", [("a", "Bilateral pleural effusion. No emphysema."), ("b", "")])
    run = label_reports_file(reports_path=reports, out_path=tmp_path / "l.csv", unmentioned="absent")
    labels = run.labels.set_index("AccessionNo")
    assert labels.loc["a", "Pleural effusion"] == 1 and labels.loc["a", "Emphysema"] == 0
    assert labels.loc["a", "Cardiomegaly"] == 0
    assert set(labels.loc["a"]) <= {0, 1}
    assert (labels.loc["b"] == -1).all()  # a failed report stays unavailable
    with pytest.raises(ValueError, match="unmentioned must be one of"):
        label_reports_file(reports_path=reports, out_path=tmp_path / "x.csv", unmentioned="zero")


def test_non_english_report_is_marked_in_the_evidence(tmp_path):
    reports = _write(
        tmp_path / "r.csv",
        [("de", "Kein Emphysem. Kein Hinweis auf Pleuraerguss."), ("en", "Emphysema.")],
    )
    run = label_reports_file(reports_path=reports, out_path=tmp_path / "labels.csv")
    labels = pd.read_csv(tmp_path / "labels.csv").set_index("AccessionNo")
    assert (labels.loc["de"] == -1).all() and labels.loc["en", "Emphysema"] == 1
    assert run.failures == []
    evidence = pd.read_csv(tmp_path / "labels.evidence.csv")
    marked = evidence[evidence.AccessionNo == "de"]
    assert sorted(marked.task) == sorted(FINDINGS)
    assert (marked.status == "not labelled").all() and (marked.label == -1).all()
    assert marked.cue.str.contains("not in English").all()
