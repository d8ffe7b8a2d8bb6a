"""Bad input is refused with a message naming the file and what is wrong."""

import gzip
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from hyperct import read_ct
from hyperct.io.errors import CTReadError
from hyperct.io.read import parse_spacing, read_mask
from hyperct.io.volume import Volume
from hyperct.io.write import write_dicom_series


def _series(tmp_path: Path, n: int = 5, name: str = "s", uid: str | None = None) -> Path:
    arr = np.full((n, 8, 8), -1000, dtype=np.int16)
    affine = np.array([[0, 0, -1, 0], [0, -1, 0, 0], [2, 0, 0, 0], [0, 0, 0, 1]], dtype=float)
    return write_dicom_series(Volume(arr, (2.0, 1.0, 1.0), affine), tmp_path / name, series_uid=uid)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CTReadError, match="no such file"):
        read_ct(tmp_path / "nope.nii.gz")


def test_not_a_ct(tmp_path: Path) -> None:
    bad = tmp_path / "notes.nii.gz"
    bad.write_text("hello")
    with pytest.raises(CTReadError, match="notes.nii.gz: not a readable NIfTI"):
        read_ct(bad)
    with pytest.raises(CTReadError, match="unsupported file type"):
        read_ct(tmp_path.joinpath("x.png").write_text("x") and tmp_path / "x.png")


def test_truncated_nifti(real_ct: Path, tmp_path: Path) -> None:
    raw = gzip.decompress((real_ct / "ts_example_ct_sm.nii.gz").read_bytes())
    cut = tmp_path / "cut.nii"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CTReadError, match="cut.nii: truncated"):
        read_ct(cut)


def test_non_finite_and_absurd_spacing(tmp_path: Path) -> None:
    arr = np.zeros((4, 4, 4), np.float32)
    arr[1, 1, 1] = np.nan
    nib.save(nib.Nifti1Image(arr, np.eye(4)), tmp_path / "nan.nii.gz")
    with pytest.raises(CTReadError, match="nan.nii.gz: 1 non-finite"):
        read_ct(tmp_path / "nan.nii.gz")
    nib.save(
        nib.Nifti1Image(np.zeros((4, 4, 4), np.int16), np.diag([100.0, 1, 1, 1])),
        tmp_path / "big.nii",
    )
    with pytest.raises(CTReadError, match="big.nii: absurd voxel spacing"):
        read_ct(tmp_path / "big.nii")


def test_single_slice_and_empty_folder(tmp_path: Path) -> None:
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 1), np.int16), np.eye(4)), tmp_path / "one.nii")
    with pytest.raises(CTReadError, match="at least 2 slices"):
        read_ct(tmp_path / "one.nii")
    folder = _series(tmp_path, n=3)
    for f in sorted(folder.iterdir())[1:]:
        f.unlink()
    with pytest.raises(CTReadError, match="single slice"):
        read_ct(folder)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CTReadError, match="empty folder"):
        read_ct(tmp_path / "empty")


def test_missing_hu_tag_names_file_and_tag(tmp_path: Path) -> None:
    folder = _series(tmp_path)
    victim = sorted(folder.iterdir())[2]
    ds = pydicom.dcmread(victim)
    del ds.RescaleIntercept
    ds.save_as(victim)
    with pytest.raises(
        CTReadError, match=f"{victim.name}: missing DICOM tag\\(s\\) RescaleIntercept"
    ):
        read_ct(folder)


def test_inconsistent_spacing_missing_slice(tmp_path: Path) -> None:
    folder = _series(tmp_path, n=6)
    sorted(folder.iterdir())[3].unlink()
    with pytest.raises(CTReadError, match="inconsistent slice spacing: 4.000 mm"):
        read_ct(folder)


def test_not_ct_modality(tmp_path: Path) -> None:
    folder = _series(tmp_path)
    for f in folder.iterdir():
        ds = pydicom.dcmread(f)
        ds.Modality = "MR"
        ds.save_as(f)
    with pytest.raises(CTReadError, match="not a CT series \\(Modality=MR"):
        read_ct(folder)


