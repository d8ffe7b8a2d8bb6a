"""prepare_cache on a manifest of the real files: cache content, resume, failures, spec guard, CLI."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hyperct import read_ct
from hyperct.cli.main import app
from hyperct.data.cache import CacheSpecError, ScanCache, cache_key
from hyperct.data.prepare import prepare_cache
from hyperct.io.volume import Volume
from hyperct.io.write import write_nifti
from hyperct.preprocess import preprocess_volume
from hyperct.preprocess.spec import SliceStackSpec

SMALL = SliceStackSpec(slices=12, size=32)
LUNG_LOWER_L = 11


def test_prepare_caches_every_scan_and_anatomy(real_manifest: Path, tmp_path: Path) -> None:
    report = prepare_cache(real_manifest, SMALL, tmp_path / "cache", progress=False)
    assert report.ok and (report.total, report.done, report.skipped) == (4, 4, 0)
    cache = ScanCache(tmp_path / "cache")
    for scan_id in ("sm", "crop", "series", "slices"):
        grid = cache.load(scan_id)
        assert grid.shape == (12, 32, 32) and grid.dtype == np.int16
        inside_fov = grid[grid > -1500]  # dicom_slices pads outside the scan circle with -2048
        assert (
            -1100 < np.percentile(inside_fov, 5) < -800
        )  # air in HU: the rescale was applied once
    anatomy = cache.load_anatomy("sm")
    assert anatomy is not None and anatomy.dtype == np.uint8 and cache.load_anatomy("crop") is None
    assert cache.load("sm")[anatomy == LUNG_LOWER_L].mean() < -600
    assert cache.read_spec() == SMALL
    assert json.loads((tmp_path / "cache" / "spec.json").read_text())["hash"] == SMALL.hash()
    assert (tmp_path / "cache" / "errors.jsonl").read_text() == ""
    assert not list((tmp_path / "cache").glob(".*tmp-*"))


def test_resume_skips_done_scans_and_cleans_partials(real_manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "cache"
    prepare_cache(real_manifest, SMALL, out, progress=False)
    ScanCache(out).image_path("crop").unlink()
    (out / ".crop.tmp-deadbeef.npy").write_bytes(b"partial")
    report = prepare_cache(real_manifest, SMALL, out, progress=False)
    assert (report.done, report.skipped) == (1, 3)
    assert not (out / ".crop.tmp-deadbeef.npy").exists()


def test_failing_scan_recorded_and_run_goes_on(
    manifest_frame: pd.DataFrame, tmp_path: Path
) -> None:
    (tmp_path / "broken.nii.gz").write_bytes(b"not a nifti")
    frame = manifest_frame.copy()
    frame.loc[1, "path"] = "broken.nii.gz"
    frame.to_csv(tmp_path / "m.csv", index=False)
    report = prepare_cache(tmp_path / "m.csv", SMALL, tmp_path / "cache", progress=False)
    assert report.done == 3 and list(report.failed) == ["crop"]
    logged = [
        json.loads(line) for line in (tmp_path / "cache" / "errors.jsonl").read_text().splitlines()
    ]
    assert (
        logged[0]["scan_id"] == "crop"
        and "broken.nii.gz: not a readable NIfTI" in logged[0]["error"]
    )
    assert not ScanCache(tmp_path / "cache").has("crop")


def test_changed_spec_refused(real_manifest: Path, tmp_path: Path) -> None:
    prepare_cache(real_manifest, SMALL, tmp_path / "cache", progress=False)
    with pytest.raises(CacheSpecError, match="refusing to mix"):
        prepare_cache(
            real_manifest, SliceStackSpec(slices=12, size=48), tmp_path / "cache", progress=False
        )


@pytest.mark.slow  # spawns two processes that each import torch
def test_two_workers_match_one(real_manifest: Path, tmp_path: Path) -> None:
    prepare_cache(real_manifest, SMALL, tmp_path / "one", workers=1, progress=False)
    report = prepare_cache(real_manifest, SMALL, tmp_path / "two", workers=2, progress=False)
    assert report.ok and report.done == 4
    for scan_id in ("sm", "series"):
        np.testing.assert_array_equal(
            ScanCache(tmp_path / "one").load(scan_id), ScanCache(tmp_path / "two").load(scan_id)
        )


def test_cache_keys_are_safe_and_distinct() -> None:
    assert cache_key("train_1_a_1") == "train_1_a_1"
    assert "/" not in cache_key("a/b") and cache_key("a/b") != cache_key("a_b")
    assert not cache_key("../x").startswith(".")


def test_cli_prepare_paper_spec_on_real_files(real_manifest: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["prepare", str(real_manifest), "--out", str(tmp_path / "c"), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert ScanCache(tmp_path / "c").load("series").shape == (165, 144, 144)
    again = runner.invoke(
        app, ["prepare", str(real_manifest), "--out", str(tmp_path / "c"), "--spec", "anatomy3d"]
    )
    assert again.exit_code == 2 and "refusing to mix" in again.output


def test_cli_prepare_exits_non_zero_on_failure(
    manifest_frame: pd.DataFrame, tmp_path: Path
) -> None:
    frame = manifest_frame.copy()
    frame.loc[0, "path"] = "gone.nii.gz"
    frame.to_csv(tmp_path / "m.csv", index=False)
    spec = tmp_path / "spec.json"
    spec.write_text(SMALL.to_json())
    result = CliRunner().invoke(
        app,
        [
            "prepare",
            str(tmp_path / "m.csv"),
            "--out",
            str(tmp_path / "c"),
            "--spec",
            str(spec),
            "--no-progress",
        ],
    )
    assert (
        result.exit_code == 1 and "failed: sm: " in result.output and "no such file" in result.output
    )


def test_cli_manifest_validate_and_summary(
    real_manifest: Path, manifest_frame: pd.DataFrame, tmp_path: Path
) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["manifest", "validate", str(real_manifest)])
    assert ok.exit_code == 0 and "valid" in ok.output and "4 scans" in ok.output
    bad = manifest_frame.astype({"Emphysema": object})
    bad.loc[0, "Emphysema"] = "yes"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    result = runner.invoke(app, ["manifest", "validate", str(tmp_path / "bad.csv")])
    assert result.exit_code == 2 and "line 2 (scan_id=sm), column 'Emphysema'" in result.output
    summary = runner.invoke(
        app, ["manifest", "summary", str(real_manifest), "--out", str(tmp_path / "s.csv")]
    )
    assert summary.exit_code == 0 and "Emphysema" in summary.output
    assert len(pd.read_csv(tmp_path / "s.csv")) == 75


def _errors(cache_dir: Path) -> dict[str, dict]:
    lines = (cache_dir / "errors.jsonl").read_text().splitlines()
    return {row["scan_id"]: row for row in map(json.loads, lines)}


def test_corrected_path_is_re_prepared_not_served_stale(
    manifest_frame: pd.DataFrame, real_ct: Path, tmp_path: Path
) -> None:
    frame = manifest_frame.copy()
    frame.loc[1, "path"] = str(real_ct / "ts_example_ct_sm.nii.gz")  # "crop" points at a wrong file
    frame.to_csv(tmp_path / "m.csv", index=False)
    out = tmp_path / "cache"
    prepare_cache(tmp_path / "m.csv", SMALL, out, progress=False)
    frame.loc[1, "path"] = str(real_ct / "ts_chest_crop.nii.gz")  # the corrected manifest
    frame.to_csv(tmp_path / "m.csv", index=False)
    report = prepare_cache(tmp_path / "m.csv", SMALL, out, progress=False)
    assert (report.done, report.skipped, report.stale) == (1, 3, 1)
    expected = preprocess_volume(read_ct(real_ct / "ts_chest_crop.nii.gz"), SMALL)
    np.testing.assert_array_equal(ScanCache(out).load("crop"), expected)


def test_replaced_file_and_old_entries_are_re_prepared(
    manifest_frame: pd.DataFrame, real_ct: Path, tmp_path: Path
) -> None:
    shutil.copy(real_ct / "ts_chest_crop.nii.gz", tmp_path / "scan.nii.gz")
    frame = manifest_frame.copy()
    frame.loc[1, "path"] = "scan.nii.gz"
    frame.to_csv(tmp_path / "m.csv", index=False)
    out = tmp_path / "cache"
    prepare_cache(tmp_path / "m.csv", SMALL, out, progress=False)
    shutil.copy(real_ct / "ts_example_ct_sm.nii.gz", tmp_path / "scan.nii.gz")  # same name
    ScanCache(out).source_path("series").unlink()  # an entry cached before sources were recorded
    report = prepare_cache(tmp_path / "m.csv", SMALL, out, progress=False)
    assert (report.done, report.skipped, report.stale) == (2, 2, 2)
    expected = preprocess_volume(read_ct(real_ct / "ts_example_ct_sm.nii.gz"), SMALL)
    np.testing.assert_array_equal(ScanCache(out).load("crop"), expected)
    assert prepare_cache(tmp_path / "m.csv", SMALL, out, progress=False).skipped == 4


def test_symlink_loop_fails_its_row_and_the_others_go_on(
    manifest_frame: pd.DataFrame, tmp_path: Path
) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    frame = manifest_frame.copy()
    frame.loc[2, "path"] = "loop"
    frame.to_csv(tmp_path / "m.csv", index=False)
    result = CliRunner().invoke(
        app, ["prepare", str(tmp_path / "m.csv"), "--out", str(tmp_path / "c"), "--no-progress"]
    )
    assert result.exit_code == 1, result.output
    assert "prepared 3" in result.output and "failed: series" in result.output
    failed = _errors(tmp_path / "c")
    assert list(failed) == ["series"] and "loop" in failed["series"]["error"]
    assert failed["series"]["path"].endswith("loop")


def test_implausible_scan_fails_unless_allowed(
    manifest_frame: pd.DataFrame, real_ct: Path, tmp_path: Path
) -> None:
    frame = manifest_frame.copy()
    frame.to_csv(tmp_path / "m.csv", index=False)
    assert prepare_cache(tmp_path / "m.csv", SMALL, tmp_path / "c", progress=False).ok
    ct = read_ct(real_ct / "ts_example_ct_sm.nii.gz")
    shifted = Volume((ct.array + 1024).astype(np.int16), ct.spacing, ct.affine)
    write_nifti(shifted, tmp_path / "s.nii.gz")  # stored values, the rescale never applied
    frame.loc[0, "path"] = "s.nii.gz"
    frame.to_csv(tmp_path / "m.csv", index=False)
    report = prepare_cache(tmp_path / "m.csv", SMALL, tmp_path / "c", progress=False)
    assert list(report.failed) == ["sm"] and "no air near -1000 HU" in report.failed["sm"]
    assert "ImplausibleCTError" in _errors(tmp_path / "c")["sm"]["error"]
    assert not ScanCache(tmp_path / "c").has("sm")  # the old file's image is not served for it
    allowed = prepare_cache(
        tmp_path / "m.csv", SMALL, tmp_path / "c", progress=False, allow_implausible=True
    )
    assert allowed.ok and allowed.done == 1


@pytest.mark.slow  # starts a Python that imports torch
def test_pool_worker_runs_one_torch_and_one_blas_thread() -> None:
    probe = (
        "from hyperct.data.prepare import _init_worker; _init_worker(); "
        "import torch, threadpoolctl; "
        "print(torch.get_num_threads(), max(p['num_threads'] for p in threadpoolctl.threadpool_info()))"
    )
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "4",
        "OPENBLAS_NUM_THREADS": "4",
        "MKL_NUM_THREADS": "4",
    }
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["1", "1"]


def test_cli_prepare_spacing_for_a_file_without_voxel_sizes(
    manifest_frame: pd.DataFrame, real_ct: Path, tmp_path: Path
) -> None:
    data = np.asarray(nib.load(real_ct / "ts_example_ct_sm.nii.gz").dataobj, dtype=np.int16)
    img = nib.Nifti1Image(data, None)
    img.header.set_qform(None, code=0)
    img.header.set_sform(None, code=0)
    raw = bytearray(img.to_bytes())
    raw[80:92] = np.zeros(3, dtype="<f4").tobytes()  # pixdim[1:4] = 0
    (tmp_path / "nosize.nii").write_bytes(bytes(raw))
    frame = manifest_frame.copy()
    frame.loc[1, "path"] = "nosize.nii"
    frame.to_csv(tmp_path / "m.csv", index=False)
    base = ["prepare", str(tmp_path / "m.csv"), "--out", str(tmp_path / "c"), "--no-progress"]
    runner = CliRunner()
    refused = runner.invoke(app, base)
    assert refused.exit_code == 1 and "voxel spacing unknown" in refused.output
    given = runner.invoke(app, [*base, "--spacing", "3,3,3"])
    assert given.exit_code == 0, given.output
    assert "prepared 1, already cached 3" in given.output
