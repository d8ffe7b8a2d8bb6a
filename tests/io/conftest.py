"""Fixtures of the io tests: the real DICOM series with the UIDs a reference needs."""

from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid


@pytest.fixture(scope="session")
def referenced_series(real_ct: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared 20-slice series with Study/Series UIDs filled in (its anonymiser blanked them).

    SOP Instance UIDs stay blank in the data sets, as in the original files: only the file meta
    holds them, which the DICOM writers must use.
    """
    folder = tmp_path_factory.mktemp("referenced_series")
    study_uid, series_uid = generate_uid(), generate_uid()
    for path in sorted((real_ct / "dicom_series").glob("*.dcm")):
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.save_as(folder / path.name)
    return folder
