"""Anatomy supervision as a training-only add-on to any objective: head, targets and loss.

"Scaling Supervision for Free" (MIDL 2025) adds a segmentation loss on the backbone's
lowest-resolution features. Every model family of the toolkit has such a map:

- the 2.5D ViTs (HyperCT and the shared-LoRA baselines): the patch tokens of each triplet image,
  an h x w grid of C channels (last block, LoRA applied); the head predicts the mask of the
  triplet's middle slice;
- the 3D classifiers: the backbone's last (C, d, h, w) feature map; the head predicts the mask on
  the image grid.

The head belongs to the objective, not the model: the trainer optimises and checkpoints it with
the objective's state, and the model saved for inference never contains it, so inference costs
and logits are exactly those of the model trained without the head's presence in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from hyperct.anatomy.heads import AuxSegHead, token_seg_logits
from hyperct.anatomy.losses import SegLossConfig, SegLossKind, segmentation_loss
from hyperct.anatomy.totalseg import CHEST_LOBES_HEART, LABEL_SETS, LabelSet, get_label_set


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


class AnatomySupervision:
    """The auxiliary head and its loss for one model's feature map.

    Args:
        in_channels: channels of the feature map (ViT hidden size, or the 3D backbone's width).
        spatial_dims: 2 for 2.5D patch tokens, 3 for 3D feature maps.
        label_set: the anatomy classes; fixes the head's output channels.
        seg: loss kind, weight and ignore index.
        totalseg_targets: True if the batch's ``anatomy`` holds TotalSegmentator v2 ids (mapped to
            ``label_set`` on the fly); False if it already holds the set's small ids.
        device: where the head lives (the model's device).
    """

    def __init__(
        self,
        in_channels: int,
        spatial_dims: int,
        label_set: LabelSet = CHEST_LOBES_HEART,
        seg: SegLossConfig = SegLossConfig(),
        totalseg_targets: bool = False,
        device: torch.device | str = "cpu",
    ) -> None:
        self.seg = seg
        self.label_set = label_set
        self.head = AuxSegHead(in_channels, label_set.num_classes, spatial_dims).to(device)
        self.lut = (
            torch.tensor(label_set.lookup_table(), dtype=torch.long) if totalseg_targets else None
        )

    @property
    def weight(self) -> float:
        return self.seg.weight

    def token_loss(
        self, tokens: torch.Tensor, anatomy: torch.Tensor, image_mask: torch.Tensor
    ) -> torch.Tensor:
        """Unweighted loss of 2.5D patch tokens ``(B, N, h, w, C)`` against the middle-slice masks
        ``anatomy (B, N, H, W)``; padded images (``image_mask`` False) are ignored."""
        if anatomy.ndim != 4 or anatomy.shape[:2] != image_mask.shape:
            raise ValueError(
                f"batch['anatomy'] must be (B, N, H, W) with (B, N) = {tuple(image_mask.shape)}, "
                f"got {tuple(anatomy.shape)}"
            )
        target = self._small_ids(anatomy).masked_fill(
            ~image_mask[:, :, None, None], self.seg.ignore_index
        )
        logits = token_seg_logits(self.head, tokens, tuple(target.shape[-2:]))
        return segmentation_loss(logits.float().flatten(0, 1), target.flatten(0, 1), self.seg)

    def volume_loss(self, features: torch.Tensor, anatomy: torch.Tensor) -> torch.Tensor:
        """Unweighted loss of a 3D feature map ``(B, C, d, h, w)`` against ``anatomy (B[, 1], D,
        H, W)``; the head's logits are upsampled to the mask grid."""
        if anatomy.ndim == 5 and anatomy.shape[1] == 1:
            anatomy = anatomy[:, 0]
        if anatomy.ndim != 4 or anatomy.shape[0] != features.shape[0]:
            raise ValueError(
                f"batch['anatomy'] must be (B, D, H, W) with B = {features.shape[0]}, "
                f"got {tuple(anatomy.shape)}"
            )
        target = self._small_ids(anatomy)
        logits = self.head(features, tuple(target.shape[1:]))
        return segmentation_loss(logits.float(), target, self.seg)

    def _small_ids(self, anatomy: torch.Tensor) -> torch.Tensor:
        anatomy = anatomy.long()
        return anatomy if self.lut is None else self.lut.to(anatomy.device)[anatomy]

    def parameters(self) -> list[nn.Parameter]:
        return list(self.head.parameters())

    def state_dict(self) -> dict[str, Any]:
        return self.head.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.head.load_state_dict(state)


def build_supervision(
    config: AnatomyConfig, in_channels: int, spatial_dims: int, device: torch.device | str = "cpu"
) -> AnatomySupervision:
    """The supervision ``config`` describes, for a feature map of ``in_channels`` channels."""
    if not config.enabled:
        raise ValueError("anatomy.enabled is false; train without anatomy supervision instead")
    return AnatomySupervision(
        in_channels,
        spatial_dims,
        label_set=get_label_set(config.label_set),
        seg=config.seg_loss(),
        totalseg_targets=config.targets == "totalseg",
        device=device,
    )
