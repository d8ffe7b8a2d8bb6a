"""The shared real DICOM series made referenceable for the DICOM-output tests."""

from pathlib import Path

import pydicom
from pydicom.uid import generate_uid


def write_referenced_series(real_ct: Path, folder: Path, sop_uids: bool = False) -> tuple[str, str]:
    """Copy ``real_ct/dicom_series`` into ``folder`` with new Study and Series Instance UIDs (its
    anonymiser blanked them) and return them. The data sets' SOP Instance UIDs stay blank, as in
    the original files (only the file meta holds them), unless ``sop_uids`` fills them too."""
    folder.mkdir(parents=True, exist_ok=True)
    study_uid, series_uid = generate_uid(), generate_uid()
    for path in sorted((real_ct / "dicom_series").glob("*.dcm")):
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        if sop_uids:
            ds.SOPInstanceUID = generate_uid()
        ds.save_as(folder / path.name)
    return study_uid, series_uid
