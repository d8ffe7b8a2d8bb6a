"""preprocess_volume / preprocess_mask / to_model_input on real CT and small synthetic grids."""

from pathlib import Path

import numpy as np
import pytest
import torch

from hyperct import read_ct
from hyperct.io.plausibility import ImplausibleCTError
from hyperct.io.read import read_mask
from hyperct.io.volume import Volume
from hyperct.preprocess import (
    SliceStackSpec,
    SpacingCropSpec,
    preprocess_mask,
    preprocess_volume,
    to_model_input,
)

LIVER, LUNG_LOWER_L = 5, 11
SMALL = SliceStackSpec(slices=9, size=16)


@pytest.fixture(scope="module")
def ct_and_seg(real_ct: Path) -> tuple[Volume, Volume]:
    ct = read_ct(real_ct / "ts_example_ct_sm.nii.gz")
    return ct, read_mask(real_ct / "ts_example_ct_sm_totalseg.nii.gz", like=ct)


def test_paper_grid_from_real_ct_keeps_hu_and_anatomy(ct_and_seg) -> None:
    ct, seg = ct_and_seg
    spec = SliceStackSpec()
    grid, labels = preprocess_volume(ct, spec), preprocess_mask(seg, spec)
    assert grid.shape == labels.shape == (165, 144, 144)
    assert grid.dtype == np.int16 and labels.dtype == np.uint8
    assert -1200 < grid.min() < -900 and 900 < grid.max() < 2000
    assert set(np.unique(labels)) <= set(np.unique(seg.array))
    assert grid[labels == LUNG_LOWER_L].mean() < -600  # masks stay aligned with the image
    assert 0 < grid[labels == LIVER].mean() < 150
    liver_x = np.argwhere(labels == LIVER).mean(axis=0)[2]
    assert liver_x < 72  # still on the patient's right (low x index)


def test_resize_to_same_shape_is_lossless(ct_and_seg) -> None:
    ct, _ = ct_and_seg
    spec = SliceStackSpec(slices=30, size=101)
    crop = Volume(ct.array[:, :, :101].copy(), ct.spacing, ct.affine)
    np.testing.assert_array_equal(preprocess_volume(crop, spec), crop.array)


def test_spacing_crop_grid(ct_and_seg) -> None:
    ct, seg = ct_and_seg
    spec = SpacingCropSpec()
    grid, labels = preprocess_volume(ct, spec), preprocess_mask(seg, spec)
    assert grid.shape == labels.shape == (120, 240, 240)
    # 30 slices of 3 mm stay 30 slices at 3 mm, centred in 120 and padded with air
    z_real = np.flatnonzero((grid != spec.pad_hu).any(axis=(1, 2)))
    assert z_real.min() == 45 and z_real.max() == 74
    assert np.all(grid[:45] == spec.pad_hu) and np.all(labels[:45] == 0)
    assert grid[labels == LUNG_LOWER_L].mean() < -600


def test_slice_stack_values_window_and_normalisation() -> None:
    hu = np.array([-2000, -1000, 0, 1000, 3000, 0, 0, 0, 0], dtype=np.int16)
    grid = np.broadcast_to(hu[:, None, None], (9, 16, 16)).copy()
    out = to_model_input(grid, SMALL)
    image, mask = out["image"], out["image_mask"]
    assert image.shape == (3, 3, 16, 16) and image.dtype == torch.float32 and mask.all()
    mean, std = np.array(SMALL.mean), np.array(SMALL.std)
    expected = (np.array([[0, 0, 0.5], [1, 1, 0.5]]) - mean) / std  # per channel c
    np.testing.assert_allclose(image[:2, :, 0, 0].numpy(), expected, rtol=1e-5)


def test_slice_stack_partial_image_masked() -> None:
    spec = SliceStackSpec(slices=7, size=4)
    out = to_model_input(
        np.zeros((7, 4, 4), np.int16),
        spec,
        mask=np.arange(7)[:, None, None].repeat(4, 1).repeat(4, 2),
    )
    assert out["image_mask"].tolist() == [True, True, False]
    assert torch.all(out["image"][2, 1:] == 0)
    assert out["anatomy"].dtype == torch.int64 and out["anatomy"][:, 0, 0].tolist() == [1, 4, 0]


def test_spacing_crop_eval_centre_and_train_random_crop() -> None:
    spec = SpacingCropSpec(pad_shape_zyx=(8, 10, 12), crop_shape_zyx=(4, 6, 6))
    grid = np.arange(8 * 10 * 12, dtype=np.int16).reshape(8, 10, 12) - 1000
    labels = (grid + 1000).astype(np.int64)  # label == flat index: tells where a crop came from
    ev = to_model_input(grid, spec, train=False, mask=labels)
    assert ev["image"].shape == (1, 4, 6, 6)
    assert ev["anatomy"][0, 0, 0].item() == np.ravel_multi_index((2, 2, 3), (8, 10, 12))
    assert ev["image"].min() >= -1 and ev["image"].max() <= 1
    a = to_model_input(grid, spec, train=True, rng=np.random.default_rng(3), mask=labels)
    b = to_model_input(grid, spec, train=True, rng=np.random.default_rng(3), mask=labels)
    torch.testing.assert_close(a["image"], b["image"])
    # image and anatomy come from the same crop window
    start = np.unravel_index(int(a["anatomy"][0, 0, 0]), (8, 10, 12))
    window = tuple(slice(s, s + c) for s, c in zip(start, spec.crop_shape_zyx))
    expected = (np.clip(grid[window], -1000, 200) + 1000) / 600.0 - 1.0
    np.testing.assert_allclose(a["image"][0].numpy(), expected, atol=1e-6)
    with pytest.raises(ValueError, match="needs an rng"):
        to_model_input(grid, spec, train=True)


def test_wrong_grid_shape_refused() -> None:
    with pytest.raises(
        ValueError, match=r"cached grid has shape \(9, 8, 8\), spec expects \(9, 16, 16\)"
    ):
        to_model_input(np.zeros((9, 8, 8), np.int16), SMALL)


def test_slice_stack_input_equals_window_pack_normalise() -> None:
    from hyperct.preprocess.packing import pack_triplets

    spec = SliceStackSpec(slices=8, size=6)
    grid = np.random.default_rng(0).integers(-3000, 3000, (8, 6, 6)).astype(np.int16)
    unit = ((torch.from_numpy(grid.astype(np.float32)) + 1000) / 2000).clamp(0, 1)
    images, mask = pack_triplets(unit)
    ref = (images - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(
        1, 3, 1, 1
    )
    ref[-1, 2:] = 0
    out = to_model_input(grid, spec)
    torch.testing.assert_close(out["image"], ref, atol=1e-6, rtol=0)
    assert out["image_mask"].tolist() == mask.tolist() == [True, True, False]


def test_implausible_volume_refused_unless_allowed(ct_and_seg) -> None:
    ct, _ = ct_and_seg
    shifted = Volume((ct.array + 1024).astype(np.int16), ct.spacing, ct.affine, source="s.nii")
    with pytest.raises(ImplausibleCTError, match="s.nii: values are not plausible CT"):
        preprocess_volume(shifted, SMALL)
    grid = preprocess_volume(shifted, SMALL, allow_implausible=True)
    assert grid.shape == SMALL.grid_shape and grid.min() >= 0
