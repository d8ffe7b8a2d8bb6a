"""Dropout on the LoRA input, cheap enough to run before each of the 72 adapted layers.

``nn.Dropout`` draws one float per element; on CPU that costs as much as the frozen matmul it
sits beside. This draws one random byte per element, eight from each full-range 64-bit word
(a full-range 32-bit word costs the CPU generator the same 64-bit draw plus a modulo, since its
range of 2**32 takes the 64-bit path: half the bytes at 2.4x the time per byte). It only zeroes
the dropped elements, in one ``where`` (whose backward is one pass too, where ``masked_fill``
copies and fills); the ``1 / (1 - p)`` rescale is left to the caller, which folds it into the
``alpha / r`` scalar it multiplies the update by anyway. ``p`` is rounded to a multiple of
1/256 (0.05 -> 13/256 = 0.0508).
"""

from __future__ import annotations

import torch
from torch import nn


class InputDropout(nn.Module):
    """Zero each element with probability ``p`` in training mode; identity in eval mode."""

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"LoRA dropout must be in [0, 1), got {p}")
        self.threshold = round(p * 256)
        self.p = self.threshold / 256

    @property
    def active(self) -> bool:
        return self.training and self.threshold > 0

    @property
    def rescale(self) -> float:
        """Factor the caller multiplies the (linear) result of the dropped input by."""
        return 1.0 / (1.0 - self.p) if self.active else 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return x
        count = x.numel()
        words = torch.empty((count + 7) // 8, dtype=torch.int64, device=x.device)
        random_bytes = words.random_(-(2**63), None).view(torch.uint8)[:count].view(x.shape)
        return torch.where(random_bytes < self.threshold, 0, x)

    def extra_repr(self) -> str:
        return f"p={self.p:.4f}"
