"""From a CT's own grid to its cached grid and back: predicted masks written on the CT's grid.

:func:`grid_record` notes, when a scan is prepared, everything the forward mapping did: the
CT's canonical shape and affine (as :func:`hyperct.io.read.read_ct` gives them), the file's own
orientation, the resampled shape (the per-axis resample factors follow) and where the resampled
grid sits in the cached grid (the 3D spec's pad/crop offsets) and in the model's centre crop.
:func:`mask_to_ct_grid` inverts it (nearest neighbour; voxels the crop cut away are 0;
:func:`map_to_ct_grid` the same, trilinear, for continuous maps) and
:func:`write_mask_nifti` writes the result as NIfTI in the file's own orientation, so the mask
has the shape and affine of the input CT file, voxel for voxel.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hyperct.io.orientation import spacing_from_affine
from hyperct.io.volume import CANONICAL_AXES, Volume
from hyperct.io.write import write_nifti, write_nifti_channels
from hyperct.preprocess.pipeline import crop_window, resampled_shape
from hyperct.preprocess.resample import centre_offsets, overlap, resize_labels
from hyperct.preprocess.spec import PreprocessSpec, SpacingCropSpec

Shape = tuple[int, int, int]


@dataclass(frozen=True)
class GridRecord:
    """How one CT's grid maps onto its cached grid (all shapes canonical z, y, x).

    ``offsets``: cached index = resampled index + offset (negative where cropped);
    ``crop_start``: first cached voxel of the model's evaluation input (0 for 2.5D).
    """

    ct_shape: Shape
    affine: tuple[tuple[float, ...], ...]
    axcodes: str
    resampled_shape: Shape
    offsets: Shape
    grid_shape: Shape
    crop_shape: Shape
    crop_start: Shape

    @property
    def resample_factors(self) -> tuple[float, float, float]:
        """Resampled voxels per CT voxel along z, y, x."""
        z, y, x = (r / n for r, n in zip(self.resampled_shape, self.ct_shape))
        return z, y, x

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GridRecord:
        """Rebuild from :meth:`to_dict` (as read back from JSON)."""
        try:
            values = {
                k: (tuple(tuple(row) for row in v) if k == "affine" else tuple(v))
                for k, v in data.items()
                if k != "axcodes"
            }
            return cls(axcodes=str(data["axcodes"]), **values)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a grid record ({exc}): {data}") from exc


def grid_record(volume: Volume, spec: PreprocessSpec) -> GridRecord:
    """The record of how :func:`~hyperct.preprocess.pipeline.preprocess_volume` maps ``volume``."""
    resampled = resampled_shape(volume, spec)
    grid = tuple(spec.grid_shape)
    if isinstance(spec, SpacingCropSpec):
        window = crop_window(spec, train=False, rng=None)
        crop, start = tuple(spec.crop_shape_zyx), tuple(w.start for w in window)
    else:
        crop, start = grid, (0, 0, 0)
    return GridRecord(
        ct_shape=volume.shape,
        affine=tuple(tuple(float(v) for v in row) for row in volume.affine),
        axcodes=str(volume.meta.get("original_axcodes", "".join(CANONICAL_AXES))),
        resampled_shape=resampled,
        offsets=centre_offsets(resampled, grid),  # type: ignore[arg-type]
        grid_shape=grid,  # type: ignore[arg-type]
        crop_shape=crop,  # type: ignore[arg-type]
        crop_start=start,  # type: ignore[arg-type]
    )


def mask_to_ct_grid(mask: np.ndarray, record: GridRecord) -> Volume:
    """A mask (or label map) on the cached grid, the model's evaluation crop or (2.5D) the
    model grid of whole triplets, on the CT's grid.

    Returns a Volume with the shape, spacing and affine of ``read_ct`` of the scan.
    """
    mask = np.asarray(mask)
    if mask.dtype == bool:
        mask = mask.astype(np.uint8)
    return _on_ct_grid(resize_labels(_on_resampled_grid(mask, record), record.ct_shape), record)


def map_to_ct_grid(values: np.ndarray, record: GridRecord) -> Volume:
    """A continuous map (e.g. a saliency map) on the same grids as :func:`mask_to_ct_grid`
    takes, on the CT's grid by trilinear resizing (0 where the crop cut the CT away)."""
    import torch
    import torch.nn.functional as F

    resampled = _on_resampled_grid(np.asarray(values, dtype=np.float32), record)
    x = torch.from_numpy(np.ascontiguousarray(resampled))[None, None]
    out = F.interpolate(x, size=record.ct_shape, mode="trilinear", align_corners=False)[0, 0]
    return _on_ct_grid(out.numpy(), record)


