"""`read_ct`, `read_mask`, `read_finding_mask`: CT and mask files -> a :class:`Volume` (canonical).

>>> from hyperct import read_ct
>>> vol = read_ct("scan.nii.gz")            # doctest: +SKIP
>>> vol.array.shape, vol.spacing            # (z, y, x) = (S, P, L), mm  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hyperct.io.errors import CTReadError
from hyperct.io.finding_masks import bits_from_channels, bits_from_task_bitmask
from hyperct.io.orientation import spacing_from_affine, to_canonical, with_spacing
from hyperct.io.volume import Volume

logger = logging.getLogger(__name__)

#: Voxel sizes outside this range (mm) are refused as absurd.
SPACING_RANGE_MM = (0.05, 20.0)
NIFTI_SUFFIXES = (".nii", ".nii.gz")
NUMPY_SUFFIXES = (".npz", ".npy")
_NEEDS_TABLE = (
    "; a finding mask with one channel per finding is read with the findings table naming "
    "each channel's category (<manifest>_findings.csv from `hyperct adapt rexgroundingct`, "
    "or --findings-table)"
)


def read_ct(
    path: str | Path,
    series_uid: str | None = None,
    spacing: tuple[float, float, float] | None = None,
) -> Volume:
    """Read a CT (NIfTI file, DICOM folder or .zip of one series, .npz) into HU on the canonical grid.

    Rescale slope/intercept are applied exactly once; DICOM slices are ordered by their position
    along the slice normal, never by file name. ``series_uid`` picks one series out of a folder
    that holds several (otherwise such a folder is refused with the list of series).
    ``spacing`` (mm along canonical z, y, x) is used only for a file that gives no voxel size
    (NIfTI pixdim 0, a numpy file without a ``spacing`` entry); without it such a NIfTI is refused.
    """
    path = Path(path)
    data, affine, meta = _load(path, series_uid, spacing)
    if "spacing_unknown" in meta:
        if spacing is None:
            raise CTReadError(
                f"{path}: voxel spacing unknown ({meta['spacing_unknown']}); give it explicitly, "
                "e.g. --spacing 1.5,0.8,0.8 (z,y,x in mm)"
            )
        affine = with_spacing(affine, spacing)
        meta["spacing_source"] = "given"
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        raise CTReadError(
            f"{path}: {int((~np.isfinite(data)).sum())} non-finite voxel values (NaN/inf)"
        )
    return _to_volume(path, _compact_hu(data), affine, meta)


def parse_spacing(text: str) -> tuple[float, float, float]:
    """Parse a user's ``"z,y,x"`` voxel spacing in mm (as ``--spacing`` takes it)."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    low, high = SPACING_RANGE_MM
    if len(values) != 3 or not all(low <= v <= high for v in values):
        raise ValueError(
            f"spacing {text!r}: expected three numbers z,y,x in mm between {low} and {high}, "
            "e.g. 1.5,0.8,0.8"
        )
    return values  # type: ignore[return-value]


