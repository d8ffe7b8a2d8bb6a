"""Tiny UniCT configs and inputs shared by the UniCT tests."""

from __future__ import annotations

from typing import Any

import torch

from hyperct.models.unict import UniCTConfig

REPORTS = [
    "No pleural effusion. Small nodule in the right upper lobe.",
    "Cardiomegaly. Bilateral pleural effusion with atelectasis.",
    "Emphysema. No nodule. No effusion.",
]

#: Tiny sizes per encoder: each builds and runs in well under a second on a CPU.
TINY: dict[str, dict[str, Any]] = {
    "ctscroll": {"cnn_depth": 10, "cnn_width": 4},
    "volume3d": {"backbone3d": "resnet10_3d", "backbone3d_kwargs": {"width": 4}},
    "dinov3": {"dinov3": "dinov3-tiny", "dinov3_lora_rank": 2},
}


def tiny_config(encoder: str = "volume3d", **overrides: Any) -> UniCTConfig:
    fields: dict[str, Any] = {
        "encoder": encoder,
        "dim": 16,
        "heads": 2,
        "slice_window": 3,
        "classes": ("a", "b", "c"),
        "seg_classes": ("1a", "2d"),
        "cls_latents": 2,
        "report_latents": 3,
        "seg_embed": 4,
        "seg_upsample": 1,
        "decoder": {"width": 16, "layers": 1, "heads": 2, "max_len": 32, "dropout": 0.0},
        **TINY[encoder],
    }
    return UniCTConfig(**{**fields, **overrides})


def inputs(encoder: str, batch: int = 2) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Images in the shape the preprocessing gives (2.5D: 4 triplets of 32 x 32, last padded)."""
    gen = torch.Generator().manual_seed(0)
    if encoder == "volume3d":
        return torch.randn(batch, 1, 16, 32, 32, generator=gen), None
    images = torch.randn(batch, 4, 3, 32, 32, generator=gen)
    image_mask = torch.ones(batch, 4, dtype=torch.bool)
    image_mask[0, -1] = False
    return images, image_mask
