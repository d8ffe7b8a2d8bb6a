"""Where a LoRA layer's A and B come from: a strategy object per wrapped linear layer.

``StaticLoRA`` holds A and B as parameters (the shared-LoRA baseline). ``GeneratedLoRA`` holds
per-sample A and B produced by the hypernetwork and bound before each forward pass (HyperCT).
Both add the scaled low-rank update ``scale * (x A^T) B^T`` to the frozen layer's output in two
steps: the rank-r product ``x A^T`` with each group's ``grouped_a`` (:mod:`.low`), and
``add_low`` (times ``B^T``), fusing the scale and the addition into the second matmul
(``addmm`` / ``baddbmm``: one pass over the output instead of three; in place when autograd does not record, so the output is
not copied either), so the layer itself has no branch on where the weights come from. The
frozen layer's bias rides in the same product (a ones column beside ``x A^T``, the bias beside
``scale * B^T``): a linear layer with a bias first copies it into every output row, a pass over
the output that cost 0.22 s of a 4.6 s ViT-B prediction pass. Where one update applies to every
input (a static source, or a generated one bound to a single group), ``factors`` gives its B and A
for merging into the frozen weight.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
from torch import nn

from hyperct.models.lora.low import grouped_low


def _recorded() -> bool:
    """Whether autograd may record the update: then it is added out of place, since an in-place
    op on the (view) output of ``linear`` would cost a copy in backward instead."""
    return torch.is_grad_enabled()


class LoRASource(nn.Module, ABC):
    """Adds the low-rank update for inputs ``x`` (M, L, d_in) to the frozen output (M, L, d_out)."""

    def __init__(self, in_features: int, out_features: int, rank: int):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.rank = rank

    def add_update(self, x: torch.Tensor, out: torch.Tensor, scale: float) -> torch.Tensor:
        """``out + scale * (x A^T) B^T`` (``out`` itself when no update applies)."""
        lora_a = self.grouped_a(x)
        return out if lora_a is None else self.add_low(out, grouped_low(x, lora_a, None), scale)

    @abstractmethod
    def grouped_a(self, x: torch.Tensor) -> torch.Tensor | None:
        """``A`` per group of the rows of ``x``, (G, r, d_in) in ``x``'s dtype (None: no update)."""

    @abstractmethod
    def add_low(
        self, out: torch.Tensor, low: torch.Tensor, scale: float, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``out + scale * low B^T + bias`` for ``low`` (G, rows / G, r) from
        :func:`hyperct.models.lora.low.grouped_low`."""

    @abstractmethod
    def factors(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``B`` (d_out, r) and ``A`` (r, d_in) of the one update that applies to every input,
        for merging into the frozen weight; None where there is no such single update."""


def _with_bias(
    low: torch.Tensor, lora_b_t: torch.Tensor, scale: float, bias: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """``low`` (..., n, r) and ``B^T`` (..., r, d_out) such that ``alpha * low' B'^T`` is
    ``scale * low B^T + bias``: a ones column and the bias row appended, the scale moved into
    ``B^T`` (exact at the default scale of 1)."""
    if bias is None:
        return low, lora_b_t, scale
    ones = low.new_ones(*low.shape[:-1], 1)
    row = bias.to(lora_b_t.dtype).expand(*lora_b_t.shape[:-2], 1, lora_b_t.shape[-1])
    scaled = lora_b_t if scale == 1.0 else lora_b_t * scale
    return torch.cat([low, ones], -1), torch.cat([scaled, row], -2), 1.0


class StaticLoRA(LoRASource):
    """A and B as trainable parameters: A Kaiming-uniform, B zero, so the update starts at 0."""

    def __init__(self, in_features: int, out_features: int, rank: int):
        super().__init__(in_features, out_features, rank)
        self.lora_A = nn.Parameter(torch.empty(rank, in_features))
        self.lora_B = nn.Parameter(torch.zeros(out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    def grouped_a(self, x: torch.Tensor) -> torch.Tensor:
        return self.lora_A.to(x.dtype)[None]

    def add_low(
        self, out: torch.Tensor, low: torch.Tensor, scale: float, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        low, lora_b, scale = _with_bias(low[0], self.lora_B.to(low.dtype).t(), scale, bias)
        flat = out.view(-1, out.shape[-1])
        if _recorded():
            return torch.addmm(flat, low, lora_b, alpha=scale).view(out.shape)
        flat.addmm_(low, lora_b, alpha=scale)
        return out

    def factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.lora_B, self.lora_A


class GeneratedLoRA(LoRASource):
    """Per-group A (G, r, d_in) and B (G, d_out, r), bound by the model before a forward pass.

    The M inputs are G contiguous groups of M / G (all images of one sample share one group), so
    the update is one batched matmul per layer: x viewed as (G, M/G * L, d_in) times A_g^T, B_g^T.
    """

    def __init__(self, in_features: int, out_features: int, rank: int):
        super().__init__(in_features, out_features, rank)
        self.lora_A: torch.Tensor | None = None
        self.lora_B: torch.Tensor | None = None

    def bind(self, lora_A: torch.Tensor | None, lora_B: torch.Tensor | None) -> None:
        """Set this pass's per-group A and B (None, None: unbound)."""
        self.lora_A, self.lora_B = lora_A, lora_B

    def unbind(self) -> None:
        """Drop the bound A and B: the layer acts as its frozen linear layer again."""
        self.lora_A = self.lora_B = None

    def grouped_a(self, x: torch.Tensor) -> torch.Tensor | None:
        if self.lora_A is None or self.lora_B is None:
            return None
        groups = self.lora_A.shape[0]
        if x.shape[0] % groups:
            raise ValueError(f"LoRA input batch {x.shape[0]} is not divisible by {groups} groups")
        return self.lora_A.to(x.dtype)

    def add_low(
        self, out: torch.Tensor, low: torch.Tensor, scale: float, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        if self.lora_B is None:
            raise ValueError("GeneratedLoRA.add_low: no LoRA B is bound")
        groups = low.shape[0]
        low, lora_b, scale = _with_bias(
            low, self.lora_B.to(low.dtype).transpose(1, 2), scale, bias
        )
        grouped = out.view(groups, -1, out.shape[-1])
        if _recorded():
            return torch.baddbmm(grouped, low, lora_b, alpha=scale).view(out.shape)
        grouped.baddbmm_(low, lora_b, alpha=scale)
        return out

    def factors(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The bound update when it is a single group's (None: unbound, or several groups)."""
        if self.lora_A is None or self.lora_B is None or self.lora_A.shape[0] != 1:
            return None
        return self.lora_B[0], self.lora_A[0]
