"""`segment_manifest` / `hyperct anatomy`: skip, record and error logic without TotalSegmentator."""

import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from hyperct.anatomy.segment import TotalSegmentatorMissingError, mask_file_name, segment_manifest
from hyperct.cli.main import app


def _manifest(tmp_path: Path, anatomy: list) -> Path:
    table = pd.DataFrame(
        {
            "scan_id": ["a", "b", "c"],
            "path": ["a.nii.gz", "b.nii.gz", "c.nii.gz"],
            "anatomy_path": anatomy,
        }
    )
    path = tmp_path / "manifest.csv"
    table.to_csv(path, index=False)
    return path


def _fake_segmenter(calls: list):
    def segment(ct_path: Path, out_path: Path, fast: bool) -> None:
        calls.append((ct_path.name, fast))
        if ct_path.name == "c.nii.gz":
            raise RuntimeError("unreadable scan")
        out_path.write_bytes(b"mask")

    return segment


def test_skips_existing_masks_records_new_ones_and_reports_failures(tmp_path) -> None:
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "a.nii.gz").write_bytes(b"mask")
    manifest = _manifest(tmp_path, ["masks/a.nii.gz", None, None])
    calls: list = []
    report = segment_manifest(manifest, fast=True, segmenter=_fake_segmenter(calls))
    assert report.skipped == ["a"] and report.segmented == ["b"] and list(report.failed) == ["c"]
    assert calls == [("b.nii.gz", True), ("c.nii.gz", True)]
    table = pd.read_csv(manifest)
    assert table["anatomy_path"].tolist()[:2] == [
        "masks/a.nii.gz",
        f"anatomy/{mask_file_name('b')}",
    ]
    assert pd.isna(table["anatomy_path"][2])
    assert not (tmp_path / "anatomy" / mask_file_name("c")).exists()
    assert not any(".tmp-" in p.name for p in tmp_path.rglob("*"))


def test_mask_left_by_interrupted_run_is_recorded_without_segmenting(tmp_path) -> None:
    manifest = _manifest(tmp_path, [None, None, None])
    out = tmp_path / "out"
    out.mkdir()
    for s in "abc":
        (out / mask_file_name(s)).write_bytes(b"mask")
    report = segment_manifest(manifest, out_dir=out, segmenter=_fake_segmenter(calls := []))
    assert calls == [] and report.skipped == ["a", "b", "c"]
    assert pd.read_csv(manifest)["anatomy_path"].tolist() == [
        f"out/{mask_file_name(s)}" for s in "abc"
    ]


def test_missing_totalsegmentator_is_a_clear_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "totalsegmentator", None)
    manifest = _manifest(tmp_path, [None, None, None])
    with pytest.raises(TotalSegmentatorMissingError, match=r"pip install 'hyperct\[anatomy\]'"):
        segment_manifest(manifest)
    result = CliRunner().invoke(app, ["anatomy", str(manifest)])
    assert result.exit_code == 2
    assert "TotalSegmentator is not installed" in result.output


def test_nothing_to_do_needs_no_totalsegmentator(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "totalsegmentator", None)
    for s in "abc":
        (tmp_path / f"{s}_mask.nii.gz").write_bytes(b"mask")
    manifest = _manifest(tmp_path, [f"{s}_mask.nii.gz" for s in "abc"])
    result = CliRunner().invoke(app, ["anatomy", str(manifest), "--fast"])
    assert result.exit_code == 0, result.output
    assert "0 segmented, 3 already had masks, 0 failed" in result.output


def test_manifest_without_path_column_is_refused(tmp_path) -> None:
    bad = tmp_path / "m.csv"
    pd.DataFrame({"scan_id": ["a"]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="lacks column"):
        segment_manifest(bad, segmenter=_fake_segmenter([]))


def test_per_structure_folder_is_combined_and_recorded(tmp_path, real_ct, monkeypatch) -> None:
    import nibabel as nib
    import numpy as np

    monkeypatch.setitem(sys.modules, "totalsegmentator", None)
    img = nib.load(real_ct / "ts_example_ct_sm_totalseg.nii.gz")
    folder = tmp_path / "ts_a"
    folder.mkdir()
    nib.save(
        nib.Nifti1Image((np.asarray(img.dataobj) == 14).astype(np.uint8), img.affine),
        folder / "lung_lower_lobe_right.nii.gz",
    )
    for s in "bc":
        (tmp_path / f"{s}.nii.gz").write_bytes(b"mask")
    manifest = _manifest(tmp_path, ["ts_a", "b.nii.gz", "c.nii.gz"])
    report = segment_manifest(manifest)
    assert report.skipped == ["b", "c", "a"] and not report.failed
    recorded = pd.read_csv(manifest)["anatomy_path"][0]
    assert recorded == f"anatomy/{mask_file_name('a')}"
    assert int((np.asarray(nib.load(tmp_path / recorded).dataobj) == 14).sum()) == 2735
