"""Read NIfTI files into raw arrays with their index->RAS affine, scaling applied exactly once."""

from __future__ import annotations

import logging
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np

from hyperct.io.errors import CTReadError
from hyperct.io.orientation import canonical_grid

logger = logging.getLogger(__name__)


def load_nifti(path: Path, hint: str = "") -> tuple[np.ndarray, np.ndarray, dict]:
    """Return (data, affine, meta) of a 3-D NIfTI file.

    The header's scl_slope/scl_inter are applied once. Integer data with an identity (or
    whole-number) scaling stays integer; anything else becomes float32. ``hint`` ends the
    message refusing an image that is not 3-D.
    """
    img = _open(path)
    if len(img.shape) == 4 and img.shape[3] == 1:
        img = img.slicer[..., 0]
    if len(img.shape) != 3:
        raise CTReadError(f"{path}: expected a 3-D image, got shape {img.shape}{hint}")
    try:
        raw = np.asarray(img.dataobj.get_unscaled())
    except (EOFError, OSError, ValueError, zlib.error) as exc:
        raise CTReadError(f"{path}: truncated or corrupt NIfTI data ({exc})") from exc
    slope, inter = _scaling(img)
    data = _apply_scaling(raw, slope, inter)
    meta = {
        "format": "nifti",
        "stored_dtype": str(raw.dtype),
        "scl_slope": slope,
        "scl_inter": inter,
    }
    unknown = _unknown_spacing(path, img)
    if unknown:
        meta["spacing_unknown"] = unknown
    return data, np.asarray(img.affine, dtype=np.float64), meta


def load_nifti_channels(
    path: Path, n_channels: int, ct_shape: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Return (stack ``(n_channels, X, Y, Z)``, affine, meta) of a mask of one channel per finding.

    A 4-D file holds the channels on its first or its last axis: the one whose removal leaves
    a grid of the CT's canonical shape ``ct_shape``; a 3-D file is one channel. The affine is
    that of the spatial axes (ReXGroundingCT stores the CT's affine with channels first).
    """
    img = _open(path)
    shape = tuple(int(n) for n in img.shape)
    if len(shape) == 3:
        if n_channels != 1:
            raise CTReadError(
                f"{path}: a 3-D finding mask holds one finding, the findings table lists "
                f"{n_channels}"
            )
        axis = None
    elif len(shape) == 4:
        fits = [
            a
            for a in (0, 3)
            if shape[a] == n_channels
            and canonical_grid(img.affine, tuple(n for i, n in enumerate(shape) if i != a))[1]
            == tuple(ct_shape)
        ]
        if not fits:
            raise CTReadError(
                f"{path}: finding mask of shape {shape} does not fit its CT of shape "
                f"{tuple(ct_shape)} (canonical z, y, x) with {n_channels} finding channel(s) "
                "on the first or the last axis"
            )
        axis = fits[0]
    else:
        raise CTReadError(f"{path}: expected a 3-D or 4-D finding mask, got shape {shape}")
    try:
        data = np.asarray(img.dataobj)
    except (EOFError, OSError, ValueError, zlib.error) as exc:
        raise CTReadError(f"{path}: truncated or corrupt NIfTI data ({exc})") from exc
    stack = data[np.newaxis] if axis is None else np.moveaxis(data, axis, 0)
    meta = {"format": "nifti", "stored_dtype": str(data.dtype), "channels": n_channels}
    return stack, np.asarray(img.affine, dtype=np.float64), meta


def _unknown_spacing(path: Path, img: nib.spatialimages.SpatialImage) -> str | None:
    """Why the voxel size is unknown, or None: without an sform it comes from the raw pixdim."""
    if int(img.header["sform_code"]) > 0:
        return None
    with nib.openers.ImageOpener(str(path)) as fh:
        raw = type(img.header).from_fileobj(fh, check=False)
    pixdim = tuple(float(v) for v in raw["pixdim"][1:4])
    if all(np.isfinite(v) and v != 0 for v in pixdim):
        return None
    return f"NIfTI pixdim[1:4] is {pixdim} and there is no sform"


def _open(path: Path) -> nib.spatialimages.SpatialImage:
    """Open a NIfTI file; .gz files are decompressed in one go with ISA-L when it is installed
    (about twice as fast as zlib, and decompression dominates reading a CT)."""
    if path.name.lower().endswith(".gz"):
        raw = _gunzip(path)
        if raw is not None:
            for cls in (nib.Nifti1Image, nib.Nifti2Image):
                try:
                    return cls.from_bytes(raw)
                except Exception:  # wrong header kind: try the next, then report below
                    continue
            raise CTReadError(f"{path}: not a readable NIfTI file (no valid NIfTI-1/2 header)")
    try:
        return nib.load(str(path))
    except Exception as exc:  # nibabel raises many types for a bad header
        raise CTReadError(f"{path}: not a readable NIfTI file ({exc})") from exc


def _gunzip(path: Path) -> bytes | None:
    try:
        from isal import igzip
    except ImportError:
        return None
    data = path.read_bytes()
    if not data.startswith(b"\x1f\x8b"):
        raise CTReadError(f"{path}: not a readable NIfTI file (named .gz but not gzip-compressed)")
    try:
        return igzip.decompress(data)
    except EOFError as exc:
        raise CTReadError(f"{path}: truncated or corrupt NIfTI data ({exc})") from exc
    except (OSError, ValueError) as exc:
        raise CTReadError(f"{path}: not a readable NIfTI file ({exc})") from exc


def _scaling(img: nib.spatialimages.SpatialImage) -> tuple[float, float]:
    slope = getattr(img.dataobj, "slope", 1.0)
    inter = getattr(img.dataobj, "inter", 0.0)
    slope = 1.0 if slope is None or not np.isfinite(slope) or slope == 0 else float(slope)
    inter = 0.0 if inter is None or not np.isfinite(inter) else float(inter)
    return slope, inter


def _apply_scaling(raw: np.ndarray, slope: float, inter: float) -> np.ndarray:
    if raw.dtype.kind in "iu" and slope == 1.0 and inter == 0.0:
        return raw
    whole = float(slope).is_integer() and float(inter).is_integer()
    if raw.dtype.kind in "iu" and whole:
        return raw.astype(np.int64) * int(slope) + int(inter)
    return raw.astype(np.float32) * np.float32(slope) + np.float32(inter)
