"""Segmentation metrics of one scan from its masks: Dice per finding and instance matching.

A *finding* is one reference mask (ReXGroundingCT: one mask channel per finding sentence) with a
category; its prediction is the predicted mask of the same finding. Masks are boolean arrays on
one grid; nothing here looks at a model.

Conventions (ReXGroundingCT's metrics, made precise):

* Dice = 2 |P & R| / (|P| + |R|). Every finding has a non-empty reference: an empty reference
  channel is bad input (``ValueError``). An empty prediction has Dice 0, is no hit, and leaves
  every reference instance unmatched.
* A finding is a *hit* when its Dice >= :data:`HIT_DICE` (0.1).
* Instances are the connected components of a mask, 26-connected (any shared face, edge or
  corner), from ``scipy.ndimage.label``. Within one finding, every (reference, predicted)
  component pair that overlaps gets its instance Dice; pairs with Dice >= :data:`INSTANCE_DICE`
  (0.2) are matched greedily one to one, highest Dice first (ties: lower reference label, then
  lower predicted label; labels number components in scan order). Matched pairs are true
  positives, unmatched predicted components false positives, unmatched reference components
  false negatives.
* Category masks (see :func:`score_category_masks`): a category whose reference is empty is no
  finding; its predicted components still count as false positives of that category.

Components are labelled only inside boxes around the voxels of ``P | R``, which gives the same
result as labelling the whole volume and keeps small findings in large scans cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

HIT_DICE = 0.1
INSTANCE_DICE = 0.2
_STRUCTURE = np.ones((3, 3, 3), dtype=bool)
#: Edge of the blocks that group voxels before labelling (see ``_regions``).
_BLOCK = 8


@dataclass(frozen=True)
class FindingScore:
    """One finding of one scan: its Dice (NaN when the reference is empty) and instance counts."""

    scan_id: str
    finding: int
    category: str
    dice: float
    ref_instances: int
    pred_instances: int
    matched_instances: int

    @property
    def hit(self) -> bool:
        return self.dice >= HIT_DICE


def dice(pred: np.ndarray, ref: np.ndarray) -> float:
    """Dice of two boolean masks; NaN when both are empty."""
    total = np.count_nonzero(pred) + np.count_nonzero(ref)
    return 2.0 * np.count_nonzero(pred & ref) / total if total else math.nan


def match_instances(
    pred: np.ndarray, ref: np.ndarray, threshold: float = INSTANCE_DICE
) -> tuple[int, int, int]:
    """(predicted components, reference components, matched pairs) of two boolean 3-D masks."""
    ref_labels, n_ref = ndimage.label(ref, structure=_STRUCTURE)
    pred_labels, n_pred = ndimage.label(pred, structure=_STRUCTURE)
    if n_ref == 0 or n_pred == 0:
        return n_pred, n_ref, 0
    ref_sizes = np.bincount(ref_labels.ravel(), minlength=n_ref + 1)
    pred_sizes = np.bincount(pred_labels.ravel(), minlength=n_pred + 1)
    both = (ref_labels > 0) & (pred_labels > 0)
    codes, overlap = np.unique(
        ref_labels[both].astype(np.int64) * (n_pred + 1) + pred_labels[both], return_counts=True
    )
    r, p = codes // (n_pred + 1), codes % (n_pred + 1)
    pair_dice = 2.0 * overlap / (ref_sizes[r] + pred_sizes[p])
    keep = pair_dice >= threshold
    order = np.lexsort((p[keep], r[keep], -pair_dice[keep]))
    used_ref: set[int] = set()
    used_pred: set[int] = set()
    for i, j in zip(r[keep][order].tolist(), p[keep][order].tolist()):
        if i not in used_ref and j not in used_pred:
            used_ref.add(i)
            used_pred.add(j)
    return n_pred, n_ref, len(used_ref)


def score_finding(
    pred: np.ndarray, ref: np.ndarray, scan_id: str, finding: int, category: str
) -> FindingScore:
    """Dice and instance counts of one finding, region by region (see :func:`_regions`)."""
    counts = np.zeros(6, dtype=np.int64)  # |P|, |R|, |P & R|, predicted, reference, matched
    for box, member in _regions(pred | ref):
        p, r = pred[box] & member, ref[box] & member
        sizes = (np.count_nonzero(p), np.count_nonzero(r), np.count_nonzero(p & r))
        counts += (*sizes, *match_instances(p, r))
    n_p, n_r, both, n_pred, n_ref, matched = counts.tolist()
    value = 2.0 * both / (n_p + n_r) if n_r else math.nan
    return FindingScore(scan_id, finding, category, value, n_ref, n_pred, matched)


def score_findings(
    pred: np.ndarray, ref: np.ndarray, categories: Sequence[str], scan_id: str
) -> list[FindingScore]:
    """Finding masks of one scan, shape (findings, z, y, x) each: one score per finding.

    Raises ``ValueError`` when the shapes differ, the category count differs from the number of
    findings, or a reference channel is empty.
    """
    _check_channels(pred, ref, categories, scan_id)
    empty = [i for i in range(ref.shape[0]) if not ref[i].any()]
    if empty:
        raise ValueError(f"{scan_id}: reference mask channel(s) {empty} are empty")
    return [score_finding(pred[i], ref[i], scan_id, i, categories[i]) for i in range(len(ref))]


def score_category_masks(
    pred: np.ndarray, ref: np.ndarray, categories: Sequence[str], scan_id: str
) -> list[FindingScore]:
    """One mask per category, shape (categories, z, y, x): each non-empty reference is a
    finding; a predicted category absent from the reference adds false-positive instances."""
    _check_channels(pred, ref, categories, scan_id)
    scores = [score_finding(pred[i], ref[i], scan_id, i, categories[i]) for i in range(len(ref))]
    return [s for s in scores if s.ref_instances or s.pred_instances]


def _regions(union: np.ndarray) -> list[tuple[tuple[slice, ...], np.ndarray]]:
    """Boxes of ``union`` that each hold whole 26-connected components, with their voxel masks.

    Blocks of :data:`_BLOCK` voxels that hold a voxel of ``union`` are grouped into 26-connected
    groups of blocks; two 26-adjacent voxels lie in the same or in 26-adjacent blocks, so every
    component of ``union`` (and so of the prediction and the reference, subsets of it) lies in
    one group. Labelling group by group then costs the volume of the groups' boxes, not of the
    scan, and gives the same components as labelling the whole scan.
    """
    coords = np.unravel_index(np.flatnonzero(union), union.shape)
    if coords[0].size == 0:
        return []
    occupied = np.zeros(tuple(-(-n // _BLOCK) for n in union.shape), dtype=bool)
    occupied[tuple(c // _BLOCK for c in coords)] = True
    groups, _ = ndimage.label(occupied, structure=_STRUCTURE)
    regions = []
    for k, box in enumerate(ndimage.find_objects(groups), start=1):
        member = groups[box] == k
        for axis in range(3):
            member = np.repeat(member, _BLOCK, axis=axis)
        fine = tuple(
            slice(b.start * _BLOCK, min(b.stop * _BLOCK, n)) for b, n in zip(box, union.shape)
        )
        regions.append((fine, member[tuple(slice(0, f.stop - f.start) for f in fine)]))
    return regions


def _check_channels(
    pred: np.ndarray, ref: np.ndarray, categories: Sequence[str], scan_id: str
) -> None:
    if pred.shape != ref.shape or ref.ndim != 4:
        raise ValueError(
            f"{scan_id}: predicted masks {pred.shape} and reference masks {ref.shape} must have "
            "one shape (channels, z, y, x)"
        )
    if len(categories) != ref.shape[0]:
        raise ValueError(
            f"{scan_id}: {ref.shape[0]} mask channels but {len(categories)} categories"
        )
