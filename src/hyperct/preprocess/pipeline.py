"""From a Volume to the cached int16 grid, and from the cached grid to model input.

``preprocess_volume`` / ``preprocess_mask`` produce what the cache stores (resampled HU as int16,
lossless to 1 HU; label maps as integers on the same grid). ``to_model_input`` applies the
window, normalisation, packing and cropping when a sample is served.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from hyperct.io.finding_masks import BITS_DTYPE, unpack_bits
from hyperct.io.plausibility import check_plausible_ct
from hyperct.io.volume import Volume
from hyperct.preprocess.packing import triplet_middle_labels
from hyperct.preprocess.resample import pad_or_crop, resize_hu, resize_labels, shape_for_spacing
from hyperct.preprocess.spec import PreprocessSpec, SliceStackSpec, SpacingCropSpec


def preprocess_volume(
    volume: Volume, spec: PreprocessSpec, allow_implausible: bool = False
) -> np.ndarray:
    """The cached grid of ``volume`` under ``spec``: int16 HU of shape ``spec.grid_shape``.

    A volume whose values are not plausible CT HU raises
    :class:`~hyperct.io.plausibility.ImplausibleCTError` unless ``allow_implausible``.
    """
    if not allow_implausible:
        check_plausible_ct(volume)
    target = resampled_shape(volume, spec)
    grid = resize_hu(volume.array, target)
    if isinstance(spec, SpacingCropSpec):
        grid = pad_or_crop(grid, spec.grid_shape, fill=spec.pad_hu)
    return grid


def preprocess_mask(mask_volume: Volume, spec: PreprocessSpec) -> np.ndarray:
    """A label map on the same grid as :func:`preprocess_volume` (nearest neighbour, background 0)."""
    return _compact_labels(_labels_on_grid(mask_volume, spec))


def preprocess_findings(bits_volume: Volume, spec: PreprocessSpec) -> np.ndarray:
    """Packed finding bits (:func:`hyperct.io.read.read_finding_mask`) on the grid of
    :func:`preprocess_volume`: nearest neighbour, so each channel is resampled on its own."""
    return _labels_on_grid(bits_volume, spec).astype(BITS_DTYPE)


def _labels_on_grid(mask_volume: Volume, spec: PreprocessSpec) -> np.ndarray:
    labels = mask_volume.array
    if labels.dtype.kind not in "iub":
        raise ValueError(
            f"{mask_volume.name}: a label map must be integer, got dtype {labels.dtype}"
        )
    grid = resize_labels(labels, resampled_shape(mask_volume, spec))
    if isinstance(spec, SpacingCropSpec):
        grid = pad_or_crop(grid, spec.grid_shape, fill=0)
    return grid


def to_model_input(
    grid: np.ndarray,
    spec: PreprocessSpec,
    train: bool = False,
    rng: np.random.Generator | None = None,
    mask: np.ndarray | None = None,
    findings: np.ndarray | None = None,
) -> dict[str, torch.Tensor]:
    """Model input from a cached grid: ``image`` (+ ``image_mask`` for 2.5D, + ``anatomy`` if
    ``mask``, + ``findings_mask`` if ``findings``, the packed finding bits).

    2.5D: ``image`` (n_images, 3, H, W) float32, ``image_mask`` (n_images,) bool, ``anatomy`` the
    middle slice of each triplet (n_images, H, W) int64, ``findings_mask`` (C, slices, H, W)
    uint8, slice k of it being slice k of the image (channel k % 3 of image k // 3). 3D:
    ``image`` (1, D, H, W) float32 with a random crop when ``train`` (drawn from ``rng``) and
    the centre crop otherwise, ``anatomy`` (D, H, W) int64 and ``findings_mask`` (C, D, H, W)
    uint8 cropped identically.
    """
    if tuple(grid.shape) != tuple(spec.grid_shape):
        raise ValueError(
            f"cached grid has shape {tuple(grid.shape)}, spec expects {spec.grid_shape}"
        )
    for name, extra in (("mask", mask), ("findings mask", findings)):
        if extra is not None and tuple(extra.shape) != tuple(grid.shape):
            raise ValueError(
                f"{name} grid shape {tuple(extra.shape)} differs from image grid "
                f"{tuple(grid.shape)}"
            )
    if isinstance(spec, SliceStackSpec):
        out = _slice_stack_input(grid, spec, mask)
        window: tuple[slice, ...] = (slice(None),) * 3
    else:
        window = crop_window(spec, train, rng)
        out = _spacing_crop_input(grid, spec, window, mask)
    if findings is not None:
        out["findings_mask"] = torch.from_numpy(unpack_bits(findings[window]))
    return out


def resampled_shape(volume: Volume, spec: PreprocessSpec) -> tuple[int, int, int]:
    """Shape of ``volume`` resampled under ``spec``, before the 3D spec's pad/crop."""
    if isinstance(spec, SliceStackSpec):
        return spec.grid_shape
    return shape_for_spacing(volume.shape, volume.spacing, spec.spacing_zyx)


def _compact_labels(grid: np.ndarray) -> np.ndarray:
    if grid.size and grid.min() >= 0 and grid.max() <= 255:
        return grid.astype(np.uint8)
    return grid.astype(np.int16)


def _slice_stack_input(
    grid: np.ndarray, spec: SliceStackSpec, mask: np.ndarray | None
) -> dict[str, torch.Tensor]:
    """Window + normalisation through one lookup per voxel, written straight into the triplets."""
    luts = _window_luts(spec)
    n_slices, height, width = grid.shape
    index = _as_int16(grid).view(np.uint16) ^ np.uint16(0x8000)  # HU -32768.. -> 0..
    images = np.zeros((spec.n_images, 3, height, width), dtype=np.float32)
    for c in range(3):  # image j, channel c = slice 3j + c; padded channels stay 0
        channel = index[c::3]
        np.take(luts[c], channel, out=images[: len(channel), c])
    image_mask = torch.ones(spec.n_images, dtype=torch.bool)
    if n_slices % 3:
        image_mask[-1] = False
    out = {"image": torch.from_numpy(images), "image_mask": image_mask}
    if mask is not None:
        out["anatomy"] = triplet_middle_labels(torch.from_numpy(mask.astype(np.int64)))
    return out


@lru_cache(maxsize=8)
def _window_luts(spec: SliceStackSpec) -> np.ndarray:
    """(3, 65536) float32: normalised value of every int16 HU for each triplet channel."""
    low, high = spec.hu_window
    hu = np.arange(-32768, 32768, dtype=np.float64)
    unit = np.clip((hu - low) / (high - low), 0.0, 1.0)
    mean, std = np.asarray(spec.mean)[:, None], np.asarray(spec.std)[:, None]
    return ((unit[None, :] - mean) / std).astype(np.float32)


def _as_int16(grid: np.ndarray) -> np.ndarray:
    if grid.dtype == np.int16:
        return np.asarray(grid)
    info = np.iinfo(np.int16)
    return np.clip(np.rint(grid), info.min, info.max).astype(np.int16)


def _spacing_crop_input(
    grid: np.ndarray,
    spec: SpacingCropSpec,
    window: tuple[slice, ...],
    mask: np.ndarray | None,
) -> dict[str, torch.Tensor]:
    low, high = spec.hu_clip
    x = torch.from_numpy(np.asarray(grid[window], dtype=np.float32))
    x = x.clamp_(low, high).sub_(low).mul_(2.0 / (high - low)).sub_(1.0)
    out = {"image": x[None].contiguous()}
    if mask is not None:
        out["anatomy"] = torch.from_numpy(np.ascontiguousarray(mask[window]).astype(np.int64))
    return out


def crop_window(
    spec: SpacingCropSpec, train: bool, rng: np.random.Generator | None
) -> tuple[slice, ...]:
    """The crop of the cached grid served to the model (centre crop unless ``train``)."""
    window = []
    for full, crop in zip(spec.pad_shape_zyx, spec.crop_shape_zyx):
        if train:
            if rng is None:
                raise ValueError(
                    "a training crop needs an rng (numpy Generator) for reproducibility"
                )
            start = int(rng.integers(0, full - crop + 1))
        else:
            start = (full - crop) // 2
        window.append(slice(start, start + crop))
    return tuple(window)
