"""Tiny random models and inputs shared by the model tests (no downloads, CPU, seconds)."""

from __future__ import annotations

import dataclasses

import torch

from hyperct.models.hyperct import HyperCT, HyperCTConfig

TINY = HyperCTConfig(
    backbone="dinov3-tiny",
    num_tasks=5,
    task_dim=32,
    module_dim=8,
    latent_dim=16,
    hyper_output_dim=32,
    dropout=0.0,
)


def tiny_hyperct(seed: int = 0, **changes: object) -> HyperCT:
    """A tiny HyperCT whose LoRA is non-zero (B heads randomised), in eval mode."""
    torch.manual_seed(seed)
    model = HyperCT(dataclasses.replace(TINY, **changes))
    randomise_lora(model)
    return model.eval()


def randomise_lora(model: HyperCT, scale: float = 0.2) -> None:
    """Give the hypernetwork heads random B parts so that Delta W != 0 (a 'trained' model)."""
    with torch.no_grad():
        for head in model.hypernetwork.heads.values():
            head.weight.normal_(0.0, scale / head.in_features**0.5)
            head.bias.normal_(0.0, scale * 0.1)


def scan_batch(
    batch: int = 3, images: int = 4, size: int = 32, seed: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random packed images (B, N, 3, H, W) and a mask with some padded images."""
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randn(batch, images, 3, size, size, generator=generator)
    mask = torch.ones(batch, images, dtype=torch.bool)
    mask[-1, -1] = False
    if batch > 1:
        mask[0, -2:] = False
    return pixels, mask
