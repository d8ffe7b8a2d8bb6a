"""read_ct / read_mask on the real files: orientation, HU range, spacing."""

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from hyperct import read_ct
from hyperct.io.read import read_mask

# TotalSegmentator v2 label ids used below.
SPLEEN, KIDNEY_R, KIDNEY_L, LIVER, STOMACH = 1, 2, 3, 5, 6
LUNG_LOWER_L, LUNG_LOWER_R = 11, 14
VERTEBRAE = (30, 31, 32, 33)  # L2, L1, T12, T11: inferior -> superior


def _centroid(mask: np.ndarray, label: int) -> np.ndarray:
    return np.argwhere(mask == label).mean(axis=0)


def test_nifti_ras_int32_hu_spacing_and_canonical_affine(real_ct: Path) -> None:
    vol = read_ct(real_ct / "ts_example_ct.nii.gz")
    assert vol.shape == (112, 101, 122)
    assert vol.spacing == (3.0, 3.0, 3.0)
    assert vol.array.dtype == np.int16  # int32 on disk, whole HU that fit int16
    assert vol.array.min() >= -1300 and vol.array.max() <= 4000
    assert vol.meta["original_axcodes"] == "RAS"
    # axis 0 -> superior (+z RAS), axis 1 -> posterior (-y RAS), axis 2 -> left (-x RAS)
    directions = np.sign(vol.affine[:3, :3])
    assert directions.tolist() == [[0, 0, -1], [0, -1, 0], [1, 0, 0]]


def test_nifti_lps_file_is_put_on_the_same_canonical_axes(real_ct: Path) -> None:
    vol = read_ct(real_ct / "ts_chest_crop.nii.gz")
    assert vol.meta["original_axcodes"] == "LPS"
    assert vol.spacing == (1.5, 1.5, 1.5)
    assert np.sign(vol.affine[:3, :3]).tolist() == [[0, 0, -1], [0, -1, 0], [1, 0, 0]]
    lungs = vol.array < -500
    assert 0.2 < lungs.mean() < 0.7  # a chest crop: much of it is lung or outside air
    spine = np.argwhere(vol.array > 300).mean(axis=0)
    assert spine[1] > vol.shape[1] / 2  # bone mass (spine, ribs) sits posterior


def test_ras_and_lps_copies_of_one_scan_read_identically(real_ct: Path, tmp_path: Path) -> None:
    img = nib.load(real_ct / "ts_example_ct_sm.nii.gz")
    data = np.asarray(img.dataobj)
    flipped = data[::-1, ::-1, :]  # same voxels stored L->R, P->A
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    flip[0, 3], flip[1, 3] = data.shape[0] - 1, data.shape[1] - 1
    lps_img = nib.Nifti1Image(flipped, img.affine @ flip)
    nib.save(lps_img, tmp_path / "lps.nii.gz")
    assert nib.aff2axcodes(lps_img.affine) == ("L", "P", "S")
    a, b = read_ct(real_ct / "ts_example_ct_sm.nii.gz"), read_ct(tmp_path / "lps.nii.gz")
    np.testing.assert_array_equal(a.array, b.array)
    np.testing.assert_allclose(a.affine, b.affine, atol=1e-4)


def test_anatomy_lies_where_it_should(real_ct: Path) -> None:
    ct = read_ct(real_ct / "ts_example_ct_sm.nii.gz")
    seg = read_mask(real_ct / "ts_example_ct_sm_totalseg.nii.gz", like=ct)
    assert seg.array.dtype == np.uint8 and seg.shape == ct.shape
    s = seg.array
    # patient's left at higher x index: spleen and left kidney left of liver and right kidney
    assert _centroid(s, SPLEEN)[2] > ct.shape[2] / 2 > _centroid(s, LIVER)[2]
    assert _centroid(s, KIDNEY_L)[2] > _centroid(s, KIDNEY_R)[2]
    # superior at higher z index: lung bases above kidneys, vertebrae ordered L2 < L1 < T12 < T11
    assert _centroid(s, LUNG_LOWER_R)[0] > _centroid(s, KIDNEY_R)[0]
    zs = [_centroid(s, v)[0] for v in VERTEBRAE]
    assert zs == sorted(zs)
    # posterior at higher y index: spine behind the stomach
    assert _centroid(s, VERTEBRAE[0])[1] > _centroid(s, STOMACH)[1]
    # HU: lungs air-filled, liver soft tissue
    assert ct.array[s == LUNG_LOWER_L].mean() < -600
    assert 0 < ct.array[s == LIVER].mean() < 150


def test_dicom_series_sorted_by_position_with_hu(real_ct: Path) -> None:
    vol = read_ct(real_ct / "dicom_series")
    assert vol.shape == (20, 512, 512)
    assert vol.spacing == pytest.approx((2.0, 0.9765625, 0.9765625))
    assert vol.array.dtype == np.int16
    assert vol.array.min() == -1024  # stored 0 with intercept -1024, applied once
    assert 1000 < vol.array.max() < 3000
    # z of slice k increases with k (superior), first slice is the lowest position -804.5 mm
    world_z = [(vol.affine @ [k, 0, 0, 1])[2] for k in range(20)]
    assert world_z[0] == pytest.approx(-804.5) and np.all(np.diff(world_z) == pytest.approx(2.0))
    assert np.argwhere(vol.array > 300).mean(axis=0)[1] > 256  # bone (spine, table) posterior


def test_dicom_minimal_header_without_modality(real_ct: Path) -> None:
    vol = read_ct(real_ct / "dicom_slices")
    assert vol.shape == (2, 512, 512)
    assert vol.spacing == pytest.approx((1.0, 0.625, 0.625))
    assert vol.array.min() == -2048 and vol.array.max() == 1502  # slope 1, intercept 0
    lung_like = (vol.array > -950) & (vol.array < -500)
    left, right = lung_like[:, :, 256:].sum(), lung_like[:, :, :256].sum()
    assert left > 1000 and right > 1000  # two lungs, one each side


def test_dicom_zip_reads_like_folder(real_ct: Path, tmp_path: Path) -> None:
    import zipfile

    archive = tmp_path / "series.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted((real_ct / "dicom_series").iterdir()):
            zf.write(f, f"nested/{f.name}")
    a, b = read_ct(real_ct / "dicom_series"), read_ct(archive)
    np.testing.assert_array_equal(a.array, b.array)
    np.testing.assert_allclose(a.affine, b.affine)
