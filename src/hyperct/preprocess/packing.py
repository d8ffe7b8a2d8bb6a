"""2.5D packing: consecutive slice triplets as RGB-like images.

Image j holds slices 3j, 3j+1, 3j+2 (in that channel order). When the number of slices is not a
multiple of 3, the last image is completed with ``pad_value`` and marked False in the mask, so
pooling only uses images made of three real slices.

>>> import torch
>>> images, mask = pack_triplets(torch.arange(7.0)[:, None, None])
>>> images[..., 0, 0].tolist(), mask.tolist()
([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 0.0, 0.0]], [True, True, False])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pack_triplets(x: torch.Tensor, pad_value: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(..., N, H, W)`` -> images ``(..., ceil(N/3), 3, H, W)`` and a bool mask ``(..., ceil(N/3))``.

    The mask is True for images made of three real slices, False for the padded last image.
    """
    if x.dim() < 3:
        raise ValueError(f"pack_triplets needs (..., N, H, W), got shape {tuple(x.shape)}")
    n = x.shape[-3]
    n_images = -(-n // 3)
    pad = n_images * 3 - n
    if pad:
        x = F.pad(x, (0, 0, 0, 0, 0, pad), value=pad_value)
    images = x.reshape(*x.shape[:-3], n_images, 3, *x.shape[-2:])
    mask = torch.ones(*x.shape[:-3], n_images, dtype=torch.bool, device=x.device)
    if pad:
        mask[..., -1] = False
    return images, mask


def unpack_triplets(images: torch.Tensor, n_slices: int) -> torch.Tensor:
    """Inverse of :func:`pack_triplets`: ``(..., n, 3, H, W)`` -> ``(..., n_slices, H, W)``."""
    flat = images.reshape(*images.shape[:-4], images.shape[-4] * 3, *images.shape[-2:])
    return flat[..., :n_slices, :, :]


def triplet_middle_labels(labels: torch.Tensor, pad_value: int = 0) -> torch.Tensor:
    """Label map of the middle slice of each triplet: ``(..., N, H, W)`` -> ``(..., ceil(N/3), H, W)``.

    This is what an auxiliary segmentation head on image j is supervised with (slice 3j+1).
    """
    images, _ = pack_triplets(labels, pad_value=pad_value)
    return images[..., 1, :, :]
