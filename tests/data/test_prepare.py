"""prepare_cache on a manifest of the real files: cache content, resume, failures, spec guard, CLI."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hyperct.cli.main import app
from hyperct.data.cache import CacheSpecError, ScanCache, cache_key
from hyperct.data.prepare import prepare_cache
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
