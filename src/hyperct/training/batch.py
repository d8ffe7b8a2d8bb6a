"""Moving a collated batch to the device and running a model's all-task prediction on it."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Tensors of ``batch`` on ``device`` (non-blocking); other values unchanged."""
    return {
        k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
        for k, v in batch.items()
    }


def predict_logits(model: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
    """All-task logits ``(B, 25)``: HyperCT's ``predict_all`` or a multi-task ``forward``.

    2.5D batches carry ``image_mask``; 3D ones do not, and the model is called on the image alone.
    """
    images, mask = batch["image"], batch.get("image_mask")
    predict = getattr(model, "predict_all", None) or model
    return predict(images, mask) if mask is not None else predict(images)