def scan_stem(path: Path) -> str:
    """A CT's name without its format suffix (``.nii.gz``, ``.nii``, ``.zip``): the name of
    what is written for it (saliency maps, masks)."""
    name = path.name
    for suffix in (".nii.gz", ".nii", ".zip"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def read_mask(path: str | Path, like: Volume | None = None) -> Volume:
    """Read a label map (NIfTI) onto the canonical grid, keeping integer labels.

    With ``like``, the mask must lie on the same grid as that CT (same shape and affine after
    reorientation); a mask on another grid is refused rather than silently misaligned.
    """
    from hyperct.io.nifti import load_nifti

    path = Path(path)
    _require_exists(path)
    if not _is_nifti(path):
        raise CTReadError(f"{path}: masks are read from NIfTI files (.nii, .nii.gz)")
    data, affine, meta = load_nifti(path)
    data = _as_labels(path, data)
    vol = _to_volume(path, data, affine, meta)
    if like is not None:
        _check_same_grid(vol, like)
    return vol


def read_finding_mask(
    path: str | Path, like: Volume, categories: Sequence[str] | None = None
) -> Volume:
    """Read a finding mask on the grid of the CT ``like`` as packed category bits (uint16).

    ``categories`` (the category code of each channel, from the findings table) reads a mask of
    one channel per finding: ``(n, X, Y, Z)`` as ReXGroundingCT writes it, ``(X, Y, Z, n)``, or
    3-D for one finding; the channel axis is the one that leaves the CT's grid. Without it the
    file is the phantom's 3-D task bitmask. See :mod:`hyperct.io.finding_masks`. A mask on
    another grid than its CT is refused, naming both shapes.
    """
    from hyperct.io.nifti import load_nifti, load_nifti_channels

    path = Path(path)
    _require_exists(path)
    if not _is_nifti(path):
        raise CTReadError(f"{path}: finding masks are read from NIfTI files (.nii, .nii.gz)")
    if categories is None:
        data, affine, meta = load_nifti(path, hint=_NEEDS_TABLE)
        try:
            bits = bits_from_task_bitmask(_as_labels(path, data), str(path))
        except ValueError as exc:
            raise CTReadError(str(exc)) from exc
    else:
        stack, affine, meta = load_nifti_channels(path, len(categories), like.shape)
        bits = bits_from_channels(_as_labels(path, stack), categories)
    vol = _to_volume(path, bits, affine, meta)
    _check_same_grid(vol, like)
    return vol


def _load(
    path: Path, series_uid: str | None, spacing: tuple[float, float, float] | None = None
) -> tuple[np.ndarray, np.ndarray, dict]:
    _require_exists(path)
    if _is_nifti(path):
        from hyperct.io.nifti import load_nifti

        if series_uid is not None:
            raise CTReadError(f"{path}: series_uid applies to DICOM only, not NIfTI")
        return load_nifti(path)
    if path.is_dir() or path.suffix.lower() == ".zip":
        from hyperct.io.dicom import load_dicom_series

        return load_dicom_series(path, series_uid)
    if path.is_file() and path.suffix.lower() in NUMPY_SUFFIXES:
        from hyperct.io.npz import load_npz

        return load_npz(path, spacing)
    if path.suffix.lower() == ".dcm":
        raise CTReadError(
            f"{path}: a single DICOM file is one slice; pass the folder of the series"
        )
    raise CTReadError(
        f"{path}: unsupported file type; expected .nii, .nii.gz, .npz, a DICOM folder or a .zip of one"
    )


def _require_exists(path: Path) -> None:
    if not path.exists():
        raise CTReadError(f"{path}: no such file or folder")


def _is_nifti(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(NIFTI_SUFFIXES)


def _to_volume(path: Path, data: np.ndarray, affine: np.ndarray, meta: dict) -> Volume:
    if data.ndim != 3 or min(data.shape) < 2:
        raise CTReadError(
            f"{path}: expected a 3-D volume with at least 2 slices per axis, got {data.shape}"
        )
    if not np.isfinite(affine).all() or abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        raise CTReadError(
            f"{path}: degenerate or non-finite orientation matrix {affine[:3, :3].tolist()}"
        )
    array, canon_affine, original = to_canonical(data, affine)
    spacing = spacing_from_affine(canon_affine)
    low, high = SPACING_RANGE_MM
    if not all(low <= s <= high for s in spacing):
        raise CTReadError(
            f"{path}: absurd voxel spacing {tuple(round(s, 4) for s in spacing)} mm (z, y, x)"
        )
    meta = {**meta, "original_axcodes": "".join(original)}
    logger.debug(
        "read %s: shape %s spacing %s from %s", path, array.shape, spacing, meta["original_axcodes"]
    )
    return Volume(array=array, spacing=spacing, affine=canon_affine, source=str(path), meta=meta)


def _compact_hu(data: np.ndarray) -> np.ndarray:
    """Whole-number HU that fit int16 are kept as int16 (half the memory of int32/float32)."""
    info = np.iinfo(np.int16)
    if (
        data.dtype.kind in "iu"
        and data.dtype != np.int16
        and data.min() >= info.min
        and data.max() <= info.max
    ):
        return data.astype(np.int16)
    return data


def _as_labels(path: Path, data: np.ndarray) -> np.ndarray:
    if data.dtype.kind in "iu":
        return data
    if not np.isfinite(data).all() or not np.array_equal(data, np.round(data)):
        raise CTReadError(
            f"{path}: a label map must hold whole numbers, found fractional or non-finite values"
        )
    return data.astype(np.int32)


def _check_same_grid(mask: Volume, like: Volume) -> None:
    if mask.shape != like.shape or not np.allclose(mask.affine, like.affine, atol=1e-2):
        raise CTReadError(
            f"{mask.source}: mask grid differs from the CT {like.source}: shape {mask.shape} vs "
            f"{like.shape}, spacing {mask.spacing} vs {like.spacing}"
        )
