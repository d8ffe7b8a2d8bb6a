"""The DICOM series a derived object (SEG, SR) refers to, and the identity of that object.

A PACS files a derived object with its study and links it to the images it was made from, so
those need their UIDs. Anonymisers sometimes blank SOP Class / SOP Instance UID in the data set
while the file meta keeps them (the standard requires the two to be equal): those are restored
from the file meta; absent type-2 patient/study attributes (present but possibly empty by the
standard) are added empty. A series without a Study, Series or Frame of Reference UID is refused, since
a reference to a made-up UID would point at nothing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import generate_uid

from hyperct.io.dicom import SeriesHeaders, read_series_headers
from hyperct.io.errors import CTReadError, DicomOutputError
from hyperct.io.orientation import canonical_grid

#: UIDs a source series must carry for a derived object to reference it.
REQUIRED_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID")
#: Data set UIDs that may be restored from the file meta, with the meta tag that holds them.
META_UIDS = {
    "SOPInstanceUID": "MediaStorageSOPInstanceUID",
    "SOPClassUID": "MediaStorageSOPClassUID",
}
#: Type-2 patient/study attributes a derived object copies from its source.
TYPE2_ATTRIBUTES = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
)


@dataclass(frozen=True)
class DicomSource:
    """A referenceable DICOM series: headers in position order and its canonical grid."""

    series: SeriesHeaders

    @property
    def headers(self) -> tuple[pydicom.Dataset, ...]:
        return self.series.headers

    @property
    def first(self) -> pydicom.Dataset:
        return self.series.headers[0]

    @property
    def raw_shape(self) -> tuple[int, int, int]:
        """(slices, rows, columns) in position order."""
        return (len(self.headers), int(self.first.Rows), int(self.first.Columns))

    @property
    def canonical_shape(self) -> tuple[int, int, int]:
        """The (z, y, x) shape ``read_ct`` gives this series."""
        return canonical_grid(self.series.affine, self.raw_shape)[1]

    @property
    def canonical_affine(self) -> np.ndarray:
        """The index->RAS affine ``read_ct`` gives this series."""
        return canonical_grid(self.series.affine, self.raw_shape)[0]


@dataclass(frozen=True)
class DerivedIds:
    """UIDs and numbers of a derived object; fresh UIDs unless given (tests pin them)."""

    series_instance_uid: str | None = None
    sop_instance_uid: str | None = None
    series_number: int | None = None

    def series_uid(self) -> str:
        return self.series_instance_uid or generate_uid()

    def instance_uid(self) -> str:
        return self.sop_instance_uid or generate_uid()


def open_dicom_source(path: str | Path, series_uid: str | None = None) -> DicomSource:
    """Read the headers of the DICOM series at ``path`` (folder or .zip) for referencing.

    Raises :class:`DicomOutputError` when ``path`` is not a DICOM series (a NIfTI input has no
    images a PACS could link to: write a derived series with ``write_dicom_series`` first and
    pass that) or when the series lacks the UIDs a reference needs.
    """
    path = Path(path)
    if not (path.is_dir() or path.suffix.lower() == ".zip"):
        raise DicomOutputError(
            f"{path}: a DICOM output references a DICOM series (a folder or .zip of one); for a "
            "NIfTI input write a DICOM series of it with hyperct.io.write.write_dicom_series and "
            "reference that"
        )
    try:
        series = read_series_headers(path, series_uid)
    except CTReadError as exc:
        raise DicomOutputError(str(exc)) from exc
    headers = tuple(_completed(path, name, ds) for name, ds in zip(series.names, series.headers))
    _check_required(path, series.names, headers)
    return DicomSource(
        SeriesHeaders(path=path, names=series.names, headers=headers, affine=series.affine)
    )


def as_source(source: str | Path | DicomSource) -> DicomSource:
    """Open ``source`` unless it already is a :class:`DicomSource`."""
    return source if isinstance(source, DicomSource) else open_dicom_source(source)


def _completed(path: Path, name: str, ds: pydicom.Dataset) -> pydicom.Dataset:
    missing = [tag for tag in META_UIDS if not str(ds.get(tag, "") or "")]
    absent = [tag for tag in TYPE2_ATTRIBUTES if tag not in ds]
    if not missing and not absent:
        return ds
    ds = copy.deepcopy(ds)
    for tag in missing:
        value = str(ds.file_meta.get(META_UIDS[tag], "") or "")
        if not value:
            raise DicomOutputError(
                f"{Path(name).name} in {path}: no {tag}, neither in the data set nor in the file "
                f"meta ({META_UIDS[tag]}); cannot reference this slice"
            )
        setattr(ds, tag, value)
    for tag in absent:
        setattr(ds, tag, "")
    return ds


def _check_required(
    path: Path, names: tuple[str, ...], headers: tuple[pydicom.Dataset, ...]
) -> None:
    for tag in REQUIRED_UIDS:
        values = {str(ds.get(tag, "") or "") for ds in headers}
        if "" in values:
            raise DicomOutputError(
                f"{path}: the series has no {tag} (e.g. {Path(names[0]).name}; anonymised "
                "without new UIDs?); a DICOM output must reference the study and series a PACS "
                "holds, so none is written"
            )
        if len(values) > 1:
            raise DicomOutputError(f"{path}: the slices disagree on {tag}: {sorted(values)}")