def _on_resampled_grid(array: np.ndarray, record: GridRecord) -> np.ndarray:
    """``array`` (cached grid, model crop or 2.5D model grid) placed on the resampled CT grid."""
    if _padded_triplets(array.shape, record):
        array = array[: record.grid_shape[0]]
    if array.shape == record.crop_shape and array.shape != record.grid_shape:
        full = np.zeros(record.grid_shape, dtype=array.dtype)
        full[tuple(slice(s, s + n) for s, n in zip(record.crop_start, record.crop_shape))] = array
        array = full
    if array.shape != record.grid_shape:
        raise ValueError(
            f"mask of shape {array.shape} is on neither the cached grid {record.grid_shape} nor "
            f"the model crop {record.crop_shape} of this scan"
        )
    resampled = np.zeros(record.resampled_shape, dtype=array.dtype)
    src, dst = overlap(record.resampled_shape, record.grid_shape, record.offsets)
    resampled[src] = array[dst]
    return resampled


def _on_ct_grid(array: np.ndarray, record: GridRecord) -> Volume:
    affine = np.asarray(record.affine, dtype=np.float64)
    return Volume(
        array=array,
        spacing=spacing_from_affine(affine),
        affine=affine,
        meta={"original_axcodes": record.axcodes},
    )


def write_mask_nifti(mask: np.ndarray, record: GridRecord, path: str | Path) -> Path:
    """Write a model-grid mask as NIfTI on its CT's own grid and orientation (atomically)."""
    return write_nifti(mask_to_ct_grid(mask, record), path, axcodes=record.axcodes)


def write_masks_nifti(masks: np.ndarray, record: GridRecord, path: str | Path) -> Path:
    """Write ``(C, ...)`` binary model-grid masks as one 4-D uint8 NIfTI (channels last) on the
    CT's own grid and orientation (:func:`masks_to_ct_grid`)."""
    return write_ct_grid_masks(masks_to_ct_grid(masks, record), record, path)


def masks_to_ct_grid(masks: np.ndarray, record: GridRecord) -> np.ndarray:
    """``(C, ...)`` binary model-grid masks as ``(C, z, y, x)`` uint8 on the CT's grid, each
    channel mapped as by :func:`mask_to_ct_grid`.

    Up to 16 channels at a time are packed as bits of one uint16 grid and mapped once: nearest
    neighbour takes every channel from the same source voxel, so this is exactly the mapping
    of each channel on its own, at a fraction of the cost on a full-size CT.
    """
    masks = np.asarray(masks)
    channels = []
    for start in range(0, len(masks), _PACKED):
        part = masks[start : start + _PACKED]
        bits = np.zeros(part.shape[1:], dtype=np.uint16)
        for k, channel in enumerate(part):
            bits |= (channel > 0).astype(np.uint16) << np.uint16(k)
        on_ct = mask_to_ct_grid(bits, record).array
        channels += [((on_ct >> np.uint16(k)) & 1).astype(np.uint8) for k in range(len(part))]
    return np.stack(channels)


def write_ct_grid_masks(on_ct: np.ndarray, record: GridRecord, path: str | Path) -> Path:
    """Write :func:`masks_to_ct_grid`'s ``(C, z, y, x)`` masks as one 4-D NIfTI in the CT's own
    orientation."""
    return write_nifti_channels(
        on_ct, np.asarray(record.affine, dtype=np.float64), path, axcodes=record.axcodes
    )


#: Mask channels mapped together as the bits of one uint16 grid.
_PACKED = 16


def _padded_triplets(shape: tuple[int, ...], record: GridRecord) -> bool:
    """Whether ``shape`` is a 2.5D model grid: the slice stack padded to whole triplets."""
    depth = record.grid_shape[0]
    return (
        record.crop_shape == record.grid_shape
        and shape[1:] == record.grid_shape[1:]
        and depth < shape[0] < depth + 3
    )
