"""Reorient an array + affine to the canonical (z, y, x) = (S, P, L) grid of :class:`Volume`."""

from __future__ import annotations

import numpy as np
from nibabel import orientations as ornt

from hyperct.io.volume import CANONICAL_AXES

_CANONICAL_ORNT = ornt.axcodes2ornt(CANONICAL_AXES)


def to_canonical(
    array: np.ndarray, affine: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Flip/transpose ``array`` so its axes run (S, P, L); return it, its affine, the original axcodes.

    ``affine`` maps array indices to RAS+ mm. Oblique scans are put on the closest canonical
    axes; the returned affine keeps the exact geometry.
    """
    current = ornt.io_orientation(affine)
    original = tuple(str(c) for c in ornt.ornt2axcodes(current))
    transform = ornt.ornt_transform(current, _CANONICAL_ORNT)
    out = np.ascontiguousarray(ornt.apply_orientation(array, transform))
    new_affine = affine @ ornt.inv_ornt_aff(transform, array.shape)
    return out, new_affine, original


def from_canonical(
    array: np.ndarray, affine: np.ndarray, axcodes: str | tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`to_canonical`: put a canonical ``array`` back on the axes ``axcodes``
    (a file's original orientation, e.g. ``"LPS"``); return it and its index->RAS affine.
    Axes after the first three (e.g. channels last) are kept as they are."""
    transform = ornt.ornt_transform(_CANONICAL_ORNT, ornt.axcodes2ornt(tuple(axcodes)))
    out = np.ascontiguousarray(ornt.apply_orientation(array, transform))
    return out, np.asarray(affine, dtype=np.float64) @ ornt.inv_ornt_aff(
        transform, array.shape[:3]
    )


def canonical_grid(
    affine: np.ndarray, shape: tuple[int, ...]
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """The affine and shape :func:`to_canonical` would give an array of ``shape``, without the data.

    Lets a header alone be compared with a CT's grid (mask files too large to read twice).
    """
    transform = ornt.ornt_transform(ornt.io_orientation(affine), _CANONICAL_ORNT)
    order = transform[:, 0].astype(int)
    canonical_shape = [0, 0, 0]
    for source_axis, target_axis in enumerate(order):
        canonical_shape[target_axis] = int(shape[source_axis])
    new_affine = np.asarray(affine, dtype=np.float64) @ ornt.inv_ornt_aff(transform, shape[:3])
    return new_affine, tuple(canonical_shape)  # type: ignore[return-value]


def spacing_from_affine(affine: np.ndarray) -> tuple[float, float, float]:
    """Voxel size in mm along each array axis: the length of each affine column."""
    norms = np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(axis=0))
    return (float(norms[0]), float(norms[1]), float(norms[2]))


def with_spacing(affine: np.ndarray, spacing_zyx: tuple[float, float, float]) -> np.ndarray:
    """``affine`` with its voxel sizes replaced by ``spacing_zyx`` (mm along canonical z, y, x).

    Each array axis keeps its direction and takes the size of the canonical axis it becomes.
    """
    canonical_axis = {2: 0, 1: 1, 0: 2}  # world axis (R, A, S) -> canonical (z, y, x) index
    out = np.array(affine, dtype=np.float64)
    for axis, (world, _) in enumerate(ornt.io_orientation(affine)):
        column = out[:3, axis]
        out[:3, axis] = column / np.linalg.norm(column) * spacing_zyx[canonical_axis[int(world)]]
    return out


def lps_to_ras(affine: np.ndarray) -> np.ndarray:
    """Turn an index->LPS (DICOM) affine into an index->RAS (NIfTI) affine."""
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine
