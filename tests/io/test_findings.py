"""findings_json / parse_findings: the findings and the source study in plain JSON, bad rows named."""

import json
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from hyperct.io.errors import DicomOutputError
from hyperct.io.findings import FINDINGS_SCHEMA, findings_json, parse_findings


def test_json_carries_findings_codes_and_source_uids(
    referenced_series: Path, all_findings: list[dict[str, Any]]
) -> None:
    findings = all_findings
    doc = json.loads(json.dumps(findings_json(findings, referenced_series)))
    source = pydicom.dcmread(next(referenced_series.iterdir()), stop_before_pixels=True)
    assert doc["schema"] == FINDINGS_SCHEMA
    assert doc["dicom"]["study_instance_uid"] == source.StudyInstanceUID
    assert doc["dicom"]["series_instance_uid"] == source.SeriesInstanceUID
    assert doc["dicom"]["study_date"] == source.StudyDate
    assert [{k: f[k] for k in findings[0]} for f in doc["findings"]] == findings
    meanings = {f["task"]: f["result_code"]["meaning"] for f in doc["findings"]}
    assert meanings == {f["task"]: "Positive" if f["positive"] else "Negative" for f in findings}


def test_json_without_dicom_source(all_findings: list[dict[str, Any]]) -> None:
    doc = findings_json(all_findings[:2], None)
    assert doc["dicom"] is None and len(doc["findings"]) == 2


def test_numpy_values_are_accepted() -> None:
    row = {"task": "A", "group": "g", "probability": np.float32(0.25), "threshold": 0.5}
    (finding,) = parse_findings([{**row, "positive": np.bool_(False)}])
    assert finding.probability == 0.25 and finding.positive is False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"probability": 1.5}, r"finding 1 \(B\): 'probability' must be a number in \[0, 1\]"),
        ({"threshold": "high"}, "'threshold' must be a number"),
        ({"positive": "yes"}, "'positive' must be true or false"),
        ({"task": "A"}, r"more than once: \['A'\]"),
        ({"probability": None}, "'probability'"),
    ],
)
def test_bad_findings_are_named(change: dict[str, Any], message: str) -> None:
    rows = [
        {"task": "A", "group": "g", "probability": 0.1, "threshold": 0.5, "positive": False},
        {"task": "B", "group": "g", "probability": 0.9, "threshold": 0.5, "positive": True},
    ]
    rows[1].update(change)
    with pytest.raises(DicomOutputError, match=message):
        parse_findings(rows)


def test_missing_key_is_named() -> None:
    with pytest.raises(DicomOutputError, match=r"finding 0: missing key\(s\) \['threshold'\]"):
        parse_findings([{"task": "A", "group": "g", "probability": 0.1, "positive": False}])
