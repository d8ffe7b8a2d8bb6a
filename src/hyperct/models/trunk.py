"""Running the backbone's blocks with per-block LoRA binding, checkpointing and token capture.

Per-sample LoRA weights are passed to each block as arguments and bound inside the (possibly
checkpointed) block call, so a recomputation during backward binds the very same tensors: there
is no module state that a later forward pass could overwrite before backward runs.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch.utils.checkpoint import (
    CheckpointPolicy,
    SelectiveCheckpointContext,
    checkpoint,
    create_selective_checkpoint_contexts,
)

from hyperct.models.backbones import Backbone, Segment, run_segment
from hyperct.models.lora import GeneratedLoRA

#: Per block: the generated sources of that block and their (A, B) for this pass.
BlockLoRA = Mapping[int, tuple[Sequence[GeneratedLoRA], Sequence[torch.Tensor]]]

#: What a block keeps for backward: what its matmuls and the inputs of its norms and GELU need
#: (``"none"``: the norms' and GELU's outputs, the LoRA layers' dropped inputs and the attention
#: probabilities are recomputed by the nodes that need them, see ``DINOv3Backbone.run_block``),
#: that without the MLP's 4C-wide pre-activation (``"light"``: the MLP's norm, first linear
#: layer and GELU are recomputed from the MLP's input), the outputs of its frozen linear layers
#: (``"selective"``), or only its input (``"full"``).
Checkpointing = Literal["none", "light", "selective", "full"]

#: The frozen linear layers' products (``addmm`` with a bias, ``mm`` without): about 95% of a
#: block's FLOPs. Selective checkpointing keeps their outputs and recomputes the rest of the
#: block in backward (norms, RoPE, attention over the tokens of one image, dropout, GELU, the
#: rank-r LoRA products): a sliver of the FLOPs but most of the saved tensors.
_SAVED_OPS = frozenset({torch.ops.aten.addmm.default, torch.ops.aten.mm.default})


@dataclass
class RunSpec:
    """How to run blocks ``start``..``stop - 1``.

    Attributes:
        lora: generated LoRA per block (blocks absent here run without generated LoRA).
        checkpointing: which activations of each block to recompute in backward instead of
            storing them (see :data:`Checkpointing`).
        grad_from: blocks before this index run without autograd (nothing before them trains).
        capture: block index whose patch tokens to return (None: none); when autograd is on,
            they require grad even inside the no-grad prefix, so Grad-CAM can differentiate them.
        capture_grid: (B, N, h, w) shape of the captured patch tokens.
    """

    start: int
    stop: int
    lora: BlockLoRA = field(default_factory=dict)
    checkpointing: Checkpointing = "none"
    grad_from: int = 0
    capture: int | None = None
    capture_grid: tuple[int, int, int, int] = (0, 0, 0, 0)


def run_blocks(
    backbone: Backbone, hidden: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], spec: RunSpec
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run the blocks of ``spec``; returns the last tokens and the captured patch tokens."""
    captured = None
    grad_enabled = torch.is_grad_enabled()
    grad_from = spec.grad_from if spec.capture is None else min(spec.grad_from, spec.capture + 1)
    for index in range(spec.start, spec.stop):
        with torch.set_grad_enabled(grad_enabled and index >= grad_from):
            hidden = _run_one(backbone, index, hidden, rope, spec)
        if index == spec.capture:
            hidden, captured = _capture(hidden, spec.capture_grid, grad_enabled)
    return hidden, captured


