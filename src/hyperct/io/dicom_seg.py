"""Masks on a DICOM CT's canonical grid -> one DICOM Segmentation (SEG) referencing that series.

The masks come in the orientation ``read_ct(source)`` gives (see :mod:`hyperct.io.volume`); they
are put back on the series' own slice/row/column axes, and frame ``k`` is tied to the slice at
the ``k``-th position along the slice normal, so every frame references the source slice at
its ImagePositionPatient whatever the file order. The SEG is BINARY (the type every viewer and
PACS reads): probabilities are thresholded. A segment with no voxel is kept, described and
without frames, so segment numbers stay those of ``segment_labels``.

>>> write_dicom_seg(masks, "ct_folder", "out/seg.dcm", segment_labels=["nodule"],
...                 algorithm_name="hyperct", algorithm_version="0.1")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
from pydicom.sr.codedict import codes

from hyperct.io.atomic import atomic_path
from hyperct.io.dicom_source import DerivedIds, DicomSource, as_source
from hyperct.io.errors import DicomOutputError
from hyperct.io.orientation import from_canonical

logger = logging.getLogger(__name__)

SEG_SERIES_NUMBER = 901
MANUFACTURER = "hyperct"


def write_dicom_seg(
    masks: np.ndarray | Sequence[np.ndarray],
    source_series: str | Path | DicomSource,
    out: str | Path,
    *,
    segment_labels: Sequence[str],
    algorithm_name: str,
    algorithm_version: str,
    threshold: float = 0.5,
    ids: DerivedIds | None = None,
) -> Path:
    """Write ``masks`` (one (z, y, x) array per segment, or a (segments, z, y, x) stack) as SEG.

    Boolean or 0/1 integer masks are used as they are; floating-point ones are probabilities in
    [0, 1], a voxel belonging to the segment when its value is at least ``threshold``. Each mask
    must have the shape ``read_ct(source_series)`` gives. The file is written atomically.
    """
    source = as_source(source_series)
    stack = _binary_stack(masks, segment_labels, source.canonical_shape, threshold)
    frames, _ = from_canonical(
        np.moveaxis(stack, 0, -1), source.canonical_affine, nib.aff2axcodes(source.series.affine)
    )
    ids = ids or DerivedIds()
    seg = hd.seg.Segmentation(
        source_images=list(source.headers),
        pixel_array=frames,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=_descriptions(segment_labels, algorithm_name, algorithm_version),
        series_instance_uid=ids.series_uid(),
        series_number=ids.series_number or SEG_SERIES_NUMBER,
        sop_instance_uid=ids.instance_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=algorithm_name,
        software_versions=algorithm_version,
        device_serial_number="0",
        series_description=f"{algorithm_name} segmentation",
    )
    out = Path(out)
    with atomic_path(out) as tmp:
        seg.save_as(tmp, enforce_file_format=True)
    logger.info(
        "wrote DICOM-SEG %s: %d segment(s), %d frame(s)", out, len(stack), seg.NumberOfFrames
    )
    return out


def write_dicom_seg_from_nifti(
    masks_nifti: str | Path,
    source_series: str | Path | DicomSource,
    out: str | Path,
    *,
    segment_labels: Sequence[str],
    algorithm_name: str,
    algorithm_version: str,
    ids: DerivedIds | None = None,
) -> Path:
    """Write a 4-D (channels last) 0/1 mask NIfTI on the source series' grid (what ``hyperct
    predict`` and the service write for a UniCT run) as SEG, one segment per channel."""
    from hyperct.io.orientation import to_canonical

    image = nib.load(str(masks_nifti))
    data = np.asarray(image.dataobj)
    if data.ndim != 4:
        raise DicomOutputError(f"{masks_nifti}: expected a 4-D mask (channels last), got {data.shape}")
    canonical, _, _ = to_canonical(data, np.asarray(image.affine, dtype=np.float64))
    return write_dicom_seg(
        np.moveaxis(canonical, -1, 0), source_series, out, segment_labels=segment_labels,
        algorithm_name=algorithm_name, algorithm_version=algorithm_version, ids=ids,
    )


def _binary_stack(
    masks: np.ndarray | Sequence[np.ndarray],
    labels: Sequence[str],
    shape: tuple[int, int, int],
    threshold: float,
) -> np.ndarray:
    """Validate the masks and return them as one boolean (segments, z, y, x) array."""
    if isinstance(labels, str):
        raise DicomOutputError(f"segment_labels must be a list of labels, got the text {labels!r}")
    if not 0.0 < threshold <= 1.0:
        raise DicomOutputError(f"threshold must be in (0, 1], got {threshold}")
    arrays = list(masks) if not isinstance(masks, np.ndarray) or masks.ndim == 4 else [masks]
    if len(arrays) != len(labels) or not arrays:
        raise DicomOutputError(
            f"{len(arrays)} mask(s) for {len(labels)} segment label(s); give one label per mask"
        )
    return np.stack(
        [_binary(np.asarray(a), label, shape, threshold) for a, label in zip(arrays, labels)]
    )


def _binary(
    array: np.ndarray, label: str, shape: tuple[int, int, int], threshold: float
) -> np.ndarray:
    if array.shape != shape:
        raise DicomOutputError(
            f"mask {label!r} has shape {array.shape}, the source series' canonical (z, y, x) grid "
            f"is {shape}"
        )
    if array.dtype == np.bool_:
        return array
    if array.dtype.kind in "iu":
        if array.size and (array.min() < 0 or array.max() > 1):
            raise DicomOutputError(
                f"mask {label!r}: integer masks must hold 0/1, found values "
                f"{array.min()}..{array.max()} (split a label map into one mask per label)"
            )
        return array.astype(bool)
    if array.dtype.kind == "f":
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise DicomOutputError(f"mask {label!r}: probabilities must be finite and in [0, 1]")
        return array >= threshold
    raise DicomOutputError(f"mask {label!r}: unsupported dtype {array.dtype}")


def _descriptions(
    labels: Sequence[str], algorithm_name: str, algorithm_version: str
) -> list[hd.seg.SegmentDescription]:
    algorithm = hd.AlgorithmIdentificationSequence(
        name=algorithm_name,
        version=algorithm_version,
        family=codes.cid7162.ArtificialIntelligence,
    )
    return [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=label,
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=codes.SCT.Lesion,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
        )
        for number, label in enumerate(labels, start=1)
    ]
