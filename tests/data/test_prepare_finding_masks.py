"""Finding masks through prepare and the Dataset: phantom and ReXGroundingCT, both specs."""

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from hyperct.cli.main import main
from hyperct.data.adapters.rexgroundingct import adapt_rexgroundingct
from hyperct.data.cache import ScanCache
from hyperct.data.dataset import CachedScanDataset, collate_scans
from hyperct.data.prepare import prepare_cache
from hyperct.findings_categories import MASK_CHANNELS, TASK_CATEGORY, channel_of
from hyperct.io.read import read_ct, read_mask
from hyperct.phantom import PhantomConfig, generate_cohort
from hyperct.preprocess.grid_map import write_mask_nifti
from hyperct.preprocess.pipeline import crop_window, preprocess_mask
from hyperct.preprocess.spec import SliceStackSpec, SpacingCropSpec
from hyperct.tasks import task_by_name

SPECS = {
    "slice_stack": SliceStackSpec(slices=12, size=32),
    "spacing_crop": SpacingCropSpec(
        spacing_zyx=(8.0, 8.0, 8.0), pad_shape_zyx=(12, 24, 24), crop_shape_zyx=(8, 16, 16)
    ),
}
#: Twice as fine as the ReXGroundingCT fixture's CT (6, 8, 8) at (1.5, 0.75, 0.75) mm.
REX_SPECS = {
    "slice_stack": SliceStackSpec(slices=12, size=16),
    "spacing_crop": SpacingCropSpec(
        spacing_zyx=(0.75, 0.375, 0.375), pad_shape_zyx=(14, 18, 18), crop_shape_zyx=(12, 16, 16)
    ),
}


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("phantom")
    config = PhantomConfig(n=2, seed=3, preset="tiny", dicom_fraction=0.0)
    paths = generate_cohort(config, out)
    assert paths.failures == ()
    return paths.manifest


def _expected_phantom_stack(row: pd.Series, folder: Path, spec) -> np.ndarray:
    """Per channel: the union of its tasks' bits, each resampled as a label map."""
    ct = read_ct(folder / row.path)
    bitmask = read_mask(folder / row.findings_mask_path, like=ct)
    out = np.zeros((len(MASK_CHANNELS), *spec.grid_shape), np.uint8)
    for task, code in TASK_CATEGORY.items():
        bit = ((bitmask.array >> task_by_name(task).id) & 1).astype(np.uint8)
        bit_volume = type(bitmask)(bit, bitmask.spacing, bitmask.affine)
        out[channel_of(code)] |= preprocess_mask(bit_volume, spec)
    return out


@pytest.mark.parametrize("kind", list(SPECS))
def test_phantom_masks_cached_per_category_and_served_with_the_crop(
    phantom: Path, tmp_path: Path, kind: str
) -> None:
    spec = SPECS[kind]
    report = prepare_cache(phantom, spec, tmp_path / "c", progress=False)
    assert report.ok and report.done == 2
    cache = ScanCache(tmp_path / "c")
    assert cache.read_finding_channels() == MASK_CHANNELS
    assert json.loads((tmp_path / "c" / "spec.json").read_text())["finding_channels"][9] == (
        "2d Nodules / masses"
    )
    manifest = pd.read_csv(phantom)
    for _, row in manifest.iterrows():
        stack = cache.load_findings_stack(row.scan_id)
        assert stack.shape == (14, *spec.grid_shape) and stack.dtype == np.uint8
        np.testing.assert_array_equal(stack, _expected_phantom_stack(row, phantom.parent, spec))
    assert sum(cache.load_findings_stack(s).sum() for s in manifest.scan_id) > 0
    ds = CachedScanDataset(phantom, tmp_path / "c", train=True, seed=5)
    ds.set_epoch(2)
    item = ds[1]
    stack = cache.load_findings_stack(ds.scan_ids[1])
    grid = cache.load(ds.scan_ids[1])
    if kind == "spacing_crop":  # the training crop is the same for image and masks
        window = crop_window(spec, True, np.random.default_rng([5, 2, 1]))
        low, high = spec.hu_clip
        expected_image = (np.clip(grid[window], low, high) - low) * 2 / (high - low) - 1
        np.testing.assert_allclose(item["image"][0].numpy(), expected_image, atol=1e-5)
        np.testing.assert_array_equal(item["findings_mask"].numpy(), stack[(slice(None), *window)])
        np.testing.assert_array_equal(
            item["anatomy"].numpy(), cache.load_anatomy(ds.scan_ids[1])[window]
        )
    else:  # slice k of the mask is slice k of the image: channel k % 3 of image k // 3
        np.testing.assert_array_equal(item["findings_mask"].numpy(), stack)
        assert item["image"].shape[:2] == (4, 3) and item["findings_mask"].shape[1] == 12
    assert item["has_findings_mask"].item() is True
    batch = collate_scans([ds[0], ds[1]])
    assert batch["findings_mask"].shape == (2, *item["findings_mask"].shape)
    assert batch["has_findings_mask"].tolist() == [True, True]


