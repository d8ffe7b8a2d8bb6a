"""Finding masks as packed category bits: the channel catalogue, both formats, read errors."""

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from hyperct.findings_categories import CATEGORIES, MASK_CHANNELS, TASK_CATEGORY, channel_of
from hyperct.io.errors import CTReadError
from hyperct.io.finding_masks import (
    N_CHANNELS,
    bits_from_channels,
    bits_from_task_bitmask,
    unpack_bits,
)
from hyperct.io.read import read_ct, read_finding_mask
from hyperct.tasks import task_by_name

AFFINE = np.diag([-0.75, -0.75, 1.5, 1.0])  # L, P, S: canonical (z, y, x) = file (Z, Y, X)
SHAPE = (8, 7, 6)


def _bit(task: str) -> np.uint32:
    return np.uint32(1 << task_by_name(task).id)


def test_catalogue_is_the_14_categories_and_maps_only_lung_tasks() -> None:
    assert N_CHANNELS == len(MASK_CHANNELS) == 14
    assert MASK_CHANNELS[channel_of("2d")] == "2d Nodules / masses"
    assert set(TASK_CATEGORY.values()) <= {c.code for c in CATEGORIES}
    assert "Cardiomegaly" not in TASK_CATEGORY and "Lung nodule" in TASK_CATEGORY


def test_task_bitmask_is_filed_under_categories() -> None:
    bitmask = np.zeros((2, 2, 2), np.uint32)
    bitmask[0, 0, 0] = _bit("Emphysema") | _bit("Cardiomegaly")
    bitmask[1, 1, 1] = _bit("Atelectasis")
    bitmask[1, 0, 0] = _bit("Consolidation")
    bitmask[0, 1, 0] = _bit("Cardiomegaly")  # outside the lung ontology: no channel
    stack = unpack_bits(bits_from_task_bitmask(bitmask, "m"))
    assert stack.shape == (14, 2, 2, 2) and stack.dtype == np.uint8
    assert stack[channel_of("1c")].sum() == 1 and stack[channel_of("1c"), 0, 0, 0] == 1
    both = stack[channel_of("2b")]  # atelectasis and consolidation share a category
    assert both[1, 1, 1] == 1 and both[1, 0, 0] == 1 and both.sum() == 2
    assert stack[:, 0, 1, 0].sum() == 0 and stack.sum() == 3


def test_task_bitmask_with_a_bit_of_no_task_is_refused() -> None:
    with pytest.raises(ValueError, match="m.nii: a task bitmask holds values"):
        bits_from_task_bitmask(np.full((2, 2, 2), 1 << 30, np.uint32), "m.nii")


def test_channels_merge_by_category_and_unpack_back() -> None:
    rng = np.random.default_rng(0)
    stack = (rng.random((3, 4, 5, 6)) > 0.7).astype(np.uint8)
    out = unpack_bits(bits_from_channels(stack, ["2d", "1c", "2d"]))
    np.testing.assert_array_equal(out[channel_of("2d")], stack[0] | stack[2])
    np.testing.assert_array_equal(out[channel_of("1c")], stack[1])
    assert out.sum() == (stack[0] | stack[2]).sum() + stack[1].sum()


def _ct(tmp_path: Path, shape=SHAPE) -> Path:
    ct = np.full(shape, -1000, np.int16)
    nib.save(nib.Nifti1Image(ct, AFFINE), tmp_path / "ct.nii.gz")
    return tmp_path / "ct.nii.gz"


def _channels(n: int, shape=SHAPE) -> np.ndarray:
    mask = np.zeros((n, *shape), np.uint8)
    for k in range(n):
        mask[k, k, 1 : k + 2, 0] = 1
    return mask


@pytest.mark.parametrize("axis", ["first", "last"])
def test_multichannel_mask_read_on_the_ct_grid(tmp_path: Path, axis: str) -> None:
    ct = read_ct(_ct(tmp_path))
    mask = _channels(2)
    data = mask if axis == "first" else np.moveaxis(mask, 0, 3)
    nib.save(nib.Nifti1Image(data, AFFINE), tmp_path / "m.nii.gz")
    bits = read_finding_mask(tmp_path / "m.nii.gz", ct, ["2e", "1b"])
    assert bits.shape == ct.shape and np.allclose(bits.affine, ct.affine)
    stack = unpack_bits(bits.array)
    canonical = np.transpose(mask, (0, 3, 2, 1))  # file (X, Y, Z) = (L, P, S) -> (z, y, x)
    np.testing.assert_array_equal(stack[channel_of("2e")], canonical[0])
    np.testing.assert_array_equal(stack[channel_of("1b")], canonical[1])


def test_one_finding_mask_may_be_3d(tmp_path: Path) -> None:
    ct = read_ct(_ct(tmp_path))
    nib.save(nib.Nifti1Image(_channels(1)[0], AFFINE), tmp_path / "m.nii.gz")
    stack = unpack_bits(read_finding_mask(tmp_path / "m.nii.gz", ct, ["2g"]).array)
    assert stack[channel_of("2g")].sum() == 1 and stack.sum() == 1


def test_mask_of_another_shape_names_both_shapes(tmp_path: Path) -> None:
    ct = read_ct(_ct(tmp_path))
    nib.save(nib.Nifti1Image(_channels(2, (8, 7, 5)), AFFINE), tmp_path / "m.nii.gz")
    with pytest.raises(CTReadError, match=r"shape \(2, 8, 7, 5\).*CT of shape \(6, 7, 8\)"):
        read_finding_mask(tmp_path / "m.nii.gz", ct, ["2e", "1b"])
    nib.save(nib.Nifti1Image(np.zeros((8, 7, 5), np.uint32), AFFINE), tmp_path / "b.nii.gz")
    with pytest.raises(CTReadError, match=r"shape \(5, 7, 8\) vs \(6, 7, 8\)"):
        read_finding_mask(tmp_path / "b.nii.gz", ct)


def test_multichannel_mask_without_categories_asks_for_the_findings_table(tmp_path: Path) -> None:
    ct = read_ct(_ct(tmp_path))
    nib.save(nib.Nifti1Image(_channels(2), AFFINE), tmp_path / "m.nii.gz")
    with pytest.raises(CTReadError, match="m.nii.gz: expected a 3-D image.*findings table"):
        read_finding_mask(tmp_path / "m.nii.gz", ct)


def test_phantom_bitmask_read_from_nifti(tmp_path: Path) -> None:
    ct = read_ct(_ct(tmp_path))
    bitmask = np.zeros(SHAPE, np.uint32)
    bitmask[3, 2, 1] = _bit("Lung nodule")
    nib.save(nib.Nifti1Image(bitmask, AFFINE), tmp_path / "f.nii.gz")
    stack = unpack_bits(read_finding_mask(tmp_path / "f.nii.gz", ct).array)
    assert stack[channel_of("2d"), 1, 2, 3] == 1 and stack.sum() == 1
