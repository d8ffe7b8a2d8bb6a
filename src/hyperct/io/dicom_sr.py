"""Findings -> one DICOM Enhanced SR in the source CT's study, so a PACS files it with the scan.

The content tree (no DICOM template; the codes a bridge reads are listed in ``CONCEPTS``)::

    CONTAINER  Diagnostic Imaging Report (LN 18748-4)
      TEXT       Algorithm Name (DCM 111001), Algorithm Version (DCM 111003)
      CONTAINER  Findings (DCM 121070)
        CONTAINER  Measurement Group (DCM 125007)          one per task
          TEXT       Finding (DCM 121071)                  the task name
          TEXT       Task group (99HYPERCT group)          conventional / opportunistic
          NUM        Probability (99HYPERCT probability)   unit '1'
          NUM        Operating threshold (99HYPERCT threshold), unit '1'
          CODE       Result at operating threshold (99HYPERCT result): SCT Positive / Negative

The document is marked complete and unverified: it is a machine result a reader has not signed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import highdicom as hd
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from hyperct.io.atomic import atomic_path
from hyperct.io.dicom_source import DerivedIds, DicomSource, as_source
from hyperct.io.findings import Finding, parse_findings

logger = logging.getLogger(__name__)

SR_SERIES_NUMBER = 902
MANUFACTURER = "hyperct"
#: Private coding scheme of the concepts DICOM has no code for ("99" marks a private scheme).
PRIVATE_SCHEME = "99HYPERCT"
CONCEPTS: dict[str, Code] = {
    "report": codes.LN.DiagnosticImagingReport,
    "algorithm_name": codes.DCM.AlgorithmName,
    "algorithm_version": codes.DCM.AlgorithmVersion,
    "findings": codes.DCM.Findings,
    "finding_group": codes.DCM.MeasurementGroup,
    "task": codes.DCM.Finding,
    "group": Code("group", PRIVATE_SCHEME, "Task group"),
    "probability": Code("probability", PRIVATE_SCHEME, "Probability"),
    "threshold": Code("threshold", PRIVATE_SCHEME, "Operating threshold"),
    "result": Code("result", PRIVATE_SCHEME, "Result at operating threshold"),
}
NO_UNITS = codes.UCUM.NoUnits
CONTAINS = hd.sr.RelationshipTypeValues.CONTAINS


def write_findings_sr(
    findings: Sequence[Mapping[str, Any]],
    source_series: str | Path | DicomSource,
    out: str | Path,
    *,
    algorithm_name: str,
    algorithm_version: str,
    ids: DerivedIds | None = None,
) -> Path:
    """Write ``findings`` (``{"task", "group", "probability", "threshold", "positive"}`` dicts)
    as an Enhanced SR referencing ``source_series``' study, series and slices; atomically."""
    parsed = parse_findings(findings)
    source = as_source(source_series)
    ids = ids or DerivedIds()
    sr = hd.sr.EnhancedSR(
        evidence=list(source.headers),
        content=_report(parsed, algorithm_name, algorithm_version),
        series_instance_uid=ids.series_uid(),
        series_number=ids.series_number or SR_SERIES_NUMBER,
        sop_instance_uid=ids.instance_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        series_description=f"{algorithm_name} findings",
    )
    out = Path(out)
    with atomic_path(out) as tmp:
        sr.save_as(tmp, enforce_file_format=True)
    logger.info("wrote DICOM SR %s: %d finding(s)", out, len(parsed))
    return out


def _report(
    findings: list[Finding], algorithm_name: str, algorithm_version: str
) -> hd.sr.ContainerContentItem:
    root = hd.sr.ContainerContentItem(name=CONCEPTS["report"])
    group = hd.sr.ContainerContentItem(name=CONCEPTS["findings"], relationship_type=CONTAINS)
    group.ContentSequence = hd.sr.ContentSequence([_finding(f) for f in findings])
    root.ContentSequence = hd.sr.ContentSequence(
        [
            _text("algorithm_name", algorithm_name),
            _text("algorithm_version", algorithm_version),
            group,
        ]
    )
    return root


def _finding(finding: Finding) -> hd.sr.ContainerContentItem:
    item = hd.sr.ContainerContentItem(name=CONCEPTS["finding_group"], relationship_type=CONTAINS)
    item.ContentSequence = hd.sr.ContentSequence(
        [
            _text("task", finding.task),
            _text("group", finding.group),
            _number("probability", finding.probability),
            _number("threshold", finding.threshold),
            hd.sr.CodeContentItem(
                name=CONCEPTS["result"], value=finding.result_code, relationship_type=CONTAINS
            ),
        ]
    )
    return item


def _text(concept: str, value: str) -> hd.sr.TextContentItem:
    return hd.sr.TextContentItem(name=CONCEPTS[concept], value=value, relationship_type=CONTAINS)


def _number(concept: str, value: float) -> hd.sr.NumContentItem:
    return hd.sr.NumContentItem(
        name=CONCEPTS[concept], value=value, unit=NO_UNITS, relationship_type=CONTAINS
    )
