"""Uploads become files under names the service chooses; every unsafe upload is refused."""

import io
import stat
import zipfile
from pathlib import Path

import pytest

from hyperct.serve.uploads import UploadError, UploadFile, UploadLimits, store_upload


def _zip(members: dict[str, bytes], link: str | None = None) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        if link:
            info = zipfile.ZipInfo(link)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    buffer.seek(0)
    return buffer


def _dicom_bytes(real_ct: Path) -> bytes:
    return next(iter(sorted((real_ct / "dicom_series").glob("*.dcm")))).read_bytes()


def test_nifti_is_stored_under_its_own_name(real_ct, tmp_path):
    data = (real_ct / "ts_example_ct_sm.nii.gz").read_bytes()
    kind, path = store_upload([UploadFile("../../evil.nii.gz", io.BytesIO(data))], tmp_path, UploadLimits())
    assert kind == "nifti" and path == tmp_path / "scan.nii.gz" and path.read_bytes() == data
    assert not (tmp_path.parent.parent / "evil.nii.gz").exists()


def test_dicom_zip_and_dicom_files_are_unpacked_by_index(real_ct, tmp_path):
    dcm = _dicom_bytes(real_ct)
    kind, folder = store_upload([UploadFile("s.zip", _zip({"a/b/x.dcm": dcm, "y.dcm": dcm}))],
                                tmp_path / "z", UploadLimits())
    assert kind == "dicom-zip" and sorted(p.name for p in folder.iterdir()) == ["00000.dcm", "00001.dcm"]
    kind, folder = store_upload([UploadFile("1.dcm", io.BytesIO(dcm)), UploadFile("2.dcm", io.BytesIO(dcm))],
                                tmp_path / "f", UploadLimits())
    assert kind == "dicom-files" and len(list(folder.iterdir())) == 2


@pytest.mark.parametrize("name", ["../../escape.dcm", "/etc/cron.d/x", "C:/x.dcm", "a/../../x.dcm"])
def test_zip_slip_is_refused(name, tmp_path):
    with pytest.raises(UploadError, match="points outside the archive"):
        store_upload([UploadFile("s.zip", _zip({name: b"x" * 10}))], tmp_path / "u", UploadLimits())
    assert not (tmp_path / "escape.dcm").exists()


def test_symlink_member_is_refused(tmp_path):
    with pytest.raises(UploadError, match="symbolic link"):
        store_upload([UploadFile("s.zip", _zip({"a.dcm": b"x"}, link="passwd"))], tmp_path / "u", UploadLimits())


def test_zip_bomb_is_refused_by_ratio_and_by_size(tmp_path):
    bomb = _zip({"zeros.dcm": bytes(20_000_000)})
    with pytest.raises(UploadError, match="compression ratio") as err:
        store_upload([UploadFile("bomb.zip", bomb)], tmp_path / "a", UploadLimits())
    assert err.value.status == 413
    big = _zip({"a.dcm": bytes(5000), "b.dcm": bytes(5000)})
    with pytest.raises(UploadError, match="unpacks to 10000 bytes"):
        store_upload([UploadFile("big.zip", big)], tmp_path / "b",
                     UploadLimits(max_unzipped_bytes=8000, max_zip_ratio=1e9))


def test_limits_on_size_and_count(real_ct, tmp_path):
    data = (real_ct / "ts_example_ct_sm.nii.gz").read_bytes()
    with pytest.raises(UploadError, match="larger than the limit") as err:
        store_upload([UploadFile("scan.nii.gz", io.BytesIO(data))], tmp_path / "a", UploadLimits(max_bytes=1000))
    assert err.value.status == 413
    parts = [UploadFile(f"{i}.dcm", io.BytesIO(b"x")) for i in range(4)]
    with pytest.raises(UploadError, match="4 files in one upload; at most 3"):
        store_upload(parts, tmp_path / "b", UploadLimits(max_files=3))


def test_truncated_and_foreign_files_are_refused(real_ct, tmp_path):
    data = (real_ct / "ts_example_ct_sm.nii.gz").read_bytes()
    with pytest.raises(UploadError, match="not a readable NIfTI"):
        store_upload([UploadFile("cut.nii.gz", io.BytesIO(data[: len(data) // 2]))], tmp_path / "a", UploadLimits())
    with pytest.raises(UploadError, match="neither NIfTI"):
        store_upload([UploadFile("notes.txt", io.BytesIO(b"hello world, not a scan" * 30))], tmp_path / "b",
                     UploadLimits())
    with pytest.raises(UploadError, match="is not a DICOM file"):
        store_upload([UploadFile("a.dcm", io.BytesIO(_dicom_bytes(real_ct))),
                      UploadFile("b.txt", io.BytesIO(b"plain text" * 20))], tmp_path / "c", UploadLimits())
    with pytest.raises(UploadError, match="is empty"):
        store_upload([UploadFile("empty.nii", io.BytesIO(b""))], tmp_path / "d", UploadLimits())
