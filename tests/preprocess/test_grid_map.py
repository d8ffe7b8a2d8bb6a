"""Model grid -> CT grid: the grid record, mask_to_ct_grid and write_mask_nifti on real CTs."""

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from hyperct import read_ct
from hyperct.findings_categories import channel_of
from hyperct.io.finding_masks import bits_from_channels, unpack_bits
from hyperct.io.volume import Volume
from hyperct.preprocess.grid_map import GridRecord, grid_record, mask_to_ct_grid, write_mask_nifti
from hyperct.preprocess.pipeline import preprocess_findings, preprocess_mask
from hyperct.preprocess.resample import centre_offsets, pad_or_crop
from hyperct.preprocess.spec import NAMED_SPECS, SliceStackSpec, SpacingCropSpec

SPECS = {"slice_stack": NAMED_SPECS["paper"], "spacing_crop": NAMED_SPECS["anatomy3d"]}


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


@pytest.mark.parametrize("kind", list(SPECS))
@pytest.mark.parametrize("name", ["ts_chest_crop.nii.gz", "ts_example_ct_sm.nii.gz"])
def test_threshold_mask_round_trip_and_file_aligned_with_the_ct(
    real_ct: Path, tmp_path: Path, kind: str, name: str
) -> None:
    ct = read_ct(real_ct / name)
    spec = SPECS[kind]
    truth = (ct.array > -300).astype(np.uint8)  # body soft tissue and bone
    record = grid_record(ct, spec)
    on_grid = preprocess_mask(Volume(truth, ct.spacing, ct.affine), spec)
    back = mask_to_ct_grid(on_grid, record)
    assert back.shape == ct.shape and np.allclose(back.affine, ct.affine)
    assert _dice(back.array, truth) > 0.9
    written = write_mask_nifti(on_grid, record, tmp_path / "mask.nii.gz")
    source, mask_img = nib.load(real_ct / name), nib.load(written)
    assert mask_img.shape == source.shape
    np.testing.assert_allclose(mask_img.affine, source.affine, atol=1e-6)
    file_truth = np.asarray(source.dataobj) > -300  # voxel for voxel with the file as stored
    assert _dice(np.asarray(mask_img.dataobj).astype(bool), file_truth) > 0.9


def test_model_crop_is_placed_back_at_its_centre(real_ct: Path) -> None:
    ct = read_ct(real_ct / "ts_example_ct_sm.nii.gz")
    spec = SpacingCropSpec(
        spacing_zyx=(3.0, 3.0, 3.0), pad_shape_zyx=(40, 96, 96), crop_shape_zyx=(20, 64, 64)
    )
    record = grid_record(ct, spec)
    assert record.crop_start == (10, 16, 16) and record.resample_factors == (1.0, 1.0, 1.0)
    crop = np.ones(spec.crop_shape_zyx, np.uint8)
    back = mask_to_ct_grid(crop, record).array
    # CT (30, 101, 122) sits in the cached grid at offsets (5, -2, -13); the crop starts at
    # cached (10, 16, 16), so it covers CT z 5..24, y 18..81, x 29..92 and nothing else
    assert record.offsets == (5, -2, -13)
    assert back[5:25, 18:82, 29:93].all() and back.sum() == 20 * 64 * 64
    with pytest.raises(ValueError, match=r"neither the cached grid \(40, 96, 96\)"):
        mask_to_ct_grid(np.ones((3, 3, 3), np.uint8), record)


def test_record_survives_json(real_ct: Path) -> None:
    record = grid_record(read_ct(real_ct / "ts_chest_crop.nii.gz"), SPECS["spacing_crop"])
    assert GridRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    assert record.axcodes == "LPS"
    with pytest.raises(ValueError, match="not a grid record"):
        GridRecord.from_dict({"ct_shape": [1, 2, 3]})


@pytest.mark.parametrize("n_in,n_out", [(5, 9), (9, 5), (8, 5), (6, 6)])
def test_centre_offsets_agree_with_pad_or_crop(n_in: int, n_out: int) -> None:
    array = np.arange(1, n_in + 1)[:, None, None]
    out = pad_or_crop(array, (n_out, 1, 1), fill=0)[:, 0, 0]
    (offset, _, _) = centre_offsets((n_in, 1, 1), (n_out, 1, 1))
    for j, v in enumerate(out):
        assert v == (j - offset + 1 if 0 <= j - offset < n_in else 0)


@pytest.mark.parametrize("kind", list(SPECS))
def test_packed_findings_resample_each_channel_on_its_own(real_ct: Path, kind: str) -> None:
    ct = read_ct(real_ct / "ts_example_ct_sm.nii.gz")
    stack = np.stack([ct.array > -300, ct.array < -900, ct.array > 300]).astype(np.uint8)
    bits = Volume(bits_from_channels(stack, ["2e", "1c", "2d"]), ct.spacing, ct.affine)
    cached = unpack_bits(preprocess_findings(bits, SPECS[kind]))
    assert cached.shape == (14, *SPECS[kind].grid_shape)
    for channel, code in zip(stack, ["2e", "1c", "2d"]):
        expected = preprocess_mask(Volume(channel, ct.spacing, ct.affine), SPECS[kind])
        np.testing.assert_array_equal(cached[channel_of(code)], expected)


def test_a_2p5d_model_grid_of_whole_triplets_loses_its_padded_slices(real_ct: Path) -> None:
    record = grid_record(read_ct(real_ct / "ts_chest_crop.nii.gz"), SliceStackSpec(slices=20, size=64))
    depth, height, width = record.grid_shape
    padded = np.zeros((21, height, width), np.uint8)  # 7 triplets for 20 slices
    padded[:depth] = 1
    padded[depth:] = 7  # padding: never written back
    back = mask_to_ct_grid(padded, record).array
    assert back.shape == record.ct_shape and set(np.unique(back)) == {1}
