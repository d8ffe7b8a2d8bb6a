"""A LoRA-wrapped linear layer: ``y = W x + b + (alpha / r) * (dropout(x) A^T) B^T``.

The wrapper keeps the frozen ``weight`` and ``bias`` under their original names, so the backbone's
state dict keys (and its weight hash) are unchanged by wrapping.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from hyperct.models.lora.dropout import InputDropout
from hyperct.models.lora.sources import LoRASource

logger = logging.getLogger(__name__)


class LoRALinear(nn.Module):
    """Wraps a frozen ``nn.Linear`` in place; where A and B come from is ``source``'s business."""

    #: The frozen backbone keeps itself in eval mode but lets this layer (its dropout) follow.
    follows_parent_mode = True

    def __init__(self, base: nn.Linear, source: LoRASource, alpha: float, dropout: float):
        super().__init__()
        if (source.in_features, source.out_features) != (base.in_features, base.out_features):
            raise ValueError(
                f"LoRA source shape {source.in_features}->{source.out_features} does not match "
                f"the linear layer {base.in_features}->{base.out_features}"
            )
        self.in_features = base.in_features
        self.out_features = base.out_features
        self.weight = base.weight
        self.bias = base.bias
        self.source = source
        self.scaling = alpha / source.rank
        self.dropout = InputDropout(dropout)
        self.merged = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(x, self.low_rank(x))

    def low_rank(self, x: torch.Tensor) -> torch.Tensor | None:
        """Dropout and the first LoRA product ``dropout(x) A^T`` (None when merged or unbound).

        Elementwise work and a rank-r product: the part of the layer a block may recompute in
        backward instead of keeping the dropped input (see ``DINOv3Backbone.run_block``).
        """
        if self.merged:
            return None
        return self.source.low(self.dropout(x))

    def project(self, x: torch.Tensor, low: torch.Tensor | None) -> torch.Tensor:
        """The frozen layer on ``x`` plus the update from ``low`` (from :meth:`low_rank`); with
        an update, the bias is added in the update's product instead of by the frozen one."""
        if low is None:
            return nn.functional.linear(x, self.weight, self.bias)
        out = nn.functional.linear(x, self.weight)
        return self.source.add_low(out, low, self.scaling * self.dropout.rescale, self.bias)

    def merge(self) -> None:
        """Add ``(alpha / r) B A`` into the frozen weight (static sources), checking finiteness."""
        if self.merged:
            return
        delta = self.scaling * self.source.delta_weight().to(self.weight.dtype)
        if not torch.isfinite(delta).all():
            raise ValueError("LoRA update has non-finite values; refusing to merge it")
        with torch.no_grad():
            self.weight.add_(delta)
        self.merged = True

    def unmerge(self) -> None:
        """Subtract the merged update again (exact up to float rounding)."""
        if not self.merged:
            return
        delta = self.scaling * self.source.delta_weight().to(self.weight.dtype)
        with torch.no_grad():
            self.weight.sub_(delta)
        if not torch.isfinite(self.weight).all():
            raise ValueError("weight became non-finite while unmerging LoRA")
        self.merged = False

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, scaling={self.scaling:g}"
