"""The frozen backbone with LoRA in its target layers: the common start of every model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from hyperct.models.backbones import BACKBONE_DTYPES, Backbone, create_backbone
from hyperct.models.lora import LoRALinear, inject_lora


def build_adapted_backbone(
    config: Any, backbone: Backbone | None, new_source: Callable[[str, nn.Linear], Any]
) -> tuple[Backbone, dict[str, LoRALinear]]:
    """Build ``config``'s backbone (unless given), store it in its dtype and wrap its targets.

    ``config`` is a model config with backbone, weights, backbone_overrides, backbone_dtype,
    targets(), alpha and dropout; ``new_source`` decides where each layer's A and B come from
    (static parameters or the hypernetwork).
    """
    backbone = backbone or create_backbone(
        config.backbone, config.weights, **config.backbone_overrides
    )
    backbone.cast(BACKBONE_DTYPES[config.backbone_dtype])
    layers = inject_lora(
        backbone.blocks, config.targets(), new_source, alpha=config.alpha, dropout=config.dropout
    )
    return backbone, layers
