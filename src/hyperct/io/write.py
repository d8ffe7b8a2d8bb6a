"""Write a :class:`Volume` as NIfTI or as a DICOM CT series that `read_ct` reads back exactly."""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from datetime import date
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from hyperct.io.atomic import atomic_path
from hyperct.io.orientation import from_canonical, lps_to_ras
from hyperct.io.volume import Volume

logger = logging.getLogger(__name__)

#: Stored value = HU - RESCALE_INTERCEPT, so the reader's rescale is exercised for real.
RESCALE_INTERCEPT = -1024


def write_nifti(volume: Volume, path: str | Path, axcodes: str | None = None) -> Path:
    """Write ``volume`` as NIfTI (.nii or .nii.gz) with its affine as qform and sform, atomically.

    ``axcodes`` (e.g. a source file's ``meta["original_axcodes"]``) stores the array on those
    axes instead of the canonical ones, so the file matches that source voxel for voxel.
    """
    return _save_nifti(volume.array, volume.affine, path, axcodes)


def write_nifti_channels(
    channels: np.ndarray, affine: np.ndarray, path: str | Path, axcodes: str | None = None
) -> Path:
    """Write a ``(C, z, y, x)`` stack on one canonical grid as one 4-D NIfTI, channels last
    (the layout of ReXGroundingCT's finding masks), otherwise as :func:`write_nifti`."""
    if channels.ndim != 4:
        raise ValueError(f"{path}: a channel stack is (C, z, y, x), got shape {channels.shape}")
    return _save_nifti(np.moveaxis(channels, 0, -1), affine, path, axcodes)


def _save_nifti(
    array: np.ndarray, affine: np.ndarray, path: str | Path, axcodes: str | None
) -> Path:
    path = Path(path)
    if not path.name.endswith((".nii", ".nii.gz")):
        raise ValueError(f"{path}: a NIfTI file name ends in .nii or .nii.gz")
    if array.dtype.kind not in "iub":
        array = array.astype(np.float32)
    if axcodes is not None:
        array, affine = from_canonical(array, affine, axcodes)
    img = nib.Nifti1Image(array, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm")
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))
    return path


def write_dicom_series(
    volume: Volume,
    folder: str | Path,
    patient_id: str = "ANONYMOUS",
    study_date: date | str = "20000101",
    series_uid: str | None = None,
    study_uid: str | None = None,
    series_description: str = "hyperct",
) -> Path:
    """Write ``volume`` as one CT Image Storage file per axial slice into a new ``folder``.

    Pixels are int16 with RescaleSlope 1 / RescaleIntercept -1024 (HU rounded to 1 HU);
    ImagePositionPatient, ImageOrientationPatient, PixelSpacing and SliceThickness follow the
    affine, so ``read_ct(folder)`` gives back the same array, spacing and affine. The folder is
    filled under a temporary name and renamed when complete.
    """
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(f"{folder}: refusing to write a DICOM series into a non-empty folder")
    stored = _stored_pixels(volume)
    study_date = study_date.strftime("%Y%m%d") if isinstance(study_date, date) else str(study_date)
    common = _common_dataset(
        volume,
        patient_id,
        study_date,
        series_uid or generate_uid(),
        study_uid or generate_uid(),
        series_description,
    )
    tmp = folder.with_name(f".{folder.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir(parents=True)
    try:
        for k in range(stored.shape[0]):
            _slice_dataset(common, volume, stored[k], k).save_as(
                tmp / f"slice_{k:04d}.dcm", enforce_file_format=True
            )
        if folder.exists():
            folder.rmdir()
        os.replace(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return folder


def _stored_pixels(volume: Volume) -> np.ndarray:
    hu = np.rint(volume.array) if volume.array.dtype.kind == "f" else volume.array
    stored = hu.astype(np.int64) - RESCALE_INTERCEPT
    info = np.iinfo(np.int16)
    if stored.min() < info.min or stored.max() > info.max:
        raise ValueError(
            f"{volume.name}: HU range {hu.min()}..{hu.max()} does not fit int16 with intercept {RESCALE_INTERCEPT}"
        )
    return stored.astype(np.int16)


def _lps_axes(volume: Volume) -> tuple[np.ndarray, np.ndarray]:
    """Index->LPS affine and the unit row/column direction cosines (x axis, y axis)."""
    lps = lps_to_ras(volume.affine)  # the flip is its own inverse
    row_dir = lps[:3, 2] / volume.spacing[2]
    col_dir = lps[:3, 1] / volume.spacing[1]
    return lps, np.concatenate([row_dir, col_dir])


def _common_dataset(
    volume: Volume,
    patient_id: str,
    study_date: str,
    series_uid: str,
    study_uid: str,
    description: str,
) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.Modality = "CT"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.PatientID, ds.PatientName = patient_id, patient_id
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = study_date
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.FrameOfReferenceUID = generate_uid()
    ds.SeriesNumber, ds.SeriesDescription = 1, description
    ds.Manufacturer = "hyperct"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = volume.shape[1], volume.shape[2]
    ds.PixelSpacing = [f"{volume.spacing[1]:.6g}", f"{volume.spacing[2]:.6g}"]
    ds.SliceThickness = f"{volume.spacing[0]:.6g}"
    ds.SpacingBetweenSlices = f"{volume.spacing[0]:.6g}"
    ds.ImageOrientationPatient = [f"{v:.6f}" for v in _lps_axes(volume)[1]]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = "1", str(RESCALE_INTERCEPT), "HU"
    ds.WindowCenter, ds.WindowWidth = "-600", "1500"
    return ds


def _slice_dataset(
    common: pydicom.Dataset, volume: Volume, pixels: np.ndarray, k: int
) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    ds.update(common)
    ds.SOPInstanceUID = generate_uid()
    ds.InstanceNumber = k + 1
    lps, _ = _lps_axes(volume)
    position = lps @ np.array([k, 0.0, 0.0, 1.0])
    ds.ImagePositionPatient = [f"{v:.6f}" for v in position[:3]]
    ds.SliceLocation = f"{position[2]:.6f}"
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds
