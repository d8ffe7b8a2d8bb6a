"""score_scans: a batch's predicted masks against the cache's finding masks, on the model grid."""

import numpy as np
import pytest

from hyperct.inference.scan_outputs import SegmentedScans
from hyperct.training.split_segmentation import score_scans

CHANNELS = ["1a", "2d"]


def _scans(masks: np.ndarray) -> SegmentedScans:
    n = len(masks)
    return SegmentedScans([f"s{i}" for i in range(n)], np.zeros((n, 1)), masks, None, None)


def test_scores_the_masked_scans_cutting_the_prediction_to_the_reference_slices():
    refs = np.zeros((3, 2, 6, 8, 8), dtype=np.uint8)
    refs[0, 0, 1:3, 2:6, 2:6] = 1  # 32 voxels
    refs[2, 1, 0:2, 0:4, 0:4] = 1
    preds = np.zeros((3, 2, 9, 8, 8), dtype=np.uint8)  # 2.5D: three triplets over 6 slices
    preds[0, 0, 1:3, 2:6, 2:4] = 1  # half the reference: Dice 2*16/(16+32)
    preds[0, 0, 7:9] = 1  # beyond the reference's slices: cut, not a false positive
    preds[1] = 1  # scan s1 has no mask: not scored
    preds[2, 0, 4, 4, 4] = 1  # a category absent from the reference: a false positive
    scores = score_scans(_scans(preds), refs, np.array([True, False, True]), CHANNELS)

    by_key = {(s.scan_id, s.category): s for s in scores}
    assert set(by_key) == {("s0", "1a"), ("s2", "1a"), ("s2", "2d")}
    assert by_key["s0", "1a"].dice == pytest.approx(2 * 16 / 48)
    assert by_key["s0", "1a"].pred_instances == 1
    assert np.isnan(by_key["s2", "1a"].dice) and by_key["s2", "1a"].pred_instances == 1
    assert by_key["s2", "2d"].dice == 0.0 and by_key["s2", "2d"].ref_instances == 1


def test_a_prediction_that_does_not_cover_the_reference_is_refused():
    refs = np.ones((1, 2, 6, 8, 8), dtype=np.uint8)
    with pytest.raises(ValueError, match="s0: predicted masks"):
        score_scans(_scans(np.ones((1, 2, 3, 8, 8), np.uint8)), refs, np.array([True]), CHANNELS)
