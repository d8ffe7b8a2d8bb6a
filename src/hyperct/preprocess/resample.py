"""Resampling of HU grids (trilinear) and label maps (nearest neighbour), padding and cropping."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def resize_hu(array: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Trilinear resize of a (z, y, x) HU array to ``shape``, rounded to int16 (1 HU precision)."""
    x = torch.from_numpy(np.ascontiguousarray(array)).to(torch.float32)[None, None]
    out = F.interpolate(x, size=tuple(shape), mode="trilinear", align_corners=False)[0, 0]
    info = np.iinfo(np.int16)
    return out.round_().clamp_(info.min, info.max).to(torch.int16).numpy()


def resize_labels(array: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an integer label map (voxel centres aligned as in ``resize_hu``)."""
    if array.dtype.kind not in "iub":
        raise ValueError(f"a label map must be integer, got dtype {array.dtype}")
    if tuple(array.shape) == tuple(shape):
        return np.ascontiguousarray(array)
    index = [_nearest_index(n_in, n_out) for n_in, n_out in zip(array.shape, shape)]
    return np.ascontiguousarray(array[np.ix_(*index)])


def _nearest_index(n_in: int, n_out: int) -> np.ndarray:
    """Source index of each output voxel centre, as torch's ``nearest-exact``."""
    centres = (np.arange(n_out) + 0.5) * (n_in / n_out)
    return np.minimum(np.floor(centres).astype(np.int64), n_in - 1)


def shape_for_spacing(
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    target: tuple[float, float, float],
) -> tuple[int, int, int]:
    """Grid size that covers the same extent at the ``target`` spacing (at least 1 voxel per axis)."""
    return tuple(max(1, int(round(n * s / t))) for n, s, t in zip(shape, spacing, target))  # type: ignore[return-value]


def pad_or_crop(array: np.ndarray, shape: tuple[int, int, int], fill: int | float) -> np.ndarray:
    """Centre ``array`` in a grid of ``shape``: pad with ``fill`` where smaller, crop the centre where larger."""
    out = np.full(shape, fill, dtype=array.dtype)
    src, dst = overlap(array.shape, shape, centre_offsets(array.shape, shape))
    out[dst] = array[src]
    return out


def centre_offsets(shape: tuple[int, ...], target: tuple[int, ...]) -> tuple[int, ...]:
    """Per axis, where index 0 of ``shape`` lands when centred in ``target`` by
    :func:`pad_or_crop` (target index = source index + offset; negative where cropped)."""
    return tuple(
        (n_out - n_in) // 2 if n_in < n_out else -((n_in - n_out) // 2)
        for n_in, n_out in zip(shape, target)
    )


def overlap(
    shape: tuple[int, ...], target: tuple[int, ...], offsets: tuple[int, ...]
) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Source and target slices of the voxels shared when target index = source index + offset."""
    src, dst = [], []
    for n_in, n_out, off in zip(shape, target, offsets):
        start, stop = max(0, -off), min(n_in, n_out - off)
        src.append(slice(start, max(start, stop)))
        dst.append(slice(start + off, max(start, stop) + off))
    return tuple(src), tuple(dst)