def patch_grid(images: torch.Tensor, patch_size: int) -> tuple[int, int, int, int]:
    """(B, N, h, w): the patch-token grid of images (B, N, 3, H, W), for :attr:`RunSpec.capture_grid`."""
    return (*images.shape[:2], images.shape[-2] // patch_size, images.shape[-1] // patch_size)


def _capture(
    hidden: torch.Tensor, grid: tuple[int, int, int, int], grad_enabled: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Patch tokens as (B, N, h, w, C), placed on the path to later blocks so they get gradients."""
    patches = hidden[:, hidden.shape[1] - grid[2] * grid[3] :]
    if grad_enabled and not patches.requires_grad:
        patches = patches.detach().requires_grad_(True)
    tokens = patches.reshape(*grid, hidden.shape[-1])
    prefix = hidden[:, : hidden.shape[1] - grid[2] * grid[3]]
    return torch.cat([prefix, tokens.flatten(0, 1).flatten(1, 2)], dim=1), tokens


def _run_one(
    backbone: Backbone,
    index: int,
    hidden: torch.Tensor,
    rope: tuple[torch.Tensor, torch.Tensor],
    spec: RunSpec,
) -> torch.Tensor:
    sources, tensors = spec.lora.get(index, ((), ()))
    if spec.checkpointing == "none" or not torch.is_grad_enabled():
        return _bound_block(backbone, index, hidden, rope, sources, *tensors)
    if spec.checkpointing == "light":
        segment = functools.partial(_light_segment, sources, tensors)
        return _bound_block(backbone, index, hidden, rope, sources, *tensors, segment=segment)
    extra: dict[str, Any] = {}
    if spec.checkpointing == "selective":
        extra["context_fn"] = functools.partial(create_selective_checkpoint_contexts, _keep_linear)
    return checkpoint(
        _bound_block, backbone, index, hidden, rope, sources, *tensors, use_reentrant=False, **extra
    )


def _keep_linear(
    ctx: SelectiveCheckpointContext, op: Any, *args: Any, **kwargs: Any
) -> CheckpointPolicy:
    if op in _SAVED_OPS:
        return CheckpointPolicy.MUST_SAVE
    return CheckpointPolicy.PREFER_RECOMPUTE


def _bound_block(
    backbone: Backbone,
    index: int,
    hidden: torch.Tensor,
    rope: tuple[torch.Tensor, torch.Tensor],
    sources: Sequence[GeneratedLoRA],
    *tensors: torch.Tensor,
    segment: Segment = run_segment,
) -> torch.Tensor:
    with _bound(sources, tensors):
        return backbone.run_block(index, hidden, rope, segment)


def _light_segment(
    sources: Sequence[GeneratedLoRA],
    tensors: Sequence[torch.Tensor],
    fn: Callable[..., Any],
    *args: Any,
) -> Any:
    """The first half of a block's MLP, checkpointed: recomputed in backward with the same
    dropout (the RNG state is replayed) and this pass's LoRA bound again for the recomputation."""
    return checkpoint(_rebound, sources, fn, args, *tensors, use_reentrant=False)


def _rebound(
    sources: Sequence[GeneratedLoRA],
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    *tensors: torch.Tensor,
) -> Any:
    """``fn(*args)`` with ``sources`` bound to ``tensors``, their previous binding restored after
    (in backward another pass's LoRA, or none, may be bound)."""
    with _bound(sources, tensors):
        return fn(*args)


@contextlib.contextmanager
def _bound(sources: Sequence[GeneratedLoRA], tensors: Sequence[torch.Tensor]) -> Iterator[None]:
    """``sources`` bound to ``tensors`` (A, B, A, B, ...) inside the block, their previous
    binding (none in a forward pass) restored after."""
    previous = [(source.lora_A, source.lora_B) for source in sources]
    for source, lora_a, lora_b in zip(sources, tensors[0::2], tensors[1::2]):
        source.bind(lora_a, lora_b)
    try:
        yield
    finally:
        for source, (lora_a, lora_b) in zip(sources, previous):
            source.bind(lora_a, lora_b)


def masked_mean(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the image axis of (..., N, C) in float32, using only real images (mask True)."""
    counts = mask.sum(dim=-1, keepdim=True)
    if torch.any(counts == 0):
        raise ValueError("image_mask: a scan has no real images (all False)")
    weights = mask.to(torch.float32).unsqueeze(-1)
    return (features.float() * weights).sum(dim=-2) / counts.to(torch.float32)
