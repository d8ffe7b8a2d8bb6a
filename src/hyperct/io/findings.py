"""Per-task findings as the DICOM SR and the JSON for a PACS bridge carry them.

A finding is one task's result: its probability, the operating threshold chosen on validation
and whether the scan is positive at that threshold. :func:`findings_json` is the same content as
the SR (:mod:`hyperct.io.dicom_sr`) in plain JSON, with the study and series UIDs a bridge needs
to file it, and the codes the SR uses, so both can be mapped the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from hyperct.io.dicom_source import DicomSource, as_source
from hyperct.io.errors import DicomOutputError

#: Version of the JSON layout :func:`findings_json` returns.
FINDINGS_SCHEMA = "hyperct.findings/1"
FINDING_KEYS = ("task", "group", "probability", "threshold", "positive")
RESULT_CODES: dict[bool, Code] = {True: codes.SCT.Positive, False: codes.SCT.Negative}
#: Source series attributes copied into the JSON (DICOM keyword -> JSON key).
STUDY_KEYS = {
    "StudyInstanceUID": "study_instance_uid",
    "SeriesInstanceUID": "series_instance_uid",
    "FrameOfReferenceUID": "frame_of_reference_uid",
    "PatientID": "patient_id",
    "AccessionNumber": "accession_number",
    "StudyDate": "study_date",
}


@dataclass(frozen=True)
class Finding:
    """One task's result on one scan."""

    task: str
    group: str
    probability: float
    threshold: float
    positive: bool

    @property
    def result_code(self) -> Code:
        return RESULT_CODES[self.positive]


def parse_findings(findings: Sequence[Mapping[str, Any]]) -> list[Finding]:
    """Check a list of ``{"task", "group", "probability", "threshold", "positive"}`` dicts."""
    if not findings:
        raise DicomOutputError("no findings given")
    parsed = [_parse(i, item) for i, item in enumerate(findings)]
    names = [f.task for f in parsed]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DicomOutputError(f"findings: task(s) listed more than once: {duplicates}")
    return parsed


def findings_json(
    findings: Sequence[Mapping[str, Any]], source_series: str | Path | DicomSource | None
) -> dict[str, Any]:
    """The findings and the source study/series identity as a JSON-ready dict.

    ``source_series`` is the DICOM series the findings were computed on; ``None`` (a NIfTI
    input) gives ``"dicom": null``.
    """
    dicom = None
    if source_series is not None:
        first = as_source(source_series).first
        dicom = {key: str(first.get(tag, "") or "") for tag, key in STUDY_KEYS.items()}
    return {
        "schema": FINDINGS_SCHEMA,
        "dicom": dicom,
        "findings": [_finding_json(f) for f in parse_findings(findings)],
    }


def _finding_json(finding: Finding) -> dict[str, Any]:
    code = finding.result_code
    return {
        **asdict(finding),
        "result_code": {
            "scheme": code.scheme_designator,
            "value": code.value,
            "meaning": code.meaning,
        },
    }


def _parse(index: int, item: Mapping[str, Any]) -> Finding:
    where = f"finding {index}"
    missing = [k for k in FINDING_KEYS if k not in item]
    if missing:
        raise DicomOutputError(f"{where}: missing key(s) {missing}; expected {list(FINDING_KEYS)}")
    task, group = item["task"], item["group"]
    if not isinstance(task, str) or not task.strip() or not isinstance(group, str):
        raise DicomOutputError(f"{where}: 'task' and 'group' must be text, got {task!r}, {group!r}")
    positive = item["positive"]
    if not isinstance(positive, (bool, np.bool_)):
        raise DicomOutputError(
            f"{where} ({task}): 'positive' must be true or false, got {positive!r}"
        )
    return Finding(
        task=task,
        group=group,
        probability=_unit(where, task, "probability", item["probability"]),
        threshold=_unit(where, task, "threshold", item["threshold"]),
        positive=bool(positive),
    )


def _unit(where: str, task: str, key: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, (bool, np.bool_)) or not 0.0 <= number <= 1.0:
        raise DicomOutputError(
            f"{where} ({task}): {key!r} must be a number in [0, 1], got {value!r}"
        )
    return number
