"""LoRA's first product ``x' A^T`` in one autograd node that keeps little for backward.

``x'`` is the layer input with LoRA's dropped elements zeroed (:mod:`.dropout`), and the input
itself may be the output of a cheap op ahead of the layers, a LayerNorm or the MLP's GELU.
Recorded op by op, backward would keep, besides the op's input, per LoRA layer a dropped copy
and a dropout mask (without dropout, the op's output): 9 bytes per bf16 element of a ViT
block's attention input (three projections), 3 for the MLP's second layer. This node keeps the
op's input (which the op's backward needs anyway), ``A`` and the drop positions (0.2 bytes per
element and layer at p = 0.05), and recomputes the op's output and the dropped copies in
backward: one LayerNorm (1.8 ms for 9,460 x 768 bf16 tokens) or GELU (10 ms for 9,460 x 3,072)
and a copy per layer. A batch 2 x 55 ViT-B training step keeps 2.98 GB for backward instead
of 4.81 GB (with the attention node of ``hyperct.models.backbones.dinov3``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from hyperct.models.autocast_state import AutocastState, replays_autocast
from hyperct.models.lora.dropout import dropped

#: Per LoRA layer: ``A`` per group (G, r, d_in) and the flat drop positions (None: no dropout).
LowFactors = tuple[torch.Tensor, torch.Tensor | None]

#: An op of one tensor ahead of LoRA layers (a norm or an activation), whose own parameters do
#: not train: backward recomputes it, and differentiates it for its input only.
Op = Callable[[torch.Tensor], torch.Tensor]


def grouped_low(x: torch.Tensor, lora_a: torch.Tensor, drops: torch.Tensor | None) -> torch.Tensor:
    """``x'`` (M, ..., d_in) as G groups of rows times each group's ``A_g^T`` (``lora_a``: G, r,
    d_in) -> (G, rows / G, r), ``x'`` being ``x`` with the elements at ``drops`` zeroed."""
    if drops is None:
        return torch.bmm(_grouped(x, lora_a), lora_a.transpose(1, 2))
    return _Lows.apply(None, x, lora_a, drops)[0]


def op_and_lows(
    op: Op, x: torch.Tensor, factors: Sequence[LowFactors]
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``op(x)`` and each layer's :func:`grouped_low` of it, in one node keeping only ``x``,
    the ``A``s and the drop positions for backward."""
    out, *lows = _Lows.apply(op, x, *(t for pair in factors for t in pair))
    return out, lows


class _Lows(torch.autograd.Function):
    """``[op(x)], low_1, ..., low_k`` for factors ``A_1, drops_1, ..., A_k, drops_k``."""

    @staticmethod
    def forward(ctx: Any, op: Op | None, x: torch.Tensor, *factors: Any) -> Any:
        ctx.op = op
        ctx.autocast = AutocastState.of(x)
        ctx.save_for_backward(x, *factors)
        out = x if op is None else op(x)
        lows = [
            torch.bmm(_grouped(_dropped(out, drops), lora_a), lora_a.transpose(1, 2))
            for lora_a, drops in zip(factors[0::2], factors[1::2])
        ]
        return tuple(lows) if op is None else (out, *lows)

    @staticmethod
    @replays_autocast
    def backward(ctx: Any, *grads: torch.Tensor) -> Any:
        x, *factors = ctx.saved_tensors
        op: Op | None = ctx.op
        pairs = list(zip(factors[0::2], factors[1::2]))
        # torch.func.vjp, not autograd.grad: torchjd's Jacobians run this backward under vmap.
        out, op_vjp = (x, None) if op is None else torch.func.vjp(op, x)
        grad_out, grad_lows = (None, grads) if op is None else (grads[0], grads[1:])
        grad_x = None
        if ctx.needs_input_grad[1]:
            for grad, (lora_a, drops) in zip(grad_lows, pairs):
                through = torch.bmm(grad, lora_a).view(x.shape)
                if drops is not None:
                    dropped(through, drops, in_place=True)
                grad_out = through if grad_out is None else grad_out + through
            grad_x = grad_out if op_vjp is None else op_vjp(grad_out.to(out.dtype))[0]
        # A recomputed output is this node's own: the last layer's dropped copy may be it.
        fresh = out.data_ptr() != x.data_ptr() and out.is_contiguous()
        grad_factors: list[torch.Tensor | None] = []
        for index, (grad, (lora_a, drops)) in enumerate(zip(grad_lows, pairs)):
            grad_a = None
            if ctx.needs_input_grad[2 + 2 * index]:
                last = fresh and index == len(pairs) - 1
                inputs = out if drops is None else dropped(out, drops, in_place=last)
                grad_a = torch.bmm(grad.transpose(-1, -2), _grouped(inputs, lora_a))
            grad_factors += [grad_a, None]
        return None, grad_x, *grad_factors


def _dropped(x: torch.Tensor, drops: torch.Tensor | None) -> torch.Tensor:
    return x if drops is None else dropped(x, drops)


def _grouped(x: torch.Tensor, lora_a: torch.Tensor) -> torch.Tensor:
    return x.reshape(lora_a.shape[0], -1, x.shape[-1])
