"""write_nifti / write_dicom_series give back the same array, spacing and affine through read_ct."""

from pathlib import Path

import numpy as np
import pydicom
import pytest

from hyperct import read_ct
from hyperct.io.volume import Volume
from hyperct.io.write import write_dicom_series, write_nifti


@pytest.fixture
def small_volume(real_ct: Path) -> Volume:
    vol = read_ct(real_ct / "ts_chest_crop.nii.gz")
    return Volume(
        vol.array[40:52, ::2, ::2].copy(), (1.5, 3.0, 3.0), _scaled(vol.affine), source="crop"
    )


def _scaled(affine: np.ndarray) -> np.ndarray:
    out = affine.copy()
    out[:3, 1:3] *= 2
    return out


def test_nifti_roundtrip(small_volume: Volume, tmp_path: Path) -> None:
    out = write_nifti(small_volume, tmp_path / "v.nii.gz")
    back = read_ct(out)
    np.testing.assert_array_equal(back.array, small_volume.array)
    np.testing.assert_allclose(back.affine, small_volume.affine, atol=1e-4)
    assert back.spacing == small_volume.spacing
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_dicom_roundtrip_and_tags(small_volume: Volume, tmp_path: Path) -> None:
    folder = write_dicom_series(
        small_volume,
        tmp_path / "series",
        patient_id="P001",
        study_date="20240131",
        series_uid="1.2.3.4",
    )
    files = sorted(folder.iterdir())
    assert len(files) == small_volume.shape[0]
    back = read_ct(folder)
    np.testing.assert_array_equal(back.array, small_volume.array)
    np.testing.assert_allclose(back.affine, small_volume.affine, atol=1e-4)
    assert back.spacing == pytest.approx(small_volume.spacing)
    ds = pydicom.dcmread(files[0])
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2" and ds.Modality == "CT"
    assert (
        ds.PatientID == "P001" and ds.StudyDate == "20240131" and ds.SeriesInstanceUID == "1.2.3.4"
    )
    assert ds.pixel_array.dtype == np.int16 and float(ds.RescaleIntercept) == -1024
    assert [float(v) for v in ds.PixelSpacing] == [3.0, 3.0] and float(ds.SliceThickness) == 1.5


def test_dicom_order_comes_from_position_not_file_name(
    small_volume: Volume, tmp_path: Path
) -> None:
    folder = write_dicom_series(small_volume, tmp_path / "series")
    files = sorted(folder.iterdir())
    for i, f in enumerate(reversed(files)):  # reverse the names: slice 0 now sorts last
        f.rename(folder / f"tmp_{i:04d}.dcm")
    back = read_ct(folder)
    np.testing.assert_array_equal(back.array, small_volume.array)


def test_dicom_refuses_non_empty_folder(small_volume: Volume, tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="non-empty"):
        write_dicom_series(small_volume, tmp_path / "x")


def test_channels_are_stored_last_each_as_its_own_volume(small_volume: Volume, tmp_path: Path) -> None:
    import nibabel as nib

    from hyperct.io.write import write_nifti_channels

    stack = np.stack([small_volume.array > 0, small_volume.array < -500]).astype(np.uint8)
    four = nib.load(write_nifti_channels(stack, small_volume.affine, tmp_path / "m.nii.gz", "LPS"))
    for k, channel in enumerate(stack):
        one = nib.load(write_nifti(Volume(channel, small_volume.spacing, small_volume.affine),
                                   tmp_path / f"c{k}.nii.gz", axcodes="LPS"))
        np.testing.assert_array_equal(np.asarray(four.dataobj)[..., k], np.asarray(one.dataobj))
        np.testing.assert_allclose(four.affine, one.affine)
    with pytest.raises(ValueError, match=r"\(C, z, y, x\)"):
        write_nifti_channels(stack[0], small_volume.affine, tmp_path / "bad.nii.gz")
