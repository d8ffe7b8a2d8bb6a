"""Frozen 2D backbones created by name (``create_backbone``), DINOv3 ViTs via transformers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from hyperct.models.backbones.dinov3 import (
    PRESETS,
    BackboneIdentity,
    DINOv3Backbone,
    Segment,
    build_dinov3,
    run_segment,
)

Backbone = DINOv3Backbone

#: Storage dtypes for the frozen weights (``HyperCTConfig.backbone_dtype``).
BACKBONE_DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16}

_BUILDERS: dict[str, Callable[..., Backbone]] = {name: build_dinov3 for name in PRESETS}


def available_backbones() -> list[str]:
    """Names accepted by :func:`create_backbone`."""
    return sorted(_BUILDERS)


def create_backbone(name: str, weights: str | Path | None = None, **overrides: Any) -> Backbone:
    """Build backbone ``name`` (e.g. ``"dinov3-vitb16"``), frozen and in eval mode.

    ``weights``: a Hugging Face model folder, a ``.safetensors`` file or Meta's original ``.pth``;
    ``None`` gives random weights and a loud warning. ``overrides`` change preset fields of the
    ``DINOv3ViTConfig`` (e.g. ``num_hidden_layers=2`` for a test).

    >>> backbone = create_backbone("dinov3-tiny")  # doctest: +SKIP
    >>> backbone(torch.zeros(2, 3, 32, 32)).shape  # doctest: +SKIP
    torch.Size([2, 64])
    """
    if name not in _BUILDERS:
        raise KeyError(f"unknown backbone {name!r}; available: {', '.join(available_backbones())}")
    return _BUILDERS[name](name, weights, **overrides)


__all__ = [
    "BACKBONE_DTYPES",
    "Backbone",
    "BackboneIdentity",
    "DINOv3Backbone",
    "Segment",
    "available_backbones",
    "create_backbone",
    "run_segment",
]
