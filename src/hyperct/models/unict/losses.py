"""UniCT's per-task losses; a missing target contributes exactly nothing to its loss.

* classification: BCE with logits over the labels that are known (``-1`` = not available);
* segmentation: soft Dice + BCE per scan, averaged over the scans that have a mask. Finding
  masks are tiny (a nodule is a few voxels of a 28 x 32 x 32 grid), so the voxel-mean BCE alone
  is met by predicting background everywhere; the Dice term, averaged over the categories
  *present* in the scan, is independent of how small a mask is and is what makes the masks grow.
  Absent categories have no defined Dice and are taught "empty" by the BCE only (a Dice over
  them would reward nothing but an all-background prediction). No ``pos_weight``: the Dice
  term already makes a small mask count as much as a large one;
* report: teacher-forced cross-entropy over the real next tokens of the scans with text.

A batch without any target of a supervised task gives that loss as an exact zero that is still
part of the graph (so the total backpropagates; the zero sends zero gradient). A task whose
supervision is switched off has no entry at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from hyperct.models.report.tokenizer import EncodedBatch
from hyperct.models.unict.config import UniCTConfig

TASKS = ("classification", "segmentation", "report")


@dataclass
class UniCTOutput:
    """What :meth:`UniCT.forward` gives.

    class_logits: ``(B, K)``; seg_logits: ``(B, K_seg, depth, H, W)`` on the model grid;
    report_logits: ``(B, L - 1, V)`` teacher-forced (token ``t + 1`` predicted at ``t``), None
    without reports; fusion_attention: ``(B, heads, T, T)`` over :attr:`UniCT.fusion_tasks`, None
    with fusion off.
    """

    class_logits: torch.Tensor
    seg_logits: torch.Tensor
    report_logits: torch.Tensor | None
    fusion_attention: torch.Tensor | None


@dataclass
class UniCTTargets:
    """A batch's targets; None where the whole batch lacks that kind.

    labels: ``(B, K)`` of 1/0/-1. masks: ``(B, K_seg, depth, H, W)`` of 0/1 on the model grid,
    rows without a mask arbitrary; mask_present: ``(B,)`` bool. reports: the token batch given
    to :meth:`UniCT.forward` (:meth:`UniCT.encode_reports`: a scan without text is bos only).
    """

    labels: torch.Tensor | None = None
    masks: torch.Tensor | None = None
    mask_present: torch.Tensor | None = None
    reports: EncodedBatch | None = None


def _zero(like: torch.Tensor) -> torch.Tensor:
    return like.sum() * 0.0


def classification_loss(logits: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """Mean BCE over the known labels (``labels >= 0``)."""
    if labels is None:
        return _zero(logits)
    if labels.shape != logits.shape:
        raise ValueError(f"labels {tuple(labels.shape)} do not match logits {tuple(logits.shape)}")
    known = labels >= 0
    if not known.any():
        return _zero(logits)
    return F.binary_cross_entropy_with_logits(logits[known].float(), labels[known].float())


def dice_bce(logits: torch.Tensor, masks: torch.Tensor, smooth: float) -> torch.Tensor:
    """Per scan: mean soft Dice loss over the categories present in its mask (0 when none is)
    plus voxel-mean BCE over all categories, ``(B,)``."""
    logits, masks = logits.float(), masks.float()
    probs = torch.sigmoid(logits).flatten(2)
    flat = masks.flatten(2)
    dice = (2 * (probs * flat).sum(-1) + smooth) / (probs.sum(-1) + flat.sum(-1) + smooth)
    present = (flat.sum(-1) > 0).float()
    dice_loss = ((1 - dice) * present).sum(1) / present.sum(1).clamp(min=1)
    bce = F.binary_cross_entropy_with_logits(logits, masks, reduction="none").flatten(1).mean(1)
    return dice_loss + bce


def segmentation_loss(
    logits: torch.Tensor, masks: torch.Tensor | None, present: torch.Tensor | None, smooth: float
) -> torch.Tensor:
    """:func:`dice_bce` averaged over the scans with a mask; scans without one are not read."""
    if masks is None or present is None or not present.any():
        return _zero(logits)
    if masks.shape != logits.shape:
        raise ValueError(
            f"masks {tuple(masks.shape)} are not on the model grid of the logits {tuple(logits.shape)}"
        )
    present = present.bool()
    return dice_bce(logits[present], masks[present], smooth).mean()


def report_loss(logits: torch.Tensor | None, reports: EncodedBatch | None) -> torch.Tensor:
    """Cross-entropy over the real next tokens (a plain zero when there are no reports)."""
    if reports is None:
        return torch.zeros(()) if logits is None else _zero(logits)
    if logits is None:
        raise ValueError("reports are given as targets but were not passed to UniCT.forward")
    targets = reports.ids[:, 1:].masked_fill(~reports.mask[:, 1:].bool(), -100)
    targets = targets.to(logits.device)  # the token batch is encoded on the CPU
    if not (targets >= 0).any():
        return _zero(logits)
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-100)


def unict_losses(
    output: UniCTOutput, targets: UniCTTargets, config: UniCTConfig
) -> dict[str, torch.Tensor]:
    """Unweighted loss per supervised task (``classification``, ``segmentation``, ``report``)."""
    losses: dict[str, torch.Tensor] = {}
    if config.supervise_classification:
        losses["classification"] = classification_loss(output.class_logits, targets.labels)
    if config.supervise_segmentation:
        losses["segmentation"] = segmentation_loss(
            output.seg_logits, targets.masks, targets.mask_present, config.dice_smooth
        )
    if config.supervise_report:
        losses["report"] = report_loss(output.report_logits, targets.reports).to(
            output.class_logits.device
        )
    return losses


def total_loss(losses: dict[str, torch.Tensor], config: UniCTConfig) -> torch.Tensor:
    """The weighted sum (``UniCTConfig.weight_<task>``) of :func:`unict_losses`."""
    return sum(
        (getattr(config, f"weight_{task}") * loss for task, loss in losses.items()),
        start=torch.zeros((), device=next(iter(losses.values())).device),
    )