def _rex_ct(tmp_path: Path) -> Path:
    return tmp_path / "rex" / "valid" / "valid_6" / "valid_6_b" / "valid_6_b_2.nii.gz"


def _rex_manifest(rex_tree, tmp_path: Path) -> Path:
    root = rex_tree()
    adapt_rexgroundingct(root, tmp_path / "rex.csv")  # + rex_findings.csv beside it
    return tmp_path / "rex.csv"


@pytest.mark.parametrize("kind", list(REX_SPECS))
def test_rexgroundingct_channels_filed_by_category_and_written_back(
    rex_tree, tmp_path: Path, kind: str
) -> None:
    manifest = _rex_manifest(rex_tree, tmp_path)
    spec = REX_SPECS[kind]
    report = prepare_cache(manifest, spec, tmp_path / "c", progress=False, allow_implausible=True)
    assert report.ok and report.done == 5, report.failed
    cache = ScanCache(tmp_path / "c")
    stack = cache.load_findings_stack("valid_6_b_2")  # atelectasis (2b), linear opacity (2a)
    assert stack.shape == (14, *spec.grid_shape)
    filled = {MASK_CHANNELS[c].split()[0] for c in range(14) if stack[c].any()}
    assert filled == {"2b", "2a"}
    mask_file = tmp_path / "rex" / "segmentations" / "valid_6_b_2.nii.gz"
    reference = np.asarray(nib.load(mask_file).dataobj)  # (findings, X, Y, Z)
    record = cache.load_grid_record("valid_6_b_2")
    for finding, code in enumerate(["2b", "2a"]):
        out = write_mask_nifti(stack[channel_of(code)], record, tmp_path / f"{code}.nii.gz")
        written, ct = nib.load(out), nib.load(_rex_ct(tmp_path))
        assert written.shape == ct.shape
        np.testing.assert_allclose(written.affine, ct.affine)
        np.testing.assert_array_equal(np.asarray(written.dataobj), reference[finding])


