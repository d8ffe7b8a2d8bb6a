"""Segmentation losses for anatomy supervision, ignoring voxels without a label.

The paper ("Scaling Supervision for Free", MIDL 2025) trains the auxiliary head with
cross-entropy at weight 1; soft Dice and Dice + CE are offered as options. Voxels whose target is
``ignore_index`` (padding, scans without a mask) contribute nothing, and the gradient there is 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from hyperct.tasks import IGNORE_INDEX

SegLossKind = Literal["ce", "dice", "dice_ce"]


@dataclass(frozen=True)
class SegLossConfig:
    """How the auxiliary segmentation loss is computed and weighted.

    Attributes:
        weight: multiplier of the segmentation loss added to the classification loss.
        kind: ``ce`` (the paper's), ``dice`` (soft Dice over foreground classes) or ``dice_ce``.
        ignore_index: target value of unlabeled voxels.
    """

    weight: float = 1.0
    kind: SegLossKind = "ce"
    ignore_index: int = IGNORE_INDEX

    def __post_init__(self) -> None:
        if not (self.weight >= 0.0):
            raise ValueError(f"SegLossConfig.weight must be >= 0, got {self.weight}")
        if self.kind not in ("ce", "dice", "dice_ce"):
            raise ValueError(f"SegLossConfig.kind must be ce, dice or dice_ce, got {self.kind!r}")


def segmentation_loss(
    logits: torch.Tensor, target: torch.Tensor, config: SegLossConfig = SegLossConfig()
) -> torch.Tensor:
    """Unweighted segmentation loss of ``logits (B, K, *S)`` against ``target (B, *S)``.

    Returns 0 (with a graph to ``logits``) when every voxel is ignored, so a batch without any
    mask adds nothing.
    """
    if logits.ndim != target.ndim + 1 or logits.shape[2:] != target.shape[1:]:
        raise ValueError(
            f"segmentation logits {tuple(logits.shape)} do not match target {tuple(target.shape)}"
        )
    target = target.long()
    valid = target != config.ignore_index
    if not bool(valid.any()):
        return logits.sum() * 0.0
    loss = logits.new_zeros(())
    if config.kind in ("ce", "dice_ce"):
        loss = loss + F.cross_entropy(logits, target, ignore_index=config.ignore_index)
    if config.kind in ("dice", "dice_ce"):
        loss = loss + _masked_soft_dice(logits, target, valid)
    return loss


def _masked_soft_dice(
    logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor
) -> torch.Tensor:
    """1 - mean soft Dice over foreground classes, counting only valid voxels."""
    num_classes = logits.shape[1]
    probs = logits.float().softmax(dim=1)
    mask = valid.unsqueeze(1).to(probs.dtype)
    onehot = F.one_hot(torch.where(valid, target, 0), num_classes).movedim(-1, 1).to(probs.dtype)
    dims = (0,) + tuple(range(2, logits.ndim))
    inter = (probs * onehot * mask).sum(dims)
    denom = (probs * mask).sum(dims) + (onehot * mask).sum(dims)
    dice = (2.0 * inter + 1e-5) / (denom + 1e-5)
    return 1.0 - dice[1:].mean()
