"""Training the 3D classifier with anatomy supervision: objective, optimizer and schedule.

The recipe of "Scaling Supervision for Free" (MIDL 2025) for its 3D baselines: multi-label BCE on
the tasks (labels -1 masked out) plus the auxiliary segmentation loss at weight 1 from the same
forward pass; AdamW with weight decay 1e-4, a cosine learning-rate schedule and gradient clipping
at norm 5. The epoch loop is :func:`hyperct.training.loop.train_one_epoch`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hyperct.anatomy.losses import SegLossConfig, segmentation_loss
from hyperct.anatomy.totalseg import LabelSet
from hyperct.tasks import LABEL_MISSING
from hyperct.training.loop import EpochStats, LoopContext, train_one_epoch
from hyperct.training.objectives import Objective

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Train3DConfig:
    """Optimisation of :class:`~hyperct.models.classifier3d.Classifier3D` (the paper's defaults).

    Attributes:
        lr: AdamW peak learning rate.
        weight_decay: AdamW weight decay.
        epochs: training epochs; the cosine schedule decays to 0 over them.
        max_grad_norm: gradient clipping norm.
        seg: the auxiliary segmentation loss; used when the model has a seg head.
        totalseg_targets: if set, the batch's ``anatomy`` holds TotalSegmentator v2 ids and is
            mapped to this label set on the fly; if None it already holds the set's small ids.
    """

    lr: float = 1e-4
    weight_decay: float = 1e-4
    epochs: int = 20
    max_grad_norm: float = 5.0
    seg: SegLossConfig = field(default_factory=SegLossConfig)
    totalseg_targets: LabelSet | None = None

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.epochs < 1 or self.max_grad_norm <= 0 or self.weight_decay < 0:
            raise ValueError(
                f"Train3DConfig needs lr > 0, epochs >= 1, max_grad_norm > 0, weight_decay >= 0; "
                f"got lr={self.lr}, epochs={self.epochs}, max_grad_norm={self.max_grad_norm}, "
                f"weight_decay={self.weight_decay}"
            )


def masked_bce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean BCE over the (sample, task) pairs whose label is not -1; 0 if there are none."""
    known = labels != LABEL_MISSING
    per = F.binary_cross_entropy_with_logits(
        logits.float(), labels.clamp(min=0).float(), reduction="none"
    )
    return (per * known).sum() / known.sum().clamp(min=1)


class Classifier3DObjective(Objective):
    """Multi-label BCE on the run's tasks + weighted segmentation loss, one forward pass."""

    def __init__(
        self, task_ids: Sequence[int], config: Train3DConfig = Train3DConfig(), **kwargs: Any
    ) -> None:
        super().__init__(task_ids, **kwargs)
        self.config = config
        lut = (
            config.totalseg_targets.lookup_table() if config.totalseg_targets is not None else None
        )
        self.lut = torch.tensor(lut, dtype=torch.long) if lut is not None else None

    def backward(self, model: nn.Module, batch: dict[str, Any], scale: float) -> dict[str, float]:
        labels = self.run_labels(batch["labels"])
        use_seg = getattr(model, "seg_head", None) is not None and "anatomy" in batch
        with self.autocast():
            if use_seg:
                logits, seg_logits = model.forward_with_seg(batch["image"])
            else:
                logits = model(batch["image"])
        loss = masked_bce(logits, labels)
        logs = {"loss": float(loss.detach()), "samples": float(len(logits))}
        if use_seg:
            seg = segmentation_loss(
                seg_logits.float(), self._targets(batch["anatomy"]), self.config.seg
            )
            loss = loss + self.config.seg.weight * seg
            logs["aux_loss"] = float(seg.detach())
        (loss * scale).backward()
        return logs

    def _targets(self, anatomy: torch.Tensor) -> torch.Tensor:
        if anatomy.ndim == 5 and anatomy.shape[1] == 1:
            anatomy = anatomy[:, 0]
        anatomy = anatomy.long()
        if self.lut is None:
            return anatomy
        return self.lut.to(anatomy.device)[anatomy]


def make_optimizer(
    model: nn.Module, config: Train3DConfig
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """AdamW over the trainable parameters and a cosine schedule stepped once per epoch."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    return optimizer, scheduler


def train_classifier3d(
    model: nn.Module,
    batches: Callable[[int], Iterable[dict[str, Any]]],
    config: Train3DConfig = Train3DConfig(),
    task_ids: Sequence[int] = tuple(range(25)),
    device: torch.device | str = "cpu",
) -> list[EpochStats]:
    """Train ``model`` for ``config.epochs``; ``batches(epoch)`` yields the epoch's batches.

    Returns the per-epoch statistics.
    """
    device = torch.device(device)
    model.to(device)
    objective = Classifier3DObjective(task_ids, config)
    optimizer, scheduler = make_optimizer(model, config)
    ctx = LoopContext(
        device=device,
        params=[p for group in optimizer.param_groups for p in group["params"]],
        max_grad_norm=config.max_grad_norm,
        progress=False,
    )
    history, step = [], 0
    for epoch in range(config.epochs):
        stats = train_one_epoch(model, batches(epoch), objective, optimizer, ctx, start_step=step)
        scheduler.step()
        step += stats.steps
        history.append(stats)
        logger.info("epoch %d: loss %.4f over %d steps", epoch + 1, stats.loss, stats.steps)
    return history
