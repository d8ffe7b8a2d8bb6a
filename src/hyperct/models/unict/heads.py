"""UniCT's classification head and segmentation decoders (the report head is the injected
:class:`~hyperct.models.report.base.ReportDecoder`).

Segmentation works like a mask-embedding decoder: a light convolutional decoder turns the
encoder's feature map into per-voxel embeddings, each category's (fused) segmentation latent is
projected to an embedding of the same width, and a category's mask logit at a voxel is their dot
product. The embeddings' grid is then interpolated to the model grid. Two decoders share that
bookkeeping and differ only in :meth:`SegmentationDecoder.voxel_embeddings`:

* :class:`TripletMaskDecoder` (2.5D): per image, a 2D decoder gives 3 embeddings per pixel, one
  per slice of its triplet, stacked to ``(B, E, 3N, h', w')``;
* :class:`VolumeMaskDecoder` (3D): a 3D decoder upsamples the feature map.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch import nn

from hyperct.models.conv3d import CPUFloat32Conv3d


class ClassificationHead(nn.Module):
    """LayerNorm + Linear on the mean of the classification latents: ``(B, L, D) -> (B, K)``."""

    def __init__(self, dim: int, classes: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.linear = nn.Linear(dim, classes)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.linear(self.norm(latents.mean(dim=1)))


def _stage(conv: type[nn.Module], cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(conv(cin, cout, 3, padding=1), nn.GroupNorm(1, cout), nn.GELU())


class SegmentationDecoder(nn.Module, ABC):
    """Base class: voxel embeddings (subclass) x category embeddings -> mask logits."""

    def __init__(self, dim: int, embed: int) -> None:
        super().__init__()
        self.embed = embed
        self.category = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, embed))
        self.bias = nn.Parameter(torch.zeros(1))

    @abstractmethod
    def voxel_embeddings(self, feature_map: torch.Tensor) -> torch.Tensor:
        """``(B, C, s, h, w)`` -> ``(B, E, d', h', w')``."""

    def forward(
        self, feature_map: torch.Tensor, seg_latents: torch.Tensor, grid: tuple[int, int, int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mask logits on the embeddings' grid ``(B, K, d', h', w')`` and on ``grid``."""
        voxels = self.voxel_embeddings(feature_map)
        categories = self.category(seg_latents) / math.sqrt(self.embed)
        coarse = torch.einsum("bke,bedhw->bkdhw", categories, voxels) + self.bias
        fine = F.interpolate(coarse, size=grid, mode="trilinear", align_corners=False)
        return coarse, fine


class TripletMaskDecoder(SegmentationDecoder):
    """2.5D: per image a 2D decoder, 3 slice embeddings per pixel (slices 3j, 3j+1, 3j+2)."""

    def __init__(self, channels: int, dim: int, embed: int, upsample: int) -> None:
        super().__init__(dim, embed)
        hidden = 2 * embed
        layers: list[nn.Module] = [_stage(nn.Conv2d, channels, hidden)]
        for _ in range(upsample):
            layers += [
                nn.Upsample(scale_factor=2, mode="bilinear"),
                _stage(nn.Conv2d, hidden, hidden),
            ]
        self.net = nn.Sequential(*layers, nn.Conv2d(hidden, 3 * embed, 1))

    def voxel_embeddings(self, feature_map: torch.Tensor) -> torch.Tensor:
        batch = feature_map.shape[0]
        per_image = self.net(feature_map.transpose(1, 2).flatten(0, 1))  # (B*N, 3E, h', w')
        per_slice = per_image.unflatten(1, (3, self.embed)).unflatten(0, (batch, -1))
        return per_slice.flatten(1, 2).transpose(1, 2)  # (B, E, 3N, h', w')


class VolumeMaskDecoder(SegmentationDecoder):
    """3D: a light 3D decoder upsampling the feature map."""

    def __init__(self, channels: int, dim: int, embed: int, upsample: int) -> None:
        super().__init__(dim, embed)
        hidden = 2 * embed
        layers: list[nn.Module] = [_stage(CPUFloat32Conv3d, channels, hidden)]
        for _ in range(upsample):
            layers += [
                nn.Upsample(scale_factor=2, mode="trilinear"),
                _stage(CPUFloat32Conv3d, hidden, hidden),
            ]
        self.net = nn.Sequential(*layers, CPUFloat32Conv3d(hidden, embed, 1))

    def voxel_embeddings(self, feature_map: torch.Tensor) -> torch.Tensor:
        return self.net(feature_map)


#: Segmentation decoder per encoder kind.
SEGMENTATION_DECODERS: dict[str, type[SegmentationDecoder]] = {
    "2.5d": TripletMaskDecoder,
    "3d": VolumeMaskDecoder,
}
