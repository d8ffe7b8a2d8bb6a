"""The shared-LoRA multi-task baseline of the HyperCT paper.

The same frozen backbone carries one static LoRA (same modules and rank as HyperCT) shared by all
tasks; the CLS token of each image is averaged over the scan's real images, a shared LayerNorm
gives the shared representation, and a linear head per task gives that task's logit. Gradient
methods (MGDA, PCGrad, ...) can work on :meth:`shared_parameters` or on the representation
returned by :meth:`forward_features`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import torch
from torch import nn

from hyperct.models.adapted import build_adapted_backbone
from hyperct.models.config_dict import DictConfig
from hyperct.models.backbones import BACKBONE_DTYPES, Backbone
from hyperct.models.interface import Capability
from hyperct.models.lora import LoRALinear, LoRATargets, StaticLoRA
from hyperct.models.state import backbone_identity, load_trainable_state_dict, trainable_state_dict
from hyperct.tasks import TASK_NAMES
from hyperct.models.trunk import RunSpec, masked_mean, patch_grid, run_blocks

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MultiTaskConfig(DictConfig):
    """The shared-LoRA baseline; field meanings as in :class:`hyperct.models.hyperct.HyperCTConfig`."""

    backbone: str = "dinov3-vitb16"
    weights: str | None = None
    backbone_overrides: dict[str, Any] = field(default_factory=dict)
    backbone_dtype: str = "float32"
    lora_modules: tuple[str, ...] | str = "all"
    lora_blocks: tuple[int, ...] | None = None
    adapt_last_k: int | None = None
    rank: int = 16
    alpha: float = 16.0
    dropout: float = 0.05
    num_tasks: int = 25
    activation_checkpointing: bool = False

    def __post_init__(self) -> None:
        if self.backbone_dtype not in BACKBONE_DTYPES:
            raise ValueError(
                f"MultiTaskConfig.backbone_dtype: {self.backbone_dtype!r} is not one of {list(BACKBONE_DTYPES)}"
            )
        if self.rank < 1 or self.num_tasks < 1:
            raise ValueError(
                f"MultiTaskConfig: rank ({self.rank}) and num_tasks ({self.num_tasks}) must be >= 1"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"MultiTaskConfig.dropout must be in [0, 1), got {self.dropout}")
        if self.alpha <= 0:
            raise ValueError(f"MultiTaskConfig.alpha must be > 0, got {self.alpha}")
        self.targets()

    def targets(self) -> LoRATargets:
        modules = (
            self.lora_modules if isinstance(self.lora_modules, str) else tuple(self.lora_modules)
        )
        blocks = None if self.lora_blocks is None else tuple(self.lora_blocks)
        return LoRATargets(modules=modules, blocks=blocks, last_k=self.adapt_last_k)


class SharedLoRAMultiTask(nn.Module):
    """Frozen backbone + one shared static LoRA + a linear head per task -> logits (B, T)."""

    capabilities = frozenset({Capability.SHARED_FEATURES})

    def __init__(self, config: MultiTaskConfig, backbone: Backbone | None = None):
        super().__init__()
        self.config = config
        self.backbone, layers = build_adapted_backbone(
            config,
            backbone,
            lambda name, linear: StaticLoRA(linear.in_features, linear.out_features, config.rank),
        )
        self._lora_layers: dict[str, LoRALinear] = layers
        self.first_adapted = min(int(name.split(".", 1)[0]) for name in layers)
        self.norm = nn.LayerNorm(self.backbone.hidden_size)
        self.heads = nn.Linear(self.backbone.hidden_size, config.num_tasks)

    @property
    def task_names(self) -> list[str]:
        """The catalogue's names for 25 heads, ``task_<i>`` otherwise."""
        if self.config.num_tasks == len(TASK_NAMES):
            return list(TASK_NAMES)
        return [f"task_{i}" for i in range(self.config.num_tasks)]

    @property
    def feature_width(self) -> int:
        """Width of the patch tokens the anatomy head reads."""
        return self.backbone.hidden_size

    def forward(self, images: torch.Tensor, image_mask: torch.Tensor) -> torch.Tensor:
        """Logits (B, T) from images (B, N, 3, H, W) and image_mask (B, N) bool."""
        return self.forward_heads(self.forward_features(images, image_mask))

    def predict_all(
        self, images: torch.Tensor, image_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits (B, T) of every task: the same pass as :meth:`forward`."""
        if image_mask is None:
            raise ValueError("SharedLoRAMultiTask.predict_all needs the image_mask of the packed images")
        return self(images, image_mask)

    def forward_features(self, images: torch.Tensor, image_mask: torch.Tensor) -> torch.Tensor:
        """The shared representation (B, C): LayerNorm of the masked mean of per-image CLS."""
        return self._run(images, image_mask, capture=False)[0]

    def forward_features_and_tokens(
        self, images: torch.Tensor, image_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The shared representation (B, C) and the last block's patch tokens (B, N, h, w, C),
        the feature map of anatomy supervision, from one pass."""
        representation, tokens = self._run(images, image_mask, capture=True)
        return representation, cast(torch.Tensor, tokens)

    def _run(
        self, images: torch.Tensor, image_mask: torch.Tensor, capture: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        hidden, rope = self.backbone.embed(images.flatten(0, 1))
        last = self.backbone.num_blocks - 1
        spec = RunSpec(
            start=0,
            stop=self.backbone.num_blocks,
            checkpointing="full" if self.config.activation_checkpointing else "none",
            grad_from=self.first_adapted,
            capture=last if capture else None,
            capture_grid=patch_grid(images, self.backbone.patch_size),
        )
        hidden, tokens = run_blocks(self.backbone, hidden, rope, spec)
        cls = self.backbone.final_norm(hidden)[:, 0].unflatten(0, images.shape[:2])
        return self.norm(masked_mean(cls, image_mask)), tokens

    def forward_heads(self, representation: torch.Tensor) -> torch.Tensor:
        """Per-task linear heads: (B, C) -> (B, T)."""
        return self.heads(representation)

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters every task shares: the LoRA A and B matrices and the representation norm."""
        for layer in self._lora_layers.values():
            yield from layer.source.parameters()
        yield from self.norm.parameters()

    def task_specific_parameters(self) -> Iterator[nn.Parameter]:
        """The per-task heads (row t of the weight and bias belongs to task t)."""
        yield from self.heads.parameters()

    def merge_lora(self) -> None:
        """Fold the shared LoRA into the frozen weights (faster inference; checks finiteness)."""
        for layer in self._lora_layers.values():
            layer.merge()

    def unmerge_lora(self) -> None:
        for layer in self._lora_layers.values():
            layer.unmerge()

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """LoRA, norm and heads; never the frozen backbone."""
        return trainable_state_dict(self)

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        load_trainable_state_dict(self, state)

    def backbone_identity(self) -> dict[str, str]:
        return backbone_identity(self.backbone)
