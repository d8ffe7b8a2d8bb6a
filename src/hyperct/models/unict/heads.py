"""UniCT's classification head and segmentation decoders (the report head is the injected
:class:`~hyperct.models.report.base.ReportDecoder`).

Segmentation works like a mask-embedding decoder: a U-Net-style decoder turns the encoder's
feature map into per-voxel embeddings, each category's (fused) segmentation latent is projected
to an embedding of the same width, and a category's mask logit at a voxel is their dot product,
so the task latents (fusion, modulation) decide what each mask shows. The decoder climbs
``upsample`` stages: each brings the running map to the size of the encoder's next finer stage
(:attr:`~hyperct.models.unict.encoders.EncodedCT.skips`), concatenates that stage's features (a
skip connection) and convolves; past the last skip (or without skips, as for DINOv3) a stage is
a plain x2 upsampling. The embeddings' grid is then interpolated to the model grid. Without the
skips a ResNet's stride-16 map (2 x 2 x 2 on a 28 x 32 x 32 crop) was all the decoder saw and the
masks came out empty. The logits' bias starts at the logit of :data:`MASK_PRIOR` (a voxel is
rarely inside a finding), so the first steps are not spent pushing every voxel from 0.5 down to
background before the Dice term can grow the masks (measured: non-empty masks after ~15 instead
of ~45 steps on the phantom). Two decoders share that bookkeeping and differ in the dimensionality:

* :class:`TripletMaskDecoder` (2.5D): per image, a 2D decoder gives 3 embeddings per pixel, one
  per slice of its triplet, stacked to ``(B, E, 3N, h', w')``;
* :class:`VolumeMaskDecoder` (3D): a 3D decoder.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

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


class _SkipDecoder(nn.Module):
    """The decoder path of a U-Net over one dimensionality (see module doc)."""

    def __init__(
        self,
        conv: type[nn.Module],
        mode: str,
        channels: int,
        skip_channels: tuple[int, ...],
        hidden: int,
        upsample: int,
        out: int,
    ) -> None:
        super().__init__()
        self.mode = mode
        self.entry = _stage(conv, channels, hidden)
        extra = [skip_channels[i] if i < len(skip_channels) else 0 for i in range(upsample)]
        self.stages = nn.ModuleList(_stage(conv, hidden + c, hidden) for c in extra)
        self.out = conv(hidden, out, 1)

    def forward(self, x: torch.Tensor, skips: Sequence[torch.Tensor]) -> torch.Tensor:
        x = self.entry(x)
        for index, stage in enumerate(self.stages):
            if index < len(skips):
                skip = skips[index]
                x = F.interpolate(x, size=skip.shape[2:], mode=self.mode, align_corners=False)
                x = torch.cat([x, skip.to(x.dtype)], dim=1)
            else:
                x = F.interpolate(x, scale_factor=2.0, mode=self.mode, align_corners=False)
            x = stage(x)
        return self.out(x)


#: The initial mask probability of every voxel (see module doc).
MASK_PRIOR = 0.01


class SegmentationDecoder(nn.Module, ABC):
    """Base class: voxel embeddings (subclass) x category embeddings -> mask logits."""

    def __init__(self, dim: int, embed: int) -> None:
        super().__init__()
        self.embed = embed
        self.category = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, embed))
        self.bias = nn.Parameter(torch.full((1,), math.log(MASK_PRIOR / (1 - MASK_PRIOR))))

    @abstractmethod
    def voxel_embeddings(
        self, feature_map: torch.Tensor, skips: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        """``(B, C, s, h, w)`` and the skip maps (coarsest first) -> ``(B, E, d', h', w')``."""

    def forward(
        self,
        feature_map: torch.Tensor,
        seg_latents: torch.Tensor,
        grid: tuple[int, int, int],
        skips: Sequence[torch.Tensor] = (),
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mask logits on the embeddings' grid ``(B, K, d', h', w')`` and on ``grid``."""
        voxels = self.voxel_embeddings(feature_map, skips)
        categories = self.category(seg_latents) / math.sqrt(self.embed)
        coarse = torch.einsum("bke,bedhw->bkdhw", categories.to(voxels.dtype), voxels) + self.bias
        fine = F.interpolate(coarse, size=grid, mode="trilinear", align_corners=False)
        return coarse, fine


class TripletMaskDecoder(SegmentationDecoder):
    """2.5D: per image a 2D decoder, 3 slice embeddings per pixel (slices 3j, 3j+1, 3j+2)."""

    def __init__(
        self, channels: int, skip_channels: tuple[int, ...], dim: int, embed: int, upsample: int
    ) -> None:
        super().__init__(dim, embed)
        self.net = _SkipDecoder(
            nn.Conv2d, "bilinear", channels, skip_channels, 2 * embed, upsample, 3 * embed
        )

    def voxel_embeddings(
        self, feature_map: torch.Tensor, skips: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        batch = feature_map.shape[0]
        per_image = self.net(  # (B*N, 3E, h', w')
            feature_map.transpose(1, 2).flatten(0, 1),
            [skip.transpose(1, 2).flatten(0, 1) for skip in skips],
        )
        per_slice = per_image.unflatten(1, (3, self.embed)).unflatten(0, (batch, -1))
        return per_slice.flatten(1, 2).transpose(1, 2)  # (B, E, 3N, h', w')


class VolumeMaskDecoder(SegmentationDecoder):
    """3D: a 3D decoder over the feature map and the backbone's finer stages."""

    def __init__(
        self, channels: int, skip_channels: tuple[int, ...], dim: int, embed: int, upsample: int
    ) -> None:
        super().__init__(dim, embed)
        self.net = _SkipDecoder(
            CPUFloat32Conv3d, "trilinear", channels, skip_channels, 2 * embed, upsample, embed
        )

    def voxel_embeddings(
        self, feature_map: torch.Tensor, skips: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        return self.net(feature_map, skips)


#: Segmentation decoder per encoder kind.
SEGMENTATION_DECODERS: dict[str, type[SegmentationDecoder]] = {
    "2.5d": TripletMaskDecoder,
    "3d": VolumeMaskDecoder,
}
