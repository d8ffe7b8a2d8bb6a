"""write_findings_sr: an Enhanced SR in the source study whose items give back all 25 findings."""

from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.uid import EnhancedSRStorage

from hyperct.io.dicom_source import DerivedIds
from hyperct.io.dicom_sr import CONCEPTS, write_findings_sr
from hyperct.io.errors import DicomOutputError

ALGORITHM = {"algorithm_name": "hyperct-test", "algorithm_version": "0.1"}


def _name(item: pydicom.Dataset) -> str:
    return item.ConceptNameCodeSequence[0].CodeMeaning


def _values(group: pydicom.Dataset) -> dict[str, object]:
    """One finding's items by concept meaning: text, number (exact double) or code meaning."""
    out: dict[str, object] = {}
    for item in group.ContentSequence:
        if item.ValueType == "TEXT":
            out[_name(item)] = item.TextValue
        elif item.ValueType == "NUM":
            value = item.MeasuredValueSequence[0]
            assert value.MeasurementUnitsCodeSequence[0].CodeValue == "1"
            assert float(value.NumericValue) == pytest.approx(value.FloatingPointValue, abs=1e-9)
            out[_name(item)] = value.FloatingPointValue
        else:
            out[_name(item)] = item.ConceptCodeSequence[0].CodeMeaning
    return out


def test_sr_round_trips_all_findings_in_the_source_study(
    referenced_series: Path, all_findings: list[dict[str, Any]], tmp_path: Path
) -> None:
    findings = all_findings
    out = write_findings_sr(
        findings,
        referenced_series,
        tmp_path / "sr.dcm",
        ids=DerivedIds(sop_instance_uid="1.2.3.9"),
        **ALGORITHM,
    )
    sr = pydicom.dcmread(out)
    source = pydicom.dcmread(next(referenced_series.iterdir()), stop_before_pixels=True)
    assert sr.SOPClassUID == EnhancedSRStorage and sr.Modality == "SR"
    assert sr.SOPInstanceUID == "1.2.3.9" and sr.SeriesInstanceUID != source.SeriesInstanceUID
    assert sr.StudyInstanceUID == source.StudyInstanceUID
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == source.StudyInstanceUID
    assert evidence.ReferencedSeriesSequence[0].SeriesInstanceUID == source.SeriesInstanceUID
    assert len(evidence.ReferencedSeriesSequence[0].ReferencedSOPSequence) == 20
    assert sr.CompletionFlag == "COMPLETE" and sr.VerificationFlag == "UNVERIFIED"
    assert _name(sr) == CONCEPTS["report"].meaning
    top = {_name(item): item for item in sr.ContentSequence}
    assert top["Algorithm Name"].TextValue == "hyperct-test"
    groups = top["Findings"].ContentSequence
    assert len(groups) == len(findings) == 25
    back = [_values(group) for group in groups]
    assert back == [
        {
            "Finding": f["task"],
            "Task group": f["group"],
            "Probability": f["probability"],
            "Operating threshold": f["threshold"],
            "Result at operating threshold": "Positive" if f["positive"] else "Negative",
        }
        for f in findings
    ]


def test_bad_findings_write_nothing(
    referenced_series: Path, all_findings: list[dict[str, Any]], tmp_path: Path
) -> None:
    bad = list(all_findings)
    bad[4] = {**bad[4], "probability": -0.1}
    with pytest.raises(DicomOutputError, match="finding 4"):
        write_findings_sr(bad, referenced_series, tmp_path / "sr.dcm", **ALGORITHM)
    assert not list(tmp_path.iterdir())
