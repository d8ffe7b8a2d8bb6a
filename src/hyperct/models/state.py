"""Trainable state of a model built around a frozen backbone: everything but the backbone's weights.

Checkpoints store only this (never the frozen backbone); the backbone is identified by name and
weight hash instead (:meth:`hyperct.models.backbones.DINOv3Backbone.identity`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hyperct.models.interface import NO_FROZEN_BACKBONE

_PREFIX = "backbone.vit."


def _frozen_names(model: nn.Module) -> frozenset[str]:
    return frozenset(_PREFIX + key for key in model.backbone.frozen_keys)


def trainable_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model.state_dict()`` without the frozen backbone weights (adapters inside it are kept)."""
    frozen = _frozen_names(model)
    return {k: v for k, v in model.state_dict().items() if k not in frozen}


def load_trainable_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load a :func:`trainable_state_dict`; every trainable key must be present, and no other."""
    frozen = _frozen_names(model)
    stray = sorted(k for k in state if k in frozen)
    if stray:
        raise KeyError(f"trainable state holds frozen backbone weights: {stray[:5]}")
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k not in frozen]
    if missing or unexpected:
        raise KeyError(
            f"trainable state does not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )


class FullyTrainable:
    """For an ``nn.Module`` without a frozen backbone (trained end to end): its trainable state is
    every weight and buffer (batch-norm statistics included), identified by its class name."""

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        return self.state_dict()  # type: ignore[attr-defined]

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing, unexpected = self.load_state_dict(state, strict=False)  # type: ignore[attr-defined]
        if missing or unexpected:
            raise KeyError(
                f"trainable state does not fit the model: missing {missing[:5]}, "
                f"unexpected {unexpected[:5]}"
            )

    def backbone_identity(self) -> dict[str, str]:
        return {"name": type(self).__name__, "sha256": NO_FROZEN_BACKBONE}


def backbone_identity(backbone: Any) -> dict[str, str]:
    """Name and weights SHA-256 of a frozen backbone, as stored in checkpoints."""
    ident = backbone.identity()
    return {"name": str(ident.name), "sha256": str(ident.sha256)}
