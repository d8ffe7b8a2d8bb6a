"""A linear layer with its bias and GELU inside one oneDNN matmul, for bf16 inference on CPU.

``nn.functional.linear`` with a bias first copies the bias into every output row and then runs
the product over it, and a GELU after it is one more pass over the (M, 3072) output of a ViT-B
MLP. oneDNN applies both in the matmul's epilogue, on the float32 accumulator before rounding
(``torch.ops.mkldnn._linear_pointwise``, the op that inductor's CPU freezing pass emits).
Measured at ViT-B shapes (4,730 rows, bf16, AMX CPU, tcmalloc): 768 -> 768 with bias 2.27 against
2.50 ms, 768 -> 3,072 with GELU 13.1 against 15.3 ms. The op has no backward, and in float32 it
was no faster (18.3 against 17.7 ms, GELU 76.9 against 76.4 ms), so autograd and float32 take
``nn.functional.linear``.
"""

from __future__ import annotations

import torch
from torch import nn


def linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, gelu: bool = False
) -> torch.Tensor:
    """``x W^T + b``, then the exact (erf) GELU if ``gelu``: fused where that pays."""
    if _fusable(x, weight, bias):
        if gelu:
            return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "gelu", [], "none")
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
    out = nn.functional.linear(x, weight, bias)
    return nn.functional.gelu(out) if gelu else out


def _fusable(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> bool:
    return (
        not torch.is_grad_enabled()
        and x.device.type == "cpu"
        and x.dtype == weight.dtype == torch.bfloat16
        and (bias is None or bias.dtype == torch.bfloat16)
        and torch.backends.mkldnn.is_available()
    )
