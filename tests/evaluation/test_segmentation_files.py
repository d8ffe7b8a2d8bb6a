"""Mask folders in ReXGroundingCT's layout (4-D NIfTI, one channel per finding) and label maps."""

import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from hyperct.evaluation.bootstrap import BootstrapConfig
from hyperct.evaluation.segmentation_files import (
    FINDINGS_CSV,
    SUMMARY_CSV,
    UNCATEGORISED,
    MaskEvaluationConfig,
    evaluate_mask_dirs,
    read_mask_channels,
    score_mask_files,
)
from hyperct.io.errors import CTReadError

SHAPE = (16, 18, 12)  # (x, y, z) on disk
AFFINE = np.diag([0.8, 0.8, 2.0, 1.0])
FAST = BootstrapConfig(n_resamples=50, seed=0)


def _save(path: Path, data: np.ndarray, affine: np.ndarray = AFFINE) -> Path:
    nib.save(nib.Nifti1Image(data.astype(np.uint8), affine), str(path))
    return path


def _channels(*boxes: tuple[slice, slice, slice] | None) -> np.ndarray:
    """A (x, y, z, findings) mask with one box per finding (None: empty channel)."""
    out = np.zeros((*SHAPE, len(boxes)), dtype=np.uint8)
    for i, box in enumerate(boxes):
        if box is not None:
            out[(*box, i)] = 1
    return out


BOX_A = (slice(2, 6), slice(2, 6), slice(2, 6))  # 64 voxels
BOX_A_SHIFTED = (slice(4, 8), slice(2, 6), slice(2, 6))  # 32 shared with A
BOX_B = (slice(10, 14), slice(10, 14), slice(6, 10))


def test_channels_are_read_in_findings_order(tmp_path) -> None:
    path = _save(tmp_path / "s.nii.gz", _channels(BOX_A, BOX_B))
    masks, affine = read_mask_channels(path)
    assert masks.shape == (2, SHAPE[2], SHAPE[1], SHAPE[0]) and masks.dtype == bool
    assert masks[0].sum() == 64 and masks[1][6:10, 10:14, 10:14].all()
    assert np.allclose(affine, AFFINE)


def test_probability_maps_are_refused(tmp_path) -> None:
    path = tmp_path / "p.nii.gz"
    nib.save(nib.Nifti1Image(np.full(SHAPE, 0.4, dtype=np.float32), AFFINE), str(path))
    with pytest.raises(CTReadError, match="fractional values; threshold"):
        read_mask_channels(path)


def test_score_mask_files_per_finding(tmp_path) -> None:
    ref = _save(tmp_path / "ref.nii.gz", _channels(BOX_A, BOX_B))
    pred = _save(tmp_path / "pred.nii.gz", _channels(BOX_A_SHIFTED, None))
    scores = score_mask_files(pred, ref, "s1", ["2c", "2d"])
    assert [(s.category, s.dice, s.matched_instances) for s in scores] == [
        ("2c", 0.5, 1), ("2d", 0.0, 0)
    ]


def test_grid_mismatch_is_named(tmp_path) -> None:
    ref = _save(tmp_path / "ref.nii.gz", _channels(BOX_A))
    moved = AFFINE.copy()
    moved[0, 3] = 5.0
    pred = _save(tmp_path / "pred.nii.gz", _channels(BOX_A), moved)
    with pytest.raises(CTReadError, match="pred.nii.gz: mask grid .* differs from the reference"):
        score_mask_files(pred, ref, "s1")


def test_label_maps_by_category(tmp_path) -> None:
    ref_map = np.zeros(SHAPE, np.uint8)
    ref_map[BOX_A] = 1
    pred_map = np.zeros(SHAPE, np.uint8)
    pred_map[BOX_A] = 1
    pred_map[BOX_B] = 3  # a category the reference does not have
    ref, pred = _save(tmp_path / "r.nii", ref_map), _save(tmp_path / "p.nii", pred_map)
    scores = score_mask_files(pred, ref, "s", ["1c", "1d", "2d"], by_category=True)
    assert [s.category for s in scores] == ["1c", "2d"]
    assert scores[0].dice == 1.0 and math.isnan(scores[1].dice) and scores[1].pred_instances == 1
    with pytest.raises(CTReadError, match=r"label values 0 \.\. 3, but 2 categories"):
        score_mask_files(pred, ref, "s", ["1c", "1d"], by_category=True)


