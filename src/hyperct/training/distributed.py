"""Data-parallel training under ``torchrun``: process group, rank-0 gating, gradient averaging.

Gradients are averaged with one all-reduce per trainable tensor after the objective's backward
instead of wrapping the model in ``DistributedDataParallel``: gradient-weighting methods (MGDA,
PCGrad, ...) run their own backward passes, which DDP's hooks cannot follow, and the trainable
part (LoRA, hypernetwork, heads) is small. The 3D classifiers train all their weights the same
way; their batch-norm statistics are averaged once per epoch. gloo on CPU, NCCL on CUDA.
The process group itself (:class:`DistInfo`, joining, gathering) is
:mod:`hyperct.inference.distributed`, which batch prediction uses too.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from hyperct.inference.distributed import (
    DistInfo,
    all_gather_objects,
    barrier,
    cleanup,
    init_distributed,
)

__all__ = [
    "DistInfo",
    "all_gather_objects",
    "average_buffers",
    "average_gradients",
    "barrier",
    "cleanup",
    "init_distributed",
]


def average_gradients(params: list[nn.Parameter], info: DistInfo) -> None:
    """Average ``.grad`` across ranks; a rank without a gradient contributes zeros."""
    if not info.enabled:
        return
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
        p.grad.div_(info.world_size)


def average_buffers(model: nn.Module, info: DistInfo) -> None:
    """Average the model's floating-point buffers (batch-norm running statistics) across ranks.

    Each rank updates them from its own batches; averaging once per epoch keeps the ranks'
    models identical, as DDP's buffer broadcast would, with statistics from every rank's data.
    """
    if not info.enabled:
        return
    for buffer in model.buffers():
        if buffer.is_floating_point():
            dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
            buffer.div_(info.world_size)
