"""Auxiliary segmentation heads on a backbone's lowest-resolution features.

"Scaling Supervision for Free" (MIDL 2025) adds a single 1x1x1 convolution on the last feature
map of a classification backbone, upsamples its logits to the label grid and trains it with
cross-entropy on TotalSegmentator masks. The head is used only in training: it shapes the
backbone's features and is never part of the inference model (:mod:`hyperct.anatomy.supervision`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hyperct.models.conv3d import CPUFloat32Conv3d


class AuxSegHead(nn.Module):
    """A 1x1 (2-D) or 1x1x1 (3-D) convolution to class logits, upsampled to the label grid.

    Args:
        in_channels: channels of the feature map.
        num_classes: output classes, background included (``LabelSet.num_classes``).
        spatial_dims: 2 for 2.5D image tokens, 3 for volumes.
    """

    def __init__(self, in_channels: int, num_classes: int, spatial_dims: int = 3) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        if in_channels < 1 or num_classes < 2:
            raise ValueError(
                f"need in_channels >= 1 and num_classes >= 2, got {in_channels} and {num_classes}"
            )
        conv = CPUFloat32Conv3d if spatial_dims == 3 else nn.Conv2d
        self.spatial_dims = spatial_dims
        self.proj = conv(in_channels, num_classes, kernel_size=1)

    def forward(self, features: torch.Tensor, out_size: tuple[int, ...]) -> torch.Tensor:
        """Logits ``(B, K, *out_size)`` from features ``(B, C, *grid)``."""
        if features.ndim != self.spatial_dims + 2:
            raise ValueError(
                f"AuxSegHead({self.spatial_dims}-D) expects (B, C, *grid) features, "
                f"got shape {tuple(features.shape)}"
            )
        if len(out_size) != self.spatial_dims:
            raise ValueError(f"out_size must have {self.spatial_dims} entries, got {out_size}")
        logits = self.proj(features)
        mode = "trilinear" if self.spatial_dims == 3 else "bilinear"
        return F.interpolate(logits, size=tuple(out_size), mode=mode, align_corners=False)


def token_seg_logits(
    head: AuxSegHead, tokens: torch.Tensor, out_hw: tuple[int, int]
) -> torch.Tensor:
    """Per-image segmentation logits from 2.5D patch tokens.

    For the 2.5D ViT each image (a triplet of slices) has an h x w grid of C-channel patch tokens;
    that grid is the feature map, and the head predicts the mask of the triplet's middle slice.

    Args:
        head: a 2-D :class:`AuxSegHead`.
        tokens: ``(B, N, h, w, C)`` patch tokens.
        out_hw: the label grid ``(H, W)``.

    Returns:
        ``(B, N, K, H, W)`` logits.
    """
    if tokens.ndim != 5:
        raise ValueError(f"tokens must be (B, N, h, w, C), got shape {tuple(tokens.shape)}")
    b, n, h, w, c = tokens.shape
    grid = tokens.reshape(b * n, h, w, c).permute(0, 3, 1, 2)
    logits = head(grid, out_hw)
    return logits.reshape(b, n, *logits.shape[1:])