def _cohort(tmp_path: Path) -> tuple[Path, Path, Path]:
    pred_dir, ref_dir = tmp_path / "pred", tmp_path / "ref"
    pred_dir.mkdir()
    ref_dir.mkdir()
    _save(ref_dir / "scan_1.nii.gz", _channels(BOX_A, BOX_B))
    _save(pred_dir / "scan_1.nii.gz", _channels(BOX_A_SHIFTED, BOX_B))
    _save(ref_dir / "scan_2.nii.gz", _channels(BOX_B))
    _save(pred_dir / "scan_2.nii.gz", _channels(None))
    findings = tmp_path / "findings.csv"
    pd.DataFrame(
        {"scan_id": ["scan_1", "scan_1", "scan_2"], "mask_channel": [1, 0, 0],
         "category": ["2d", "2c", "2d"], "sentence": ["a", "b", "c"]}
    ).to_csv(findings, index=False)
    return pred_dir, ref_dir, findings


def test_folders_with_a_findings_table(tmp_path) -> None:
    pred_dir, ref_dir, findings = _cohort(tmp_path)
    config = MaskEvaluationConfig(bootstrap=FAST)
    run = evaluate_mask_dirs(pred_dir, ref_dir, tmp_path / "out", findings, config)
    assert run.failures == []
    table = pd.read_csv(tmp_path / "out" / FINDINGS_CSV)
    assert table[["scan_id", "category", "dice"]].values.tolist() == [
        ["scan_1", "2c", 0.5], ["scan_1", "2d", 1.0], ["scan_2", "2d", 0.0]
    ]
    summary = pd.read_csv(tmp_path / "out" / SUMMARY_CSV).set_index(["category", "metric"])
    assert summary.loc[("all", "global_dice"), "value"] == pytest.approx(0.5)
    assert summary.loc[("2d", "hit_rate"), "value"] == pytest.approx(0.5)


def test_a_missing_prediction_is_recorded_and_the_rest_scored(tmp_path) -> None:
    pred_dir, ref_dir, _ = _cohort(tmp_path)
    (pred_dir / "scan_2.nii.gz").unlink()
    _save(ref_dir / "scan_3.nii.gz", _channels(BOX_A, None))  # an empty reference channel
    _save(pred_dir / "scan_3.nii.gz", _channels(BOX_A, BOX_A))
    run = evaluate_mask_dirs(pred_dir, ref_dir, tmp_path / "out", None, MaskEvaluationConfig(bootstrap=FAST))
    assert len(run.failures) == 2
    assert "scan_2: no predicted mask" in run.failures[0]
    assert "scan_3: reference mask channel(s) [1] are empty" in run.failures[1]
    assert set(run.findings["scan_id"]) == {"scan_1"}
    assert set(run.findings["category"]) == {UNCATEGORISED}


def test_nothing_scorable_is_an_error_and_writes_nothing(tmp_path) -> None:
    pred_dir, ref_dir, _ = _cohort(tmp_path)
    for path in pred_dir.iterdir():
        path.unlink()
    with pytest.raises(ValueError, match="no scan could be scored"):
        evaluate_mask_dirs(pred_dir, ref_dir, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_findings_table_with_gaps_in_channels_is_refused(tmp_path) -> None:
    pred_dir, ref_dir, findings = _cohort(tmp_path)
    pd.DataFrame({"scan_id": ["scan_1"], "mask_channel": [1], "category": ["2d"]}).to_csv(
        findings, index=False
    )
    with pytest.raises(ValueError, match=r"scan 'scan_1' has mask channels \['1'\]; expected 0"):
        evaluate_mask_dirs(pred_dir, ref_dir, tmp_path / "out", findings)
