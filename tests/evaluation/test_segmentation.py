"""Dice, hits and instance matching on hand-made masks whose answers are known exactly."""

import math

import numpy as np
import pytest
from scipy import ndimage

from hyperct.evaluation.segmentation import (
    INSTANCE_DICE,
    dice,
    match_instances,
    score_category_masks,
    score_finding,
    score_findings,
)

SHAPE = (20, 24, 28)


def _empty() -> np.ndarray:
    return np.zeros(SHAPE, dtype=bool)


def _cube(z: int, y: int, x: int, size: int = 4, into: np.ndarray | None = None) -> np.ndarray:
    out = _empty() if into is None else into
    out[z : z + size, y : y + size, x : x + size] = True
    return out


def test_dice_of_half_overlapping_cubes_is_one_half() -> None:
    ref, pred = _cube(2, 2, 2), _cube(2, 2, 4)  # 64 voxels each, 32 shared
    assert dice(pred, ref) == 0.5
    score = score_finding(pred, ref, "s", 0, "2d")
    assert score.dice == 0.5 and score.hit
    assert (score.ref_instances, score.pred_instances, score.matched_instances) == (1, 1, 1)


def test_empty_prediction_scores_zero_and_misses_every_instance() -> None:
    ref = _cube(10, 10, 10, into=_cube(1, 1, 1))
    score = score_finding(_empty(), ref, "s", 0, "2d")
    assert score.dice == 0.0 and not score.hit
    assert (score.ref_instances, score.pred_instances, score.matched_instances) == (2, 0, 0)


def test_instances_below_the_dice_threshold_are_not_matched() -> None:
    ref = _cube(1, 1, 1, into=_cube(1, 10, 1, into=_cube(12, 16, 20)))  # A, B, C
    pred = _cube(1, 1, 1)  # A exactly
    pred[1, 10, 1:5] = True  # 4 voxels inside B: instance Dice 8 / 68 < 0.2
    pred[15, 2, 22] = True  # a false positive speckle
    n_pred, n_ref, matched = match_instances(pred, ref)
    assert (n_pred, n_ref, matched) == (3, 3, 1)
    assert 2 * 4 / (64 + 4) < INSTANCE_DICE


def test_corner_neighbours_form_one_instance() -> None:
    ref = _empty()
    ref[5, 5, 5] = ref[6, 6, 6] = True  # touching at a corner only: 26-connected
    assert match_instances(ref, ref) == (1, 1, 1)


def test_matching_is_one_to_one() -> None:
    ref = _empty()
    ref[0:2, 0:2, 0:2] = ref[0:2, 0:2, 3:5] = True  # two 8-voxel cubes, one gap apart
    pred = _empty()
    pred[0:2, 0:2, 0:5] = True  # covers both: instance Dice 16 / 28 with each
    assert match_instances(pred, ref) == (1, 2, 1)


def test_two_predictions_on_one_reference_match_it_once() -> None:
    ref = _empty()
    ref[0:2, 0:2, 0:4] = True  # R: 16 voxels
    pred = _empty()
    pred[0:2, 0:2, 0:1] = True  # P1: 4 voxels of R, Dice 0.4
    pred[0:2, 0:2, 2:4] = True  # P2: 8 voxels of R, Dice 2 * 8 / 24 = 0.667
    pred[0:2, 0:2, 1] = False
    assert match_instances(pred, ref) == (2, 1, 1)


def test_components_across_blocks_and_scattered_speckles_match_whole_volume_labelling() -> None:
    rng = np.random.default_rng(3)
    structure = np.ones((3, 3, 3), dtype=bool)
    for _ in range(5):
        ref = ndimage.binary_dilation(rng.random(SHAPE) < 0.002, iterations=2)
        pred = ref ^ (rng.random(SHAPE) < 0.01)
        score = score_finding(pred, ref, "s", 0, "c")
        assert score.ref_instances == ndimage.label(ref, structure)[1]
        assert score.pred_instances == ndimage.label(pred, structure)[1]
        assert score.matched_instances == match_instances(pred, ref)[2]
        assert score.dice == pytest.approx(dice(pred, ref))


def test_score_findings_per_channel_with_categories() -> None:
    ref = np.stack([_cube(2, 2, 2), _cube(10, 10, 10)])
    pred = np.stack([_cube(2, 2, 4), _empty()])
    scores = score_findings(pred, ref, ["1c", "2d"], "scan_a")
    assert [(s.finding, s.category, s.dice) for s in scores] == [(0, "1c", 0.5), (1, "2d", 0.0)]


def test_score_findings_refuses_empty_references_and_wrong_counts() -> None:
    ref = np.stack([_cube(2, 2, 2), _empty()])
    with pytest.raises(ValueError, match=r"scan_a: reference mask channel\(s\) \[1\] are empty"):
        score_findings(ref, ref, ["1c", "2d"], "scan_a")
    with pytest.raises(ValueError, match="2 mask channels but 1 categories"):
        score_findings(ref, ref, ["1c"], "scan_a")
    with pytest.raises(ValueError, match="must have one shape"):
        score_findings(ref[:1], ref, ["1c"], "scan_a")


def test_category_masks_count_predictions_of_absent_categories_as_false_positives() -> None:
    ref = np.stack([_cube(2, 2, 2), _empty(), _empty()])
    pred = np.stack([_cube(2, 2, 2), _cube(10, 10, 10), _empty()])
    scores = score_category_masks(pred, ref, ["a", "b", "c"], "s")
    assert [s.category for s in scores] == ["a", "b"]  # c: empty in both, no row
    assert scores[0].dice == 1.0
    absent = scores[1]
    assert math.isnan(absent.dice) and not absent.hit
    assert (absent.ref_instances, absent.pred_instances, absent.matched_instances) == (0, 1, 0)
