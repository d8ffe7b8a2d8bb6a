"""HyperCT's training objective with anatomy supervision on the LoRA-adapted patch tokens.

"Scaling Supervision for Free" (MIDL 2025) adds a segmentation loss on the backbone's
lowest-resolution features. For the 2.5D ViT of HyperCT those are the patch tokens of each
triplet image (an h x w grid of C channels, last block, LoRA of the sample's task applied); a
1x1 convolution on them, upsampled to the image grid, predicts the mask of the triplet's middle
slice. Classification and segmentation share one forward pass.

The head is owned by the objective, not the model: the trainer optimises
``objective.parameters()`` and checkpoints ``objective.state_dict()``, and the model that is
saved for inference never contains it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from hyperct.anatomy.heads import AuxSegHead, token_seg_logits
from hyperct.anatomy.losses import SegLossConfig, SegLossKind, segmentation_loss
from hyperct.anatomy.totalseg import CHEST_LOBES_HEART, LABEL_SETS, LabelSet, get_label_set
from hyperct.training.objectives import HyperCTObjective
from hyperct.training.sampling import sample_tasks

logger = logging.getLogger(__name__)


@dataclass
class AnatomyConfig:
    """The ``anatomy`` section of a training config: auxiliary segmentation on/off and how.

    Attributes:
        enabled: add the anatomy segmentation loss.
        label_set: a name from :data:`hyperct.anatomy.totalseg.LABEL_SETS`.
        weight: multiplier of the segmentation loss (the paper: 1).
        loss: ``ce`` (the paper's), ``dice`` or ``dice_ce``.
        targets: ``totalseg`` if the cached masks hold TotalSegmentator v2 ids (what
            ``hyperct prepare`` caches from ``anatomy_path``), ``small`` if they hold the set's ids.
    """

    enabled: bool = False
    label_set: str = CHEST_LOBES_HEART.name
    weight: float = 1.0
    loss: SegLossKind = "ce"
    targets: Literal["totalseg", "small"] = "totalseg"

    def __post_init__(self) -> None:
        if self.label_set not in LABEL_SETS:
            raise ValueError(
                f"anatomy.label_set must be one of {sorted(LABEL_SETS)}, got {self.label_set!r}"
            )
        if self.targets not in ("totalseg", "small"):
            raise ValueError(f"anatomy.targets must be totalseg or small, got {self.targets!r}")
        self.seg_loss()

    def seg_loss(self) -> SegLossConfig:
        return SegLossConfig(weight=self.weight, kind=self.loss)


def build_anatomy_objective(
    config: AnatomyConfig,
    task_ids: Sequence[int],
    generator: torch.Generator,
    hidden_size: int,
    device: torch.device | str = "cpu",
    **kwargs: Any,
) -> AnatomyHyperCTObjective:
    """The HyperCT objective with anatomy supervision as ``config`` says (``kwargs``: as
    :class:`HyperCTObjective`, e.g. ``task_weights``, ``aux_losses``, ``autocast``)."""
    if not config.enabled:
        raise ValueError("anatomy.enabled is false; build the plain HyperCTObjective instead")
    return AnatomyHyperCTObjective(
        task_ids,
        generator,
        hidden_size=hidden_size,
        label_set=get_label_set(config.label_set),
        seg=config.seg_loss(),
        totalseg_targets=config.targets == "totalseg",
        device=device,
        **kwargs,
    )


class AnatomyHyperCTObjective(HyperCTObjective):
    """HyperCT's task-sampled BCE plus the weighted anatomy segmentation loss.

    Args:
        task_ids: the run's tasks.
        generator: task-sampling generator (as :class:`HyperCTObjective`).
        hidden_size: channels of the backbone's patch tokens.
        label_set: the anatomy classes; fixes the head's output channels.
        seg: loss kind, weight and ignore index.
        totalseg_targets: True if the batch's ``anatomy`` holds TotalSegmentator v2 ids (mapped to
            ``label_set`` on the fly); False if it already holds the set's small ids.
        device: where the head lives (the model's device).
        task_weights, kwargs: as :class:`HyperCTObjective`.
    """

    def __init__(
        self,
        task_ids: Sequence[int],
        generator: torch.Generator,
        hidden_size: int,
        label_set: LabelSet = CHEST_LOBES_HEART,
        seg: SegLossConfig = SegLossConfig(),
        totalseg_targets: bool = False,
        device: torch.device | str = "cpu",
        task_weights: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(task_ids, generator=generator, task_weights=task_weights, **kwargs)
        self.seg = seg
        self.label_set = label_set
        self.seg_head = AuxSegHead(hidden_size, label_set.num_classes, spatial_dims=2).to(device)
        self.lut = (
            torch.tensor(label_set.lookup_table(), dtype=torch.long) if totalseg_targets else None
        )

    def backward(self, model: nn.Module, batch: dict[str, Any], scale: float) -> dict[str, float]:
        labels = self.run_labels(batch["labels"]).cpu()
        tasks, keep = sample_tasks(labels, self.generator, self.task_weights)
        if not keep.any():
            return {"loss": float("nan"), "samples": 0.0}
        device = batch["image"].device
        idx = keep.nonzero().squeeze(1).to(device)
        images, image_mask = (
            batch["image"].index_select(0, idx),
            batch["image_mask"].index_select(0, idx),
        )
        task_sel = tasks[keep].to(device)
        use_seg = "anatomy" in batch
        with self.autocast():
            features = model.forward_features(
                images, image_mask, task_sel, return_patch_tokens=use_seg
            )
            logits = model.forward_head(features.cls, image_mask, task_sel)
        loss = F.binary_cross_entropy_with_logits(
            logits.float(), labels[keep, tasks[keep]].to(device)
        )
        logs = {"loss": float(loss.detach()), "samples": float(keep.sum())}
        total = loss
        if use_seg:
            target = self._targets(batch["anatomy"].index_select(0, idx), image_mask)
            with self.autocast():
                seg_logits = token_seg_logits(
                    self.seg_head, features.patch_tokens, tuple(target.shape[-2:])
                )
            seg_loss = segmentation_loss(
                seg_logits.float().flatten(0, 1), target.flatten(0, 1), self.seg
            )
            total = total + self.seg.weight * seg_loss
            logs["seg_loss"] = float(seg_loss.detach())
        aux = self._aux(model, batch)
        if aux is not None:
            total = total + aux
            logs["aux_loss"] = float(aux.detach())
        (total * scale).backward()
        return logs

    def _targets(self, anatomy: torch.Tensor, image_mask: torch.Tensor) -> torch.Tensor:
        """(B, N, H, W) small ids; padded images (mask False) are ignored."""
        if anatomy.ndim != 4 or anatomy.shape[:2] != image_mask.shape:
            raise ValueError(
                f"batch['anatomy'] must be (B, N, H, W) with (B, N) = {tuple(image_mask.shape)}, "
                f"got {tuple(anatomy.shape)}"
            )
        anatomy = anatomy.long()
        if self.lut is not None:
            anatomy = self.lut.to(anatomy.device)[anatomy]
        return anatomy.masked_fill(~image_mask[:, :, None, None], self.seg.ignore_index)

    def parameters(self) -> list[nn.Parameter]:
        return list(super().parameters()) + list(self.seg_head.parameters())

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "seg_head": self.seg_head.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.seg_head.load_state_dict(state["seg_head"])
