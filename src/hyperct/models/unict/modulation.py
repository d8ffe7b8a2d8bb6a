"""Segmentation-conditioned feature modulation: predicted masks steer classification and report.

Choice: **FiLM from mask-pooled features**. For each category ``k`` the encoder's feature map is
averaged inside the predicted mask (weights = mask probabilities pooled to the feature map's
grid), reduced to a short code and joined with the mask's mass (mean probability); the codes of
all categories give, through one MLP per target task, a scale ``gamma`` and shift ``beta`` that
act on that task's latents: ``x * (1 + gamma) + beta``. The last layer starts at zero, so
training starts from no modulation.

The mask probabilities are detached: the masks act as a conditioning signal, so the
classification and report losses never train the segmentation decoder (switching segmentation
supervision off leaves that head without gradient), while the encoder features being pooled do
receive those losses' gradient. Switched off (:class:`NoModulation`), the segmentation
prediction has no effect on the other tasks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hyperct.models.unict.encoders import EncodedCT

_CODE = 16


def mask_pooled(
    feature_map: torch.Tensor, mask_logits: torch.Tensor, slice_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per category: the mean feature inside its soft mask ``(B, K, C)`` and its mass ``(B, K)``.

    ``feature_map`` is ``(B, C, s, h, w)``; ``mask_logits`` ``(B, K, *any grid)``, pooled to the
    feature map's grid and detached; ``slice_mask`` ``(B, s)`` drops padding slices.
    """
    weights = F.adaptive_avg_pool3d(torch.sigmoid(mask_logits.detach()), feature_map.shape[2:])
    weights = weights * slice_mask[:, None, :, None, None].to(weights.dtype)
    total = weights.sum(dim=(2, 3, 4))
    pooled = torch.einsum("bkshw,bcshw->bkc", weights, feature_map) / (total[..., None] + 1e-6)
    real = slice_mask.sum(dim=1, keepdim=True) * feature_map.shape[3] * feature_map.shape[4]
    return pooled, total / real


class MaskFiLM(nn.Module):
    """FiLM of ``targets`` task latents from the mask-pooled features of ``categories`` masks."""

    def __init__(self, channels: int, categories: int, dim: int, targets: int) -> None:
        super().__init__()
        self.reduce = nn.Linear(channels, _CODE)
        width = categories * (_CODE + 1)
        self.films = nn.ModuleList(
            nn.Sequential(
                nn.LayerNorm(width), nn.Linear(width, dim), nn.GELU(), nn.Linear(dim, 2 * dim)
            )
            for _ in range(targets)
        )
        for film in self.films:
            nn.init.zeros_(film[-1].weight)
            nn.init.zeros_(film[-1].bias)

    def forward(
        self, latents: list[torch.Tensor], encoded: EncodedCT, mask_logits: torch.Tensor
    ) -> list[torch.Tensor]:
        """Modulated latents, one per target task, each ``(B, L, D)``."""
        pooled, mass = mask_pooled(encoded.feature_map, mask_logits, encoded.slice_mask)
        code = torch.cat([self.reduce(pooled), mass[..., None]], dim=-1).flatten(1)
        out = []
        for film, x in zip(self.films, latents, strict=True):
            gamma, beta = film(code).chunk(2, dim=-1)
            out.append(x * (1 + gamma[:, None]) + beta[:, None])
        return out


class NoModulation(nn.Module):
    """Modulation switched off: the latents pass unchanged."""

    def forward(
        self, latents: list[torch.Tensor], encoded: EncodedCT, mask_logits: torch.Tensor
    ) -> list[torch.Tensor]:
        return latents