def test_row_without_a_mask_is_flagged_and_all_zero(phantom: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(phantom, dtype=str, keep_default_na=False)
    frame.loc[0, "findings_mask_path"] = ""
    manifest = phantom.with_name("first_without_mask.csv")
    frame.to_csv(manifest, index=False)
    assert prepare_cache(manifest, SPECS["slice_stack"], tmp_path / "c", progress=False).ok
    ds = CachedScanDataset(manifest, tmp_path / "c")
    assert ds.cache.load_findings(ds.scan_ids[0]) is None
    first, second = ds[0], ds[1]
    assert not first["has_findings_mask"] and not first["findings_mask"].any()
    assert second["has_findings_mask"] and first["findings_mask"].shape == (14, 12, 32, 32)


def test_no_finding_masks_no_keys(real_manifest: Path, tmp_path: Path) -> None:
    assert prepare_cache(real_manifest, SPECS["slice_stack"], tmp_path / "c", progress=False).ok
    item = CachedScanDataset(real_manifest, tmp_path / "c")[0]
    assert "findings_mask" not in item and "has_findings_mask" not in item


def _errors(cache: Path) -> dict[str, str]:
    lines = (cache / "errors.jsonl").read_text().splitlines()
    return {e["scan_id"]: e["error"] for e in map(json.loads, lines)}


def test_missing_and_misshapen_masks_fail_their_rows_and_exit_1(
    rex_tree, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    manifest = _rex_manifest(rex_tree, tmp_path)
    segmentations = tmp_path / "rex" / "segmentations"
    (segmentations / "train_1_a_2.nii.gz").unlink()
    nib.save(
        nib.Nifti1Image(np.zeros((1, 8, 8, 5), np.uint8), np.diag([-0.75, -0.75, 1.5, 1.0])),
        segmentations / "train_2_a_1.nii.gz",
    )
    spec = tmp_path / "spec.json"
    spec.write_text(REX_SPECS["slice_stack"].to_json())
    args = ["prepare", str(manifest), "--out", str(tmp_path / "c"), "--spec", str(spec)]
    assert main([*args, "--allow-implausible", "--no-progress"]) == 1
    errors = _errors(tmp_path / "c")
    assert set(errors) == {"train_1_a_2", "train_2_a_1"}
    assert "train_1_a_2.nii.gz: no such file or folder" in errors["train_1_a_2"]
    assert "(1, 8, 8, 5)" in errors["train_2_a_1"] and "(6, 8, 8)" in errors["train_2_a_1"]
    assert "train_2_a_1" in capsys.readouterr().err
    cache = ScanCache(tmp_path / "c")
    assert cache.has("train_1_a_1", findings=True) and not cache.has("train_2_a_1")


def test_multichannel_mask_without_findings_table_fails_naming_it(rex_tree, tmp_path: Path) -> None:
    manifest = _rex_manifest(rex_tree, tmp_path)
    (tmp_path / "rex_findings.csv").unlink()
    report = prepare_cache(
        manifest, REX_SPECS["slice_stack"], tmp_path / "c", progress=False, allow_implausible=True
    )
    assert len(report.failed) == 5 and report.done == 0  # never read as a task bitmask
    assert "got shape (2, 8, 8, 6); a finding mask with one channel per finding is read with "
    "the findings table" in report.failed["train_1_a_1"]


def test_changed_mask_or_categories_re_prepare(rex_tree, tmp_path: Path) -> None:
    manifest = _rex_manifest(rex_tree, tmp_path)
    spec, out = REX_SPECS["slice_stack"], tmp_path / "c"
    prepare_cache(manifest, spec, out, progress=False, allow_implausible=True)
    mask_file = tmp_path / "rex" / "segmentations" / "train_1_a_2.nii.gz"
    img = nib.load(mask_file)
    data = np.asarray(img.dataobj).copy()
    data[0, 5:7, 5:7, 3:5] = 1
    nib.save(nib.Nifti1Image(data, img.affine), mask_file)
    report = prepare_cache(manifest, spec, out, progress=False, allow_implausible=True)
    assert (report.done, report.stale, report.skipped) == (1, 1, 4)
    voxels = (4 + 8) * 8  # the fixture's 4 voxels and the 8 added, each 8 on the finer grid
    assert ScanCache(out).load_findings_stack("train_1_a_2")[channel_of("2e")].sum() == voxels
    table = pd.read_csv(tmp_path / "rex_findings.csv")
    table.loc[table.scan_id == "train_1_a_2", "category"] = "2g"
    table.to_csv(tmp_path / "rex_findings.csv", index=False)
    report = prepare_cache(manifest, spec, out, progress=False, allow_implausible=True)
    assert (report.done, report.stale) == (1, 1)
    stack = ScanCache(out).load_findings_stack("train_1_a_2")
    assert stack[channel_of("2g")].sum() == voxels and not stack[channel_of("2e")].any()


def test_entry_without_grid_record_is_re_prepared(phantom: Path, tmp_path: Path) -> None:
    spec, out = SPECS["spacing_crop"], tmp_path / "c"
    prepare_cache(phantom, spec, out, progress=False)
    scan_id = pd.read_csv(phantom).scan_id[0]
    cache = ScanCache(out)
    record = cache.load_grid_record(scan_id)
    assert record.grid_shape == spec.grid_shape and record.crop_shape == spec.crop_shape_zyx
    cache.grid_path(scan_id).unlink()
    with pytest.raises(FileNotFoundError, match="no grid record"):
        cache.load_grid_record(scan_id)
    report = prepare_cache(phantom, spec, out, progress=False)
    assert (report.done, report.stale) == (1, 1) and cache.load_grid_record(scan_id) == record
