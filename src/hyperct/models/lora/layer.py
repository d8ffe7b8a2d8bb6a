"""A LoRA-wrapped linear layer: ``y = W x + b + (alpha / r) * (dropout(x) A^T) B^T``.

The wrapper keeps the frozen ``weight`` and ``bias`` under their original names, so the backbone's
state dict keys (and its weight hash) are unchanged by wrapping. Where autograd does not record,
dropout is off and one update applies to every input (one task's generated LoRA, or a static
one), the update is merged into a copy of the weight on the fly, ``W + (alpha / r) B A`` in one
``addmm`` (about 0.1 ms for a 768 x 768 weight at rank 16), and the layer runs as a plain linear
layer: its two rank-r products and their pass over the output are gone.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from hyperct.models.kernels import linear
from hyperct.models.lora.dropout import InputDropout
from hyperct.models.lora.low import LowFactors, grouped_low
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
        """Dropout and the first LoRA product ``dropout(x) A^T`` (None when merged, merged on the
        fly, or unbound: then :meth:`applied_weight` is all there is to apply)."""
        factors = self.low_factors(x)
        return None if factors is None else grouped_low(x, *factors)

    def low_factors(self, x: torch.Tensor) -> LowFactors | None:
        """``A`` per group and this pass's dropout of ``x`` (the flat positions to drop) for
        :meth:`low_rank` (None: no update to add), for a caller that computes the product
        itself (:func:`hyperct.models.lora.low.op_and_lows`, fused with the op ahead of it)."""
        if self.merged or self._on_the_fly_factors() is not None:
            return None
        lora_a = self.source.grouped_a(x)
        return None if lora_a is None else (lora_a, self.dropout(x.numel(), x.device))

    def project(
        self, x: torch.Tensor, low: torch.Tensor | None, gelu: bool = False
    ) -> torch.Tensor:
        """The frozen layer on ``x`` plus the update from ``low`` (from :meth:`low_rank`), then
        the exact GELU if ``gelu``; with an update, the bias is added in the update's product
        instead of by the frozen one, and without one the bias and GELU may run inside the
        matmul (:func:`hyperct.models.kernels.linear`)."""
        if low is None:
            return linear(x, self.applied_weight(), self.bias, gelu=gelu)
        out = nn.functional.linear(x, self.weight)
        out = self.source.add_low(out, low, self.scaling * self.dropout.rescale, self.bias)
        return nn.functional.gelu(out) if gelu else out

    def applied_weight(self) -> torch.Tensor:
        """The weight to apply when :meth:`low_rank` gives no update: the frozen weight, with the
        update merged in when it is merged on the fly."""
        factors = self._on_the_fly_factors()
        return self.weight if factors is None else self._with_update(factors, 1.0)

    def _on_the_fly_factors(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The source's single update where it is merged on the fly: not merged already, no
        autograd recording, no dropout."""
        if self.merged or torch.is_grad_enabled() or self.dropout.active:
            return None
        return self.source.factors()

    def _with_update(
        self, factors: tuple[torch.Tensor, torch.Tensor], sign: float
    ) -> torch.Tensor:
        """``W + sign * (alpha / r) B A`` in one ``addmm`` (rounded once in the weight's dtype)."""
        lora_b, lora_a = (factor.to(self.weight.dtype) for factor in factors)
        with torch.no_grad():
            return torch.addmm(self.weight, lora_b, lora_a, alpha=sign * self.scaling)

    def _single_update(self) -> tuple[torch.Tensor, torch.Tensor]:
        factors = self.source.factors()
        if factors is None:
            raise TypeError(
                "a generated (per-sample) LoRA bound to several groups, or unbound, has no single "
                "update to merge into the frozen weight; use HyperCT.generate_lora(task_ids) to "
                "get each task's A and B"
            )
        return factors

    def merge(self) -> None:
        """Add ``(alpha / r) B A`` into the frozen weight, checking finiteness."""
        if self.merged:
            return
        merged = self._with_update(self._single_update(), 1.0)
        if not torch.isfinite(merged).all():
            raise ValueError("LoRA update has non-finite values; refusing to merge it")
        with torch.no_grad():
            self.weight.copy_(merged)
        self.merged = True

    def unmerge(self) -> None:
        """Subtract the merged update again (exact up to float rounding)."""
        if not self.merged:
            return
        restored = self._with_update(self._single_update(), -1.0)
        with torch.no_grad():
            self.weight.copy_(restored)
        if not torch.isfinite(self.weight).all():
            raise ValueError("weight became non-finite while unmerging LoRA")
        self.merged = False

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, scaling={self.scaling:g}"