def test_truncated_dicom_pixels(tmp_path: Path) -> None:
    folder = _series(tmp_path)
    victim = sorted(folder.iterdir())[1]
    victim.write_bytes(victim.read_bytes()[:-60])
    with pytest.raises(CTReadError, match=victim.name):
        read_ct(folder)


def test_several_series_listed_then_picked(tmp_path: Path) -> None:
    a, b = _series(tmp_path, 4, "a", uid="1.2.3.1"), _series(tmp_path, 5, "b", uid="1.2.3.2")
    mixed = tmp_path / "mixed"
    shutil.copytree(a, mixed / "a")
    shutil.copytree(b, mixed / "b")
    with pytest.raises(
        CTReadError, match=r"holds 2 series.*uid=1.2.3.1.*4 slices.*uid=1.2.3.2.*5 slices"
    ):
        read_ct(mixed)
    assert read_ct(mixed, series_uid="1.2.3.2").shape == (5, 8, 8)
    with pytest.raises(CTReadError, match="no series with uid '9'"):
        read_ct(mixed, series_uid="9")


def test_mask_on_other_grid_refused(real_ct: Path) -> None:
    ct = read_ct(real_ct / "ts_chest_crop.nii.gz")
    with pytest.raises(CTReadError, match="mask grid differs"):
        read_mask(real_ct / "ts_example_ct_sm_totalseg.nii.gz", like=ct)


def test_dicom_without_preamble_still_read(tmp_path: Path) -> None:
    folder = _series(tmp_path)
    for f in folder.iterdir():  # strip the 128-byte preamble and the 'DICM' marker
        f.write_bytes(f.read_bytes()[132:])
    assert read_ct(folder).shape == (5, 8, 8)
    (folder / "README.txt").write_text("not an image")
    assert read_ct(folder).shape == (5, 8, 8)


def test_truncated_nifti_gz(real_ct: Path, tmp_path: Path) -> None:
    data = (real_ct / "ts_example_ct_sm.nii.gz").read_bytes()
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CTReadError, match="cut.nii.gz: truncated"):
        read_ct(cut)


def test_localizer_in_series_folder_is_skipped(tmp_path: Path) -> None:
    folder = _series(tmp_path)
    scout = pydicom.dcmread(sorted(folder.iterdir())[0])
    scout.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    scout.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]  # a coronal scout
    scout.SOPInstanceUID = "1.2.3.999"
    scout.save_as(folder / "scout.dcm")
    assert read_ct(folder).shape == (5, 8, 8)


def _zero_pixdim_nifti(path: Path, shape: tuple[int, int, int]) -> Path:
    """A NIfTI without sform/qform whose pixdim is 0 (nibabel would silently read 1 mm)."""
    img = nib.Nifti1Image(np.full(shape, -1000, dtype=np.int16), None)
    img.header.set_qform(None, code=0)
    img.header.set_sform(None, code=0)
    raw = bytearray(img.to_bytes())
    raw[80:92] = np.zeros(3, dtype="<f4").tobytes()  # pixdim[1:4] of the NIfTI-1 header
    path.write_bytes(bytes(raw))
    return path


def test_two_slices_with_pixdim_zero_need_the_spacing(tmp_path: Path) -> None:
    path = _zero_pixdim_nifti(tmp_path / "two.nii", (40, 30, 2))
    with pytest.raises(
        CTReadError, match=r"two.nii: voxel spacing unknown \(NIfTI pixdim.*--spacing"
    ):
        read_ct(path)
    vol = read_ct(path, spacing=(5.0, 0.7, 0.8))
    assert vol.shape == (2, 30, 40) and vol.spacing == pytest.approx((5.0, 0.7, 0.8))
    assert vol.meta["spacing_source"] == "given"


def test_given_spacing_does_not_override_a_header_that_has_one(real_ct: Path) -> None:
    vol = read_ct(real_ct / "ts_example_ct_sm.nii.gz", spacing=(1.0, 1.0, 1.0))
    assert vol.spacing == (3.0, 3.0, 3.0)


@pytest.mark.parametrize("text", ["1,2", "a,b,c", "0,1,1", "1,1,1,1"])
def test_bad_spacing_text_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected three numbers z,y,x in mm"):
        parse_spacing(text)
    assert parse_spacing(" 1.5, 0.8,0.8") == (1.5, 0.8, 0.8)
