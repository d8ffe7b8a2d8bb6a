"""A 3D multi-label CT classifier: the 3D baseline of "Scaling Supervision for Free" (MIDL 2025).

Backbone -> global average pool -> linear to one logit per task (18 or 25). The anatomy head of
that paper reads :meth:`Classifier3D.forward_features` during training and belongs to the
training objective (:mod:`hyperct.anatomy.supervision`), so this model is the inference model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from hyperct.models.backbones3d import available_backbones3d, create_backbone3d
from hyperct.models.interface import Capability
from hyperct.models.state import FullyTrainable
from hyperct.tasks import TASK_NAMES


@dataclass(frozen=True)
class Classifier3DConfig:
    """What :class:`Classifier3D` is built from.

    Attributes:
        backbone: a name from :func:`hyperct.models.backbones3d.available_backbones3d`.
        backbone_kwargs: fields of the backbone's config (e.g. ``{"width": 8}``).
        num_tasks: output logits (18 conventional findings or all 25 tasks).
        dropout: dropout before the linear classifier.
    """

    backbone: str = "resnet18_3d"
    backbone_kwargs: dict[str, object] = field(default_factory=dict)
    num_tasks: int = 25
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.backbone not in available_backbones3d():
            raise ValueError(
                f"Classifier3DConfig.backbone {self.backbone!r} is unknown; choose one of "
                f"{available_backbones3d()}"
            )
        if self.num_tasks < 1:
            raise ValueError(f"Classifier3DConfig.num_tasks must be >= 1, got {self.num_tasks}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"Classifier3DConfig.dropout must be in [0, 1), got {self.dropout}")


class Classifier3D(FullyTrainable, nn.Module):
    """``forward(image (B, 1, D, H, W)) -> logits (B, num_tasks)``; trained end to end, so its
    trainable state is the whole state dict and it has no frozen backbone to identify."""

    capabilities = frozenset({Capability.VOLUME_FEATURES})

    def __init__(self, config: Classifier3DConfig = Classifier3DConfig()) -> None:
        super().__init__()
        self.config = config
        self.backbone = create_backbone3d(config.backbone, **config.backbone_kwargs)
        width = self.backbone.out_channels
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(width, config.num_tasks))

    @property
    def task_names(self) -> list[str]:
        """The catalogue's names for 25 outputs, ``task_<i>`` otherwise."""
        if self.config.num_tasks == len(TASK_NAMES):
            return list(TASK_NAMES)
        return [f"task_{i}" for i in range(self.config.num_tasks)]

    @property
    def feature_width(self) -> int:
        """Channels of the feature map the anatomy head reads."""
        return int(self.backbone.out_channels)

    def forward_features(self, image: torch.Tensor) -> torch.Tensor:
        """The backbone's lowest-resolution map ``(B, C, d, h, w)``."""
        if image.ndim != 5:
            raise ValueError(
                f"Classifier3D expects (B, C, D, H, W) images, got shape {tuple(image.shape)}"
            )
        return self.backbone(image)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Logits from a feature map: global average pool, dropout, linear."""
        return self.head(features.mean(dim=(2, 3, 4)))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(image))

    def predict_all(
        self, images: torch.Tensor, image_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits (B, T) of every task; a 3D volume has no image mask, so it must be None."""
        if image_mask is not None:
            raise ValueError("Classifier3D reads whole volumes; it takes no image_mask")
        return self(images)
