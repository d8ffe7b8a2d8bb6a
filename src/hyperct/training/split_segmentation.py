"""``segmentation_findings.csv`` of a segmenting run (UniCT): the best model's masks of the val
and test scans scored against the cache's finding masks, at the end of training.

The masks are those ``hyperct predict`` writes (:func:`hyperct.inference.scan_outputs.segment_batch`:
probabilities thresholded at :data:`~hyperct.inference.scan_outputs.MASK_THRESHOLD`), scored
on the model grid, where the cache holds the reference masks, so nothing is resampled. One
channel per category, scored as ``hyperct evaluate-masks --categories`` does
(:func:`hyperct.evaluation.segmentation.score_category_masks`: each non-empty reference category
is a finding; a predicted category absent from the reference adds false-positive instances and a
row with no Dice). A 2.5D prediction covers whole triplets and is cut to the reference's slices.
A scan without a finding mask is not scored.

The table is the per-finding table of ``hyperct evaluate-masks``
(:func:`hyperct.evaluation.segmentation_summary.findings_table`) plus ``split`` and ``cohort``;
``hyperct compare`` reads it (:mod:`hyperct.training.compare_outputs`). The same pass gives the
reports of a model with a report head, so they are not generated twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hyperct.evaluation.segmentation import FindingScore, score_category_masks
from hyperct.evaluation.segmentation_summary import findings_table
from hyperct.inference.reports import COLUMNS as REPORT_COLUMNS
from hyperct.inference.scan_outputs import SegmentedScans, segment_batch
from hyperct.models.interface import Capability, SegmentingModel


@dataclass
class SplitSegmentation:
    """One split's scores (``findings_table`` rows) and generated reports (None: no report
    head)."""

    findings: pd.DataFrame
    reports: pd.DataFrame | None


def score_scans(
    scans: SegmentedScans, references: np.ndarray, present: np.ndarray, channels: Sequence[str]
) -> list[FindingScore]:
    """Scores of the scans of one batch that have a reference mask (``present``); predicted
    and reference masks ``(B, K, depth, H, W)`` on the model grid, the prediction at least as
    deep."""
    scores: list[FindingScore] = []
    for i, scan_id in enumerate(scans.scan_ids):
        if not present[i]:
            continue
        ref = references[i].astype(bool)
        pred = scans.masks[i]
        if pred.shape[0] != ref.shape[0] or pred.shape[1] < ref.shape[1] or (
                pred.shape[2:] != ref.shape[2:]):
            raise ValueError(f"{scan_id}: predicted masks {pred.shape} do not cover the cache's "
                             f"finding masks {ref.shape}")
        scores += score_category_masks(pred[:, : ref.shape[1]].astype(bool), ref, channels, scan_id)
    return scores


def segment_split(
    model: SegmentingModel, batches: Iterable[dict[str, Any]], bf16: bool
) -> SplitSegmentation:
    """Masks (and reports) of every scan the batches hold, the masked ones scored (eval mode)."""
    was_training = model.training  # type: ignore[attr-defined]
    model.eval()  # type: ignore[attr-defined]
    channels = list(model.segmentation_classes)
    scores: list[FindingScore] = []
    reports: list[tuple[str, str]] = []
    for batch in batches:
        scans = segment_batch(model, batch, batch["scan_id"], bf16)
        if "findings_mask" in batch:
            scores += score_scans(scans, batch["findings_mask"].cpu().numpy(),
                                  batch["has_findings_mask"].cpu().numpy(), channels)
        if scans.reports is not None:
            reports += zip(scans.scan_ids, scans.reports)
    model.train(was_training)  # type: ignore[attr-defined]
    writes = Capability.REPORT_GENERATION in model.capabilities
    return SplitSegmentation(
        findings_table(scores),
        pd.DataFrame(reports, columns=list(REPORT_COLUMNS)) if writes else None,
    )
